"""Views leave the domain's work to the domain (issue 16, item 5): a GET never writes, and a list
reads its records in one query per side (workflow.pair_records, store.records_by_id), not one a row."""
from __future__ import annotations

import pytest

from service import store

from .records import OWN_DEMAND

pytestmark = pytest.mark.instance("api")

PAIR = ("D2021-101", "S2021-201")


def snapshot(db) -> tuple:
    """What a write would change: the data version other connections' commits bump, and every proposal."""
    return (db.execute("pragma data_version").fetchone()[0],
            db.execute("select * from proposals order by id").fetchall())


@pytest.mark.parametrize("path", [f"/demands/{PAIR[0]}/proposals?k=10", f"/supplies/{PAIR[1]}/proposals?k=10",
                                  f"/demands/{PAIR[0]}/proposals?k=3&retriever=hybrid"])
def test_asking_for_a_records_proposals_writes_nothing(api, app, db, path):
    app.extensions["live_index"].engine()  # loaded, as in a running service
    before = snapshot(db)
    response = api("broker").get(path)
    assert response.status_code == 200 and response.json["items"]
    assert snapshot(db) == before


def test_live_pairs_not_yet_stored_come_without_an_id(api, app, db):
    app.extensions["live_index"].engine()
    items = api("broker").get(f"/demands/{PAIR[0]}/proposals?k=10").json["items"]
    stored = {(row["demand_id"], row["supply_id"]) for row in store.list_proposals(db, {"demand_id": PAIR[0]})}
    assert all((item["id"] is not None) == ((item["demand_id"], item["supply_id"]) in stored) for item in items)
    assert any(item["id"] is None for item in items)  # more asked for than the worker stored


@pytest.fixture
def record_reads(monkeypatch):
    """Count the one-record and one-count queries the views make."""
    calls = {"get_record": 0, "count_proposals": 0}
    for name in calls:
        original = getattr(store, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)
        monkeypatch.setattr(store, name, counted)
    return calls


def sign_in(client, login, name: str) -> None:
    assert login(name).status_code == 302


@pytest.mark.parametrize("path, reads", [
    ("/queue", 0), ("/queue?zone=review", 0), ("/queue/export.csv", 0),
    (f"/demands/{OWN_DEMAND}", 1),  # the record itself; its counterparts and history titles in one query each
    ("/demands", 0), ("/supplies", 0), ("/gaps", 0),
])
def test_broker_pages_read_the_records_of_a_list_in_one_query(client, login, record_reads, path, reads):
    sign_in(client, login, "broker")
    record_reads.update(get_record=0, count_proposals=0)
    assert client.get(path).status_code == 200
    assert record_reads["get_record"] == reads
    assert record_reads["count_proposals"] == 0 or path.startswith("/queue")  # the queue's tabs count per zone
