"""The account lifecycle: disable and enable, password resets and changes, tokens, deletion.

Through the real app (Flask test client, sessions signed in with the login form, API tokens) and the
real CLI (CliRunner) on a real SQLite file. What every test checks in the end: a credential that
should have died (a session cookie, an API token, an old password) is refused at once.
"""
from __future__ import annotations

import re
import sqlite3

import pytest

from service import auth, store
from service.cli import cli

from .records import PASSWORD

pytestmark = pytest.mark.instance("api")

NEW_PASSWORD = "new password 2022"


def sign_in(client, name: str, password: str = PASSWORD):
    """Log a test client in through the login form, as a person does."""
    client.get("/login")
    with client.session_transaction() as session:
        csrf = session["csrf_token"]
    return client.post("/login", data={"name": name, "password": password, "csrf_token": csrf})


def signed_in_as(client) -> str | None:
    me = client.get("/api/v1/me")
    return me.json["name"] if me.status_code == 200 else None


def csrf_of(client) -> str:
    with client.session_transaction() as session:
        return session["csrf_token"]


def user_id(db, name: str) -> int:
    return store.get_user_by_name(db, name)["id"]


def bearer(client, token: str):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def account_audit(db, user: int) -> list[tuple[str, str]]:
    """(actor, action) of the audit entries about one account, oldest first."""
    return [(entry["actor"], entry["action"]) for entry in reversed(store.audit_entries(db, "users", str(user)))]


# --- disable and enable -------------------------------------------------------------------------

def test_a_disabled_account_cannot_sign_in_and_is_told_so_in_chinese(app, api, db):
    target = user_id(db, "platform")
    assert api("admin").post(f"/users/{target}/disable").status_code == 200
    refused = sign_in(app.test_client(), "platform")
    assert refused.status_code == 403 and "该账号已停用，请联系管理员" in refused.get_data(as_text=True)
    guessed = sign_in(app.test_client(), "platform", "a wrong guess")  # a guesser learns nothing more
    assert guessed.status_code == 401 and "已停用" not in guessed.get_data(as_text=True)


def test_disabling_an_account_ends_its_sessions_and_token_at_once(app, api, db, tokens):
    browser = app.test_client()
    sign_in(browser, "enterprise")
    assert signed_in_as(browser) == "enterprise"
    target = user_id(db, "enterprise")
    disabled = api("admin").post(f"/users/{target}/disable")
    assert disabled.status_code == 200 and disabled.json["disabled_at"]
    assert signed_in_as(browser) is None
    assert browser.get("/demands").headers["Location"].startswith("/login")
    assert bearer(browser, tokens["enterprise"]).status_code == 401
    assert account_audit(db, target)[-1] == ("admin", "disable")


def test_enabling_again_restores_the_password_but_not_the_old_token(app, api, db, tokens):
    target = user_id(db, "broker")
    api("admin").post(f"/users/{target}/disable")
    enabled = api("admin").post(f"/users/{target}/enable")
    assert enabled.status_code == 200 and enabled.json["disabled_at"] is None
    browser = app.test_client()
    assert sign_in(browser, "broker").status_code == 302 and signed_in_as(browser) == "broker"
    assert bearer(browser, tokens["broker"]).status_code == 401
    assert account_audit(db, target)[-2:] == [("admin", "disable"), ("admin", "enable")]


def test_the_list_shows_which_accounts_are_disabled(api, db):
    api("admin").post(f"/users/{user_id(db, 'other_platform')}/disable")
    accounts = {account["name"]: account for account in api("admin").get("/users").json["items"]}
    assert accounts["other_platform"]["disabled_at"] and accounts["platform"]["disabled_at"] is None


# --- passwords ----------------------------------------------------------------------------------

def test_a_password_reset_by_an_admin_ends_the_accounts_sessions_and_token(app, api, db, tokens):
    browser = app.test_client()
    sign_in(browser, "platform")
    target = user_id(db, "platform")
    reset = api("admin").post(f"/users/{target}/password", json={"password": NEW_PASSWORD})
    assert reset.status_code == 200 and reset.json["password"] is None
    assert signed_in_as(browser) is None
    assert bearer(browser, tokens["platform"]).status_code == 401
    assert sign_in(app.test_client(), "platform").status_code == 401
    assert sign_in(app.test_client(), "platform", NEW_PASSWORD).status_code == 302
    assert account_audit(db, target)[-1] == ("admin", "reset_password")


