"""Themed matchmaking sessions (专题对接) and visits (双走进) through the JSON API, on the real engine.

Every response is checked against the OpenAPI document by the fixtures' client.
"""
from __future__ import annotations

import pytest

from service import sessions, store, workflow

from .records import HAIDA, HIT, HUALIAN, OWN_DEMAND, OWN_SUPPLY, SDU, SUPPLIES

pytestmark = pytest.mark.instance("api")

FOOD = "海洋生物与健康食品"      # HAIDA's demands D2021-103, -104 × SDU's supplies S2021-205, -206
MACHINES = "先进装备与智能制造"  # D2021-101, -102 (HUALIAN's), -110 × S2021-201 (HIT's), -202 (SDU's), -209


def plan(api, theme=FOOD, kind="cluster", **extra):
    """Plan a session as the broker; min_score 0 so that the agenda's size depends on the limits alone."""
    body = {"theme_kind": kind, "theme": theme, "held_on": "2021-06-18", "min_score": 0, **extra}
    return api("broker").post("/sessions", json=body)


def pairs_of(session) -> list[tuple[str, str]]:
    return [(pair["demand_id"], pair["supply_id"]) for pair in session["pairs"]]


def broker_user(db) -> dict:
    return store.public_user(store.get_user_by_name(db, "broker"))


def introduce(api, db, pair=("D2021-101", "S2021-201"), enterprise="enterprise") -> None:
    """A broker recommends the pair and its enterprise agrees to meet the platform: only then does the
    platform record visits to that enterprise (HUALIAN × HIT by default, HAIDA × SDU with the others)."""
    proposal_id = store.get_proposal_for_pair(db, *pair)["id"]
    assert api("broker").post(f"/proposals/{proposal_id}/decision", json={"status": "recommended"}).status_code == 200
    assert api(enterprise).post(f"/proposals/{proposal_id}/introduction").status_code == 200


# --- planning -----------------------------------------------------------------------------------

def test_a_broker_plans_a_cluster_session_with_the_best_pairs_of_that_cluster_first(api):
    response = plan(api)
    assert response.status_code == 201
    session = response.json
    assert session["title"] == f"{FOOD}专题对接会" and session["theme_kind_name"] == "产业集群"
    assert session["pairs"], "a cluster with open demands and supplies gets an agenda"
    assert {demand for demand, _ in pairs_of(session)} <= {"D2021-103", "D2021-104"}
    assert {supply for _, supply in pairs_of(session)} <= {"S2021-205", "S2021-206"}
    scores = [pair["score"] for pair in session["pairs"]]
    assert scores == sorted(scores, reverse=True)
    assert [pair["position"] for pair in session["pairs"]] == list(range(1, len(scores) + 1))
    assert session["pairs"][0]["reasons"]["shared_terms"]
    assert api("broker").get(f"/sessions/{session['id']}").json == session
    assert [item["id"] for item in api("broker").get("/sessions").json["items"]] == [session["id"]]


def test_each_enterprise_and_platform_appears_at_most_the_configured_number_of_times(api):
    default = plan(api).json
    assert len(default["pairs"]) == 3 and default["per_party_limit"] == 3  # HAIDA and SDU: 4 pairs, 3 allowed
    assert len(plan(api, per_party_limit=1).json["pairs"]) == 1
    assert len(plan(api, per_party_limit=2).json["pairs"]) == 2


def test_pairs_below_the_minimum_score_are_left_off_the_agenda(api):
    everything = plan(api, MACHINES, per_party_limit=10).json["pairs"]
    strong = plan(api, MACHINES, per_party_limit=10, min_score=0.6).json["pairs"]
    assert all(pair["score"] >= 0.6 for pair in strong)
    assert [pair["id"] for pair in strong] != [] and len(strong) < len(everything)
    default = api("broker").post("/sessions", json={"theme_kind": "cluster", "theme": MACHINES,
                                                    "held_on": "2021-06-18", "per_party_limit": 10}).json["pairs"]
    assert all(pair["score"] >= sessions.DEFAULT_MIN_SCORE for pair in default)


