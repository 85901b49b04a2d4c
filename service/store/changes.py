"""The change sequence: one row per demand or supply write, which every server process's engine follows.

    >>> from service.store import open_db, save_record
    >>> db = open_db(":memory:")
    >>> demand = {"id": "D1", "title": "注塑件缩痕", "description": "良品率低"}
    >>> saved = save_record(db, "demands", demand, "broker", create=True)
    >>> [(change["kind"], change["record_id"]) for change in changes_since(db, 0)]
    [('demands', 'D1')]
"""
from __future__ import annotations

import os

import sqlite_utils

from .base import now

CHANGES_KEPT = 100_000  # change rows kept; a follower further behind than this reloads everything


def record_change(db: sqlite_utils.Database, kind: str, record_id: str | None) -> int:
    """Note that a demand or supply was written (record_id None: many of them, as an import does), inside
    the writer's transaction so the change is seen exactly when the write is; origin is this process."""
    seq = db.execute("insert into changes (kind, record_id, origin, at) values (?, ?, ?, ?)",
                     [kind, record_id, os.getpid(), now()]).lastrowid
    if seq % 1000 == 0:
        db.execute("delete from changes where seq <= ?", [seq - CHANGES_KEPT])
    return seq


def last_change(db: sqlite_utils.Database) -> int:
    """The newest change's sequence number (0 before any)."""
    return db.execute("select coalesce(max(seq), 0) from changes").fetchone()[0]


def changes_since(db: sqlite_utils.Database, seq: int) -> list[dict]:
    """The changes after `seq`, oldest first; a first row further on than seq + 1 means some were pruned."""
    return list(db.query("select seq, kind, record_id, origin from changes where seq > ? order by seq", [seq]))


def data_version(db: sqlite_utils.Database) -> int:
    """SQLite's counter of commits by other connections: unchanged means nothing to read (a cheap poll)."""
    return db.execute("PRAGMA data_version").fetchone()[0]
