"""The two lists: demands and supplies, imported or edited in the app, and their embedding and token caches."""
from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import sqlite_utils

from ..records import FIELDS, field_keys, id_prefix
from .audit import audit, audit_entry
from .changes import record_change
from .base import BOOKKEEPING, Conflict, NotFound, _decode_row, _encode_row, _paged, _public, _where_clause, now, transaction
from .schema import RECORD_COLUMNS


IMPORT_BATCH = 500
TEXTS_PAGE = 10_000  # records read at once by record_texts


def upsert_records(db: sqlite_utils.Database, kind: str, records: list[dict], actor: str = "system",
                   progress=None) -> int:
    """Insert or replace demands or supplies by id, one audit entry each; returns how many were written.

    Keys outside the record's fields go to the `extra` column and come back on read.
    """
    known = set(field_keys(kind))
    stamp = now()
    with transaction(db):
        current = records_by_id(db, kind, [record["id"] for record in records])
        rows, entries = [], []
        for record in records:
            before = current.get(record["id"])
            row = _record_row(record, known)
            row["version"] = (before["version"] + 1) if before else 1
            row["updated_at"] = stamp
            rows.append(row)
            entries.append(audit_entry(actor, "import" if before is None else "update", kind, record["id"],
                                       _public(before), _public(record)))
            current[record["id"]] = _decode_record(row)  # an id repeated later in the file updates this one
        # In batches, not row by row: a large import holds the write lock for a fraction of a second
        # per thousand rows instead of seconds, so the server's other writers are not kept waiting.
        for start in range(0, len(rows), IMPORT_BATCH):
            db[kind].upsert_all(rows[start:start + IMPORT_BATCH], pk="id")
            db["audit_log"].insert_all(entries[start:start + IMPORT_BATCH])
            if progress:
                progress(len(rows[start:start + IMPORT_BATCH]))
        if records:
            record_change(db, kind, None)  # a bulk write: the other processes reload the whole side
    return len(records)


def records_by_id(db: sqlite_utils.Database, kind: str, record_ids: list[str]) -> dict[str, dict]:
    """The stored demands or supplies among `record_ids`, by id."""
    found = {}
    unique = list(dict.fromkeys(record_ids))
    for start in range(0, len(unique), 500):
        chunk = unique[start:start + 500]
        for row in db.query(f"select * from [{kind}] where id in ({','.join('?' * len(chunk))})", chunk):
            found[row["id"]] = _decode_record(row)
    return found


def get_record(db: sqlite_utils.Database, kind: str, record_id: str) -> dict | None:
    """One demand or supply as a record dict (extra keys merged back), or None."""
    rows = list(db.query(f"select * from [{kind}] where id = ?", [record_id]))
    return _decode_record(rows[0]) if rows else None


def list_records(db: sqlite_utils.Database, kind: str, where: dict | None = None,
                 search: str | None = None, limit: int | None = None, offset: int = 0,
                 order: str = "posted_at desc, id") -> list[dict]:
    """Records filtered by exact column values and an optional substring search, newest first."""
    clause, params = _where(kind, where, search)
    sql, params = _paged(f"select * from [{kind}]{clause} order by {order}", params, limit, offset)
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
    return _where_clause(conditions), params


def _record_row(record: dict, known: set[str], skip: tuple[str, ...] = ()) -> dict:
    """The row that stores a demand or supply: keywords as a JSON list, keys outside its fields in `extra`."""
    row = _encode_row(record, known, skip)
    row["keywords"] = json.dumps(record.get("keywords") or [], ensure_ascii=False)
    return row


def _decode_record(row: dict) -> dict:
    record = _decode_row(row)
    record["keywords"] = json.loads(record["keywords"]) if record.get("keywords") else []
    return record


def export_records(db: sqlite_utils.Database, kind: str) -> list[dict]:
    """All records of a kind in id order, as the interchange format has them."""
    if kind == "cooperations":
        return [{key: value for key, value in _decode_row(row).items() if key != "id"}
                for row in db.query("select * from cooperations order by demand_id, supply_id")]
    return [_public(record) for record in list_records(db, kind, order="id")]


