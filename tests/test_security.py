"""Web security through the real app: headers, cookie flags, login throttling, upload limits,
escaping on every page that shows titles, CSRF on every form, and who may post to which page.

Page GETs per role are in tests/test_pages.py (PAGES); this module adds what it leaves out: every
state-changing page action × every role and an anonymous visitor, other owners' records, and the
pages a refused caller must not learn anything from.
"""
from __future__ import annotations

import io
import re
from html.parser import HTMLParser

import pytest

from service import auth, store, workflow
from service.security import LoginThrottle

from .records import HUALIAN, PASSWORD
from .site_support import CSRF, ROLES, log_in, make_site, text

pytestmark = pytest.mark.instance("site")

CALLERS = (None, *ROLES)
PAYLOAD = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def pair(db, demand_id: str, supply_id: str) -> int:
    return store.get_proposal_for_pair(db, demand_id, supply_id)["id"]


def recommend(db, demand_id: str, supply_id: str) -> int:
    broker = store.public_user(store.get_user_by_name(db, "broker"))
    proposal_id = pair(db, demand_id, supply_id)
    workflow.decide(db, proposal_id, "recommended", broker)
    return proposal_id


def snapshot(db) -> tuple:
    """Everything a refused request must leave as it was."""
    proposals = [(p["id"], p["status"], p.get("enterprise_agreed_at"), p.get("platform_agreed_at"))
                 for p in store.list_proposals(db, {})]
    records = [(r["id"], r["version"]) for kind in ("demands", "supplies")
               for r in store.list_records(db, kind, limit=1000)]
    return proposals, records, store.count_cooperations(db), len(store.audit_entries(db, limit=100_000))


# --- headers and cookies ------------------------------------------------------------------------

def test_every_kind_of_response_carries_the_security_headers(client, db):
    log_in(client, db, "broker")
    responses = [client.get(url) for url in ("/", "/demands", "/demands/D2021-102", "/queue", "/assets/site.css",
                                             "/assets/site.js", "/demands/D1999-999", "/api/v1/demands",
                                             "/api/v1/nothing-here", "/api/v1/openapi.json")]
    log_in(client, db, None)
    responses += [client.get("/login"), client.post("/login", data={"name": "x", "password": "y"})]
    for response in responses:
        headers = response.headers
        where = f"{response.request.method} {response.request.path} → {response.status_code}"
        csp = headers.get("Content-Security-Policy", "")
        for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
                          "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"):
            assert directive in csp, where
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, where
        assert headers.get("X-Content-Type-Options") == "nosniff", where
        assert headers.get("X-Frame-Options") == "DENY", where
        assert headers.get("Referrer-Policy") == "same-origin", where
        assert "Strict-Transport-Security" not in headers, where  # plain http: HSTS would be meaningless


def test_pages_use_no_inline_style_or_event_handlers_the_policy_would_block(client, db):
    log_in(client, db, "broker")
    for url in ("/", "/demands", "/supplies", "/demands/D2021-102", "/queue", "/cooperations", "/gaps", "/audit",
                "/demands/D2021-102/edit"):
        body = text(client.get(url))
        assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=|javascript:", body), url


def session_cookie(response) -> str:
    cookies = [value for value in response.headers.getlist("Set-Cookie") if value.startswith("session=")]
    assert cookies, "the response set no session cookie"
    return cookies[-1]


def log_in_with_form(client, name: str = "broker", password: str = PASSWORD, **kwargs):
    client.get("/login", **kwargs)
    with client.session_transaction(**({"base_url": kwargs["base_url"]} if "base_url" in kwargs else {})) as s:
        token = s["csrf_token"]
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token}, **kwargs)