def test_a_reset_without_a_password_generates_one_and_shows_it_once(app, api, db):
    reset = api("admin").post(f"/users/{user_id(db, 'broker')}/password", json={})
    generated = reset.json["password"]
    assert reset.status_code == 200 and len(generated) >= 8
    assert sign_in(app.test_client(), "broker", generated).status_code == 302
    assert generated not in str(store.audit_entries(db, "users"))


def test_changing_ones_own_password_needs_the_old_one_and_ends_every_other_session(app, db, tokens):
    here, elsewhere = app.test_client(), app.test_client()
    sign_in(here, "enterprise")
    sign_in(elsewhere, "enterprise")
    headers = {"X-CSRF-Token": csrf_of(here)}
    wrong = here.post("/api/v1/me/password", json={"old_password": "not it", "new_password": NEW_PASSWORD},
                      headers=headers)
    assert wrong.status_code == 422 and wrong.json["error"]["fields"] == {"old_password": "原密码不正确"}
    assert signed_in_as(elsewhere) == "enterprise"  # a refused change ends nothing
    changed = here.post("/api/v1/me/password", json={"old_password": PASSWORD, "new_password": NEW_PASSWORD},
                        headers=headers)
    assert changed.status_code == 200 and changed.json["name"] == "enterprise"
    assert signed_in_as(here) == "enterprise"       # the session that changed it carries on
    assert signed_in_as(elsewhere) is None           # every other one ends
    assert bearer(here, tokens["enterprise"]).status_code == 401
    assert sign_in(app.test_client(), "enterprise", NEW_PASSWORD).status_code == 302
    assert account_audit(db, user_id(db, "enterprise"))[-1] == ("enterprise", "change_password")


