"""Consent before contact, wherever a record is shown (issue 14, items 1 and 2).

A demand's contact, budget and every column an import brought along stay with the enterprise until
it agrees to be introduced to a platform on a pair a broker recommended (and a supply's with the
platform, the other way round). Visits follow the same rule: a platform records a visit only to an
enterprise that agreed to meet it, and a visit shows its demands as the proposals would. One
function (workflow.redacted) blanks them for the API, the pages and the handout.
"""
from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from service import store

from .records import DEMANDS, HAIDA, HIT, HUALIAN, PASSWORD, SUPPLIES

pytestmark = pytest.mark.instance("api")

PAIR = ("D2021-101", "S2021-201")  # HUALIAN's demand × HIT's supply
VISIT = {"enterprise": HUALIAN, "visited_on": "2021-06-03", "region": "环翠区", "notes": "参观注塑车间"}
FOUND = {"title": "注塑机能耗在线监测与节能改造", "description": "车间 40 台注塑机能耗高，希望实时监测能耗并给出节能改造方案。",
         "contact": "周工 138****0001", "budget_wan": 35, "联系电话": "0631-5550001"}
PHONE, EMAIL, MOBILE = "0631-5551201", "wang@hualian.example", "138-0000-2201"


def recommend(api, db, pair=PAIR) -> int:
    proposal_id = store.get_proposal_for_pair(db, *pair)["id"]
    assert api("broker").post(f"/proposals/{proposal_id}/decision", json={"status": "recommended"}).status_code == 200
    return proposal_id


def introduce(api, db, pair=PAIR) -> int:
    """A broker recommends the pair and the enterprise agrees to be introduced to the platform."""
    proposal_id = recommend(api, db, pair)
    assert api("enterprise").post(f"/proposals/{proposal_id}/introduction").status_code == 200
    return proposal_id


def csv_upload(records: list[dict]) -> dict:
    """A CSV file as the import form posts it, with every key of the records as a column."""
    columns = list(dict.fromkeys(key for record in records for key in record))
    text = io.StringIO()
    writer = csv.DictWriter(text, columns)
    writer.writeheader()
    for record in records:
        writer.writerow({key: "、".join(value) if isinstance(value, list) else value for key, value in record.items()})
    return {"file": (io.BytesIO(text.getvalue().encode("utf-8-sig")), "list.csv")}


def import_extra_columns(api) -> None:
    """Re-import HUALIAN's demand with 联系电话 and email columns, HIT's supply with a 手机 column."""
    demand = {**next(record for record in DEMANDS if record["id"] == PAIR[0]), "联系电话": PHONE, "email": EMAIL}
    supply = {**next(record for record in SUPPLIES if record["id"] == PAIR[1]), "手机": MOBILE}
    for kind, record in (("demands", demand), ("supplies", supply)):
        response = api("admin").post(f"/imports/{kind}", data=csv_upload([record]), content_type="multipart/form-data")
        assert response.status_code == 200, response.get_data(as_text=True)


def page(client, name: str, url: str) -> str:
    client.get("/login")
    with client.session_transaction() as session:
        token = session["csrf_token"]
    client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token})
    return client.get(url).get_data(as_text=True)


# --- item 2: imported columns are confidential until consent ------------------------------------

def test_imported_columns_of_a_demand_wait_for_the_enterprises_consent_on_a_proposal(api, db):
    import_extra_columns(api)
    proposal_id = recommend(api, db)
    demand = api("platform").get(f"/proposals/{proposal_id}").json["demand"]
    assert demand["联系电话"] is None and demand["email"] is None and demand["contact"] is None
    assert demand["withheld"] == ["budget_wan", "contact", "联系电话", "email"]
    assert demand["title"] == "注塑件表面缩痕导致良品率低" and demand["enterprise"] == HUALIAN
    assert api("enterprise").get(f"/proposals/{proposal_id}").json["demand"]["联系电话"] == PHONE  # its own side

    api("enterprise").post(f"/proposals/{proposal_id}/introduction")
    demand = api("platform").get(f"/proposals/{proposal_id}").json["demand"]
    assert demand["联系电话"] == PHONE and demand["email"] == EMAIL and demand["withheld"] == []


def test_imported_columns_of_a_supply_wait_for_the_platforms_consent(api, db):
    import_extra_columns(api)
    proposal_id = introduce(api, db)
    supply = api("enterprise").get(f"/proposals/{proposal_id}").json["supply"]
    assert supply["手机"] is None and supply["withheld"] == ["price_wan", "contact", "手机"]
    assert api("platform").get(f"/supplies/{PAIR[1]}/proposals").json["items"][0]["supply"]["手机"] == MOBILE
    api("platform").post(f"/proposals/{proposal_id}/introduction")
    assert api("enterprise").get(f"/proposals/{proposal_id}").json["supply"]["手机"] == MOBILE


def test_a_platforms_supply_page_shows_no_imported_column_before_consent(api, db, client):
    import_extra_columns(api)
    proposal_id = recommend(api, db)
    body = page(client, "platform", f"/supplies/{PAIR[1]}")
    assert "注塑件表面缩痕导致良品率低" in body and PHONE not in body and EMAIL not in body
    assert "王工 139****1201" not in body and "在对方同意引荐后可见" in body
    api("enterprise").post(f"/proposals/{proposal_id}/introduction")
    assert "王工 139****1201" in page(client, "platform", f"/supplies/{PAIR[1]}")