def record_texts(db: sqlite_utils.Database, kind: str) -> Iterator[dict]:
    """Each demand or supply's id and the text the engine indexes (title, keywords, description), in id
    order, read as the caller goes: a restart fingerprints a million records without holding them.

        >>> next(record_texts(db, "demands"))                                      # doctest: +SKIP
        {'id': 'D1', 'title': '注塑件缩痕', 'keywords': [], 'description': '良品率低'}
    """
    after = None
    while True:   # a page at a time, so no statement stays open while the caller writes (the token cache)
        rows = db.execute(f"select id, title, keywords, description from [{kind}]"
                          f"{'' if after is None else ' where id > ?'} order by id limit {TEXTS_PAGE}",
                          [] if after is None else [after]).fetchall()
        for record_id, title, keywords, description in rows:
            yield {"id": record_id, "title": title, "keywords": json.loads(keywords) if keywords else [],
                   "description": description}
        if len(rows) < TEXTS_PAGE:
            return
        after = rows[-1][0]


def ids(db: sqlite_utils.Database, kind: str) -> set[str]:
    return {row[0] for row in db.execute(f"select id from [{kind}]")}


def next_record_id(db: sqlite_utils.Database, kind: str, prefix: str) -> str:
    """The number after the highest one under `prefix`: D2021-001 first, then D2021-002 (D2021-1000 after 999).

    Call it inside the write transaction that inserts the record: the lock taken up front makes
    concurrent posts queue, so no two get the same number and none has to retry.
    """
    start = len(prefix) + 1
    # Ids starting with the prefix sort between it and the prefix with its last character incremented.
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    highest = db.execute(f"select max(cast(substr(id, ?) as integer)) from [{kind}] "
                         "where id > ? and id < ? and substr(id, ?) not glob '*[^0-9]*'",
                         [start, prefix, end, start]).fetchone()[0]
    return f"{prefix}{(highest or 0) + 1:03d}"


def save_record(db: sqlite_utils.Database, kind: str, record: dict, actor: str,
                expected_version: int | None = None, create: bool = False) -> dict:
    """Create or edit one demand or supply as a user does in the app; returns the stored record.

    create=True refuses an id in use, and numbers a record whose id is None (next_record_id);
    otherwise the record must exist at `expected_version`.
    """
    known = set(field_keys(kind))
    with transaction(db):
        if create and record.get("id") is None:
            record = {**record, "id": next_record_id(db, kind, id_prefix(kind, record.get("posted_at")))}
        before = get_record(db, kind, record["id"])
        if create and before is not None:
            raise Conflict("duplicate_id", f"编号「{record['id']}」已被使用")
        if not create:
            if before is None:
                raise NotFound("not_found", f"编号「{record['id']}」不存在")
            if expected_version is not None and before["version"] != expected_version:
                raise Conflict("stale_version", f"该记录已被他人修改（当前版本 {before['version']}），请刷新后重试")
        row = _record_row(record, known, skip=BOOKKEEPING)
        row["version"] = before["version"] + 1 if before else 1
        row["updated_at"] = now()
        if before is None:
            db[kind].insert(row)
        else:
            db[kind].update(record["id"], row)
        after = get_record(db, kind, record["id"])
        audit(db, actor, "create" if before is None else "update", kind, record["id"], _public(before),
              _public(after))
        record_change(db, kind, record["id"])
    return after


