"""The SQLite store: schema and named queries through sqlite-utils. The one place SQL lives.

    >>> db = open_db(":memory:")
    >>> upsert_records(db, "demands", [{"id": "D1", "title": "注塑件缩痕", "description": "良品率低"}])
    1
    >>> get_record(db, "demands", "D1")["title"]
    '注塑件缩痕'
"""
from __future__ import annotations

import datetime as dt
import json
import sqlite3
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import sqlite_utils

from .records import FIELDS, field_keys

JSON_COLUMNS = ("keywords", "extra", "reasons", "before", "after")
BOOKKEEPING = ("extra", "version", "updated_at")

RECORD_COLUMNS = {
    "demands": {
        "id": str, "title": str, "description": str, "enterprise": str, "industry_cluster": str,
        "industry_chain": str, "region": str, "keywords": str, "budget_wan": float,
        "cooperation_mode": str, "deadline": str, "contact": str, "status": str, "posted_at": str,
        "extra": str, "version": int, "updated_at": str,
    },
    "supplies": {
        "id": str, "title": str, "description": str, "platform": str, "industry_cluster": str,
        "industry_chain": str, "maturity": str, "ip": str, "keywords": str, "cooperation_mode": str,
        "price_wan": float, "contact": str, "posted_at": str,
        "extra": str, "version": int, "updated_at": str,
    },
}


def open_db(path: str | Path) -> sqlite_utils.Database:
    """Open (and create if needed) the database with WAL, foreign keys and the full schema."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    # Autocommit at the driver level: transactions are explicit (transaction() / db.atomic()).
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
    db = sqlite_utils.Database(conn)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA busy_timeout = 30000")
    if str(path) != ":memory:":
        db.enable_wal()
    ensure_schema(db)
    return db


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Create every table and index that is missing; existing data is left alone."""
    for kind, columns in RECORD_COLUMNS.items():
        db[kind].create(columns, pk="id", not_null={"title", "description"}, defaults={"version": 1},
                        if_not_exists=True)
        db[kind].create_index(["industry_cluster"], if_not_exists=True)
        db[kind].create_index(["posted_at"], if_not_exists=True)
    db["demands"].create_index(["region"], if_not_exists=True)
    db["demands"].create_index(["status"], if_not_exists=True)
    db["demands"].create_index(["enterprise"], if_not_exists=True)
    db["supplies"].create_index(["platform"], if_not_exists=True)
    db["cooperations"].create(
        {"id": int, "demand_id": str, "supply_id": str, "confirmed_at": str, "mode": str,
         "amount_wan": float, "broker": str, "note": str, "extra": str},
        pk="id", not_null={"demand_id", "supply_id"},
        foreign_keys=[("demand_id", "demands", "id"), ("supply_id", "supplies", "id")],
        if_not_exists=True,
    )
    db["cooperations"].create_index(["demand_id", "supply_id"], unique=True, if_not_exists=True)
    db["cooperations"].create_index(["confirmed_at"], if_not_exists=True)
    db["proposals"].create(
        {"id": int, "demand_id": str, "supply_id": str, "score": float, "dense": float,
         "lexical": float, "rank": int, "reasons": str, "status": str, "generated_at": str,
         "decided_by": str, "decided_at": str, "decision_note": str},
        pk="id", not_null={"demand_id", "supply_id"},
        foreign_keys=[("demand_id", "demands", "id"), ("supply_id", "supplies", "id")],
        defaults={"status": "proposed"}, if_not_exists=True,
    )
    db["proposals"].create_index(["demand_id", "supply_id"], unique=True, if_not_exists=True)
    db["proposals"].create_index(["status", "score"], if_not_exists=True)
    db["proposals"].create_index(["supply_id"], if_not_exists=True)
    db["users"].create(
        {"id": int, "name": str, "role": str, "org": str, "password_hash": str, "token_hash": str,
         "created_at": str},
        pk="id", not_null={"name", "role"}, if_not_exists=True,
    )
    db["users"].create_index(["name"], unique=True, if_not_exists=True)
    db["audit_log"].create(
        {"id": int, "at": str, "actor": str, "action": str, "entity": str, "entity_id": str,
         "before": str, "after": str},
        pk="id", if_not_exists=True,
    )
    db["audit_log"].create_index(["entity", "entity_id"], if_not_exists=True)
    db["embeddings"].create({"key": str, "vector": bytes}, pk="key", if_not_exists=True)