def test_the_session_handout_carries_no_contact_budget_or_imported_column(api, db, client):
    """The handout is printed for every enterprise and platform at the table: public fields only."""
    import_extra_columns(api)
    session = api("broker").post("/sessions", json={"theme_kind": "cluster", "theme": "先进装备与智能制造",
                                                   "held_on": "2021-06-18", "min_score": 0, "size": 1}).json
    if (session["pairs"][0]["demand_id"], session["pairs"][0]["supply_id"]) != PAIR:
        api("broker").post(f"/sessions/{session['id']}/pairs", json={"demand_id": PAIR[0], "supply_id": PAIR[1]})
    secrets = (PHONE, EMAIL, MOBILE, "王工 139****1201", "刘老师 138****2201")
    handout = page(client, "broker", f"/sessions/{session['id']}/handout")
    assert "注塑件表面缩痕导致良品率低" in handout and not [secret for secret in secrets if secret in handout]
    workbook = openpyxl.load_workbook(io.BytesIO(client.get(f"/sessions/{session['id']}/handout.xlsx").data))
    cells = [str(value) for row in workbook.active.iter_rows(values_only=True) for value in row if value is not None]
    assert "注塑件表面缩痕导致良品率低" in cells and not [cell for cell in cells if any(s in cell for s in secrets)]


# --- item 1: visits follow the same rule --------------------------------------------------------

def test_a_platform_records_visits_only_to_enterprises_that_agreed_to_be_introduced(api, db):
    refused = api("platform").post("/visits", json=VISIT)  # no pair of HUALIAN's was ever put to HIT
    assert refused.status_code == 403 and "enterprise" in refused.json["error"]["fields"]
    proposal_id = recommend(api, db)
    assert api("platform").post("/visits", json=VISIT).status_code == 403  # recommended, not yet agreed
    api("enterprise").post(f"/proposals/{proposal_id}/introduction")
    assert api("platform").post("/visits", json=VISIT).status_code == 201
    assert api("platform").post("/visits", json={**VISIT, "enterprise": HAIDA}).status_code == 403
    assert api("broker").post("/visits", json={**VISIT, "enterprise": HAIDA, "partner": HIT}).status_code == 201
    # Nothing was written for the refusals.
    assert sorted(visit["enterprise"] for visit in store.list_visits(db)) == sorted([HAIDA, HUALIAN])


def test_a_visit_shows_its_demands_contact_budget_and_columns_only_after_the_enterprise_agrees(api, db, app):
    visit = api("broker").post("/visits", json={**VISIT, "partner": HIT}).json  # a broker takes HIT along
    found = api("broker").post(f"/visits/{visit['id']}/demands", json=FOUND).json
    app.extensions["live_index"].wait(30)  # its proposals are made in the background: let them land first

    seen = api("platform").get(f"/visits/{visit['id']}").json["demands"]
    assert [demand["title"] for demand in seen] == [FOUND["title"]]
    assert seen[0]["contact"] is None and seen[0]["budget_wan"] is None and seen[0]["联系电话"] is None
    assert set(seen[0]["withheld"]) == {"contact", "budget_wan", "联系电话"}
    for name in ("enterprise", "broker", "admin"):  # the demand's owner and the brokers see it whole
        whole = api(name).get(f"/visits/{visit['id']}").json["demands"][0]
        assert whole["contact"] == FOUND["contact"] and whole["联系电话"] == FOUND["联系电话"]
        assert whole["withheld"] == []

    # The consent rule of proposals opens it: a pair of this demand with HIT's supply, recommended, agreed.
    store.save_proposals(db, [{"demand_id": found["id"], "supply_id": PAIR[1], "score": 0.9, "dense": None,
                               "lexical": None, "rank": 1, "reasons": {}}], rescore=False)
    proposal_id = recommend(api, db, (found["id"], PAIR[1]))
    assert api("platform").get(f"/visits/{visit['id']}").json["demands"][0]["contact"] is None
    api("enterprise").post(f"/proposals/{proposal_id}/introduction")
    seen = api("platform").get(f"/visits/{visit['id']}").json["demands"][0]
    assert seen["contact"] == FOUND["contact"] and seen["budget_wan"] == 35 and seen["withheld"] == []


def test_the_visit_form_offers_a_platform_only_the_enterprises_that_agreed_to_meet_it(api, db, client):
    form = page(client, "platform", "/visits")
    assert f"<option>{HUALIAN}</option>" not in form and "暂无已同意向本平台引荐的企业" in form
    introduce(api, db)
    form = page(client, "platform", "/visits")
    assert f"<option>{HUALIAN}</option>" in form and f"<option>{HAIDA}</option>" not in form
    with client.session_transaction() as session:
        token = session["csrf_token"]
    refused = client.post("/visits", data={"enterprise": HAIDA, "visited_on": "2021-06-03", "csrf_token": token})
    assert refused.status_code == 403 and "已同意引荐" in refused.get_data(as_text=True)
    assert store.list_visits(db) == []
