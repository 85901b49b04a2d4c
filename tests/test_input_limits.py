"""Bounds and types of every input, from the one definition of the records (service/records.py).

The API, the forms and the importers refuse the same values with the same Chinese message naming
the field (and the row, for a file); a refused write changes nothing. The API also checks JSON
types instead of coercing them, and a 405 says which methods the URL takes.
"""
from __future__ import annotations

import pytest

from service import store
from service.api import document
from service.records import AMOUNT_MAX_WAN, DEMAND_FIELDS, DESCRIPTION_MAX, TITLE_MAX

from .record_files import write_jsonl
from .records import HUALIAN, OWN_DEMAND

pytestmark = pytest.mark.instance("api")

GOOD = {"title": "模具钢热处理变形控制", "description": "模具钢淬火后变形超差，需要优化热处理工艺与装夹方式。"}
BY_BROKER = {**GOOD, "enterprise": HUALIAN}  # a broker names the enterprise a demand is posted for
CONFIRMATION = {"mode": "技术转让", "confirmed_at": "2021-06-18"}


def audit_count(db) -> int:
    return db.execute("select count(*) from audit_log").fetchone()[0]


def recommended_proposal(api, db) -> int:
    proposal_id = store.get_proposal_for_pair(db, OWN_DEMAND, "S2021-201")["id"]
    assert api("broker").post(f"/proposals/{proposal_id}/decision", json={"status": "recommended"}).status_code == 200
    return proposal_id


# --- amounts (item 4): beyond int64 was an OverflowError and a 500 -------------------------------

@pytest.mark.parametrize("who, path, field, value", [
    ("enterprise", "/demands", "budget_wan", 1e20),
    ("enterprise", "/demands", "budget_wan", 10**30),  # a JSON integer, not a float
    ("platform", "/supplies", "price_wan", 9.3e18),
    ("platform", "/supplies", "price_wan", AMOUNT_MAX_WAN + 1),
])
def test_an_amount_beyond_its_bound_is_a_422_naming_the_field(api, db, who, path, field, value):
    before = audit_count(db)
    response = api(who).post(path, json={**GOOD, field: value})
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert response.json["error"]["fields"][field].endswith(f"不能超过 {AMOUNT_MAX_WAN:,}，而不是「{value}」")
    assert audit_count(db) == before


def test_the_largest_allowed_amount_is_saved(api):
    response = api("enterprise").post("/demands", json={**GOOD, "budget_wan": AMOUNT_MAX_WAN})
    assert response.status_code == 201 and response.json["budget_wan"] == AMOUNT_MAX_WAN


def test_an_edit_beyond_the_bound_leaves_the_record_as_it_was(api, db):
    current = api("enterprise").get(f"/demands/{OWN_DEMAND}").json
    response = api("enterprise").patch(f"/demands/{OWN_DEMAND}", json={"budget_wan": 1e19, "version": current["version"]})
    assert response.status_code == 422 and set(response.json["error"]["fields"]) == {"budget_wan"}
    assert api("enterprise").get(f"/demands/{OWN_DEMAND}").json == current


def test_a_confirmation_beyond_the_bound_is_a_422_and_changes_nothing(api, db):
    proposal_id = recommended_proposal(api, db)
    before = (audit_count(db), store.count_cooperations(db), store.get_proposal(db, proposal_id))
    response = api("broker").post(f"/proposals/{proposal_id}/confirm", json={**CONFIRMATION, "amount_wan": 1e300})
    assert response.status_code == 422 and set(response.json["error"]["fields"]) == {"amount_wan"}
    assert (audit_count(db), store.count_cooperations(db), store.get_proposal(db, proposal_id)) == before
    assert before[2]["status"] == "recommended"