@contextmanager
def transaction(db: sqlite_utils.Database):
    """All-or-nothing: every write inside commits together or not at all.

    The outermost block takes the write lock up front (BEGIN IMMEDIATE) so two writers queue
    instead of failing on a lock upgrade; nested blocks become savepoints.
    """
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.rollback()
        raise
    db.execute("COMMIT")


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


# --- demands and supplies ---------------------------------------------------------------

def upsert_records(db: sqlite_utils.Database, kind: str, records: list[dict], actor: str = "system",
                   progress=None) -> int:
    """Insert or replace demands or supplies by id, one audit entry each; returns how many were written.

    Keys outside the record's fields go to the `extra` column and come back on read.
    """
    known = set(field_keys(kind))
    stamp = now()
    with transaction(db):
        for record in records:
            before = get_record(db, kind, record["id"])
            row = {key: record.get(key) for key in known}
            row["keywords"] = json.dumps(record.get("keywords") or [], ensure_ascii=False)
            extra = {key: value for key, value in record.items() if key not in known}
            row["extra"] = json.dumps(extra, ensure_ascii=False) if extra else None
            row["version"] = (before["version"] + 1) if before else 1
            row["updated_at"] = stamp
            db[kind].upsert(row, pk="id")
            audit(db, actor, "import" if before is None else "update", kind, record["id"], _public(before),
                  _public(record))
            if progress:
                progress(1)
    return len(records)


def get_record(db: sqlite_utils.Database, kind: str, record_id: str) -> dict | None:
    """One demand or supply as a record dict (extra keys merged back), or None."""
    rows = list(db.query(f"select * from [{kind}] where id = ?", [record_id]))
    return _decode_record(rows[0]) if rows else None


def list_records(db: sqlite_utils.Database, kind: str, where: dict | None = None,
                 search: str | None = None, limit: int | None = None, offset: int = 0,
                 order: str = "posted_at desc, id") -> list[dict]:
    """Records filtered by exact column values and an optional substring search, newest first."""
    clause, params = _where(kind, where, search)
    sql = f"select * from [{kind}]{clause} order by {order}"
    if limit is not None:
        sql += " limit ? offset ?"
        params += [limit, offset]
    return [_decode_record(row) for row in db.query(sql, params)]


def count_records(db: sqlite_utils.Database, kind: str, where: dict | None = None,
                  search: str | None = None) -> int:
    clause, params = _where(kind, where, search)
    return db.execute(f"select count(*) from [{kind}]{clause}", params).fetchone()[0]


def _where(kind: str, where: dict | None, search: str | None) -> tuple[str, list]:
    allowed = set(RECORD_COLUMNS.get(kind, {})) | {field.key for field in FIELDS[kind]}
    conditions, params = [], []
    for column, value in (where or {}).items():
        if value is None or value == "":
            continue
        if column == "month":
            conditions.append("substr(posted_at, 1, 7) = ?")
        elif column in allowed:
            conditions.append(f"[{column}] = ?")
        else:
            raise ValueError(f"unknown filter column {column!r}")
        params.append(value)
    if search:
        conditions.append("(title like ? or description like ? or keywords like ?)")
        params += [f"%{search}%"] * 3
    return (" where " + " and ".join(conditions) if conditions else ""), params


NUMBER_COLUMNS = ("budget_wan", "price_wan", "amount_wan")


def _tidy_numbers(record: dict) -> dict:
    """SQLite REAL hands 30 back as 30.0; the lists write whole amounts as 30."""
    for column in NUMBER_COLUMNS:
        value = record.get(column)
        if isinstance(value, float) and value.is_integer():
            record[column] = int(value)
    return record


def _decode_record(row: dict) -> dict:
    record = _tidy_numbers(dict(row))
    record["keywords"] = json.loads(record["keywords"]) if record.get("keywords") else []
    extra = json.loads(record.pop("extra") or "{}")
    record.update(extra)
    return record


def _public(record: dict | None) -> dict | None:
    """A record without the store's bookkeeping columns, as import/export sees it."""
    if record is None:
        return None
    return {key: value for key, value in record.items() if key not in BOOKKEEPING}


