"""The administrator's pages, /admin and /users, through the real app; account work in chromium."""
from __future__ import annotations

import re

import pytest

from service import store

from .browser_support import LAPTOP, PHONE, browsing, screenshot, sign_in
from .records import HUALIAN, PASSWORD
from .site_support import log_in, make_site, post, text

pytestmark = pytest.mark.instance("site")


def account(db, name: str) -> dict:
    return store.get_user_by_name(db, name)


def audited(db, user_id: int) -> list[str]:
    """The audit log's actions on one account, oldest first, with who did them."""
    return [f"{row['actor']}:{row['action']}" for row in
            db.query("select actor, action from audit_log where entity = 'users' and entity_id = ? order by id",
                     [str(user_id)])]


def issued(response, what: str) -> str:
    match = re.search(rf'id="issued-{what}">([^<]+)<', text(response))
    assert match, f"no {what} shown"
    return match.group(1)


def can_sign_in(app, name: str, password: str) -> bool:
    """Does the real login form let this name and password in?"""
    browser = app.test_client()
    browser.get("/login")
    with browser.session_transaction() as session:
        token = session.get("csrf_token")
    response = browser.post("/login", data={"csrf_token": token, "name": name, "password": password})
    return response.status_code == 302 and browser.get("/api/v1/me").status_code == 200


# --- who may see and do what --------------------------------------------------------------------

ADMIN_POSTS = ["/users", "/users/{id}/disable", "/users/{id}/enable", "/users/{id}/password",
               "/users/{id}/token", "/users/{id}/revoke", "/users/{id}/delete"]


@pytest.mark.parametrize("role", ("enterprise", "platform", "broker"))
def test_only_an_admin_reaches_the_account_pages_and_nothing_changes_for_the_others(client, db, role):
    target = account(db, "enterprise")
    log_in(client, db, role)
    for url in ("/admin", "/users"):
        response = client.get(url)
        assert response.status_code == 403 and "没有访问权限" in text(response), url
    before = list(db.query("select count(*) as n from audit_log"))[0]["n"]
    for url in ADMIN_POSTS:
        response = post(client, url.format(id=target["id"]), {"name": "intruder", "role": "admin",
                                                              "confirm": target["name"]})
        assert response.status_code == 403, url
    assert list(db.query("select count(*) as n from audit_log"))[0]["n"] == before
    assert account(db, "intruder") is None and account(db, target["name"]) == target
    assert "系统管理" not in text(client.get("/"))


def test_a_signed_out_visitor_is_sent_to_the_login(client, db):
    log_in(client, db, None)
    for url in ("/admin", "/users"):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_an_admin_post_without_the_csrf_token_is_refused(client, db):
    log_in(client, db, "admin")
    response = client.post("/users", data={"name": "zhang", "role": "broker"})
    assert response.status_code == 400 and account(db, "zhang") is None


def test_the_admin_menu_leads_to_the_landing_page_with_accounts_and_imports(client, db):
    log_in(client, db, "admin")
    home = text(client.get("/"))
    assert 'href="/admin"' in home and "系统管理" in home
    landing = text(client.get("/admin"))
    assert 'href="/users"' in landing and "账号管理" in landing
    assert 'href="/admin/imports"' in landing and "导入与索引" in landing


def test_the_list_shows_each_account_with_its_role_in_chinese_and_its_state(client, db):
    log_in(client, db, "admin")
    store.update_user(db, account(db, "platform")["id"], {"disabled_at": store.now()}, "admin", "disable")
    page = text(client.get("/users"))
    for name, role_name in (("enterprise", "企业"), ("platform", "平台"), ("broker", "技术经纪人"), ("admin", "管理员")):
        row = re.search(rf'<tr data-user="{name}">(.*?)</tr>', page, re.S).group(1)
        assert role_name in row
        assert ("已停用" if name == "platform" else "正常") in row
    assert HUALIAN in page


# --- creating ----------------------------------------------------------------------------------