def test_a_session_confirmation_beyond_the_bound_changes_nothing(api, db):
    """Confirming from a session first recommends (or even creates) the proposal: all of it is undone."""
    session = api("broker").post("/sessions", json={"theme_kind": "cluster", "theme": "海洋生物与健康食品",
                                                    "held_on": "2021-06-18", "min_score": 0}).json
    pair = api("broker").post(f"/sessions/{session['id']}/pairs",
                              json={"demand_id": "D2021-108", "supply_id": "S2021-204"}).json
    before = (audit_count(db), store.count_cooperations(db))
    response = api("broker").post(f"/sessions/{session['id']}/pairs/{pair['id']}/confirm",
                                  json={**CONFIRMATION, "amount_wan": 1e300})
    assert response.status_code == 422 and set(response.json["error"]["fields"]) == {"amount_wan"}
    assert (audit_count(db), store.count_cooperations(db)) == before
    assert store.get_proposal_for_pair(db, "D2021-108", "S2021-204") is None
    assert store.get_session_pair(db, pair["id"])["outcome"] is None


def form_client(client, login, name: str) -> str:
    """Log the test client in as `name` through the login form; returns the CSRF token for its forms."""
    login(name)
    with client.session_transaction() as session:
        return session["csrf_token"]


def test_the_form_refuses_an_amount_beyond_the_bound_beside_the_field(client, login, db):
    token = form_client(client, login, "enterprise")
    before = audit_count(db)
    page = client.post("/demands/new", data={**GOOD, "budget_wan": "1e20", "csrf_token": token})
    assert page.status_code == 422
    assert "「拟投入资金/万元」不能超过 10,000,000，而不是「1e20」" in page.get_data(as_text=True)
    assert audit_count(db) == before


def test_a_form_confirmation_beyond_the_bound_changes_nothing(api, client, login, db):
    proposal_id = recommended_proposal(api, db)
    token = form_client(client, login, "broker")
    before = (audit_count(db), store.count_cooperations(db), store.get_proposal(db, proposal_id))
    page = client.post(f"/proposals/{proposal_id}/confirm",
                       data={**CONFIRMATION, "amount_wan": "1e300", "csrf_token": token}, follow_redirects=True)
    assert page.status_code == 200 and "不能超过 10,000,000" in page.get_data(as_text=True)
    assert (audit_count(db), store.count_cooperations(db), store.get_proposal(db, proposal_id)) == before


@pytest.mark.parametrize("amount", [1e19, 10**20])
def test_an_imported_amount_beyond_the_bound_names_row_and_field_and_imports_nothing(invoke, tmp_path, db_path,
                                                                                     amount):
    rows = [{"id": "D-001", **GOOD, "budget_wan": 30}, {"id": "D-002", **GOOD, "budget_wan": amount}]
    result = invoke("import", "demands", write_jsonl(tmp_path / "demands.jsonl", rows))
    assert result.exit_code == 2
    assert "第 2 行 字段 budget_wan" in result.stderr and "不能超过 10,000,000" in result.stderr
    assert store.count_records(store.open_db(db_path), "demands") == 0


# --- lengths and types (item 12): the forms' limits, and no coercion -----------------------------

@pytest.mark.parametrize("field, value", [
    pytest.param("title", "长" * 60_000, id="title of 60000"),
    pytest.param("title", "长" * (TITLE_MAX + 1), id="title of 81"),
    pytest.param("description", "长" * (DESCRIPTION_MAX + 1), id="description of 5001"),
    pytest.param("enterprise", "企" * 101, id="enterprise of 101"),
    pytest.param("contact", "王" * 101, id="contact of 101"),
    pytest.param("keywords", ["词" * 31], id="a keyword of 31"),
    pytest.param("keywords", [f"词{number}" for number in range(31)], id="31 keywords"),
])
def test_an_over_long_field_is_a_422_naming_it(api, db, field, value):
    before = audit_count(db)
    response = api("broker").post("/demands", json={**BY_BROKER, field: value})
    assert response.status_code == 422 and set(response.json["error"]["fields"]) == {field}
    assert audit_count(db) == before


def test_a_four_megabyte_description_is_refused(api):
    response = api("broker").post("/demands", json={**GOOD, "description": "x" * 4 * 1024 * 1024})
    assert response.status_code == 422 and "5000 字以内" in response.json["error"]["fields"]["description"]