def test_choose_agenda_keeps_the_best_pairs_within_each_partys_limit():
    candidates = [
        {"demand_id": "D1", "supply_id": "S1", "score": .9, "enterprise": "甲", "platform": "A"},
        {"demand_id": "D2", "supply_id": "S2", "score": .8, "enterprise": "甲", "platform": "B"},
        {"demand_id": "D3", "supply_id": "S1", "score": .7, "enterprise": "乙", "platform": "A"},
        {"demand_id": "D4", "supply_id": "S3", "score": .6, "enterprise": "丙", "platform": "C"},
    ]
    chosen = sessions.choose_agenda(candidates, per_party_limit=1)
    assert [pair["demand_id"] for pair in chosen] == ["D1", "D4"]
    assert [pair["demand_id"] for pair in sessions.choose_agenda(candidates, per_party_limit=2, size=2)] == ["D1", "D2"]


def test_pairs_already_rejected_or_cooperating_are_left_out(api, db):
    first = pairs_of(plan(api, per_party_limit=5).json)
    rejected, cooperating = first[0], first[1]
    broker = broker_user(db)
    workflow.decide(db, store.get_proposal_for_pair(db, *rejected)["id"], "rejected", broker, "方向不符")
    store.upsert_cooperations(db, [{"demand_id": cooperating[0], "supply_id": cooperating[1],
                                    "confirmed_at": "2021-05-01"}])
    again = pairs_of(plan(api, per_party_limit=5).json)
    assert rejected not in again and cooperating not in again
    assert set(again) == set(first) - {rejected, cooperating}


def test_a_district_theme_takes_that_districts_open_demands_and_a_platform_theme_that_platforms_supplies(api):
    district = plan(api, "荣成市", "region").json
    assert district["pairs"] and {demand for demand, _ in pairs_of(district)} <= {"D2021-103", "D2021-104"}
    platform = plan(api, HIT, "platform").json
    supplies = {supply for _, supply in pairs_of(platform)}
    assert supplies and supplies <= {supply["id"] for supply in SUPPLIES if supply["platform"] == HIT}
    assert "D2021-108" not in {demand for demand, _ in pairs_of(platform)}  # closed demands are not discussed


def test_a_bad_session_is_refused_field_by_field(api):
    response = api("broker").post("/sessions", json={"theme_kind": "cluster", "theme": "造船", "held_on": "六月",
                                                      "per_party_limit": 0, "min_score": 2})
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {"theme", "held_on", "per_party_limit", "min_score"}
    assert api("broker").post("/sessions", json={"theme_kind": "planet", "theme": "x",
                                                  "held_on": "2021-06-18"}).status_code == 422


def test_values_of_the_wrong_type_are_refused_with_422_not_a_500(api):
    broker = api("broker")
    assert broker.post("/sessions", json={"theme_kind": ["cluster"], "theme": FOOD,
                                          "held_on": "2021-06-18"}).status_code == 422
    assert broker.post("/visits", json={**VISIT, "direction": {"a": 1}}).status_code == 422
    session = plan(api).json
    outcome = broker.post(f"/sessions/{session['id']}/pairs/{session['pairs'][0]['id']}/outcome",
                          json={"outcome": ["interested"]})
    assert outcome.status_code == 422
    assert broker.put(f"/sessions/{session['id']}/order", json={"pair_ids": "1,2"}).status_code == 422


def test_texts_of_sessions_outcomes_and_visits_are_text_within_their_limits_never_coerced_or_cut(api):
    broker = api("broker")
    for extra, field in (({"note": {}}, "note"), ({"title": 7}, "title"), ({"note": "注" * 501}, "note"),
                         ({"title": "题" * 81}, "title"), ({"theme": ["x"]}, "theme")):
        refused = plan(api, **extra)
        assert refused.status_code == 422 and field in refused.json["error"]["fields"], (extra, refused.json)
    assert broker.get("/sessions").json["items"] == [], "nothing half-written"
    for extra, field in (({"notes": {}}, "notes"), ({"enterprise": "企" * 101}, "enterprise"),
                         ({"direction": {}}, "direction"), ({"region": 5}, "region"), ({"notes": "记" * 2001}, "notes")):
        refused = broker.post("/visits", json={**VISIT, **extra})
        assert refused.status_code == 422 and field in refused.json["error"]["fields"], (extra, refused.json)
    assert broker.get("/visits").json["items"] == []
    session = plan(api).json
    pair = session["pairs"][0]
    long_note = broker.post(f"/sessions/{session['id']}/pairs/{pair['id']}/outcome",
                            json={"outcome": "interested", "note": "备" * 501})
    assert long_note.status_code == 422 and "note" in long_note.json["error"]["fields"]
    assert broker.get(f"/sessions/{session['id']}").json["pairs"][0]["outcome"] is None


