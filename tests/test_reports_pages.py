"""The report in the web app: the page and the API for brokers and admins only, the API answer fits its
schema and the OpenAPI document, and in headless Chromium the charts render (test-artifacts/report.png)."""
from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from service import reports, store
from service.report_schema import REPORT_SCHEMA

from .browser_support import CHROMIUM, CHROMIUM_ARGS, PHONE, require_browser, screenshot, serve, sign_in
from .api_support import check_against_openapi
from .site_support import make_site

MONTH = "2021-07"   # the seed's one cooperation was confirmed on 2021-07-09


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return make_site(tmp_path_factory.mktemp("report-site"))


@pytest.fixture
def site_client(site):
    return site.test_client()


def log_in(site_client, site, role: str | None) -> None:
    db = store.open_db(site.config["DATABASE"])
    with site_client.session_transaction() as session:
        session.clear()
        if role is not None:
            account = store.get_user_by_name(db, role)
            session["user_id"], session["auth_stamp"] = account["id"], account["auth_stamp"]
    db.close()


@pytest.mark.parametrize("role, status", [(None, 302), ("enterprise", 403), ("platform", 403), ("broker", 200),
                                          ("admin", 200)])
def test_only_brokers_and_admins_see_the_report_page(site_client, site, role, status):
    log_in(site_client, site, role)
    response = site_client.get(f"/reports?month={MONTH}")
    assert response.status_code == status
    if status == 302:
        assert "/login" in response.headers["Location"]
    if status == 200:
        page = response.get_data(as_text=True)
        assert "两清单月度匹配报告 · 2021 年 7 月" in page and page.count('class="chart chart-') == 4


@pytest.mark.parametrize("role, status", [(None, 401), ("enterprise", 403), ("platform", 403), ("broker", 200),
                                          ("admin", 200)])
def test_only_brokers_and_admins_get_the_report_from_the_api(site_client, site, role, status):
    log_in(site_client, site, role)
    path = f"/api/v1/reports/monthly?month={MONTH}"
    response = site_client.get(path)
    assert response.status_code == status
    check_against_openapi(site, "GET", "/api/v1/reports/monthly", status, response.get_json())
    if status == 200:
        report = response.get_json()
        assert not list(Draft202012Validator(REPORT_SCHEMA).iter_errors(report))
        assert report["current"]["cooperations"] == 1 and report["gaps"]["available"] is True


@pytest.mark.parametrize("query", ["month=2021-13", "month=", ""])
def test_a_bad_month_is_a_400_in_chinese(site_client, site, query):
    log_in(site_client, site, "broker")
    response = site_client.get(f"/api/v1/reports/monthly?{query}")
    assert response.status_code == 400 and "YYYY-MM" in response.get_json()["error"]["message"]
    check_against_openapi(site, "GET", "/api/v1/reports/monthly", 400, response.get_json())
    assert site_client.get("/reports?month=2021-13").status_code == 400



@pytest.mark.parametrize("month, words", [("0000-01", "超出范围"), ("0001-06", "超出范围"), ("1899-12", "超出范围"),
                                          ("٢٠٢١-03", "格式有误"), ("10000-01", "格式有误")])
def test_a_month_out_of_range_is_a_400_in_chinese_on_the_api_the_page_and_the_download(site_client, site, month, words):
    log_in(site_client, site, "broker")
    response = site_client.get("/api/v1/reports/monthly", query_string={"month": month})
    assert response.status_code == 400 and words in response.get_json()["error"]["message"]
    check_against_openapi(site, "GET", "/api/v1/reports/monthly", 400, response.get_json())
    for path in ("/reports", "/reports/download"):
        for chosen in ("xlsx", "json"):
            page = site_client.get(path, query_string={"month": month, "format": chosen})
            assert page.status_code == 400 and words in page.get_data(as_text=True), (path, chosen)


@pytest.mark.parametrize("month", ["1900-01", "9999-12"])
def test_the_first_and_last_months_in_range_give_a_report(site_client, site, month):
    log_in(site_client, site, "broker")
    assert site_client.get("/api/v1/reports/monthly", query_string={"month": month}).get_json()["month"] == month
    assert site_client.get("/reports/download", query_string={"month": month, "format": "xlsx"}).status_code == 200

