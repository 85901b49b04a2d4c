"""Bad input is answered with a 4xx in the error shape, never a 500."""
from __future__ import annotations

import io

import pytest

from service import store

pytestmark = pytest.mark.instance("api")


BAD_REQUESTS = [
    ("get", "/demands?page=-1", None),
    ("get", "/demands?per_page=abc", None),
    ("get", "/demands?month=March", None),
    ("get", "/demands/%00", None),
    ("get", "/demands/" + "x" * 5000, None),
    ("get", "/proposals?zone=weak", None),
    ("get", "/proposals?status=happy", None),
    ("get", "/proposals/abc", None),
    ("get", "/proposals/99999999999999999999999", None),
    ("get", "/cooperations?month=2021-1", None),
    ("get", "/demands/D2021-101/proposals?k=0", None),
    ("get", "/demands/D2021-101/proposals?k=100000", None),
    ("get", "/demands/NOPE/proposals", None),
    ("get", "/supplies/NOPE/history", None),
    ("get", "/gaps?min_score=abc", None),
    ("get", "/audit?limit=0", None),
    ("post", "/demands", {"title": ["a"], "description": {"x": 1}}),
    ("post", "/demands", {"title": "t", "description": "d", "keywords": [{"a": 1}]}),
    ("post", "/demands", {"title": "t", "description": "d", "budget_wan": True}),
    ("post", "/demands", {"title": "t", "description": "d", "budget_wan": -5}),
    ("post", "/demands", {"title": "t", "description": "d", "id": ""}),
    ("post", "/demands", {"title": "t", "description": "d", "nested": {"a": 1}}),
    ("patch", "/demands/D2021-101", {"version": "1"}),
    ("patch", "/demands/D2021-101", {"version": 1, "id": "D9"}),
    ("patch", "/demands/D2021-101", {"version": 1, "status": "飞走了"}),
    ("delete", "/demands/D2021-101?version=abc", None),
    ("post", "/proposals/1/decision", {"status": 5}),
    ("post", "/proposals/1/decision", {"status": "rejected", "reason": ["x"]}),
    ("post", "/proposals/1/decision", {}),
    ("post", "/proposals/1/confirm", {"mode": {"a": 1}, "amount_wan": "x"}),
    ("post", "/proposals/bulk", {"status": "recommended", "ids": "1,2"}),
    ("post", "/proposals/bulk", {"status": "recommended", "ids": [True]}),
    ("post", "/proposals/bulk", {"status": "recommended", "filters": {"zone": "weak"}}),
    ("post", "/proposals/bulk", {"status": "recommended", "filters": {"cluster": 3}}),
    ("post", "/proposals/bulk", {"status": "confirmed", "ids": [1]}),
    ("post", "/proposals/bulk", {"status": "recommended"}),
    ("post", "/users", {"name": 5, "role": "broker"}),
    ("post", "/users", {"name": "z", "role": "broker", "password": ["p"]}),
]


@pytest.mark.parametrize("method, path, body", BAD_REQUESTS, ids=[f"{m} {p[:40]} {b}" for m, p, b in BAD_REQUESTS])
@pytest.mark.parametrize("who", ["broker", "admin"])
def test_bad_input_is_a_4xx_in_the_error_shape(api, method, path, body, who):
    kwargs = {"json": body} if body is not None else {}
    response = getattr(api(who), method)(path, **kwargs)
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)[:300]
    error = response.json["error"]
    assert error["code"] and error["message"]


@pytest.mark.parametrize("payload", [b"{", b"null", b"[]", b"\xff\xfe", b'{"title": "t"'])
def test_a_body_that_does_not_parse_is_a_400(api, payload):
    response = api("broker").post("/proposals/1/decision", data=payload, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json["error"]["code"] == "invalid_json"


def test_an_unexpected_failure_is_a_json_500_without_details(app, api, monkeypatch):
    from service import store

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(store, "headline_counts", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = api("broker").get("/reports/summary", headers={})
    assert response.status_code == 500
    assert response.json == {"error": {"code": "internal_error", "message": "服务器内部错误，请稍后重试"}}


DEEP_BODIES = {
    "1000 levels": "[" * 1000 + "]" * 1000,
    "500 levels in a field": '{"title": "深层嵌套", "description": "一个嵌套五百层的字段", "附件": ' + "[" * 500 + "]" * 500 + "}",
    "33 levels in a field": '{"title": "深层嵌套", "description": "一个嵌套三十三层的字段", "附件": ' + "[" * 33 + "]" * 33 + "}",
}
JSON_ENDPOINTS = [("admin", "post", "/demands"), ("admin", "patch", "/demands/D2021-101"),
                  ("admin", "put", "/demands/D2021-101"), ("admin", "post", "/supplies"), ("admin", "post", "/users"),
                  ("broker", "post", "/proposals/1/decision"), ("broker", "post", "/proposals/1/confirm"),
                  ("broker", "post", "/proposals/bulk"), ("broker", "post", "/sessions"), ("broker", "post", "/visits")]


@pytest.mark.parametrize("body", DEEP_BODIES.values(), ids=DEEP_BODIES.keys())
@pytest.mark.parametrize("who, method, path", JSON_ENDPOINTS)
def test_json_nested_too_deep_is_a_400_in_chinese_and_writes_nothing(api, db, who, method, path, body):
    audit_before = db.execute("select count(*) from audit_log").fetchone()[0]
    response = getattr(api(who), method)(path, data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.json["error"]["code"] == "json_too_deep" and "嵌套层数过多" in response.json["error"]["message"]
    assert db.execute("select count(*) from audit_log").fetchone()[0] == audit_before


def test_an_import_upload_with_a_line_nested_too_deep_names_the_row(api, db):
    lines = b'{"id": "D-9", "title": "t", "description": "d"}\n' + b"[" * 1000 + b"]" * 1000 + b"\n"
    response = api("admin").post("/imports/demands", data={"file": (io.BytesIO(lines), "deep.jsonl")},
                                 content_type="multipart/form-data")
    assert response.status_code == 422
    assert response.json["error"]["problems"] == [{"row": 2, "field": None,
                                                    "message": "JSON 嵌套层数过多（最多 32 层），请检查数据结构"}]
    assert store.get_record(db, "demands", "D-9") is None