def export_records(db: sqlite_utils.Database, kind: str) -> list[dict]:
    """All records of a kind in id order, as the interchange format has them."""
    if kind == "cooperations":
        return [{key: value for key, value in _decode_cooperation(row).items() if key != "id"}
                for row in db.query("select * from cooperations order by demand_id, supply_id")]
    return [_public(record) for record in list_records(db, kind, order="id")]


def ids(db: sqlite_utils.Database, kind: str) -> set[str]:
    return {row[0] for row in db.execute(f"select id from [{kind}]")}


# --- cooperations -----------------------------------------------------------------------

def upsert_cooperations(db: sqlite_utils.Database, cooperations: list[dict], actor: str = "system",
                        progress=None) -> int:
    """Insert cooperations; an existing (demand, supply) pair is updated, never duplicated."""
    known = set(field_keys("cooperations"))
    with transaction(db):
        for cooperation in cooperations:
            row = {key: cooperation.get(key) for key in known}
            extra = {key: value for key, value in cooperation.items() if key not in known}
            row["extra"] = json.dumps(extra, ensure_ascii=False) if extra else None
            before = get_cooperation(db, row["demand_id"], row["supply_id"])
            if before:
                db["cooperations"].update(before["id"], row)
            else:
                db["cooperations"].insert(row)
            audit(db, actor, "import" if before is None else "update", "cooperations",
                  f"{row['demand_id']}→{row['supply_id']}", _public(before), _public(cooperation))
            if progress:
                progress(1)
    return len(cooperations)


def get_cooperation(db: sqlite_utils.Database, demand_id: str, supply_id: str) -> dict | None:
    rows = list(db.query("select * from cooperations where demand_id = ? and supply_id = ?",
                         [demand_id, supply_id]))
    return _decode_cooperation(rows[0]) if rows else None


def _decode_cooperation(row: dict) -> dict:
    cooperation = _tidy_numbers({key: value for key, value in row.items() if key != "extra"})
    cooperation.update(json.loads(row.get("extra") or "{}"))
    return cooperation


# --- audit log ----------------------------------------------------------------------------

def audit(db: sqlite_utils.Database, actor: str, action: str, entity: str, entity_id: str,
          before: dict | None, after: dict | None) -> None:
    """Record who changed what; called inside the caller's transaction."""
    db["audit_log"].insert({
        "at": now(), "actor": actor, "action": action, "entity": entity, "entity_id": entity_id,
        "before": json.dumps(before, ensure_ascii=False, default=str) if before is not None else None,
        "after": json.dumps(after, ensure_ascii=False, default=str) if after is not None else None,
    })


def audit_entries(db: sqlite_utils.Database, entity: str | None = None, entity_id: str | None = None,
                  limit: int = 100) -> list[dict]:
    where, params = [], []
    if entity:
        where.append("entity = ?")
        params.append(entity)
    if entity_id:
        where.append("entity_id = ?")
        params.append(entity_id)
    clause = " where " + " and ".join(where) if where else ""
    rows = db.query(f"select * from audit_log{clause} order by id desc limit ?", params + [limit])
    return [{**row, "before": json.loads(row["before"]) if row["before"] else None,
             "after": json.loads(row["after"]) if row["after"] else None} for row in rows]


# --- embedding cache ------------------------------------------------------------------------

class EmbeddingCache:
    """Embeddings keyed by model id, kind and text hash, so re-indexing embeds only what changed."""

    def __init__(self, db: sqlite_utils.Database):
        self.db = db

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        found = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, blob in self.db.execute(f"select key, vector from embeddings where key in ({marks})", chunk):
                found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with transaction(self.db):
            self.db["embeddings"].upsert_all(
                ({"key": key, "vector": np.asarray(vector, dtype=np.float32).tobytes()}
                 for key, vector in items.items()), pk="key")


def content_fingerprint(db: sqlite_utils.Database) -> str:
    """Changes whenever any demand or supply is written: the derived caches compare against it."""
    parts = []
    for kind in RECORD_COLUMNS:
        count, latest, versions = db.execute(
            f"select count(*), max(updated_at), total(version) from [{kind}]").fetchone()
        parts.append(f"{kind}:{count}:{latest}:{versions}")
    return "|".join(parts)
