"""In a real browser: the admin asks the site to learn from the brokers' decisions and reads the verdict."""
from __future__ import annotations

import pytest

from service import store

from .browser_support import LAPTOP, browsing, screenshot, sign_in
from .site_support import make_site

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    app = make_site(tmp_path_factory.mktemp("learning-site"), LEARNING="on")
    with browsing(app) as (base_url, browser):
        yield app, base_url, browser


def test_admin_learns_from_decisions_and_sees_why_the_ranking_was_kept(site):
    app, base_url, browser = site
    page = browser.new_context(viewport=LAPTOP, locale="zh-CN").new_page()
    sign_in(page, base_url, "admin")
    page.goto(f"{base_url}/admin/index")
    assert page.locator("#learning-run").inner_text() == "尚未学习。"
    page.click("#learn-button")
    assert "已开始从经纪人的决定中学习排序" in page.locator(".flashes").inner_text()
    page.wait_for_selector("#reload-progress[data-state=idle]", timeout=120_000)
    finished = page.locator("#reload-text").inner_text()
    # The seed holds one cooperation: too few decisions, so the untrained ranking stays, and says so.
    assert finished.startswith("已完成：第 1 版：不采用，继续使用未学习的排序：决定太少")
    page.reload()
    run = page.locator("#learning").inner_text()
    assert "第 1 版" in run and "admin 发起，未采用" in run and "训练数据：1 条需求上的 1 个决定" in run
    assert "每新增 20 个决定，后台在空闲时自动重新学习" in run
    screenshot(page, "admin-learning-1366x768.png", full_page=True)
    db = store.open_db(app.config["DATABASE"])
    try:
        assert store.latest_ranker(db)["actor"] == "admin" and store.latest_ranker(db)["adopted"] == 0
    finally:
        db.close()
