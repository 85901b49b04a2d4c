"""The broker workflow through the API: review queue, decisions, undo, confirmation, introductions, history."""
from __future__ import annotations

import threading

import pytest

from service import store, workflow
from service.resources import live_index
from service.engine import REVIEW_LOWER, REVIEW_UPPER

pytestmark = pytest.mark.instance("api")


# HUALIAN's demand × HIT's supply: the enterprise and platform accounts are the two parties.
PAIR = ("D2021-101", "S2021-201")
CONFIRMATION = {"mode": "技术服务", "amount_wan": 30, "confirmed_at": "2021-06-30"}


@pytest.fixture
def proposal_id(db):
    return store.get_proposal_for_pair(db, *PAIR)["id"]


def pair_id(db, demand_id, supply_id) -> int:
    return store.get_proposal_for_pair(db, demand_id, supply_id)["id"]


def decide(api, proposal_id, status, reason=None, who="broker"):
    body = {"status": status} if reason is None else {"status": status, "reason": reason}
    return api(who).post(f"/proposals/{proposal_id}/decision", json=body)


def queue_ids(api, zone=None, **filters):
    """The review queue's proposal ids, in order: both zones unless one is named."""
    chosen = {"zone": zone} if zone else {}
    query = "&".join(f"{key}={value}" for key, value in {**chosen, "per_page": 200, **filters}.items())
    return [item["id"] for item in api("broker").get(f"/proposals?{query}").json["items"]]


def test_the_queue_has_a_strong_zone_and_a_review_zone_sorted_by_score(api, app):
    strong = api("broker").get("/proposals?zone=strong").json
    assert strong["thresholds"] == {"upper": REVIEW_UPPER, "lower": REVIEW_LOWER}
    strong_scores = [item["score"] for item in strong["items"]]
    assert strong_scores == sorted(strong_scores, reverse=True) and min(strong_scores) >= REVIEW_UPPER
    review = api("broker").get("/proposals?zone=review").json
    assert all(REVIEW_LOWER <= item["score"] < REVIEW_UPPER for item in review["items"])
    top = strong["items"][0]
    assert top["reasons"]["shared_terms"] and top["demand"]["title"] and top["supply"]["title"]


def test_the_queue_filters_by_cluster_region_and_platform(api):
    sea = api("broker").get("/proposals?cluster=海洋生物与健康食品").json["items"]
    assert {item["demand_id"] for item in sea} == {"D2021-103", "D2021-104"}
    assert {item["demand_id"] for item in api("broker").get("/proposals?region=环翠区").json["items"]} \
        <= {"D2021-101", "D2021-102"}
    by_platform = api("broker").get("/proposals?platform=山东大学威海工业技术研究院").json["items"]
    assert by_platform and {item["supply"]["platform"] for item in by_platform} == {"山东大学威海工业技术研究院"}


def test_thresholds_are_configurable(api, app, db):
    scores = sorted((proposal["score"] for proposal in store.list_proposals(db)), reverse=True)
    app.config.update(UPPER=scores[1], LOWER=scores[9])  # two strong pairs, eight to review
    assert len(queue_ids(api, "strong")) == 2
    assert len(queue_ids(api, "review")) == 8


def test_a_broker_recommends_a_pair(api, proposal_id):
    response = decide(api, proposal_id, "recommended")
    assert response.status_code == 200
    assert response.json["status"] == "recommended" and response.json["decided_by"] == "broker"
    assert proposal_id not in queue_ids(api)


def test_rejecting_needs_a_reason(api, proposal_id):
    refused = decide(api, proposal_id, "rejected")
    assert refused.status_code == 422 and "reason" in refused.json["error"]["fields"]
    rejected = decide(api, proposal_id, "rejected", "企业已有同类供应商")
    assert rejected.json["status"] == "rejected" and rejected.json["decision_note"] == "企业已有同类供应商"


