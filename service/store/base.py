"""What every part of the store shares: transactions, timestamps, the Conflict error, row helpers."""
from __future__ import annotations

import datetime as dt
import json
from contextlib import contextmanager

import sqlite_utils

from ..errors import Conflict, NotFound  # noqa: F401  (the store's refusals, raised by its modules)


# visit_id links a demand to the visit it was found on: kept by the store, not part of the interchange format.
BOOKKEEPING = ("extra", "version", "updated_at", "visit_id")


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


@contextmanager
def snapshot(db: sqlite_utils.Database):
    """Reads that all see the store as it was at the first one (a WAL read transaction; writers go on)."""
    db.execute("BEGIN")
    try:
        yield db
    finally:
        db.execute("ROLLBACK")


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def _row_by_id(db: sqlite_utils.Database, select: str, id_column: str, row_id: int) -> dict | None:
    """The row `select` gives for one id, or None. An id from a URL can be any size; SQLite integers
    stop at 2**63 - 1, so a larger one is found nowhere."""
    if not -2**63 <= row_id < 2**63:
        return None
    rows = list(db.query(f"{select} where {id_column} = ?", [row_id]))
    return rows[0] if rows else None


NUMBER_COLUMNS = ("budget_wan", "price_wan", "amount_wan")


def _tidy_numbers(record: dict) -> dict:
    """SQLite REAL hands 30 back as 30.0; the lists write whole amounts as 30."""
    for column in NUMBER_COLUMNS:
        value = record.get(column)
        if isinstance(value, float) and value.is_integer():
            record[column] = int(value)
    return record


def _encode_row(record: dict, known: set[str], skip: tuple[str, ...] = ()) -> dict:
    """The row that stores `record`: its `known` columns, and every other key but `skip` as JSON in `extra`."""
    row = {key: record.get(key) for key in known}
    extra = {key: value for key, value in record.items() if key not in known and key not in skip}
    row["extra"] = json.dumps(extra, ensure_ascii=False) if extra else None
    return row


def _decode_row(row: dict) -> dict:
    """A stored row as the record it came from: whole amounts as int, the `extra` keys merged back."""
    record = _tidy_numbers({key: value for key, value in row.items() if key != "extra"})
    record.update(json.loads(row.get("extra") or "{}"))
    return record


def _public(record: dict | None) -> dict | None:
    """A record without the store's bookkeeping columns, as import/export sees it."""
    if record is None:
        return None
    return {key: value for key, value in record.items() if key not in BOOKKEEPING}


def _where_clause(conditions: list[str]) -> str:
    """The conditions joined into one WHERE clause (` where a and b`), or nothing when there are none."""
    return " where " + " and ".join(conditions) if conditions else ""


def _paged(sql: str, params: list, limit: int | None, offset: int) -> tuple[str, list]:
    """The query limited to one page of rows, or whole when limit is None."""
    if limit is None:
        return sql, params
    return sql + " limit ? offset ?", params + [limit, offset]
