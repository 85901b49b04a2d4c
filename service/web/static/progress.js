// The admin pages' progress bar: polls /admin/progress until the background import or reload is done.
// An import shows two stages on the one bar: 写入 (records written), then 向量化 (records embedded).
document.addEventListener("DOMContentLoaded", function () {
  var panel = document.getElementById("reload-progress");
  if (!panel) {
    return;
  }
  var bar = document.getElementById("reload-bar");
  var text = document.getElementById("reload-text");

  function duration(seconds) {
    if (seconds === null || seconds === undefined) {
      return "未知";
    }
    seconds = Math.round(seconds);
    if (seconds < 60) {
      return seconds + " 秒";
    }
    if (seconds < 3600) {
      return Math.floor(seconds / 60) + " 分 " + String(seconds % 60).padStart(2, "0") + " 秒";
    }
    return Math.floor(seconds / 3600) + " 小时 " + String(Math.floor(seconds % 3600 / 60)).padStart(2, "0") + " 分";
  }

  function beijing(iso) {
    return new Date(iso).toLocaleString("zh-CN", {timeZone: "Asia/Shanghai", hour12: false});
  }

  function show(status) {
    panel.setAttribute("data-state", status.state);
    panel.toggleAttribute("data-failed", status.state === "idle" && status.failed);
    Object.keys(status.counts || {}).forEach(function (kind) {
      var cell = panel.querySelector('[data-count="' + kind + '"]');
      if (cell) {
        cell.textContent = status.counts[kind];
      }
    });
    if (status.state === "queued") {
      bar.removeAttribute("value");
      text.textContent = "排队中，即将开始…";
    } else if (status.state === "running" && status.stage === "写入" && !status.total) {
      bar.removeAttribute("value");
      text.textContent = "正在检查上传的文件…";
    } else if (status.state === "running" && (status.stage === "写入" || status.stage === "向量化")) {
      bar.value = status.percent || 0;
      text.textContent = status.stage + " " + status.done + " / " + status.total + " 条（" +
        (status.percent || 0) + "%）" + (status.rate ? "，每秒 " + status.rate + " 条，预计还需 " + duration(status.seconds_left) : "");
    } else if (status.state === "running") {
      bar.value = 100;
      text.textContent = "已向量化 " + status.total + " 条，正在" + status.stage + "…";
    } else if (status.failed) {
      bar.value = 0;
      text.textContent = status.message || "上次重建失败，网站仍在使用原有索引。请查看服务日志后重试。";
    } else if (status.finished_at) {
      bar.value = 100;
      text.textContent = "已完成：" + (status.message || "向量化 " + status.done + " / " + status.total + " 条，推荐已更新") +
        "（" + beijing(status.finished_at) + "）";
    } else {
      bar.value = 0;
      text.textContent = "当前没有进行中的重建。";
    }
  }

  function poll() {
    fetch(panel.getAttribute("data-status-url"), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.json(); })
      .then(function (status) {
        show(status);
        if (status.state !== "idle") {
          window.setTimeout(poll, 1000);
        }
      })
      .catch(function () {
        text.textContent = "暂时读取不到进度，稍后重试…";
        window.setTimeout(poll, 3000);
      });
  }
  poll();
});