def test_unsure_comes_back_at_the_end_of_its_zone(api):
    zone = max(("strong", "review"), key=lambda name: len(queue_ids(api, zone=name)))
    before = queue_ids(api, zone=zone)
    assert len(before) >= 2
    first = before[0]
    decide(api, first, "unsure", "需要再问问企业")
    after = queue_ids(api, zone=zone)
    assert after[-1] == first and sorted(after) == sorted(before)
    assert decide(api, first, "recommended").json["status"] == "recommended"


def test_an_impossible_transition_is_a_409(api, proposal_id):
    decide(api, proposal_id, "rejected", "不相关")
    response = decide(api, proposal_id, "recommended")
    assert response.status_code == 409 and response.json["error"]["code"] == "invalid_transition"


def test_an_unknown_decision_is_a_422(api, proposal_id):
    assert decide(api, proposal_id, "maybe").status_code == 422


def test_the_last_decision_can_be_undone(api, proposal_id):
    decide(api, proposal_id, "unsure")
    decide(api, proposal_id, "rejected", "不相关")
    undone = api("broker").post(f"/proposals/{proposal_id}/undo")
    assert undone.status_code == 200 and undone.json["status"] == "unsure"
    assert api("broker").post(f"/proposals/{proposal_id}/undo").json["status"] == "proposed"
    nothing = api("broker").post(f"/proposals/{proposal_id}/undo")
    assert nothing.status_code == 409 and nothing.json["error"]["code"] == "nothing_to_undo"


def test_a_decided_pair_is_never_served_again(api, db, app, proposal_id):
    decide(api, proposal_id, "rejected", "企业已自行解决")
    assert proposal_id not in queue_ids(api) + queue_ids(api, "review")
    live = api("broker").get(f"/demands/{PAIR[0]}/proposals?k=5").json["items"]
    assert PAIR[1] not in [item["supply_id"] for item in live] and len(live) == 5
    with app.app_context():
        workflow.generate_proposals(db, live_index().engine(), k=5)
    assert store.get_proposal(db, proposal_id)["status"] == "rejected"
    assert proposal_id not in queue_ids(api)


def test_confirming_a_recommended_pair_creates_one_cooperation(api, db, proposal_id):
    decide(api, proposal_id, "recommended")
    first = api("broker").post(f"/proposals/{proposal_id}/confirm", json=CONFIRMATION)
    assert first.status_code == 201
    cooperation = first.json
    assert (cooperation["demand_id"], cooperation["supply_id"]) == PAIR
    assert cooperation["mode"] == "技术服务" and cooperation["amount_wan"] == 30 and cooperation["broker"] == "broker"
    again = api("broker").post(f"/proposals/{proposal_id}/confirm", json=CONFIRMATION)
    assert again.status_code == 200 and again.json["id"] == cooperation["id"]
    assert db.execute("select count(*) from cooperations where demand_id = ? and supply_id = ?", PAIR).fetchone()[0] == 1
    assert api("broker").get(f"/cooperations/{cooperation['id']}").json["demand_title"]


def test_two_simultaneous_confirmations_make_one_cooperation(app, db, proposal_id):
    broker = store.public_user(store.get_user_by_name(db, "broker"))
    workflow.decide(db, proposal_id, "recommended", broker)
    results, start = [], threading.Barrier(2)

    def confirm():
        connection = store.open_db(app.config["DATABASE"])
        start.wait()
        results.append(workflow.confirm(connection, proposal_id, broker, mode="技术转让", amount_wan=10)[1])
        connection.close()

    threads = [threading.Thread(target=confirm) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, True]
    assert db.execute("select count(*) from cooperations where demand_id = ? and supply_id = ?", PAIR).fetchone()[0] == 1


def test_confirming_needs_mode_and_amount_and_a_recommendation(api, proposal_id):
    early = api("broker").post(f"/proposals/{proposal_id}/confirm", json=CONFIRMATION)
    assert early.status_code == 409
    decide(api, proposal_id, "recommended")
    missing = api("broker").post(f"/proposals/{proposal_id}/confirm", json={"amount_wan": "很多", "confirmed_at": "昨天"})
    assert missing.status_code == 422
    assert set(missing.json["error"]["fields"]) == {"mode", "amount_wan", "confirmed_at"}