def test_the_form_and_the_api_refuse_a_long_title_with_the_same_message(api, client, login):
    title = "长" * (TITLE_MAX + 1)
    by_api = api("enterprise").post("/demands", json={**GOOD, "title": title}).json["error"]["fields"]["title"]
    token = form_client(client, login, "enterprise")
    page = client.post("/demands/new", data={**GOOD, "title": title, "csrf_token": token})
    assert page.status_code == 422
    assert by_api == f"「需求名称」请控制在 {TITLE_MAX} 字以内（现为 {TITLE_MAX + 1} 字）"
    assert by_api in page.get_data(as_text=True)


@pytest.mark.parametrize("field, value, message", [
    ("title", 123, "「需求名称」应为文本"),
    ("description", ["模具钢淬火后变形超差"], "「需求概述」应为文本"),
    ("budget_wan", "25", "「拟投入资金/万元」应为数字"),
    ("budget_wan", True, "「拟投入资金/万元」应为数字"),
    ("keywords", [1, 2], "「关键词」中的每一项应为文本"),
    ("keywords", 7, "「关键词」应为文本列表，或以顿号、逗号分隔的文本"),
    ("posted_at", 20210315, "「发布日期」应为日期文本（如 2021-03-15）"),
    ("id", 42, "「需求编号」应为文本"),
])
def test_a_json_value_of_the_wrong_type_is_a_422_not_coerced(api, db, field, value, message):
    before = audit_count(db)
    response = api("broker").post("/demands", json={**BY_BROKER, field: value})
    assert response.status_code == 422 and response.json["error"]["fields"] == {field: message}
    assert audit_count(db) == before


def test_an_edit_checks_types_too(api):
    current = api("enterprise").get(f"/demands/{OWN_DEMAND}").json
    response = api("enterprise").put(f"/demands/{OWN_DEMAND}",
                                     json={**GOOD, "title": 123, "version": current["version"]})
    assert response.status_code == 422 and response.json["error"]["fields"] == {"title": "「需求名称」应为文本"}
    assert api("enterprise").get(f"/demands/{OWN_DEMAND}").json == current


def test_a_confirmation_checks_types(api, db):
    proposal_id = recommended_proposal(api, db)
    response = api("broker").post(f"/proposals/{proposal_id}/confirm", json={"mode": 5, "amount_wan": "30"})
    assert response.status_code == 422
    assert response.json["error"]["fields"] == {"mode": "「合作方式」应为文本", "amount_wan": "「合同金额/万元」应为数字"}
    assert store.get_proposal(db, proposal_id)["status"] == "recommended"


def test_the_openapi_input_schemas_carry_the_fields_bounds():
    schemas = document()["components"]["schemas"]
    demand = schemas["DemandInput"]["properties"]
    assert demand["title"]["maxLength"] == TITLE_MAX and demand["description"]["maxLength"] == DESCRIPTION_MAX
    assert demand["budget_wan"]["maximum"] == AMOUNT_MAX_WAN
    assert demand["keywords"]["items"]["maxLength"] == 30 and demand["keywords"]["maxItems"] == 30
    assert all(demand[field.key].get("maxLength") == field.max_length for field in DEMAND_FIELDS
               if field.kind == "text" and field.key != "id" and not field.choices)
    assert schemas["SupplyInput"]["properties"]["price_wan"]["maximum"] == AMOUNT_MAX_WAN
    assert schemas["ConfirmInput"]["properties"]["amount_wan"]["maximum"] == AMOUNT_MAX_WAN
    assert "maxLength" not in schemas["Demand"]["properties"]["title"]  # stored rows are answers, not inputs


# --- 405 ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path, allowed", [
    ("delete", "/demands", {"GET", "POST"}),
    ("post", f"/demands/{OWN_DEMAND}", {"GET", "PUT", "PATCH", "DELETE"}),
    ("get", "/proposals/1/confirm", {"POST"}),
])
def test_a_405_names_the_methods_the_url_takes(api, method, path, allowed):
    response = getattr(api("broker"), method)(path)
    assert response.status_code == 405 and response.json["error"]["code"] == "method_not_allowed"
    assert allowed <= {name.strip() for name in response.headers["Allow"].split(",")}