def test_a_confirmation_date_must_be_a_date_not_any_empty_value(api):
    session = plan(api).json
    pair = session["pairs"][0]
    refused = api("broker").post(f"/sessions/{session['id']}/pairs/{pair['id']}/confirm",
                                 json={"mode": "技术转让", "amount_wan": 30, "confirmed_at": {}})
    assert refused.status_code == 422 and "confirmed_at" in refused.json["error"]["fields"]
    assert api("broker").get(f"/sessions/{session['id']}").json["cooperation_count"] == 0


def test_a_month_filter_outside_the_reports_range_is_a_400(api):
    assert api("broker").get("/visits?month=0000-01").status_code == 400
    assert api("broker").get("/visits?month=2021-06").status_code == 200


# --- editing the agenda -------------------------------------------------------------------------

def test_the_broker_removes_adds_and_reorders_pairs(api):
    session = plan(api, MACHINES).json
    broker = api("broker")
    base = f"/sessions/{session['id']}"
    removed = session["pairs"][0]
    assert broker.delete(f"{base}/pairs/{removed['id']}").status_code == 204
    assert broker.delete(f"{base}/pairs/{removed['id']}").status_code == 404

    added = broker.post(f"{base}/pairs", json={"demand_id": "D2021-105", "supply_id": "S2021-203"})
    assert added.status_code == 201
    assert added.json["position"] == len(session["pairs"]) + 1 and added.json["score"] > 0
    assert broker.post(f"{base}/pairs", json={"demand_id": "D2021-105", "supply_id": "S2021-203"}).status_code == 409
    unknown = broker.post(f"{base}/pairs", json={"demand_id": "D1999-999", "supply_id": "S2021-203"})
    assert unknown.status_code == 422 and "demand_id" in unknown.json["error"]["fields"]

    current = [pair["id"] for pair in broker.get(base).json["pairs"]]
    reordered = broker.put(f"{base}/order", json={"pair_ids": list(reversed(current))})
    assert reordered.status_code == 200
    assert [pair["id"] for pair in reordered.json["pairs"]] == list(reversed(current))
    assert broker.put(f"{base}/order", json={"pair_ids": current[:-1]}).status_code == 422
    assert (removed["demand_id"], removed["supply_id"]) not in pairs_of(reordered.json)



@pytest.mark.parametrize("kind, side, owner, record_id", [("demands", "demand_id", "enterprise", OWN_DEMAND),
                                                          ("supplies", "supply_id", "platform", OWN_SUPPLY)])
def test_a_record_on_an_agenda_is_not_deleted_and_the_409_says_which_session(api, db, kind, side, owner, record_id):
    session = plan(api, MACHINES, per_party_limit=10).json
    assert record_id in {pair[side] for pair in session["pairs"]}
    proposals = db.execute(f"select count(*) from proposals where {side} = ?", [record_id]).fetchone()[0]
    response = api(owner).delete(f"/{kind}/{record_id}")
    assert response.status_code == 409 and response.json["error"]["code"] == "record_in_use"
    message = response.json["error"]["message"]
    assert f"专题对接会「{session['title']}」（2021-06-18，编号 {session['id']}）" in message and "议程" in message
    assert api(owner).get(f"/{kind}/{record_id}").status_code == 200
    assert db.execute(f"select count(*) from proposals where {side} = ?", [record_id]).fetchone()[0] == proposals
    assert pairs_of(api("broker").get(f"/sessions/{session['id']}").json) == pairs_of(session)
    assert "delete" not in [entry["action"] for entry in store.audit_entries(db, kind, record_id)]

    for pair in session["pairs"]:
        if pair[side] == record_id:
            assert api("broker").delete(f"/sessions/{session['id']}/pairs/{pair['id']}").status_code == 204
    assert api(owner).delete(f"/{kind}/{record_id}").status_code == 204

# --- after the event ------------------------------------------------------------------------------

