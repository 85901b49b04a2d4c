"""Live edits saved for the next start: a restart after edits loads both indexes instead of rebuilding."""
from __future__ import annotations

import json
import signal
import time

import pytest

from matching.index import VectorIndex
from matching.lexical import BM25Index
from service import store
from service.engine import Engine
from service.worker import LiveIndex, indexing_lock

from .engine_support import every_ranking
from .records import DEMANDS, HUALIAN, SUPPLIES
from .server_process import ServerProcess, http_call

DRILL_BIT = {**SUPPLIES[1], "description": "深海钻井钻头的设计与制造"}


@pytest.fixture
def indexed(tmp_path, embedder):
    """A database with both lists, indexed and saved as `matchmaker index` leaves it."""
    db = store.open_db(tmp_path / "m.db")
    store.upsert_records(db, "demands", DEMANDS)
    store.upsert_records(db, "supplies", SUPPLIES)
    Engine(db, tmp_path, embedder).load()
    return db


def live_index(tmp_path, embedder, checkpoint_seconds: float = 3600) -> LiveIndex:
    live = LiveIndex(tmp_path / "m.db", tmp_path, embedder, checkpoint_seconds=checkpoint_seconds)
    live.engine()
    return live


def edit(db, live: LiveIndex, record: dict) -> None:
    store.save_record(db, "supplies", record, "broker")
    live.refresh_later("supplies", record["id"])
    assert live.wait()


def warm_restart(db, tmp_path, embedder, monkeypatch) -> Engine:
    """A new engine on the instance, failing if it builds either index."""
    def not_built(index, *args):
        raise AssertionError("an index was built on a restart after its edits were saved")
    with monkeypatch.context() as patched:
        patched.setattr(VectorIndex, "build", not_built)
        patched.setattr(BM25Index, "build", not_built)
        engine = Engine(db, tmp_path, embedder).load()
    assert engine.rebuilt == engine.lexical_rebuilt == {"demands": False, "supplies": False}
    return engine


def test_an_edit_applied_live_is_saved_when_the_worker_stops_and_the_next_start_loads_it(
        indexed, tmp_path, embedder, monkeypatch):
    live = live_index(tmp_path, embedder)
    edit(indexed, live, DRILL_BIT)
    live.close()
    restarted = warm_restart(indexed, tmp_path, embedder, monkeypatch)
    assert list(restarted.matcher.supplies.bm25.scores(["钻头"])) == [DRILL_BIT["id"]]
    assert every_ranking(restarted) == every_ranking(Engine(indexed, tmp_path / "fresh", embedder).load())


def test_a_removed_record_stays_removed_after_a_restart(indexed, tmp_path, embedder, monkeypatch):
    live = live_index(tmp_path, embedder)
    store.delete_record(indexed, "supplies", "S2021-202", "broker")
    live.refresh_later("supplies", "S2021-202")
    assert live.wait()
    live.close()
    restarted = warm_restart(indexed, tmp_path, embedder, monkeypatch)
    assert "S2021-202" not in restarted.matcher.supplies.records and "S2021-202" not in restarted.matcher.supplies.vectors
    assert all(proposal.candidate_id != "S2021-202" for proposal in restarted.propose_for_demand("D2021-102", k=10))


def test_edits_are_saved_once_the_live_index_has_been_quiet_for_the_set_time(
        indexed, tmp_path, embedder, monkeypatch):
    sidecar = tmp_path / "index" / "supplies" / "bm25.json"
    saved = json.loads(sidecar.read_text())["checksum"]
    live = live_index(tmp_path, embedder, checkpoint_seconds=0.5)
    edit(indexed, live, DRILL_BIT)
    deadline = time.monotonic() + 20
    while json.loads(sidecar.read_text())["checksum"] == saved:
        assert time.monotonic() < deadline, "the edit was not saved after the quiet period"
        time.sleep(0.1)
    assert live.engine().edited == {}
    warm_restart(indexed, tmp_path, embedder, monkeypatch)   # while the service still runs
    live.close()


def test_nothing_is_saved_while_an_edit_in_the_store_is_not_yet_applied(indexed, tmp_path, embedder):
    engine = Engine(indexed, tmp_path, embedder).load()
    store.save_record(indexed, "supplies", DRILL_BIT, "broker")
    engine.refresh("demands", "D2021-101")
    before = (tmp_path / "index" / "supplies" / "vectors.json").read_text()
    assert engine.save(indexed) is False
    engine.refresh("supplies", DRILL_BIT["id"])
    assert engine.save(indexed) is True and engine.edited == {}
    assert (tmp_path / "index" / "supplies" / "vectors.json").read_text() != before


def test_a_process_that_finds_the_indexing_lock_held_leaves_the_saving_to_its_holder(indexed, tmp_path, embedder):
    live = live_index(tmp_path, embedder)
    edit(indexed, live, DRILL_BIT)
    with indexing_lock(tmp_path) as owner:
        assert owner
        live._checkpoint()
        assert live.engine().edited != {}
    live.close()


def test_a_learned_rankings_change_does_not_hold_the_save_back(indexed, tmp_path, embedder):
    engine = Engine(indexed, tmp_path, embedder).load()
    store.save_record(indexed, "supplies", DRILL_BIT, "broker")
    engine.refresh("supplies", DRILL_BIT["id"])
    store.record_change(indexed, "rankers", None)
    assert engine.save(indexed) is True


@pytest.mark.instance("api")
def test_serve_stopped_by_sigterm_saves_a_demand_written_meanwhile_for_the_next_start(
        instance, tokens, embedder, monkeypatch):
    server = ServerProcess(instance / "matchmaker.db").start()
    demand = {"id": "CKPT-1", "title": "深海养殖网箱的防腐涂层", "enterprise": HUALIAN,
              "description": "网箱在海水中半年就锈蚀，想找长效防腐涂层和在线监测办法。"}
    try:
        deadline = time.monotonic() + 60
        while server.call("GET", "/api/v1/system", tokens["admin"])[1]["index"] != "idle":  # loaded at start
            assert time.monotonic() < deadline, "the server's engine did not load in 60 s"
            time.sleep(0.2)
        status, body = http_call(server.base, "POST", "/api/v1/demands", tokens["enterprise"], demand, timeout=30)
        assert status == 201, body
    finally:
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=60)
    assert server.process.returncode == 0, server.log()
    db = store.open_db(instance / "matchmaker.db")
    restarted = warm_restart(db, instance, embedder, monkeypatch)
    assert "CKPT-1" in restarted.matcher.demands.records
    db.close()


def test_a_second_process_with_the_same_edits_leaves_the_saved_files_as_the_first_wrote_them(indexed, tmp_path, embedder):
    first, second = Engine(indexed, tmp_path, embedder).load(), Engine(indexed, tmp_path, embedder).load()
    store.save_record(indexed, "supplies", DRILL_BIT, "broker")
    first.refresh("supplies", DRILL_BIT["id"])
    second.refresh("supplies", DRILL_BIT["id"])   # as another server process follows the change
    folder = tmp_path / "index" / "supplies"
    assert first.save(indexed) is True
    written = {path.name: path.stat().st_ino for path in folder.iterdir()}
    assert second.save(indexed) is True and second.edited == {}
    assert {path.name: path.stat().st_ino for path in folder.iterdir()} == written   # nothing replaced
    restarted = Engine(indexed, tmp_path, embedder).load()
    assert restarted.rebuilt == restarted.lexical_rebuilt == {"demands": False, "supplies": False}
    assert list(restarted.matcher.supplies.bm25.scores(["钻头"])) == [DRILL_BIT["id"]]
