// Review queue keys: j / k move between pairs, r recommends, u sets aside as 待定, x goes to the reject reason.
// The page works without it; keys typed into a field, or with a modifier, are left alone.
document.addEventListener("DOMContentLoaded", function () {
  var pairs = Array.prototype.slice.call(document.querySelectorAll("section.zone article.pair"));
  if (!pairs.length || !document.querySelector("[data-keyboard]")) {
    return;
  }
  var current = -1;

  function select(index) {
    if (current >= 0) {
      pairs[current].classList.remove("current");
    }
    current = Math.max(0, Math.min(pairs.length - 1, index));
    pairs[current].classList.add("current");
    pairs[current].scrollIntoView({block: "nearest"});
  }

  function press(selector) {
    var button = current >= 0 ? pairs[current].querySelector(selector) : null;
    if (button) {
      button.click();
    }
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey || target.isContentEditable ||
        /^(INPUT|TEXTAREA|SELECT|BUTTON|SUMMARY)$/.test(target.tagName)) {
      return;
    }
    var key = event.key;
    if (key === "j") {
      select(current + 1);
    } else if (key === "k") {
      select(current - 1);
    } else if (key === "r") {
      press("button[name=decision][value=recommended]");
    } else if (key === "u") {
      press("button[name=decision][value=unsure]");
    } else if (key === "x" && current >= 0) {
      var reason = pairs[current].querySelector(".reject-form input[name=reason]");
      if (reason) {
        event.preventDefault();  // the x is not typed into the field
        reason.focus();
      }
    }
  });
});