def test_outcomes_are_recorded_and_a_confirmed_pair_keeps_its_session(api):
    session = plan(api).json
    broker = api("broker")
    first, second = session["pairs"][0], session["pairs"][1]
    base = f"/sessions/{session['id']}/pairs"
    noted = broker.post(f"{base}/{second['id']}/outcome", json={"outcome": "follow_up", "note": "下月再约"})
    assert noted.status_code == 200 and noted.json["outcome_name"] == "需跟进"
    assert broker.post(f"{base}/{second['id']}/outcome", json={"outcome": "maybe"}).status_code == 422

    confirmed = broker.post(f"{base}/{first['id']}/confirm", json={"mode": "技术转让", "amount_wan": 30,
                                                                   "confirmed_at": "2021-06-18"})
    assert confirmed.status_code == 201
    assert confirmed.json["session_id"] == session["id"]
    assert (confirmed.json["demand_id"], confirmed.json["supply_id"]) == (first["demand_id"], first["supply_id"])
    again = broker.post(f"{base}/{first['id']}/confirm", json={"mode": "技术转让", "amount_wan": 30})
    assert again.status_code == 200 and again.json["id"] == confirmed.json["id"]
    assert broker.get(f"/cooperations/{confirmed.json['id']}").json["session_id"] == session["id"]

    shown = broker.get(f"/sessions/{session['id']}").json
    assert shown["cooperation_count"] == 1
    assert shown["pairs"][0]["cooperation_id"] == confirmed.json["id"]
    assert shown["pairs"][0]["outcome"] == "interested"  # a cooperation is an interested outcome
    proposal = broker.get(f"/proposals?status=confirmed&demand_id={first['demand_id']}").json["items"]
    assert [item["supply_id"] for item in proposal] == [first["supply_id"]]


def test_a_pair_the_broker_rejected_cannot_be_confirmed_from_a_session(api, db):
    session = plan(api).json
    pair = session["pairs"][0]
    workflow.decide(db, store.get_proposal_for_pair(db, pair["demand_id"], pair["supply_id"])["id"], "rejected",
                    broker_user(db), "企业已另有方案")
    response = api("broker").post(f"/sessions/{session['id']}/pairs/{pair['id']}/confirm",
                                  json={"mode": "技术转让", "amount_wan": 30})
    assert response.status_code == 409
    assert store.get_cooperation(db, pair["demand_id"], pair["supply_id"]) is None


def test_a_pair_added_by_hand_without_a_proposal_can_be_confirmed(api, db):
    session = plan(api).json
    assert store.get_proposal_for_pair(db, "D2021-108", "S2021-204") is None  # a closed demand gets none
    added = api("broker").post(f"/sessions/{session['id']}/pairs",
                               json={"demand_id": "D2021-108", "supply_id": "S2021-204"}).json
    assert added["score"] > 0.3 and "毫米波" in added["reasons"]["shared_terms"]
    response = api("broker").post(f"/sessions/{session['id']}/pairs/{added['id']}/confirm",
                                  json={"mode": "技术服务", "amount_wan": 8})
    assert response.status_code == 201 and response.json["session_id"] == session["id"]


# --- visits ------------------------------------------------------------------------------------

VISIT = {"enterprise": HUALIAN, "visited_on": "2021-06-03", "region": "环翠区", "industry_cluster": MACHINES,
         "notes": "参观注塑车间，企业提出两项需求"}
FOUND = {"title": "注塑机能耗在线监测与节能改造", "description": "车间 40 台注塑机能耗高，希望实时监测能耗并给出节能改造方案。",
         "keywords": "注塑机、能耗监测、节能"}


def test_a_platform_records_a_visit_in_its_own_name_and_registers_the_demands_found(api, db):
    introduce(api, db)
    response = api("platform").post("/visits", json={**VISIT, "partner": ""})
    assert response.status_code == 201
    visit = response.json
    assert visit["partner"] == HIT and visit["direction_name"] == "走进企业" and visit["demands"] == []
    assert api("platform").post("/visits", json={**VISIT, "partner": SDU}).status_code == 422

    found = api("platform").post(f"/visits/{visit['id']}/demands", json=FOUND)
    assert found.status_code == 201
    demand = found.json
    assert demand["enterprise"] == HUALIAN and demand["region"] == "环翠区" and demand["industry_cluster"] == MACHINES
    assert demand["posted_at"] == "2021-06-03" and demand["visit_id"] == visit["id"]
    assert store.get_record(db, "demands", demand["id"])["visit_id"] == visit["id"]
    shown = api("broker").get(f"/visits/{visit['id']}").json
    assert [item["id"] for item in shown["demands"]] == [demand["id"]] and shown["demand_count"] == 1
    # The enterprise sees the demand as its own.
    assert api("enterprise").get(f"/demands/{demand['id']}").status_code == 200
    wrong = api("broker").post(f"/visits/{visit['id']}/demands", json={**FOUND, "enterprise": HAIDA})
    assert wrong.status_code == 422


