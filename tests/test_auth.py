"""Accounts, login, API tokens and CSRF."""
from __future__ import annotations

import re

import pytest

from service import store
from service.auth import hash_token
from service.cli import cli

from .records import PASSWORD

pytestmark = pytest.mark.instance("api")


def test_passwords_and_tokens_are_stored_only_as_hashes(db, tokens):
    row = store.get_user_by_name(db, "broker")
    assert PASSWORD not in row["password_hash"] and row["password_hash"].startswith(("scrypt:", "pbkdf2:"))
    assert row["token_hash"] == hash_token(tokens["broker"]) != tokens["broker"]


def test_an_api_token_identifies_its_user(api):
    me = api("platform").get("/me")
    assert me.status_code == 200
    assert me.json["name"] == "platform" and me.json["role"] == "platform"
    assert "password_hash" not in me.json and "token_hash" not in me.json


def test_a_wrong_token_is_refused_with_401(client):
    response = client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401 and response.json["error"]["code"] == "invalid_token"


def test_logging_in_with_the_form_opens_a_session(client, login):
    response = login("broker")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/api/v1/me").json["name"] == "broker"


def test_a_wrong_password_is_refused_in_chinese(client, login):
    response = login("broker", "wrong")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True)
    assert client.get("/api/v1/me").status_code == 401


def test_login_returns_to_a_same_site_page_only(client):
    client.get("/login")
    with client.session_transaction() as session:
        token = session["csrf_token"]
    form = {"name": "broker", "password": PASSWORD, "csrf_token": token}
    assert client.post("/login?next=/queue", data=form).headers["Location"] == "/queue"
    with client.session_transaction() as session:
        token = session["csrf_token"]
    client.post("/logout", data={"csrf_token": token})
    client.get("/login")
    with client.session_transaction() as session:
        form["csrf_token"] = session["csrf_token"]
    assert client.post("/login?next=//evil.example/x", data=form).headers["Location"] == "/"


def test_logout_ends_the_session(client, login):
    login("admin")
    with client.session_transaction() as session:
        token = session["csrf_token"]
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/api/v1/me").status_code == 401


def test_following_a_link_to_logout_does_not_end_the_session_but_asks_with_a_form(client, login):
    """Any site could link (or embed an image) to /logout: only a POST with the CSRF token signs out."""
    login("broker")
    with client.session_transaction() as session:
        token = session["csrf_token"]
    page = client.get("/logout")
    assert page.status_code == 200
    assert client.get("/api/v1/me").status_code == 200  # still signed in
    body = page.get_data(as_text=True)
    assert re.search(r'<form method="post" action="/logout"', body) and f'value="{token}"' in body
    assert "确定要退出" in body
    client.post("/logout", data={"csrf_token": token})
    assert client.get("/logout").headers["Location"].startswith("/login")  # nothing to confirm when signed out


def test_the_login_page_carries_a_csrf_field(client):
    page = client.get("/login").get_data(as_text=True)
    assert re.search(r'name="csrf_token" value="[^"]{20,}"', page)


def test_a_form_post_without_the_csrf_token_is_refused(client, login):
    login("enterprise")
    response = client.post("/logout", data={})
    assert response.status_code == 400
    assert client.get("/api/v1/me").status_code == 200  # still logged in


def test_a_login_post_without_the_csrf_token_is_refused(client):
    response = client.post("/login", data={"name": "broker", "password": PASSWORD})
    assert response.status_code == 400


def test_session_api_writes_need_the_csrf_header(client, login):
    login("enterprise")
    body = {"title": "新需求", "description": "需要帮助：注塑件表面缩痕严重"}
    refused = client.post("/api/v1/demands", json=body)
    assert refused.status_code == 400 and refused.json["error"]["code"] == "csrf_failed"
    with client.session_transaction() as session:
        token = session["csrf_token"]
    assert client.post("/api/v1/demands", json=body, headers={"X-CSRF-Token": token}).status_code == 201


def test_token_requests_need_no_csrf_token(api):
    assert api("enterprise").post("/demands", json={"title": "新需求", "description": "需要帮助：注塑件表面缩痕严重"}).status_code == 201


def test_user_add_creates_an_account_and_prints_its_token_once(runner, app):
    result = runner.invoke(cli, ["--db", app.config["DATABASE"], "user", "add", "海达采购", "--role", "enterprise",
                                 "--org", "荣成海达食品有限公司"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    token = re.search(r"API 令牌.*：(\S+)", result.output).group(1)
    password = re.search(r"登录密码：(\S+)", result.output).group(1)
    client = app.test_client()
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json == {**me.json, "name": "海达采购", "role": "enterprise", "org": "荣成海达食品有限公司"}
    client.get("/login")
    with client.session_transaction() as session:
        csrf = session["csrf_token"]
    assert client.post("/login", data={"name": "海达采购", "password": password, "csrf_token": csrf}).status_code == 302


def test_user_add_refuses_bad_input_with_exit_status_2(runner, app):
    database = app.config["DATABASE"]
    taken = runner.invoke(cli, ["--db", database, "user", "add", "broker", "--role", "broker"])
    assert taken.exit_code == 2 and "已存在" in taken.output
    no_org = runner.invoke(cli, ["--db", database, "user", "add", "新企业", "--role", "enterprise"])
    assert no_org.exit_code == 2 and "--org" in no_org.output
