"""A broker filters the demand list, sorts it by a column and downloads what it shows as a workbook."""
from __future__ import annotations

import collections

import openpyxl
import pytest

from service import store

from .browser_support import LAPTOP, browsing, screenshot, sign_in
from .site_support import make_site

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    app = make_site(tmp_path_factory.mktemp("site"))
    with browsing(app) as (base_url, browser):
        yield app, base_url, browser


def test_a_broker_filters_sorts_and_downloads_the_demand_list(site, tmp_path):
    app, base_url, browser = site
    db = store.open_db(app.config["DATABASE"])
    clusters = collections.Counter(record["industry_cluster"] for record in store.list_records(db, "demands"))
    cluster = clusters.most_common(1)[0][0]
    expected = sorted((record["title"] for record in store.list_records(db, "demands", where={"industry_cluster": cluster})),
                      reverse=True)
    db.close()
    assert len(expected) >= 2

    page = browser.new_context(viewport=LAPTOP, locale="zh-CN", accept_downloads=True).new_page()
    sign_in(page, base_url, "broker")
    page.goto(f"{base_url}/demands")
    page.select_option("select[name=industry_cluster]", cluster)
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/demands?*industry_cluster=*")
    assert f"共 {len(expected)} 项" in page.inner_text("p.count")

    page.click("th >> a.sort:has-text('需求名称')")   # A to Z
    page.wait_for_url("**sort=title**")
    assert page.locator("a.row-title").all_inner_texts() == list(reversed(expected))
    page.click("th >> a.sort:has-text('需求名称')")   # again: Z to A
    page.wait_for_url("**sort=-title**")
    assert page.locator("a.row-title").all_inner_texts() == expected
    assert page.get_attribute("th[aria-sort=descending] a", "href").endswith("sort=title")
    screenshot(page, "demands-filtered-sorted-1366x768.png")

    with page.expect_download() as download_info:
        page.click("a:has-text('Excel (XLSX)')")
    download = download_info.value
    assert download.suggested_filename.startswith("技术需求清单-") and download.suggested_filename.endswith(".xlsx")
    saved = tmp_path / "export.xlsx"
    download.save_as(saved)
    sheet = openpyxl.load_workbook(saved).active
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    assert header[:2] == ("需求编号", "需求名称")
    assert [row[1] for row in rows[1:]] == expected
    assert {row[header.index("产业集群")] for row in rows[1:]} == {cluster}
    page.context.close()


def test_a_broker_filters_the_audit_log_and_reads_it_in_chinese_and_beijing_time(site):
    app, base_url, browser = site
    db = store.open_db(app.config["DATABASE"])
    db["audit_log"].insert({"at": "2021-06-18T06:05:09+00:00", "actor": "夜班经纪", "action": "recommend",
                            "entity": "proposals", "entity_id": "7", "before": '{"status": "proposed"}',
                            "after": '{"status": "recommended"}'})
    db.close()
    page = browser.new_context(viewport=LAPTOP, locale="zh-CN").new_page()
    sign_in(page, base_url, "broker")
    page.goto(f"{base_url}/audit")
    page.select_option("select[name=actor]", "夜班经纪")
    page.fill("input[name=from]", "2021-06-18")
    page.fill("input[name=to]", "2021-06-18")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/audit?*actor=*")
    assert "共 1 条" in page.inner_text("p.count")
    row = page.locator("table.list tbody tr")
    assert row.count() == 1
    assert row.locator("td[data-label=时间]").inner_text() == "2021-06-18 14:05"
    assert row.locator("td[data-label=操作]").inner_text() == "推荐"
    assert row.locator("td[data-label=变更]").inner_text() == "状态：待审核 → 已推荐"
    screenshot(page, "audit-filtered-1366x768.png")
    page.context.close()