def test_changing_ones_own_password_by_token_ends_that_token_too(api, client, tokens):
    changed = api("platform").post("/me/password", json={"old_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert changed.status_code == 200
    assert bearer(client, tokens["platform"]).status_code == 401


@pytest.mark.parametrize("body, field", [
    ({"old_password": PASSWORD, "new_password": "short"}, "new_password"),
    ({"old_password": PASSWORD}, "new_password"),
    ({"new_password": NEW_PASSWORD}, "old_password"),
    ({"old_password": PASSWORD, "new_password": 12345678}, "new_password"),
])
def test_a_bad_own_password_change_is_refused_naming_the_field(api, client, tokens, body, field):
    refused = api("broker").post("/me/password", json=body)
    assert refused.status_code == 422 and field in refused.json["error"]["fields"]
    assert bearer(client, tokens["broker"]).status_code == 200  # nothing changed


def test_guessing_the_old_password_is_throttled_like_logins(api):
    for _ in range(5):
        assert api("broker").post("/me/password", json={"old_password": "guess", "new_password": NEW_PASSWORD}
                                  ).status_code == 422
    locked = api("broker").post("/me/password", json={"old_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert "登录失败次数过多" in locked.json["error"]["message"]


def test_a_reset_to_a_short_password_is_refused_and_changes_nothing(api, client, db, tokens):
    refused = api("admin").post(f"/users/{user_id(db, 'broker')}/password", json={"password": "1234"})
    assert refused.status_code == 422 and "8" in refused.json["error"]["fields"]["password"]
    assert bearer(client, tokens["broker"]).status_code == 200
    created = api("admin").post("/users", json={"name": "新经纪人", "role": "broker", "password": "1234"})
    assert created.status_code == 422 and "8" in created.json["error"]["fields"]["password"]
    assert store.get_user_by_name(db, "新经纪人") is None


# --- tokens and revocation ----------------------------------------------------------------------

def test_an_admin_issues_a_new_token_and_the_old_one_stops_working(api, client, db, tokens):
    target = user_id(db, "broker")
    issued = api("admin").post(f"/users/{target}/token")
    assert issued.status_code == 200 and issued.json["user"]["name"] == "broker"
    assert bearer(client, tokens["broker"]).status_code == 401
    assert bearer(client, issued.json["token"]).json["name"] == "broker"
    assert issued.json["token"] not in str(store.audit_entries(db, "users"))
    assert account_audit(db, target)[-1] == ("admin", "issue_token")


def test_a_user_issues_their_own_new_token(api, client, tokens):
    issued = api("enterprise").post("/me/token")
    assert issued.status_code == 200
    assert bearer(client, tokens["enterprise"]).status_code == 401
    assert bearer(client, issued.json["token"]).json["name"] == "enterprise"


def test_revoking_ends_sessions_and_the_token_but_keeps_the_password(app, api, db, tokens):
    browser = app.test_client()
    sign_in(browser, "broker")
    target = user_id(db, "broker")
    assert api("admin").post(f"/users/{target}/revoke").status_code == 200
    assert signed_in_as(browser) is None
    assert bearer(browser, tokens["broker"]).status_code == 401
    assert sign_in(app.test_client(), "broker").status_code == 302
    assert account_audit(db, target)[-1] == ("admin", "revoke")


# --- deletion and ids ---------------------------------------------------------------------------

def test_a_deleted_account_ends_at_once_and_its_id_and_name_are_never_reused(app, api, db, tokens):
    browser = app.test_client()
    sign_in(browser, "broker")
    target = user_id(db, "broker")
    assert api("admin").delete(f"/users/{target}").status_code == 204
    assert signed_in_as(browser) is None and bearer(browser, tokens["broker"]).status_code == 401
    assert sign_in(app.test_client(), "broker").status_code == 401
    assert "broker" not in [account["name"] for account in api("admin").get("/users").json["items"]]
    new = api("admin").post("/users", json={"name": "新管理员", "role": "admin", "password": NEW_PASSWORD})
    assert new.status_code == 201 and new.json["user"]["id"] > max(target, user_id(db, "admin"))
    assert signed_in_as(browser) is None
    taken = api("admin").post("/users", json={"name": "broker", "role": "broker"})
    assert taken.status_code == 409 and "已删除" in taken.json["error"]["message"]
    assert api("admin").post(f"/users/{target}/enable").status_code == 404
    assert account_audit(db, target)[-1] == ("admin", "delete")


def test_an_old_session_never_signs_in_as_a_new_account_that_got_a_removed_accounts_id(app, db):
    """The tester's finding: a row removed (by hand, or by restoring an older backup) and its id given to
    a new admin; the old cookie must not open the new account, whatever the id allocation did."""
    browser = app.test_client()
    sign_in(browser, "broker")
    old_id = user_id(db, "broker")
    db.execute("delete from users where id = ?", [old_id])
    auth.create_user(db, "新管理员", "admin", password=NEW_PASSWORD)
    assert user_id(db, "新管理员") != old_id  # AUTOINCREMENT: not handed out again
    db.execute("update users set id = ? where name = ?", [old_id, "新管理员"])  # as if it had been
    assert signed_in_as(browser) is None


def test_an_admin_cannot_disable_or_delete_their_own_account(api, db):
    own = user_id(db, "admin")
    for refused in (api("admin").post(f"/users/{own}/disable"), api("admin").delete(f"/users/{own}")):
        assert refused.status_code == 409 and refused.json["error"]["code"] == "own_account"
    assert api("admin").get("/me").status_code == 200


def test_an_unknown_account_is_404(api):
    for path in ("/users/999999/disable", "/users/999999/enable", "/users/999999/token", "/users/999999/revoke",
                 f"/users/{2**70}/revoke"):
        assert api("admin").post(path).status_code == 404, path
    assert api("admin").post("/users/999999/password", json={}).status_code == 404
    assert api("admin").delete("/users/999999").status_code == 404


@pytest.mark.parametrize("name", ["enterprise", "platform", "broker"])
def test_only_admins_change_other_accounts(api, client, db, tokens, name):
    target = user_id(db, "other_enterprise")
    before = store.get_user(db, target)
    for method, path in (("post", "disable"), ("post", "enable"), ("post", "token"), ("post", "revoke"),
                         ("post", "password"), ("delete", "")):
        response = getattr(api(name), method)(f"/users/{target}/{path}".rstrip("/"), json={})
        assert response.status_code == 403, (name, method, path)
        assert getattr(api(None), method)(f"/users/{target}/{path}".rstrip("/"), json={}).status_code == 401
    assert store.get_user(db, target) == before
    assert bearer(client, tokens["other_enterprise"]).status_code == 200


def test_account_changes_riding_on_a_session_need_the_csrf_header(app, db):
    browser = app.test_client()
    sign_in(browser, "admin")
    target = user_id(db, "broker")
    assert browser.post(f"/api/v1/users/{target}/disable").status_code == 400
    assert store.get_user(db, target)["disabled_at"] is None
    assert browser.post(f"/api/v1/users/{target}/disable", headers={"X-CSRF-Token": csrf_of(browser)}
                        ).status_code == 200


# --- an older database ----------------------------------------------------------------------------

OLD_USERS_TABLE = """create table users (id integer primary key, name text not null, role text not null,
    org text, password_hash text, token_hash text, created_at text)"""


def test_an_older_database_is_upgraded_so_no_removed_id_is_handed_out_again(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute(OLD_USERS_TABLE)
    old.execute("create unique index idx_users_name on users (name)")
    old.execute("insert into users (id, name, role) values (1, 'admin', 'admin'), (2, 'broker', 'broker')")
    old.execute("create table audit_log (id integer primary key, at text, actor text, action text, entity text, "
                "entity_id text, before text, after text)")
    old.execute("insert into audit_log (actor, action, entity, entity_id) values ('cli', 'create', 'users', '3')")
    old.commit()
    old.close()                        # account 3 was created, then removed by hand: its id is spent
    db = store.open_db(path)
    assert "autoincrement" in db["users"].schema.lower()
    assert [row["name"] for row in db.query("select name from users order by id")] == ["admin", "broker"]
    assert all(row["auth_stamp"] for row in db.query("select auth_stamp from users"))
    auth.create_user(db, "新经纪人", "broker", password=NEW_PASSWORD)
    assert user_id(db, "新经纪人") == 4
    store.open_db(path).close()        # a second start changes nothing
    assert [row["id"] for row in db.query("select id from users order by id")] == [1, 2, 4]


# --- the CLI ------------------------------------------------------------------------------------

def matchmaker(runner, app, *args):
    return runner.invoke(cli, ["--db", app.config["DATABASE"], "user", *args])


def test_the_cli_disables_enables_resets_issues_revokes_and_deletes(runner, app, db, tokens):
    browser = app.test_client()
    sign_in(browser, "platform")

    disabled = matchmaker(runner, app, "disable", "platform")
    assert disabled.exit_code == 0 and "已停用" in disabled.output
    assert signed_in_as(browser) is None and bearer(browser, tokens["platform"]).status_code == 401
    assert sign_in(app.test_client(), "platform").status_code == 403
    assert "已停用" in matchmaker(runner, app, "list").output
    assert matchmaker(runner, app, "enable", "platform").exit_code == 0
    assert sign_in(browser, "platform").status_code == 302

    reset = matchmaker(runner, app, "password", "platform")
    generated = re.search(r"新密码：(\S+)", reset.output).group(1)
    assert reset.exit_code == 0 and signed_in_as(browser) is None
    assert sign_in(browser, "platform", generated).status_code == 302

    issued = matchmaker(runner, app, "token", "platform")
    token = re.search(r"API 令牌.*：(\S+)", issued.output).group(1)
    assert bearer(browser, token).json["name"] == "platform"
    assert matchmaker(runner, app, "revoke", "platform").exit_code == 0
    assert bearer(browser, token).status_code == 401 and signed_in_as(browser) is None

    assert matchmaker(runner, app, "delete", "platform").exit_code == 0
    assert sign_in(browser, "platform", generated).status_code == 401
    assert not re.search(r"^\d+\tplatform\t", matchmaker(runner, app, "list").output, re.M)
    actions = [action for actor, action in account_audit(db, user_id(db, "platform")) if actor == "cli"]
    assert actions == ["disable", "enable", "reset_password", "issue_token", "revoke", "delete"]


def test_the_cli_refuses_an_unknown_account_and_a_short_password_with_exit_status_2(runner, app, db):
    before = store.get_user(db, user_id(db, "broker"))
    for args in (("disable", "nobody"), ("password", "nobody"), ("delete", "nobody")):
        result = matchmaker(runner, app, *args)
        assert result.exit_code == 2 and "找不到账号「nobody」" in result.output, args
    short = matchmaker(runner, app, "password", "broker", "--password", "1234")
    assert short.exit_code == 2 and "至少需要 8 个字符" in short.output
    assert store.get_user(db, user_id(db, "broker")) == before
    added = runner.invoke(cli, ["--db", app.config["DATABASE"], "user", "add", "短密码", "--role", "broker",
                                "--password", "1234"])
    assert added.exit_code == 2 and "至少需要 8 个字符" in added.output
