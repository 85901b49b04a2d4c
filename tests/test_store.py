"""The store: schema, pragmas, writes that are audited and all-or-nothing."""
from __future__ import annotations

import pytest

from service import store

from .records import DEMAND, SUPPLY


def test_database_uses_wal_and_foreign_keys(db):
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_every_table_exists_with_indexes_for_report_filters(db):
    assert {"demands", "supplies", "cooperations", "proposals", "users", "audit_log", "embeddings"} <= set(db.table_names())
    indexed = {tuple(index.columns) for index in db["demands"].indexes}
    assert {("industry_cluster",), ("region",), ("posted_at",), ("status",)} <= indexed


def test_every_write_is_audited_with_before_and_after(db):
    store.upsert_records(db, "demands", [DEMAND], actor="张三")
    store.upsert_records(db, "demands", [{**DEMAND, "title": "改过的标题"}], actor="李四")
    latest, first = store.audit_entries(db, "demands", "D-001")
    assert (first["actor"], first["action"], first["before"]) == ("张三", "import", None)
    assert (latest["actor"], latest["before"]["title"], latest["after"]["title"]) == ("李四", DEMAND["title"], "改过的标题")


def test_a_failing_batch_writes_nothing(db):
    with pytest.raises(Exception):
        store.upsert_records(db, "demands", [DEMAND, {"id": "D-2", "title": None, "description": None}])
    assert store.count_records(db, "demands") == 0
    assert store.audit_entries(db) == []


def test_a_cooperation_pair_is_stored_once(db):
    store.upsert_records(db, "demands", [DEMAND])
    store.upsert_records(db, "supplies", [SUPPLY])
    pair = {"demand_id": "D-001", "supply_id": "S-001", "amount_wan": 30}
    store.upsert_cooperations(db, [pair])
    store.upsert_cooperations(db, [{**pair, "amount_wan": 35}])
    assert db["cooperations"].count == 1
    assert store.get_cooperation(db, "D-001", "S-001")["amount_wan"] == 35


def test_filters_and_search(db):
    store.upsert_records(db, "demands", [DEMAND, {**DEMAND, "id": "D-002", "region": "文登区", "title": "电机噪声大"}])
    assert [r["id"] for r in store.list_records(db, "demands", where={"region": "文登区"})] == ["D-002"]
    assert [r["id"] for r in store.list_records(db, "demands", search="噪声")] == ["D-002"]
    assert store.count_records(db, "demands", where={"month": "2021-03"}) == 2
    with pytest.raises(ValueError):
        store.list_records(db, "demands", where={"password": "x"})


def test_embedding_cache_round_trips_vectors(db):
    import numpy as np
    cache = store.EmbeddingCache(db)
    vector = np.arange(4, dtype=np.float32)
    cache.put_many({"m|query|abc": vector})
    assert np.array_equal(cache.get_many(["m|query|abc", "missing"])["m|query|abc"], vector)


def test_proposals_saved_again_unchanged_are_not_rewritten(db):
    store.upsert_records(db, "demands", [DEMAND])
    store.upsert_records(db, "supplies", [SUPPLY])
    proposal = {"demand_id": "D-001", "supply_id": "S-001", "score": 0.7, "dense": 0.8, "lexical": 0.6, "rank": 1,
                "reasons": {"shared_terms": ["轴承"]}}
    assert store.save_proposals(db, [proposal]) == 1
    first = store.get_proposal_for_pair(db, "D-001", "S-001")
    store.update_proposal(db, first["id"], {"generated_at": "2021-01-01T00:00:00"})
    assert store.save_proposals(db, [proposal]) == 0
    assert store.get_proposal_for_pair(db, "D-001", "S-001")["generated_at"] == "2021-01-01T00:00:00"
    store.save_proposals(db, [{**proposal, "score": 0.75}])
    rescored = store.get_proposal_for_pair(db, "D-001", "S-001")
    assert rescored["score"] == 0.75 and rescored["generated_at"] > "2021-01-01T00:00:00"
