"""The review queue in a real browser: a broker works one zone at a time, an enterprise agrees to an introduction."""
from __future__ import annotations

import pytest

from service import store, workflow

from .browser_support import LAPTOP, PHONE, browsing, screenshot, sign_in
from .site_support import STRONG, crowd_the_queue, make_site

pytestmark = pytest.mark.browser

CLUSTER = "先进装备与智能制造"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    app = make_site(tmp_path_factory.mktemp("queue-site"))
    db = store.open_db(app.config["DATABASE"])
    crowd_the_queue(db)
    try:
        with browsing(app) as (base_url, browser):
            yield base_url, browser, db
    finally:
        db.close()


def log_in(browser, base_url: str, role: str):
    page = browser.new_context(viewport=LAPTOP, locale="zh-CN").new_page()
    sign_in(page, base_url, role)
    return page


def only_zone_shown(page, zone: str) -> None:
    """The page holds one zone: nothing of another zone to scroll past."""
    assert page.locator("section.zone").count() == 1
    assert page.locator(f"section#zone-{zone}").count() == 1


def test_a_broker_reaches_filters_sorts_and_decides_a_pair_past_page_one_then_confirms_it(site):
    base_url, browser, db = site
    strong = store.list_proposals(db, {"statuses": ("proposed",), "min_score": 0.8})
    target = next(p for p in strong[20:] if p["industry_cluster"] == CLUSTER)   # only on page 2 of 强推荐
    card = f"article#pair-{target['id']}"

    broker = log_in(browser, base_url, "broker")
    try:
        broker.click("nav.nav a:has-text('审核队列')")
        assert broker.locator("nav.tabs a[data-zone=strong]").inner_text() == f"强推荐 {STRONG}"
        only_zone_shown(broker, "strong")
        assert broker.locator(card).count() == 0
        broker.click("nav.pager a[rel=next]")
        broker.wait_for_url("**page=2**")
        assert broker.locator(card).is_visible()
        screenshot(broker, "queue-strong-page-2.png")

        with broker.expect_navigation():
            broker.select_option("form.filters select[name=cluster]", CLUSTER)
        with broker.expect_navigation():
            broker.select_option("form.filters select[name=sort]", "date")
        assert "sort=date" in broker.url and "zone=strong" in broker.url
        dates = [store.get_proposal(db, int(pid.split("-")[1]))["demand_posted_at"]
                 for pid in broker.locator("section.zone article.pair").evaluate_all("els => els.map(e => e.id)")]
        assert dates == sorted(dates, reverse=True)
        assert broker.locator(card).is_visible()   # its demand is the newest of the cluster
        only_zone_shown(broker, "strong")
        screenshot(broker, "queue-filtered-sorted.png")

        filtered = broker.url
        broker.locator(card).locator("button[value=recommended]").click()
        broker.wait_for_url(filtered)
        assert "已将" in broker.locator(".flash-success").inner_text()
        assert broker.locator(card).count() == 0
        assert broker.locator("nav.tabs a[data-zone=recommended] .count").inner_text() == "1"

        broker.click("nav.tabs a[data-zone=recommended]")
        assert f"cluster={CLUSTER}" in broker.url or "cluster=%E5" in broker.url   # the filter came along
        only_zone_shown(broker, "recommended")
        pair = broker.locator(card)
        pair.locator("summary").click()
        pair.locator("input[name=amount_wan]").fill("36")
        pair.locator("input[name=confirmed_at]").fill("2021-07-02")
        screenshot(broker, "queue-confirm-cooperation.png")
        pair.locator("button:has-text('确认合作')").click()
        broker.wait_for_load_state()
        assert "已确认合作" in broker.locator(".flash-success").inner_text()
        assert "zone=recommended" in broker.url
        assert broker.locator("nav.tabs a[data-zone=recommended] .count").inner_text() == "0"
        assert store.get_proposal(db, target["id"])["status"] == "confirmed"
        screenshot(broker, "queue-after-confirming.png")
    except Exception:
        screenshot(broker, "queue-work-on-failure.png", full_page=True)
        raise
    finally:
        broker.context.close()


def test_after_agreeing_the_enterprise_sees_no_decline_button(site):
    base_url, browser, db = site
    pair = store.get_proposal_for_pair(db, "D2021-102", "S2021-202")
    broker = store.get_user_by_name(db, "broker")
    workflow.decide(db, pair["id"], "recommended", broker)

    enterprise = log_in(browser, base_url, "enterprise")
    try:
        enterprise.goto(f"{base_url}/demands/D2021-102")
        article = enterprise.locator("article").filter(has=enterprise.locator(f"form[action='/proposals/{pair['id']}/agree']"))
        assert article.locator("button:has-text('婉拒')").is_visible()
        article.locator("button:has-text('同意引荐')").click()
        enterprise.wait_for_load_state()
        assert "已同意引荐" in enterprise.locator(".flash-success").inner_text()
        agreed = enterprise.locator("article").filter(has_text="您已同意引荐")
        assert agreed.count() == 1
        assert agreed.locator("button:has-text('婉拒')").count() == 0
        assert agreed.locator("input[name=reason]").count() == 0
        screenshot(enterprise, "demand-after-agreeing.png")
    finally:
        enterprise.context.close()


def test_a_broker_decides_with_the_keyboard(site):
    base_url, browser, db = site
    broker = log_in(browser, base_url, "broker")
    try:
        broker.goto(f"{base_url}/queue?zone=review")
        ids = [int(pid.split("-")[1]) for pid in
               broker.locator("section.zone article.pair").evaluate_all("els => els.map(e => e.id)")]
        broker.keyboard.press("j")
        broker.keyboard.press("j")
        broker.keyboard.press("k")
        assert broker.locator("article.pair.current").get_attribute("id") == f"pair-{ids[0]}"
        broker.keyboard.press("j")
        screenshot(broker, "queue-keyboard.png")
        with broker.expect_navigation():
            broker.keyboard.press("r")
        assert store.get_proposal(db, ids[1])["status"] == "recommended"
        assert "zone=review" in broker.url

        broker.keyboard.press("j")                      # the first pair of the page, now ids[0]
        with broker.expect_navigation():
            broker.keyboard.press("u")
        assert store.get_proposal(db, ids[0])["status"] == "unsure"

        broker.keyboard.press("j")
        broker.keyboard.press("x")
        rejected = int(broker.locator("article.pair.current").get_attribute("id").split("-")[1])
        broker.keyboard.type("方向不符")
        with broker.expect_navigation():
            broker.keyboard.press("Enter")
        proposal = store.get_proposal(db, rejected)
        assert proposal["status"] == "rejected" and proposal["decision_note"] == "方向不符"
    finally:
        broker.context.close()


def test_the_queue_reads_on_a_phone(site):
    base_url, browser, _ = site
    phone = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True).new_page()
    try:
        sign_in(phone, base_url, "broker")
        phone.goto(f"{base_url}/queue?zone=review")
        assert phone.locator("nav.tabs a").count() == 4 and phone.locator("section#zone-review").is_visible()
        width = phone.evaluate("document.documentElement.scrollWidth")
        screenshot(phone, "queue-390x844.png")
        assert width <= PHONE["width"], f"队列页在手机上宽 {width}px"
    finally:
        phone.context.close()