def test_an_admin_creates_an_account_and_sees_its_password_and_token_once(app, client, db):
    log_in(client, db, "admin")
    response = post(client, "/users", {"name": "wanghai", "role": "enterprise", "org": HUALIAN})
    assert response.status_code == 201 and response.headers["Cache-Control"] == "no-store"
    password, token = issued(response, "password"), issued(response, "token")
    created = account(db, "wanghai")
    assert (created["role"], created["org"]) == ("enterprise", HUALIAN)
    assert audited(db, created["id"]) == ["admin:create"]
    assert password not in text(client.get("/users")) and token not in text(client.get("/users"))
    assert can_sign_in(app, "wanghai", password)
    assert app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.parametrize("fields,field,message", [
    ({"name": "", "role": "broker"}, "name", "请填写用户名"),
    ({"name": "zhang", "role": ""}, "role", "请选择角色"),
    ({"name": "zhang", "role": "platform", "org": " "}, "org", "平台账号必须填写所属单位"),
    ({"name": "enterprise", "role": "broker"}, "name", "用户名「enterprise」已存在"),
])
def test_a_bad_new_account_is_refused_beside_its_field_and_nothing_is_written(client, db, fields, field, message):
    log_in(client, db, "admin")
    users_before = store.list_users(db)
    response = post(client, "/users", fields)
    assert response.status_code == 422
    assert re.search(rf'<p class="field-error" id="e-{field}">{message}</p>', text(response))
    assert 'id="issued' not in text(response)
    assert store.list_users(db) == users_before


# --- the lifecycle -----------------------------------------------------------------------------

def test_disabling_stops_the_login_and_enabling_lets_the_password_work_again(app, client, db):
    target = account(db, "enterprise")
    log_in(client, db, "admin")
    response = post(client, f"/users/{target['id']}/disable", follow_redirects=True)
    assert "已停用账号「enterprise」" in text(response)
    assert re.search(r'<tr data-user="enterprise">.*?已停用', text(response), re.S)
    assert not can_sign_in(app, "enterprise", PASSWORD)
    response = post(client, f"/users/{target['id']}/enable", follow_redirects=True)
    assert "已启用账号「enterprise」" in text(response)
    assert can_sign_in(app, "enterprise", PASSWORD)
    assert audited(db, target["id"])[-2:] == ["admin:disable", "admin:enable"]


def test_a_reset_password_is_shown_once_and_replaces_the_old_one(app, client, db):
    target = account(db, "platform")
    log_in(client, db, "admin")
    response = post(client, f"/users/{target['id']}/password")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    password = issued(response, "password")
    assert 'id="issued-token"' not in text(response)
    assert not can_sign_in(app, "platform", PASSWORD) and can_sign_in(app, "platform", password)
    assert audited(db, target["id"])[-1] == "admin:reset_password"


def test_revoking_ends_the_accounts_sessions_and_token_but_keeps_its_password(app, client, db):
    target = account(db, "broker")
    log_in(client, db, "admin")
    token = issued(post(client, f"/users/{target['id']}/token"), "token")
    api = app.test_client()
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    broker = app.test_client()
    log_in(broker, db, "broker")
    assert broker.get("/queue").status_code == 200
    response = post(client, f"/users/{target['id']}/revoke", follow_redirects=True)
    assert "已注销账号「broker」的全部会话并吊销其 API 令牌" in text(response)
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert broker.get("/queue").status_code == 302  # back to the login
    assert can_sign_in(app, "broker", PASSWORD)
    assert audited(db, target["id"])[-2:] == ["admin:issue_token", "admin:revoke"]


def test_deleting_asks_for_the_name_then_removes_the_account_for_good(app, client, db):
    target = account(db, "enterprise")
    log_in(client, db, "admin")
    response = post(client, f"/users/{target['id']}/delete", {"confirm": "kun"}, follow_redirects=True)
    assert "删除前请输入账号名「enterprise」确认" in text(response)
    assert account(db, "enterprise")["deleted_at"] is None
    response = post(client, f"/users/{target['id']}/delete", {"confirm": "enterprise"}, follow_redirects=True)
    assert "已删除账号「enterprise」" in text(response)
    assert 'data-user="enterprise"' not in text(response)
    assert not can_sign_in(app, "enterprise", PASSWORD)
    assert audited(db, target["id"])[-1] == "admin:delete"
    assert post(client, f"/users/{target['id']}/enable").status_code == 404


