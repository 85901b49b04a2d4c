"""Learning runs (service/learning.py): one row per `matchmaker learn`, adopted or not; its id is the
model's version."""
from __future__ import annotations

import json

import sqlite_utils

from .base import transaction
from .changes import record_change

JSON_COLUMNS = ("model", "extent", "figures")


def add_ranker(db: sqlite_utils.Database, ranker: dict) -> int:
    """Keep one learning run: the model, its training data's extent and figures (dicts), whether it
    was adopted and why."""
    row = {**ranker, **{key: json.dumps(ranker.get(key), ensure_ascii=False) for key in JSON_COLUMNS}}
    with transaction(db):
        ranker_id = db["rankers"].insert(row).last_pk
        record_change(db, "rankers", None)  # the other server processes reload and rank with it too
        return ranker_id


def latest_ranker(db: sqlite_utils.Database) -> dict | None:
    """The latest learning run: the engine uses its model only if it was adopted."""
    rows = list(db.query("select * from rankers order by id desc limit 1"))
    return {**rows[0], **{key: json.loads(rows[0][key] or "null") for key in JSON_COLUMNS}} if rows else None