def test_a_broker_records_a_visit_and_a_demand_found_on_it(api):
    visit = api("broker").post("/visits", json={**VISIT, "direction": "into_platform", "partner": SDU}).json
    assert visit["partner"] == SDU and visit["direction_name"] == "走进平台"
    found = api("broker").post(f"/visits/{visit['id']}/demands", json={**FOUND, "region": "文登区"})
    assert found.status_code == 201 and found.json["region"] == "文登区"
    bad = api("broker").post(f"/visits/{visit['id']}/demands", json={"title": "缺少概述"})
    assert bad.status_code == 422 and "description" in bad.json["error"]["fields"]
    refused = api("broker").post("/visits", json={"visited_on": "2021-13-01"})
    assert refused.status_code == 422 and set(refused.json["error"]["fields"]) == {"enterprise", "visited_on"}


def test_a_demand_found_on_a_visit_keeps_the_id_it_was_given_within_its_bound(api):
    visit = api("broker").post("/visits", json=VISIT).json
    kept = api("broker").post(f"/visits/{visit['id']}/demands", json={**FOUND, "id": "D2021-900"})
    assert kept.status_code == 201 and kept.json["id"] == "D2021-900"
    for wrong in ("D" * 65, ""):  # too long; blank (as on POST /demands; leave it out to get a number)
        refused = api("broker").post(f"/visits/{visit['id']}/demands", json={**FOUND, "id": wrong})
        assert refused.status_code == 422 and "id" in refused.json["error"]["fields"]


def test_each_party_sees_only_its_own_visits(api, db):
    introduce(api, db)
    introduce(api, db, ("D2021-103", "S2021-205"), "other_enterprise")
    ours = api("platform").post("/visits", json=VISIT).json
    theirs = api("other_platform").post("/visits", json={**VISIT, "enterprise": HAIDA, "region": "荣成市"}).json
    listed = {name: [item["id"] for item in api(name).get("/visits").json["items"]]
              for name in ("platform", "other_platform", "enterprise", "other_enterprise", "broker", "admin")}
    assert listed["platform"] == [ours["id"]] and listed["other_platform"] == [theirs["id"]]
    assert listed["enterprise"] == [ours["id"]] and listed["other_enterprise"] == [theirs["id"]]
    assert sorted(listed["broker"]) == sorted(listed["admin"]) == sorted([ours["id"], theirs["id"]])
    assert api("other_enterprise").get(f"/visits/{ours['id']}").status_code == 404
    assert api("enterprise").post(f"/visits/{ours['id']}/demands", json=FOUND).status_code == 403
    assert api("other_platform").post(f"/visits/{ours['id']}/demands", json=FOUND).status_code == 404


# --- who may do what ----------------------------------------------------------------------------