def test_an_admin_cannot_disable_or_delete_their_own_account(app, client, db):
    own = account(db, "admin")
    log_in(client, db, "admin")
    page = text(client.get("/users"))
    row = re.search(r'<tr data-user="admin">(.*?)</tr>', page, re.S).group(1)
    assert "停用</button>" not in row and "删除" not in row
    for action, verb in (("disable", "停用"), ("delete", "删除")):
        response = post(client, f"/users/{own['id']}/{action}", {"confirm": "admin"}, follow_redirects=True)
        assert f"不能{verb}自己的账号，请由另一位管理员操作。" in text(response)
    assert account(db, "admin") == own
    assert audited(db, own["id"]) == ["fixture:create"]  # the seed made it; nothing since


def test_an_unknown_account_answers_404(client, db):
    log_in(client, db, "admin")
    for url in ADMIN_POSTS[1:]:
        assert post(client, url.format(id=9999), {"confirm": "x"}).status_code == 404, url


def test_account_actions_read_in_chinese_in_the_audit_log(client, db):
    log_in(client, db, "admin")
    post(client, f"/users/{account(db, 'platform')['id']}/disable")
    assert "停用账号" in text(client.get("/audit"))


# --- in the browser ----------------------------------------------------------------------------

def test_an_admin_creates_an_account_in_the_browser_disables_it_and_it_cannot_sign_in(tmp_path):
    with browsing(make_site(tmp_path / "site")) as (base_url, browser):
        admin = browser.new_context(viewport=LAPTOP, locale="zh-CN").new_page()
        sign_in(admin, base_url, "admin")
        admin.click("nav >> text=系统管理")
        admin.wait_for_url(f"{base_url}/admin")
        screenshot(admin, "admin-landing.png")
        admin.click("#admin-users")
        admin.wait_for_url(f"{base_url}/users")
        admin.fill("#u-name", "liuyang")
        admin.select_option("#u-role", "platform")
        admin.click("#create-user button[type=submit]")
        assert admin.locator("#e-org").inner_text() == "平台账号必须填写所属单位"
        admin.fill("#u-org", "打印成像与办公设备技术研究中心")
        admin.click("#create-user button[type=submit]")
        admin.wait_for_selector("#issued")
        password = admin.locator("#issued-password").inner_text()
        assert len(password) >= 8 and admin.locator("#issued-token").is_visible()
        row = admin.locator('tr[data-user="liuyang"]')
        assert row.locator("td").nth(1).inner_text() == "平台" and row.locator(".state").inner_text() == "正常"
        screenshot(admin, "users-created.png", full_page=True)

        admin.reload()  # a GET: the password is not shown again
        assert admin.locator("#issued").count() == 0 and password not in admin.content()
        admin.locator('tr[data-user="liuyang"] button:text("停用")').click()
        admin.wait_for_selector(".flash-success")
        assert admin.locator('tr[data-user="liuyang"] .state').inner_text() == "已停用"
        screenshot(admin, "users-disabled.png", full_page=True)

        user = browser.new_context(viewport=LAPTOP, locale="zh-CN").new_page()
        user.goto(f"{base_url}/login")
        user.fill("#name", "liuyang")
        user.fill("#password", password)
        user.click("form.form button[type=submit]")
        user.wait_for_load_state()
        assert user.url.startswith(f"{base_url}/login")
        assert "该账号已停用，请联系管理员" in user.locator("main").inner_text()
        screenshot(user, "users-disabled-login.png")

        admin.set_viewport_size(PHONE)  # the list reflows into cards: no sideways scrolling
        assert admin.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshot(admin, "users-390x844.png")
