"""Concurrency: racing brokers, racing editors and a re-index under load, through the real app.

Each thread has its own test client, so each request runs in its own app context with its own
SQLite connection, as waitress's threads do; a barrier lines the racing requests up.
"""
from __future__ import annotations

import threading

import pytest

from service import auth, store

from .api_support import API
from .records import OWN_DEMAND, PASSWORD

pytestmark = pytest.mark.instance("api")

CONFIRMATION = {"mode": "技术服务", "amount_wan": 30, "confirmed_at": "2021-06-01"}


def race(app, calls: list[tuple[str, str, str, dict | None]]) -> list[tuple[int, dict]]:
    """Run (token, method, path, body) requests at the same moment, one thread each; (status, JSON) in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, token, method, path, body):
        client = app.test_client()
        barrier.wait()
        response = client.open(API + path, method=method, json=body, headers={"Authorization": f"Bearer {token}"})
        results[index] = (response.status_code, response.get_json(silent=True))

    threads = [threading.Thread(target=run, args=(index, *call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.fixture
def brokers(db, tokens) -> list[str]:
    """Two broker accounts' tokens."""
    _, _, second = auth.create_user(db, "second-broker", "broker", None, PASSWORD, actor="fixture")
    return [tokens["broker"], second]


def recommended(api, count: int) -> list[dict]:
    proposals = api("broker").get("/proposals?per_page=50").get_json()["items"][:count]
    for proposal in proposals:
        assert api("broker").post(f"/proposals/{proposal['id']}/decision", json={"status": "recommended"}).status_code == 200
    return proposals


def test_two_brokers_confirming_the_same_proposal_at_once_make_one_cooperation(app, api, db, brokers):
    for proposal in recommended(api, 5):
        path = f"/proposals/{proposal['id']}/confirm"
        results = race(app, [(token, "POST", path, CONFIRMATION) for token in brokers])

        statuses = sorted(status for status, _ in results)
        assert statuses == [200, 201], results  # one made it, the other got the same cooperation back
        assert results[0][1]["id"] == results[1][1]["id"]
        pair = {"demand_id": proposal["demand_id"], "supply_id": proposal["supply_id"]}
        assert store.count_cooperations(db, pair) == 1
        decisions = [d for d in store.decisions_for(db, proposal_id=proposal["id"]) if d["to_status"] == "confirmed"]
        assert len(decisions) == 1
        created = [entry for entry in store.audit_entries(db, "cooperations") if entry["action"] == "create"
                   and entry["after"]["demand_id"] == pair["demand_id"] and entry["after"]["supply_id"] == pair["supply_id"]]
        assert len(created) == 1


def test_four_confirmations_of_one_proposal_at_once_still_make_one_cooperation(app, api, db, brokers):
    proposal = recommended(api, 1)[0]
    path = f"/proposals/{proposal['id']}/confirm"
    results = race(app, [(brokers[number % 2], "POST", path, CONFIRMATION) for number in range(4)])
    assert sorted(status for status, _ in results) == [200, 200, 200, 201], results
    assert len({body["id"] for _, body in results}) == 1
    assert store.count_cooperations(db, {"demand_id": proposal["demand_id"], "supply_id": proposal["supply_id"]}) == 1


def test_opposite_decisions_at_once_one_wins_and_the_other_is_refused(app, api, db, brokers):
    proposal = api("broker").get("/proposals?per_page=1").get_json()["items"][0]
    path = f"/proposals/{proposal['id']}/decision"
    results = race(app, [(brokers[0], "POST", path, {"status": "recommended"}),
                         (brokers[1], "POST", path, {"status": "rejected", "reason": "方向不符"})])
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 409], results
    winner = next(body for status, body in results if status == 200)
    assert store.get_proposal(db, proposal["id"])["status"] == winner["status"]
    assert len(store.decisions_for(db, proposal_id=proposal["id"])) == 1


def test_concurrent_edits_with_the_same_version_one_wins_the_other_gets_409_and_nothing_is_lost(app, api, db, tokens):
    for round_number in range(5):
        current = api("enterprise").get(f"/demands/{OWN_DEMAND}").get_json()
        titles = [f"第{round_number}轮 甲的修改", f"第{round_number}轮 乙的修改"]
        results = race(app, [(tokens[name], "PATCH", f"/demands/{OWN_DEMAND}",
                              {"title": title, "version": current["version"]})
                             for name, title in zip(("enterprise", "broker"), titles)])

        statuses = sorted(status for status, _ in results)
        assert statuses == [200, 409], results
        winner = titles[[status for status, _ in results].index(200)]
        loser = next(body for status, body in results if status == 409)
        assert loser["error"]["code"] == "stale_version"
        stored = store.get_record(db, "demands", OWN_DEMAND)
        assert stored["title"] == winner and stored["version"] == current["version"] + 1
        updates = [entry for entry in store.audit_entries(db, "demands", OWN_DEMAND) if entry["action"] == "update"]
        assert updates[0]["after"]["title"] == winner  # the newest entry records the one write that happened


def test_the_editor_who_got_409_can_reapply_on_the_new_version_so_both_writes_are_kept(app, api, db, tokens):
    version = api("enterprise").get(f"/demands/{OWN_DEMAND}").get_json()["version"]
    results = race(app, [(tokens["enterprise"], "PATCH", f"/demands/{OWN_DEMAND}", {"budget_wan": 55, "version": version}),
                         (tokens["broker"], "PATCH", f"/demands/{OWN_DEMAND}", {"region": "文登区", "version": version})])
    assert sorted(status for status, _ in results) == [200, 409]
    fresh = api("enterprise").get(f"/demands/{OWN_DEMAND}").get_json()
    lost = {"budget_wan": 55} if results[0][0] == 409 else {"region": "文登区"}
    retry = api("enterprise").patch(f"/demands/{OWN_DEMAND}", json={**lost, "version": fresh["version"]})
    assert retry.status_code == 200
    stored = store.get_record(db, "demands", OWN_DEMAND)
    assert stored["budget_wan"] == 55 and stored["region"] == "文登区" and stored["version"] == version + 2


def test_re_indexing_while_serving_answers_every_request(app, api, tokens):
    live = app.extensions["live_index"]
    live.engine()  # loaded, as after start-up
    stop = threading.Event()
    answers: list[tuple[str, int]] = []
    lock = threading.Lock()
    paths = [f"/demands/{OWN_DEMAND}/proposals?k=3", "/proposals?zone=strong", "/supplies/S2021-201/proposals?k=3",
             "/demands?per_page=5"]

    def read(offset):
        client = app.test_client()
        number = offset
        while not stop.is_set():
            path = paths[number % len(paths)]
            response = client.get(API + path, headers={"Authorization": f"Bearer {tokens['broker']}"})
            with lock:
                answers.append((path, response.status_code))
            number += 1

    readers = [threading.Thread(target=read, args=(offset,)) for offset in range(3)]
    for reader in readers:
        reader.start()
    try:
        for _ in range(4):
            assert api("admin").post("/reindex").status_code == 202
            assert live.wait(120)
    finally:
        stop.set()
        for reader in readers:
            reader.join(60)

    assert len(answers) >= 12
    assert [answer for answer in answers if answer[1] != 200] == []
    assert {path for path, _ in answers} == set(paths)
