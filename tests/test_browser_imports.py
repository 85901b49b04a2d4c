"""In a real browser: the admin imports a CSV (preview, confirm, progress to the end, counts), a bad file is
refused, and a file the store no longer accepts at write time is reported on the progress bar."""
from __future__ import annotations

import pytest

from service import store

from .browser_support import LAPTOP, browsing, screenshot, sign_in
from .record_files import csv_file
from .site_support import GOOD_ROWS, make_site

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    app = make_site(tmp_path_factory.mktemp("imports-site"))
    with browsing(app) as (base_url, browser):
        yield app, base_url, browser


def admin_page(browser, base_url: str):
    page = browser.new_context(viewport=LAPTOP, locale="zh-CN").new_page()
    sign_in(page, base_url, "admin")
    return page


def demand_count(app) -> int:
    db = store.open_db(app.config["DATABASE"])
    try:
        return db["demands"].count
    finally:
        db.close()


def change_store(app, change):
    """Apply change(db) through a connection of the test's own, as another admin would meanwhile."""
    db = store.open_db(app.config["DATABASE"])
    try:
        return change(db)
    finally:
        db.close()


def test_admin_uploads_a_csv_sees_the_preview_confirms_and_watches_the_indexing_finish(site, tmp_path):
    app, base_url, browser = site
    before = demand_count(app)
    path = tmp_path / "新需求.csv"
    path.write_bytes(csv_file(GOOD_ROWS))
    page = admin_page(browser, base_url)
    page.goto(f"{base_url}/admin/imports")
    page.select_option("#f-kind", "demands")
    page.set_input_files("#f-file", str(path))
    page.click("text=上传并预览")
    preview = page.locator(".import-preview")
    assert "共 2 条技术需求，全部通过检查" in preview.inner_text()
    assert "碳纤维鱼竿节间开裂" in preview.inner_text()
    screenshot(page, "imports-preview-1366x768.png", full_page=True)
    assert demand_count(app) == before  # nothing written before the confirmation

    page.click("text=确认导入 2 条")
    assert "已开始导入技术需求" in page.locator(".flashes").inner_text()
    page.wait_for_selector("#reload-progress[data-state=idle]", timeout=120_000)
    assert page.locator("#reload-bar").get_attribute("value") == "100"
    finished = page.locator("#reload-text").inner_text()
    assert finished.startswith("已完成：已导入 2 条技术需求，向量化") and "推荐已更新" in finished
    assert page.locator("#reload-progress[data-failed]").count() == 0
    assert page.locator('[data-count="demands"]').inner_text() == str(before + 2)
    screenshot(page, "imports-done-1366x768.png", full_page=True)


def test_a_file_with_a_bad_row_shows_the_row_error_and_writes_nothing(site, tmp_path):
    app, base_url, browser = site
    before = demand_count(app)
    path = tmp_path / "有错.csv"
    path.write_bytes(csv_file([["D2026-950", "无人艇自主靠泊", "港内无人艇需要自主靠泊。", "某船舶公司", "先进装备与智能制造"],
                               ["D2026-951", "", "标题漏填的一行", "某公司", "康养旅游"]]))
    page = admin_page(browser, base_url)
    page.goto(f"{base_url}/admin/imports")
    page.set_input_files("#f-file", str(path))
    page.click("text=上传并预览")
    alert = page.locator(".import-problems").inner_text()
    assert "导入被拒绝，数据库未作任何修改" in alert and "共 1 处问题" in alert
    row = page.locator("table.problems tbody tr").first.inner_text()
    assert "第 3 行" in row and "需求名称" in row
    assert page.locator("text=确认导入").count() == 0
    screenshot(page, "imports-row-error-1366x768.png", full_page=True)
    assert demand_count(app) == before


def test_a_file_refused_when_it_is_written_is_reported_under_the_bar(site, tmp_path):
    """Between preview and confirm another admin deletes a demand the file's second cooperation names."""
    app, base_url, browser = site
    change_store(app, lambda db: store.upsert_records(db, "demands", [
        {"id": "D2026-970", "title": "海上风电塔筒焊缝检测", "description": "需要海上风电塔筒焊缝的自动化无损检测方案。"}]))
    pair = change_store(app, lambda db: db.execute(
        "select d.id, s.id from demands d, supplies s where d.id != 'D2026-970' and not exists "
        "(select 1 from cooperations c where c.demand_id = d.id and c.supply_id = s.id) limit 1").fetchone())
    path = tmp_path / "合作.csv"
    path.write_bytes(csv_file([[pair[0], pair[1], "技术服务"], ["D2026-970", pair[1], "技术开发"]],
                              headers=["需求编号", "成果编号", "合作方式"]))
    before = change_store(app, lambda db: db["cooperations"].count)
    page = admin_page(browser, base_url)
    page.goto(f"{base_url}/admin/imports")
    page.select_option("#f-kind", "cooperations")
    page.set_input_files("#f-file", str(path))
    page.click("text=上传并预览")
    assert "共 2 条合作，全部通过检查" in page.locator(".import-preview").inner_text()
    change_store(app, lambda db: store.delete_record(db, "demands", "D2026-970", actor="admin"))

    page.click("text=确认导入 2 条")
    page.wait_for_selector("#reload-progress[data-state=idle][data-failed]", timeout=60_000)
    refused = page.locator("#reload-text").inner_text()
    assert refused.startswith("导入被拒绝，数据库未作任何修改") and "第 3 行 需求编号" in refused
    assert "D2026-970" in refused
    assert page.locator("#reload-bar").get_attribute("value") == "0"
    screenshot(page, "imports-refused-at-write-1366x768.png", full_page=True)
    assert change_store(app, lambda db: db["cooperations"].count) == before


def test_the_reindex_button_runs_in_the_background_and_reaches_the_end(site):
    app, base_url, browser = site
    page = admin_page(browser, base_url)
    page.goto(f"{base_url}/admin/index")
    page.click("#reindex-button")
    assert "已开始重建索引" in page.locator(".flashes").inner_text()
    other = admin_page(browser, base_url)  # the site keeps answering while it runs
    other.goto(f"{base_url}/demands")
    assert other.locator("h1").count() == 1
    page.wait_for_selector("#reload-progress[data-state=idle]", timeout=120_000)
    assert page.locator("#reload-text").inner_text().startswith("已完成：向量化")
    screenshot(page, "reindex-done-1366x768.png", full_page=True)