CALLERS = (None, "enterprise", "other_enterprise", "platform", "other_platform", "broker", "admin")
TABLE = [
    ("get", "/sessions", None, (401, 403, 403, 403, 403, 200, 200)),
    ("post", "/sessions", {"theme_kind": "cluster", "theme": FOOD, "held_on": "2021-06-18"},
     (401, 403, 403, 403, 403, 201, 403)),
    ("get", "/sessions/{session}", None, (401, 403, 403, 403, 403, 200, 200)),
    ("post", "/sessions/{session}/pairs", {"demand_id": "D2021-107", "supply_id": "S2021-208"},
     (401, 403, 403, 403, 403, 201, 403)),
    ("delete", "/sessions/{session}/pairs/{pair}", None, (401, 403, 403, 403, 403, 204, 403)),
    ("put", "/sessions/{session}/order", {"pair_ids": "{order}"}, (401, 403, 403, 403, 403, 200, 403)),
    ("post", "/sessions/{session}/pairs/{pair}/outcome", {"outcome": "interested"},
     (401, 403, 403, 403, 403, 200, 403)),
    ("post", "/sessions/{session}/pairs/{pair}/confirm", {"mode": "技术转让", "amount_wan": 30},
     (401, 403, 403, 403, 403, 201, 403)),
    ("get", "/visits", None, (401, 200, 200, 200, 200, 200, 200)),
    # A platform visits only an enterprise that agreed to meet it (the fixture introduces HUALIAN to HIT).
    ("post", "/visits", VISIT, (401, 403, 403, 201, 403, 201, 403)),
    ("get", "/visits/{visit}", None, (401, 200, 404, 200, 404, 200, 200)),
    ("post", "/visits/{visit}/demands", FOUND, (401, 403, 404, 201, 404, 201, 403)),
    # Brokers post and edit both lists (demands found on visits), but do not delete.
    ("post", "/demands", {**FOUND, "enterprise": HAIDA}, (401, 422, 201, 403, 403, 201, 201)),
    ("patch", "/demands/D2021-101", {"budget_wan": 45, "version": 1}, (401, 200, 404, 404, 404, 200, 200)),
    ("post", "/supplies", {"title": "新成果", "description": "可以提供的技术与中试服务", "platform": SDU},
     (401, 403, 403, 422, 201, 201, 201)),
    ("patch", "/supplies/S2021-201", {"price_wan": 45, "version": 1}, (401, 404, 404, 200, 404, 200, 200)),
    ("delete", "/demands/D2021-102", None, (401, 204, 404, 404, 404, 403, 204)),
]
CASES = [pytest.param(method, path, body, caller, expected, id=f"{method.upper()} {path} as {caller or 'anonymous'}")
         for method, path, body, statuses in TABLE for caller, expected in zip(CALLERS, statuses)]


@pytest.fixture
def ids(api, db, tokens):
    introduce(api, db)
    session = plan(api).json
    visit = api("platform").post("/visits", json=VISIT).json
    return {"session": session["id"], "pair": session["pairs"][0]["id"], "visit": visit["id"],
            "order": [pair["id"] for pair in reversed(session["pairs"])]}


@pytest.mark.parametrize("method, path, body, caller, expected", CASES)
def test_permission(api, ids, method, path, body, caller, expected):
    kwargs = {}
    if body is not None:
        kwargs["json"] = {key: (ids["order"] if value == "{order}" else value) for key, value in body.items()}
    response = getattr(api(caller), method)(path.format(**ids), **kwargs)
    assert response.status_code == expected, response.get_data(as_text=True)[:300]


# --- the report's figures -----------------------------------------------------------------------

def test_session_figures_count_sessions_pairs_cooperations_visits_and_demands_by_cluster_and_district(api, db):
    session = plan(api).json
    plan(api, MACHINES)
    pair = session["pairs"][0]
    api("broker").post(f"/sessions/{session['id']}/pairs/{pair['id']}/confirm", json={"mode": "技术转让", "amount_wan": 30})
    introduce(api, db)
    visit = api("platform").post("/visits", json=VISIT).json
    api("platform").post(f"/visits/{visit['id']}/demands", json=FOUND)
    api("broker").post("/visits", json={**VISIT, "enterprise": HAIDA, "region": "荣成市", "industry_cluster": FOOD})

    figures = sessions.session_figures(db, "2021-06")
    assert figures["sessions_held"] == 2 and figures["session_cooperations"] == 1
    assert figures["pairs_discussed"] == sum(item["pair_count"] for item in figures["per_session"])
    by_cluster = {row["name"]: row for row in figures["sessions_by_cluster"]}
    assert by_cluster[FOOD]["pairs"] == len(session["pairs"]) and by_cluster[FOOD]["cooperations"] == 1
    assert by_cluster[MACHINES]["cooperations"] == 0
    assert {row["name"] for row in figures["sessions_by_region"]} >= {"荣成市", "环翠区"}
    assert figures["visits_made"] == 2 and figures["demands_collected"] == 1
    assert {row["name"]: (row["visits"], row["demands"]) for row in figures["visits_by_region"]} == \
        {"环翠区": (1, 1), "荣成市": (1, 0)}
    assert sessions.session_figures(db, "2021-07")["sessions_held"] == 0