def test_undoing_a_confirmation_removes_its_cooperation(api, db, proposal_id):
    decide(api, proposal_id, "recommended")
    api("broker").post(f"/proposals/{proposal_id}/confirm", json=CONFIRMATION)
    assert api("broker").post(f"/proposals/{proposal_id}/undo").json["status"] == "recommended"
    assert store.get_cooperation(db, *PAIR) is None


@pytest.mark.parametrize("party", ["enterprise", "platform"])
def test_either_party_may_decline_a_recommended_pair(api, proposal_id, party):
    decide(api, proposal_id, "recommended")
    declined = decide(api, proposal_id, "declined", "预算不匹配", who=party)
    assert declined.status_code == 200 and declined.json["status"] == "declined"
    assert declined.json["decided_by"] == party


def test_a_party_cannot_recommend_or_decline_others_pairs(api, db, proposal_id):
    decide(api, proposal_id, "recommended")
    assert decide(api, proposal_id, "recommended", who="enterprise").status_code in (403, 409)
    assert decide(api, proposal_id, "declined", who="other_enterprise").status_code == 404


def test_a_party_undoes_only_its_own_decision(api, proposal_id):
    decide(api, proposal_id, "recommended")
    decide(api, proposal_id, "declined", who="enterprise")
    assert api("platform").post(f"/proposals/{proposal_id}/undo").status_code == 403
    assert api("enterprise").post(f"/proposals/{proposal_id}/undo").json["status"] == "recommended"


def test_bulk_decisions_work_on_a_filtered_queue(api, db):
    before = queue_ids(api)
    sea = queue_ids(api, cluster="海洋生物与健康食品")
    assert sea and len(sea) < len(before)
    result = api("broker").post("/proposals/bulk", json={
        "status": "recommended", "filters": {"cluster": "海洋生物与健康食品"}}).json
    assert sorted(result["decided"]) == sorted(sea) and result["skipped"] == []
    assert set(queue_ids(api)) == set(before) - set(sea)


def test_bulk_decisions_by_ids_report_what_could_not_move(api, db, proposal_id):
    other = pair_id(db, "D2021-103", "S2021-205")
    decide(api, other, "rejected", "重复")
    result = api("broker").post("/proposals/bulk", json={"status": "rejected", "reason": "集群不符",
                                                          "ids": [proposal_id, other, 99999]}).json
    assert result["decided"] == [proposal_id]
    assert {item["id"]: item["code"] for item in result["skipped"]} == {other: "invalid_transition", 99999: "not_found"}


def test_bulk_rejection_needs_a_reason(api, proposal_id):
    response = api("broker").post("/proposals/bulk", json={"status": "rejected", "ids": [proposal_id]})
    assert response.status_code == 422


def test_every_decision_is_kept_in_the_history_with_who_when_and_why(api, proposal_id):
    decide(api, proposal_id, "unsure", "再看看")
    decide(api, proposal_id, "recommended")
    api("broker").post(f"/proposals/{proposal_id}/undo")
    decide(api, proposal_id, "rejected", "企业改变方向")
    history = api("broker").get(f"/demands/{PAIR[0]}/history").json["items"]
    steps = [(item["action"], item["from_status"], item["to_status"], item["actor"]) for item in history]
    assert steps == [("decide", "proposed", "unsure", "broker"), ("decide", "unsure", "recommended", "broker"),
                     ("undo", "recommended", "unsure", "broker"), ("decide", "unsure", "rejected", "broker")]
    assert history[0]["reason"] == "再看看" and history[-1]["reason"] == "企业改变方向"
    assert history[1]["undone_at"] and all(item["at"] for item in history)
    assert api("broker").get(f"/supplies/{PAIR[1]}/history").json["items"] == history


def test_decisions_are_in_the_audit_log(api, proposal_id):
    decide(api, proposal_id, "recommended")
    entry = api("admin").get(f"/audit?entity=proposals&entity_id={proposal_id}").json["items"][0]
    assert entry["actor"] == "broker" and entry["before"]["status"] == "proposed"
    assert entry["after"]["status"] == "recommended"