def delete_record(db: sqlite_utils.Database, kind: str, record_id: str, actor: str,
                  expected_version: int | None = None) -> None:
    """Delete a demand or supply and its open proposals; refused while a cooperation or a session agenda names it."""
    column = "demand_id" if kind == "demands" else "supply_id"
    with transaction(db):
        before = get_record(db, kind, record_id)
        if before is None:
            raise NotFound("not_found", f"编号「{record_id}」不存在")
        if expected_version is not None and before["version"] != expected_version:
            raise Conflict("stale_version", f"该记录已被他人修改（当前版本 {before['version']}），请刷新后重试")
        if db.execute(f"select count(*) from cooperations where {column} = ?", [record_id]).fetchone()[0]:
            raise Conflict("record_in_use", "该记录已有合作，不能删除")
        agendas = _agendas_holding(db, column, record_id)
        if agendas:
            raise Conflict("record_in_use", f"该记录在{agendas}的议程上，不能删除；请先从议程中移除")
        db.execute(f"delete from proposals where {column} = ?", [record_id])
        db.execute(f"delete from [{kind}] where id = ?", [record_id])
        audit(db, actor, "delete", kind, record_id, _public(before), None)
        record_change(db, kind, record_id)


def _agendas_holding(db: sqlite_utils.Database, column: str, record_id: str, shown: int = 3) -> str | None:
    """The sessions whose agenda names a record, as Chinese text: 专题对接会「…」（2021-06-18，编号 3）."""
    rows = list(db.query(f"select distinct s.id, s.title, s.held_on from session_pairs p join sessions s "
                         f"on s.id = p.session_id where p.{column} = ? order by s.held_on, s.id", [record_id]))
    if not rows:
        return None
    names = "、".join(f"专题对接会「{row['title']}」（{row['held_on']}，编号 {row['id']}）" for row in rows[:shown])
    return names + (f"等 {len(rows)} 场对接会" if len(rows) > shown else "")


def distinct_values(db: sqlite_utils.Database, kind: str, column: str) -> list[str]:
    """The values a column takes, sorted, blanks left out; column "month" means posted_at's YYYY-MM.

    >>> distinct_values(db, "demands", "region")    # doctest: +SKIP
    ['文登区', '环翠区']
    """
    if column == "month":
        expression = "substr(posted_at, 1, 7)"
    elif column in RECORD_COLUMNS.get(kind, {}):
        expression = f"[{column}]"
    else:
        raise ValueError(f"unknown column {column!r}")
    sql = f"select distinct {expression} from [{kind}] where coalesce({expression}, '') != '' order by 1"
    return [row[0] for row in db.execute(sql)]


class EmbeddingCache:
    """Embeddings keyed by model id, kind and text hash, so re-indexing embeds only what changed."""

    def __init__(self, db: sqlite_utils.Database):
        self.db = db

    def get_many(self, keys: list[str], dtype=np.float32) -> dict[str, np.ndarray]:
        found = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, blob in self.db.execute(f"select key, vector from embeddings where key in ({marks})", chunk):
                found[key] = np.frombuffer(blob, dtype=dtype)
        return found

    def put_many(self, items: dict[str, np.ndarray], dtype=np.float32) -> None:
        with transaction(self.db):
            self.db["embeddings"].upsert_all(
                ({"key": key, "vector": np.asarray(vector, dtype=dtype).tobytes()}
                 for key, vector in items.items()), pk="key")


class TokenCache:
    """Each record's BM25 tokens, keyed by tokenizer version and text hash, so a restart runs no jieba.

        >>> cache = TokenCache(db)                                       # doctest: +SKIP
        >>> cache.put_many({"v1:ab12": "碳纤维 预浸料\\n\\n制备"})          # doctest: +SKIP
        >>> cache.get_many(["v1:ab12", "v1:cd34"])                       # doctest: +SKIP
        {'v1:ab12': '碳纤维 预浸料\\n\\n制备'}
    """

    def __init__(self, db: sqlite_utils.Database):
        self.db = db

    def get_many(self, keys: list[str]) -> dict[str, str]:
        found = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(self.db.execute(f"select key, fields from tokens where key in ({marks})", chunk).fetchall())
        return found

    def put_many(self, items: dict[str, str]) -> None:
        with transaction(self.db):
            self.db.conn.executemany("insert or replace into tokens (key, fields) values (?, ?)", items.items())