def test_the_session_cookie_is_httponly_and_samesite_lax_and_not_secure_over_plain_http(client):
    response = log_in_with_form(client)
    assert response.status_code == 302
    cookie = session_cookie(response)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_the_session_cookie_is_secure_when_the_request_came_over_tls(client):
    response = log_in_with_form(client, base_url="https://localhost")
    assert response.status_code == 302
    cookie = session_cookie(response)
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_in_production_the_session_cookie_is_always_secure(tmp_path):
    # Behind a TLS-terminating proxy the app sees plain http; the cookie must still be Secure.
    app = make_site(tmp_path / "site", MATCHMAKER_ENV="production")
    response = log_in_with_form(app.test_client())
    assert "Secure" in session_cookie(response)


# --- login throttling ---------------------------------------------------------------------------

def wrong_login(client, name: str, address: str = "10.0.0.1"):
    with client.session_transaction() as session:
        session["csrf_token"] = CSRF
    return client.post("/login", data={"name": name, "password": "wrong", "csrf_token": CSRF},
                       environ_base={"REMOTE_ADDR": address})


def test_five_failed_logins_lock_the_user_name_out_with_429_from_any_address(client):
    name = "enterprise"
    for attempt in range(5):
        assert wrong_login(client, name, f"10.0.0.{attempt}").status_code == 401
    refused = client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": CSRF},
                          environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert refused.status_code == 429
    assert "登录失败次数过多" in text(refused) and "分钟后再试" in text(refused)
    assert int(refused.headers["Retry-After"]) > 0
    with client.session_transaction() as session:
        assert "user_id" not in session
    # Another account is not affected from a fresh address.
    assert log_in_with_form(client, "platform", environ_base={"REMOTE_ADDR": "10.8.8.8"}).status_code == 302


