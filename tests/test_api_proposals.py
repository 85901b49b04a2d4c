"""Proposals in both directions, what each party sees of them, confidentiality, and the live index."""
from __future__ import annotations

import time

import pytest

from service import store

from .records import HIT, HUALIAN

pytestmark = pytest.mark.instance("api")

PAIR = ("D2021-101", "S2021-201")


def recommend(api, db, pair=PAIR) -> int:
    proposal_id = store.get_proposal_for_pair(db, *pair)["id"]
    assert api("broker").post(f"/proposals/{proposal_id}/decision", json={"status": "recommended"}).status_code == 200
    return proposal_id


def test_a_broker_gets_supplies_for_a_demand_with_reasons(api):
    items = api("broker").get(f"/demands/{PAIR[0]}/proposals?k=3").json["items"]
    assert len(items) == 3 and items[0]["supply_id"] == PAIR[1]
    assert items[0]["id"] is not None and items[0]["status"] == "proposed"
    assert "缩痕" in items[0]["reasons"]["shared_terms"] or "注塑" in items[0]["reasons"]["shared_terms"]
    assert [item["score"] for item in items] == sorted((item["score"] for item in items), reverse=True)


def test_a_broker_gets_demands_for_a_supply(api):
    items = api("broker").get("/supplies/S2021-205/proposals?k=2").json["items"]
    assert items[0]["demand_id"] == "D2021-103" and items[0]["supply_id"] == "S2021-205"


def test_proposals_take_retriever_and_filters(api):
    lexical = api("broker").get(f"/demands/{PAIR[0]}/proposals?retriever=lexical&k=3").json["items"]
    assert lexical and all(item["score"] == item["lexical"] for item in lexical)
    filtered = api("broker").get(f"/demands/{PAIR[0]}/proposals?maturity=中试&k=5").json["items"]
    assert filtered and {item["supply"]["maturity"] for item in filtered} == {"中试"}
    assert api("broker").get(f"/demands/{PAIR[0]}/proposals?retriever=magic").status_code == 400


def test_an_enterprise_sees_only_the_proposals_a_broker_recommended_to_it(api, db):
    assert api("enterprise").get(f"/demands/{PAIR[0]}/proposals").json["items"] == []
    assert api("enterprise").get("/proposals").json["total"] == 0
    proposal_id = recommend(api, db)
    items = api("enterprise").get(f"/demands/{PAIR[0]}/proposals").json["items"]
    assert [item["id"] for item in items] == [proposal_id]
    assert [item["id"] for item in api("enterprise").get("/proposals").json["items"]] == [proposal_id]
    assert api("enterprise").get(f"/proposals/{proposal_id}").status_code == 200
    assert api("other_enterprise").get(f"/proposals/{proposal_id}").status_code == 404


def test_a_platform_sees_recommended_proposals_on_its_supplies(api, db):
    proposal_id = recommend(api, db)
    items = api("platform").get(f"/supplies/{PAIR[1]}/proposals").json["items"]
    assert [item["id"] for item in items] == [proposal_id]
    assert api("other_platform").get(f"/proposals/{proposal_id}").status_code == 404


def test_unrecommended_proposals_are_hidden_from_the_parties(api, db):
    proposal_id = store.get_proposal_for_pair(db, *PAIR)["id"]
    assert api("enterprise").get(f"/proposals/{proposal_id}").status_code == 404
    assert api("platform").get(f"/proposals/{proposal_id}").status_code == 404


def test_contact_and_budget_stay_hidden_until_the_enterprise_agrees(api, db):
    proposal_id = recommend(api, db)
    seen_by_platform = api("platform").get(f"/proposals/{proposal_id}").json
    assert seen_by_platform["demand"]["contact"] is None and seen_by_platform["demand"]["budget_wan"] is None
    assert seen_by_platform["demand"]["withheld"] == ["budget_wan", "contact"]
    assert seen_by_platform["demand"]["title"] and seen_by_platform["demand"]["enterprise"] == HUALIAN
    assert seen_by_platform["supply"]["contact"]  # its own side, in full

    agreed = api("enterprise").post(f"/proposals/{proposal_id}/introduction")
    assert agreed.status_code == 200 and agreed.json["introduction"]["enterprise_agreed"] is True
    seen_by_platform = api("platform").get(f"/proposals/{proposal_id}").json
    assert seen_by_platform["demand"]["contact"] == "王工 139****1201" and seen_by_platform["demand"]["budget_wan"] == 40


def test_the_platforms_contact_and_price_wait_for_the_platforms_consent(api, db):
    proposal_id = recommend(api, db)
    api("enterprise").post(f"/proposals/{proposal_id}/introduction")
    seen_by_enterprise = api("enterprise").get(f"/proposals/{proposal_id}").json
    assert seen_by_enterprise["supply"]["contact"] is None and seen_by_enterprise["supply"]["price_wan"] is None
    api("platform").post(f"/proposals/{proposal_id}/introduction")
    seen_by_enterprise = api("enterprise").get(f"/proposals/{proposal_id}").json
    assert seen_by_enterprise["supply"]["contact"] == "刘老师 138****2201"
    assert seen_by_enterprise["supply"]["platform"] == HIT


