"""Admin endpoints: accounts, file imports (413/422), re-indexing; and the audit log for brokers."""
from __future__ import annotations

import io

import pytest

from service import store

pytestmark = pytest.mark.instance("api")



def upload(api, kind, name, content: bytes, who="admin"):
    return api(who).post(f"/imports/{kind}", data={"file": (io.BytesIO(content), name)})


def test_an_admin_creates_an_account_whose_token_works_at_once(api, client):
    created = api("admin").post("/users", json={"name": "文登企业", "role": "enterprise", "org": "威海洁瑞医用制品有限公司"})
    assert created.status_code == 201
    assert created.json["user"]["org"] == "威海洁瑞医用制品有限公司" and created.json["password"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {created.json['token']}"})
    assert me.json["name"] == "文登企业"
    assert "文登企业" in [user["name"] for user in api("admin").get("/users").json["items"]]


def test_account_input_is_checked(api):
    duplicate = api("admin").post("/users", json={"name": "broker", "role": "broker"})
    assert duplicate.status_code == 409 and duplicate.json["error"]["code"] == "duplicate_user"
    bad_role = api("admin").post("/users", json={"name": "x", "role": "king"})
    assert bad_role.status_code == 422 and "role" in bad_role.json["error"]["fields"]
    no_org = api("admin").post("/users", json={"name": "y", "role": "platform"})
    assert no_org.status_code == 422 and "org" in no_org.json["error"]["fields"]


def test_an_admin_imports_a_file_and_the_records_become_matchable(api, app):
    line = '{"id": "S2021-900", "title": "注塑模具冷却水路快速设计软件", "description": "自动生成随形冷却水路，减少缩痕。"}\n'
    response = upload(api, "supplies", "more.jsonl", line.encode())
    assert response.status_code == 200 and response.json == {"kind": "supplies", "imported": 1}
    assert app.extensions["live_index"].wait(20)
    assert "S2021-900" in app.extensions["live_index"].engine().matcher.supplies.records


def test_a_file_with_bad_rows_is_refused_whole_with_row_numbers(api, db):
    content = ("需求编号,需求名称,需求概述,拟投入资金/万元\nD2021-901,好需求,说明,10\nD2021-902,,说明,很多\n").encode()
    response = upload(api, "demands", "bad.csv", content)
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "import_rejected"
    assert {(problem["row"], problem["field"]) for problem in error["problems"]} == {(3, "title"), (3, "budget_wan")}
    assert store.get_record(db, "demands", "D2021-901") is None


def test_a_file_of_the_wrong_type_is_a_422(api):
    response = upload(api, "demands", "list.pdf", b"%PDF-1.4")
    assert response.status_code == 422 and response.json["error"]["code"] == "unsupported_format"


def test_a_missing_file_is_a_422(api):
    response = api("admin").post("/imports/demands", data={})
    assert response.status_code == 422 and response.json["error"]["code"] == "file_required"


def test_a_file_that_is_too_large_is_a_413(api, app):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = upload(api, "demands", "big.jsonl", b"x" * 5000)
    assert response.status_code == 413 and response.json["error"]["code"] == "payload_too_large"


def test_an_unknown_import_kind_is_a_404(api):
    assert upload(api, "rockets", "a.jsonl", b"{}").status_code == 404


def test_reindex_runs_in_the_background(api, app):
    response = api("admin").post("/reindex")
    assert response.status_code == 202 and response.json["status"] == "queued"
    assert app.extensions["live_index"].wait(30)


def test_the_system_endpoint_says_what_embeds_and_on_which_cpu(api, app):
    answer = api("admin").get("/system")
    assert answer.status_code == 200
    embedder = answer.json["embedder"]
    assert embedder == app.extensions["live_index"].describe_embedder()
    assert embedder["precision"] in ("fp32", "int8") and embedder["model_id"] and embedder["cpu"]
    assert embedder["model_id"].endswith("/int8") == (embedder["precision"] == "int8")
    assert answer.json["index"] in ("idle", "queued", "running", "failed")
    assert api("broker").get("/system").status_code == 403


def test_the_audit_log_shows_who_changed_what(api):
    api("enterprise").post("/demands", json={"title": "新需求", "description": "说明：注塑件表面缩痕严重"})
    entries = api("broker").get("/audit?limit=5").json["items"]
    assert entries[0]["actor"] == "enterprise" and entries[0]["action"] == "create"
    assert entries[0]["before"] is None and entries[0]["after"]["title"] == "新需求"