def test_five_failed_logins_from_one_address_lock_that_address_out_whatever_the_name(client):
    for attempt in range(5):
        assert wrong_login(client, f"guess{attempt}", "192.0.2.7").status_code == 401
    refused = log_in_with_form(client, "broker", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert refused.status_code == 429
    assert log_in_with_form(client, "broker", environ_base={"REMOTE_ADDR": "192.0.2.8"}).status_code == 302


def test_a_successful_login_clears_the_names_failures(client):
    name = "admin"
    for attempt in range(4):
        wrong_login(client, name, f"10.1.0.{attempt}")
    assert log_in_with_form(client, name, environ_base={"REMOTE_ADDR": "10.1.1.1"}).status_code == 302
    for attempt in range(4):
        assert wrong_login(client, name, f"10.2.0.{attempt}").status_code == 401


def test_the_throttle_forgets_failures_once_the_window_has_passed():
    now = [1000.0]
    db = store.open_db(":memory:")
    throttle = LoginThrottle(max_failures=3, window=300, clock=lambda: now[0], connection=lambda: db)
    for _ in range(3):
        throttle.record_failure("name:a")
    assert throttle.retry_after("name:a") == 301
    now[0] += 200
    assert 0 < throttle.retry_after("name:a") <= 101
    now[0] += 100
    assert throttle.retry_after("name:a") == 0
    assert throttle.retry_after("name:b") == 0


# --- upload limits ------------------------------------------------------------------------------

def admin_token(db) -> str:
    _, _, token = auth.create_user(db, "importer", "admin", password=PASSWORD)
    return token


def upload(client, token: str, filename: str, content: bytes, kind: str = "demands"):
    return client.post(f"/api/v1/imports/{kind}", data={"file": (io.BytesIO(content), filename)},
                       headers={"Authorization": f"Bearer {token}"})


def test_an_import_larger_than_the_limit_is_refused_with_413_and_a_chinese_message(tmp_path):
    app = make_site(tmp_path / "site", MAX_CONTENT_LENGTH=4096)
    database = store.open_db(app.config["DATABASE"])
    token, before = admin_token(database), store.count_records(database, "demands")
    row = '{"id": "D2099-%03d", "title": "超大文件中的需求", "description": "用于测试上传大小限制的需求描述"}\n'
    content = "".join(row % number for number in range(100)).encode()
    response = upload(app.test_client(), token, "big.jsonl", content)
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "payload_too_large" and error["message"] == "上传的内容过大（上限 4 KB）"
    assert store.count_records(database, "demands") == before
    database.close()


@pytest.mark.parametrize("filename, content, code", [
    ("demands.txt", b'{"id": "D1", "title": "t", "description": "d"}\n', "unsupported_format"),
    ("demands", b'{"id": "D1", "title": "t", "description": "d"}\n', "unsupported_format"),
    ("demands.exe", b"MZ\x90\x00", "unsupported_format"),
    ("demands.xlsx", b"this is not a spreadsheet", "import_rejected"),
    ("demands.csv", b"\xff\xfe\x00\x00garbage", "import_rejected"),
    ("demands.jsonl", b"<html>not json</html>\n", "import_rejected"),
])
def test_an_import_of_the_wrong_type_is_refused_with_422_and_nothing_is_written(client, db, filename, content,
                                                                                  code):
    token, before = admin_token(db), snapshot(db)
    response = upload(client, token, filename, content)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == code
    assert re.search(r"[\u4e00-\u9fff]", error["message"])
    assert snapshot(db)[1:3] == before[1:3]


# --- everything rendered escaped -------------------------------------------------------------------

def title_every_record_with_a_script(db) -> None:
    for kind in ("demands", "supplies"):
        for record in store.list_records(db, kind, limit=1000):
            clean = {key: value for key, value in record.items() if key not in store.BOOKKEEPING}
            store.save_record(db, kind, {**clean, "title": f"{PAYLOAD}{record['id']}",
                                         "description": f"{PAYLOAD} {record['description']}"},
                              "test", expected_version=record["version"])


def test_a_script_in_titles_shows_as_text_on_every_page_that_shows_titles(client, db):
    recommended = recommend(db, "D2021-103", "S2021-205")
    title_every_record_with_a_script(db)
    broker = store.public_user(store.get_user_by_name(db, "broker"))
    workflow.confirm(db, recommend(db, "D2021-102", "S2021-202"), broker, mode="技术服务", amount_wan=10)
    pages = {
        "broker": ["/", "/demands", "/supplies", "/demands/D2021-102", "/supplies/S2021-202",
                   "/queue?zone=recommended", "/cooperations", "/gaps?threshold=1", "/audit", "/demands/D2021-102/edit"],
        "enterprise": ["/", "/demands", "/demands/D2021-102", "/cooperations"],
        "platform": ["/", "/supplies", "/supplies/S2021-201", "/cooperations"],
    }
    for role, urls in pages.items():
        log_in(client, db, role)
        for url in urls:
            response = client.get(url)
            body = text(response)
            assert response.status_code == 200, f"{role} {url}"
            assert "<script>alert" not in body, f"{role} {url} renders the script"
            assert ESCAPED in body, f"{role} {url} does not show the title as text"
    # A flash message quoting the titles is escaped too.
    log_in(client, db, "broker")
    response = client.post(f"/queue/{recommended}/undo", data={"csrf_token": CSRF}, follow_redirects=True)
    assert "<script>alert" not in text(response) and ESCAPED in text(response)


def test_the_json_api_returns_a_script_title_as_plain_data(client, db):
    title_every_record_with_a_script(db)
    log_in(client, db, "broker")
    response = client.get("/api/v1/demands/D2021-102")
    assert response.mimetype == "application/json" and response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.get_json()["title"] == f"{PAYLOAD}D2021-102"


# --- CSRF on every form ------------------------------------------------------------------------------

class Forms(HTMLParser):
    """Every POST form of a page: its action and the fields it would submit."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._current: dict | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "get").lower() == "post":
            self._current = {"action": attrs.get("action") or "", "fields": {}}
            self.forms.append(self._current)
        elif self._current is None:
            return
        elif tag in ("input", "button") and attrs.get("name"):
            if attrs.get("type") in ("checkbox", "radio") and "checked" not in attrs:
                return
            self._current["fields"].setdefault(attrs["name"], attrs.get("value") or "")
        elif tag == "textarea" and attrs.get("name"):
            self._current["fields"].setdefault(attrs["name"], "")
        elif tag == "select":
            self._select = attrs.get("name")
        elif tag == "option" and self._select:
            self._current["fields"].setdefault(self._select, attrs.get("value") or "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None
        elif tag == "select":
            self._select = None


def forms_on(client, url: str) -> list[dict]:
    parser = Forms()
    parser.feed(text(client.get(url)))
    return parser.forms


def rule_of(app, action: str) -> str:
    rule, _ = app.url_map.bind("localhost").match(action.split("?")[0], "POST", return_rule=True)  # 405: no POST
    return rule.rule


def test_every_form_carries_a_csrf_token_and_is_refused_without_it(app, client, db):
    recommend(db, "D2021-102", "S2021-202")
    recommend(db, "D2021-105", "S2021-201")
    tour = {None: ["/login"],
            "broker": ["/", "/queue", "/queue?zone=recommended", "/queue?zone=unsure", "/demands/D2021-102",
                       "/cooperations"],
            "enterprise": ["/", "/demands/D2021-102", "/demands/new", "/demands/D2021-102/edit"],
            "platform": ["/", "/supplies/S2021-201", "/supplies/new", "/supplies/S2021-201/edit"]}
    # The broker's last decision (for the undo form) must be in the session.
    log_in(client, db, "broker")
    client.post(f"/queue/{pair(db, 'D2021-103', 'S2021-205')}/decide", data={"decision": "unsure", "csrf_token": CSRF})
    decided = None
    with client.session_transaction() as session:
        decided = list(session.get("decided", []))
    before = snapshot(db)
    seen = set()
    for role, urls in tour.items():
        for url in urls:
            log_in(client, db, role)
            if role == "broker":
                with client.session_transaction() as session:
                    session["decided"] = decided
            for form in forms_on(client, url):
                form["action"] = form["action"] or url  # no action: the form posts to its own page
                assert form["fields"].get("csrf_token") == CSRF, f"{url}: form to {form['action']} has no token"
                fields = {name: value for name, value in form["fields"].items() if name != "csrf_token"}
                response = client.post(form["action"], data=fields)
                assert response.status_code == 400, f"{role} {url}: {form['action']} accepted a post without a token"
                assert "请刷新页面后重试" in text(response)
                seen.add(rule_of(app, form["action"]))
    assert snapshot(db) == before
    assert len(seen) >= 12, seen


def test_every_page_route_that_accepts_a_post_refuses_one_without_the_token(app, client, db):
    """Route by route, so that a page added later is covered before anyone writes a form test for it."""
    before = snapshot(db)
    for role in ROLES:
        log_in(client, db, role)
        for rule in app.url_map.iter_rules():
            if "POST" not in rule.methods or rule.rule.startswith("/api/"):
                continue
            url = rule.build({name: 1 if "int" in type(rule._converters[name]).__name__.lower() else "D2021-102"
                              for name in rule.arguments})[1]
            response = client.post(url, data={"decision": "unsure", "title": "x"})
            assert response.status_code == 400, f"{role} POST {url} without a token → {response.status_code}"
    assert snapshot(db) == before


def test_an_api_write_riding_on_the_session_cookie_needs_the_csrf_header(client, db):
    log_in(client, db, "enterprise")
    body = {"title": "借会话发布的需求", "description": "没有 CSRF 令牌的写请求应被拒绝"}
    refused = client.post("/api/v1/demands", json=body)
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "csrf_failed"
    accepted = client.post("/api/v1/demands", json=body, headers={"X-CSRF-Token": CSRF})
    assert accepted.status_code == 201


# --- who may post to which page ---------------------------------------------------------------------

# Brokers and admins name the owner; an enterprise or a platform always posts under its own name.
GOOD_DEMAND = {"title": "注塑件表面缩痕严重", "description": "厚壁注塑件表面缩痕明显，希望优化模具冷却与保压工艺。",
               "industry_cluster": "先进装备与智能制造", "status": "征集中", "enterprise": HUALIAN}
GOOD_SUPPLY = {"title": "模具随形冷却设计", "description": "随形冷却水路设计与金属增材制造，缩短注塑周期。",
               "industry_cluster": "先进装备与智能制造", "maturity": "中试", "platform": "精密模具与成型技术中心"}
# (path, form, expected status for CALLERS = anonymous, enterprise, platform, broker, admin).
# {mine_e}: a pair recommended to the enterprise (D2021-102 × S2021-202, not the platform's);
# {mine_p}: one recommended to the platform (D2021-105 × S2021-201, not the enterprise's);
# {open}: an undecided pair. 302 means the action went through (the page redirects back). A pair or
# record the caller may not see answers 404, like a missing one (as the API does); a role that may
# never take the action answers 403.
PAGE_ACTIONS = [
    ("/queue/{open}/decide", {"decision": "unsure"}, (302, 403, 403, 302, 403)),
    ("/queue/{open}/undo", {}, (302, 403, 403, 302, 403)),
    ("/queue/bulk", {"decision": "unsure", "ids": "{open}"}, (302, 403, 403, 302, 403)),
    ("/proposals/{mine_e}/confirm", {"mode": "技术服务", "amount_wan": "20"}, (302, 403, 403, 302, 403)),
    ("/proposals/{mine_e}/agree", {}, (302, 302, 404, 403, 403)),
    ("/proposals/{mine_p}/agree", {}, (302, 404, 302, 403, 403)),
    ("/proposals/{mine_e}/decline", {"reason": "暂不需要"}, (302, 302, 404, 302, 403)),
    ("/proposals/{mine_p}/decline", {"reason": "暂不需要"}, (302, 404, 302, 302, 403)),
    ("/proposals/{open}/agree", {}, (302, 404, 404, 403, 403)),
    ("/demands/new", GOOD_DEMAND, (302, 302, 403, 302, 302)),
    ("/supplies/new", GOOD_SUPPLY, (302, 403, 302, 302, 302)),
    ("/demands/D2021-102/edit", {**GOOD_DEMAND, "version": "1"}, (302, 302, 404, 302, 302)),
    ("/demands/D2021-103/edit", {**GOOD_DEMAND, "version": "1"}, (302, 404, 404, 302, 302)),
    ("/supplies/S2021-201/edit", {**GOOD_SUPPLY, "version": "1"}, (302, 404, 302, 302, 302)),
    ("/supplies/S2021-202/edit", {**GOOD_SUPPLY, "version": "1"}, (302, 404, 404, 302, 302)),
    ("/demands/D1999-999/edit", GOOD_DEMAND, (302, 404, 404, 404, 404)),
]
PAGE_CASES = [pytest.param(path, form, caller, expected, id=f"POST {path} as {caller or 'anonymous'}")
              for path, form, statuses in PAGE_ACTIONS for caller, expected in zip(CALLERS, statuses)]


@pytest.mark.parametrize("path, form, caller, expected", PAGE_CASES)
def test_page_action_permission(client, db, path, form, caller, expected):
    ids = {"open": pair(db, "D2021-106", "S2021-207"), "mine_e": recommend(db, "D2021-102", "S2021-202"),
           "mine_p": recommend(db, "D2021-105", "S2021-201")}
    path = path.format(**ids)
    form = {key: value.format(**ids) for key, value in form.items()}
    log_in(client, db, caller)
    before = snapshot(db)
    response = client.post(path, data={"csrf_token": CSRF, **form})
    assert response.status_code == expected, text(response)[:300]
    if caller is None:
        assert response.headers["Location"].startswith("/login")
    if caller is None or expected in (403, 404):
        assert snapshot(db) == before, "a refused post changed something"
    elif "/undo" not in path:
        assert snapshot(db) != before, "an allowed post changed nothing"


# Page GETs test_pages.py does not already cover.
PAGE_READS = [
    ("/supplies/S2021-202/edit", (302, 404, 404, 200, 200)),
    ("/demands/D1999-999", (302, 404, 404, 404, 404)),
    ("/supplies/S1999-999/edit", (302, 404, 404, 404, 404)),
    ("/login", (200, 200, 200, 200, 200)),
    ("/assets/site.css", (200, 200, 200, 200, 200)),
]
READ_CASES = [pytest.param(path, caller, expected, id=f"GET {path} as {caller or 'anonymous'}")
              for path, statuses in PAGE_READS for caller, expected in zip(CALLERS, statuses)]


@pytest.mark.parametrize("path, caller, expected", READ_CASES)
def test_page_read_permission(client, db, path, caller, expected):
    log_in(client, db, caller)
    assert client.get(path).status_code == expected


def test_another_owners_record_leaks_nothing_to_an_enterprise_or_a_platform(client, db):
    """Refused detail pages, proposals and history show none of the record's content."""
    recommend(db, "D2021-103", "S2021-205")
    secrets = {"demands": store.get_record(db, "demands", "D2021-103"),
               "supplies": store.get_record(db, "supplies", "S2021-205")}
    for role in ("enterprise", "platform"):
        log_in(client, db, role)
        for kind, record in secrets.items():
            for url in (f"/{kind}/{record['id']}", f"/{kind}/{record['id']}/edit"):
                response = client.get(url)
                assert response.status_code in (403, 404), f"{role} {url}"
                body = text(response)
                for field in ("title", "description", "contact"):
                    if record.get(field):
                        assert record[field] not in body, f"{role} {url} leaks {field}"
            for suffix in ("", "/proposals", "/history"):
                response = client.get(f"/api/v1/{kind}/{record['id']}{suffix}", headers={"X-CSRF-Token": CSRF})
                assert response.status_code == 404, f"{role} {kind}{suffix}"
                assert record["title"] not in text(response)
        listing = text(client.get("/api/v1/proposals?per_page=200"))
        assert secrets["demands"]["title"] not in listing and secrets["supplies"]["title"] not in listing


# --- the policy in a real browser ------------------------------------------------------------------

@pytest.mark.browser
def test_chromium_reports_no_policy_violation_and_the_script_still_runs(tmp_path):
    from .browser_support import PHONE, browsing, sign_in

    with browsing(make_site(tmp_path / "site")) as (base_url, browser):
        page = browser.new_context(viewport=PHONE, locale="zh-CN").new_page()
        violations = []
        page.on("console", lambda message: violations.append(message.text)
                if "Content Security Policy" in message.text else None)
        sign_in(page, base_url, "broker")
        for url in ("/", "/demands", "/demands/D2021-102", "/queue", "/cooperations", "/gaps", "/audit"):
            page.goto(base_url + url)
        # site.js is allowed to run: the phone menu opens.
        page.click(".nav-toggle")
        assert page.get_attribute(".nav-toggle", "aria-expanded") == "true"
        assert violations == []


def test_failed_logins_are_counted_in_the_store_across_processes_and_pruned(tmp_path):
    """Two throttles on one database file (as two server processes have) count the same failures;
    failures older than the window are deleted as new ones arrive."""
    now = [1000.0]
    first_db, second_db = store.open_db(tmp_path / "m.db"), store.open_db(tmp_path / "m.db")
    first = LoginThrottle(max_failures=3, window=300, clock=lambda: now[0], connection=lambda: first_db)
    second = LoginThrottle(max_failures=3, window=300, clock=lambda: now[0], connection=lambda: second_db)
    first.record_failure("name:a", "addr:1")
    second.record_failure("name:a", "addr:2")
    assert first.retry_after("name:a") == 0
    first.record_failure("name:a", "addr:3")
    assert second.retry_after("name:a") == 301
    second.forget("name:a")
    assert first.retry_after("name:a") == 0
    now[0] += 301
    first.record_failure("name:b")
    assert [row["key"] for row in first_db.query("select key from login_failures")] == ["name:b"]