def test_an_introduction_needs_a_recommendation_first(api, db):
    proposal_id = store.get_proposal_for_pair(db, *PAIR)["id"]
    # Not yet recommended: the enterprise cannot even see the pair.
    assert api("enterprise").post(f"/proposals/{proposal_id}/introduction").status_code == 404
    recommend(api, db)
    api("broker").post(f"/proposals/{proposal_id}/undo")
    assert api("enterprise").post(f"/proposals/{proposal_id}/introduction").status_code == 404


def test_withdrawing_a_recommendation_withdraws_the_consent(api, db):
    proposal_id = recommend(api, db)
    api("enterprise").post(f"/proposals/{proposal_id}/introduction")
    api("broker").post(f"/proposals/{proposal_id}/undo")
    recommend(api, db)
    assert api("platform").get(f"/proposals/{proposal_id}").json["demand"]["contact"] is None


def test_brokers_see_every_detail(api, db):
    proposal_id = store.get_proposal_for_pair(db, *PAIR)["id"]
    view = api("broker").get(f"/proposals/{proposal_id}").json
    assert view["demand"]["contact"] and view["supply"]["price_wan"] == 30 and view["demand"]["withheld"] == []


def test_a_new_demand_gets_proposals_within_two_seconds_without_blocking_others(api, app):
    posted = api("enterprise").post("/demands", json={
        "title": "汽车注塑件翘曲变形", "description": "薄壁注塑件脱模后翘曲，需要优化模具冷却和保压工艺，减少缩痕。",
        "industry_cluster": "先进装备与智能制造", "keywords": ["注塑", "翘曲", "模具冷却"]})
    started = time.monotonic()
    assert posted.status_code == 201
    demand_id = posted.json["id"]
    # Another request is served while the worker embeds the new demand.
    other = api("broker").get("/reports/summary")
    assert other.status_code == 200 and time.monotonic() - started < 1.0
    found = []
    while time.monotonic() - started < 2.0 and not found:
        found = api("broker").get(f"/proposals?demand_id={demand_id}").json["items"]
        time.sleep(0.05)
    assert found, "no proposals for the new demand within 2 s"
    assert found[0]["supply_id"] == "S2021-201"


def test_an_edited_supply_is_matchable_at_once(api, app):
    live = app.extensions["live_index"]
    live.engine()  # loaded, as in a running service
    created = api("other_platform").post("/supplies", json={
        "title": "便携式毫米波跌倒报警器", "description": "毫米波雷达识别老人跌倒，无摄像头保护隐私，适合康养社区。",
        "keywords": ["毫米波雷达", "跌倒监测", "养老"]}).json
    assert live.wait(2.0)
    assert created["id"] in live.engine().matcher.supplies.records
    items = api("broker").get("/demands/D2021-108/proposals?k=3").json["items"]
    assert created["id"] in [item["supply_id"] for item in items]
    api("other_platform").delete(f"/supplies/{created['id']}")
    assert live.wait(2.0)
    assert created["id"] not in live.engine().matcher.supplies.records


def test_proposals_asked_again_follow_every_change_to_the_lists(api, app):
    live = app.extensions["live_index"]
    live.engine()
    before = [item["supply_id"] for item in api("broker").get("/demands/D2021-108/proposals?k=3").json["items"]]
    assert api("broker").get("/demands/D2021-108/proposals?k=3").json["items"][0]["supply_id"] == before[0]
    created = api("other_platform").post("/supplies", json={
        "title": "便携式毫米波跌倒报警器", "description": "毫米波雷达识别老人跌倒，无摄像头保护隐私，适合康养社区。",
        "keywords": ["毫米波雷达", "跌倒监测", "养老"]}).json
    assert live.wait(2.0)
    assert created["id"] in [item["supply_id"] for item in
                             api("broker").get("/demands/D2021-108/proposals?k=3").json["items"]]
    api("other_platform").delete(f"/supplies/{created['id']}")
    assert live.wait(2.0)
    assert [item["supply_id"] for item in api("broker").get("/demands/D2021-108/proposals?k=3").json["items"]] == before


def test_gaps_list_open_demands_without_a_credible_supply(api):
    everything = api("broker").get("/gaps?min_score=1").json
    assert everything["threshold"] == 1
    # every open demand: 108 is closed, 109 already cooperates
    assert {gap["demand_id"] for gap in everything["items"]} == {f"D2021-10{n}" for n in range(1, 8)} | {"D2021-110"}
    assert api("broker").get("/gaps?min_score=0").json["items"] == []
    assert api("broker").get("/gaps?min_score=2").status_code == 400


def test_the_summary_has_the_headline_figures(api, db):
    summary = api("enterprise").get("/reports/summary").json
    assert summary["demands"] == 10 and summary["supplies"] == 13 and summary["open_demands"] == 8
    assert summary["cooperations"] == 1 and summary["match_rate"] == 0.1  # D2021-109's
    assert summary["proposals"]["proposed"] == 8 * 5  # the template's five for each open demand
