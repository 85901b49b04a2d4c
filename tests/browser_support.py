"""Serving the real app on 127.0.0.1 and driving Debian's chromium through Playwright.

Playwright's own browser download cannot work on these machines, so the system chromium is used.
Without it the browser tests are skipped with a reason — except under CI, where they fail.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


def require_browser():
    """Playwright's sync API, or a skip (a failure under CI) saying what is missing."""
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} 不存在：apt-get install -y chromium fonts-noto-cjk"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = problem or "未安装 playwright：pip install playwright"
        sync_playwright = None
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"浏览器测试无法运行（CI 环境必须具备）：{problem}")
        pytest.skip(f"浏览器测试已跳过：{problem}")
    return sync_playwright


@contextmanager
def serve(app):
    """The app behind waitress on a free port of 127.0.0.1, in a background thread; yields its base URL."""
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, name="test-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        # Closed by the loop's own thread: a socket closed from here could be in the loop's select (EBADF).
        server.trigger.pull_trigger(server.close)
        thread.join(timeout=5)


@contextmanager
def browsing(app):
    """The app served (serve) and a headless chromium; yields (base_url, browser). Afterwards the
    browser closes, and so does the app's worker and every connection it kept (service.resources.shutdown).
    Skips the test when no browser can run (require_browser)."""
    from service.resources import shutdown

    sync_playwright = require_browser()
    try:
        with serve(app) as base_url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                yield base_url, browser
            finally:
                browser.close()
    finally:
        shutdown(app)


def sign_in(page, base_url: str, role: str) -> None:
    """Log the page in through the real login form as the site seed's account for `role`."""
    from .records import PASSWORD
    page.goto(f"{base_url}/login")
    page.fill("#name", role)
    page.fill("#password", PASSWORD)
    page.click("form.form button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def screenshot(page, name: str, full_page: bool = False) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=full_page)
    return path