def test_the_downloads_are_refused_to_enterprises_and_given_to_brokers(site_client, site):
    log_in(site_client, site, "enterprise")
    assert site_client.get(f"/reports/download?month={MONTH}&format=xlsx").status_code == 403
    log_in(site_client, site, "broker")
    response = site_client.get(f"/reports/download?month={MONTH}&format=xlsx")
    assert response.status_code == 200 and response.data[:2] == b"PK"
    assert site_client.get(f"/reports/download?month={MONTH}&format=json").get_json()["month"] == MONTH


@pytest.mark.browser
def test_the_report_page_renders_its_charts_in_chromium(site):
    """Under the site's CSP (no inline script or style): no refused resource, charts with real size."""
    sync_playwright = require_browser()
    with serve(site) as base_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            problems = []
            page.on("response", lambda response: problems.append(response.url)
                    if response.status >= 400 and not response.url.endswith("/favicon.ico") else None)
            page.on("console", lambda message: problems.append(message.text)
                    if "Content Security Policy" in message.text else None)
            sign_in(page, base_url, "broker")
            page.goto(f"{base_url}/reports?month={MONTH}")
            assert page.locator("h1#report-title").inner_text() == "两清单月度匹配报告 · 2021 年 7 月"
            for kind in ("line", "bar", "heatmap"):
                charts = page.locator(f"svg.chart-{kind}")
                assert charts.count() >= 1
                for index in range(charts.count()):
                    box = charts.nth(index).bounding_box()
                    assert box and box["width"] > 100 and box["height"] > 100, kind
            assert page.locator("svg.chart-line polyline.series").count() >= 1
            assert page.locator("svg.chart-bar rect.bar").count() >= 2
            assert page.locator("svg.chart-heatmap rect.cell").count() >= 4
            label = page.locator("svg.chart-bar text", has_text="新一代信息技术").first.bounding_box()
            assert label and label["width"] > 40    # the Chinese label has glyphs, not a zero-width box
            assert page.evaluate("getComputedStyle(document.querySelector('.report-head h1')).fontSize") != ""
            screenshot(page, "report.png", full_page=True)
            page.emulate_media(media="print")
            assert not page.locator("header.topbar").is_visible()
            assert not problems, problems
        finally:
            browser.close()


@pytest.mark.parametrize("role, shown", [("broker", True), ("admin", True), ("enterprise", False), ("platform", False)])
def test_the_report_is_in_the_navigation_of_those_who_may_open_it(site_client, site, role, shown):
    log_in(site_client, site, role)
    assert ('href="/reports"' in site_client.get("/").get_data(as_text=True)) is shown


@pytest.mark.browser
def test_the_report_page_fits_a_phone_without_sideways_scrolling(site):
    """At 390 px the page does not scroll sideways: the KPI cards wrap, wide tables scroll in a box of
    their own, charts scale down, and every KPI value is shown whole inside its card."""
    sync_playwright = require_browser()
    with serve(site) as base_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=PHONE, locale="zh-CN")
            sign_in(page, base_url, "broker")
            page.goto(f"{base_url}/reports?month={MONTH}")
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            cards = page.locator(".report-figure")
            assert cards.count() == 4 and "100.0%" in cards.locator(".value").all_inner_texts()
            for index in range(cards.count()):
                card, value = cards.nth(index), cards.nth(index).locator(".value")
                assert value.evaluate("element => element.scrollWidth <= element.clientWidth"), value.inner_text()
                outer, inner = card.bounding_box(), value.bounding_box()
                assert outer["x"] <= inner["x"] and inner["x"] + inner["width"] <= outer["x"] + outer["width"]
                assert 0 <= outer["x"] and outer["x"] + outer["width"] <= PHONE["width"], value.inner_text()
            for chart in page.locator(".report-chart svg").all():
                box = chart.bounding_box()
                assert box["width"] <= PHONE["width"] and box["height"] > 50
            screenshot(page, "report-390x844.png")
            screenshot(page, "report-390x844-full.png", full_page=True)
        finally:
            browser.close()
