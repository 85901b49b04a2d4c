"""The audit log: who changed what, when, with the record before and after."""
from __future__ import annotations

import json

import sqlite_utils

from .base import _where_clause, now


def audit(db: sqlite_utils.Database, actor: str, action: str, entity: str, entity_id: str,
          before: dict | None, after: dict | None) -> None:
    """Record who changed what; called inside the caller's transaction."""
    db["audit_log"].insert(audit_entry(actor, action, entity, entity_id, before, after))


def audit_entry(actor: str, action: str, entity: str, entity_id: str, before: dict | None,
                after: dict | None) -> dict:
    """One audit_log row, for audit() or a batch insert."""
    return {
        "at": now(), "actor": actor, "action": action, "entity": entity, "entity_id": entity_id,
        "before": json.dumps(before, ensure_ascii=False, default=str) if before is not None else None,
        "after": json.dumps(after, ensure_ascii=False, default=str) if after is not None else None,
    }


def audit_entries(db: sqlite_utils.Database, entity: str | None = None, entity_id: str | None = None,
                  limit: int = 100, offset: int = 0, **filters) -> list[dict]:
    """Audit rows newest first, filtered by entity and id and by `filters` (see _audit_where)."""
    clause, params = _audit_where(entity, entity_id, **filters)
    rows = db.query(f"select * from audit_log{clause} order by id desc limit ? offset ?", params + [limit, offset])
    return [{**row, "before": json.loads(row["before"]) if row["before"] else None,
             "after": json.loads(row["after"]) if row["after"] else None} for row in rows]


def count_audit_entries(db: sqlite_utils.Database, entity: str | None = None, entity_id: str | None = None,
                        **filters) -> int:
    clause, params = _audit_where(entity, entity_id, **filters)
    return db.execute(f"select count(*) from audit_log{clause}", params).fetchone()[0]


def audit_values(db: sqlite_utils.Database, column: str) -> list[str]:
    """The actors or the actions the audit log holds, for the page's filters."""
    if column not in ("actor", "action"):
        raise ValueError(column)
    return [row[0] for row in db.execute(f"select distinct {column} from audit_log order by 1")]


def _audit_where(entity: str | None, entity_id: str | None, actor: str | None = None, action: str | None = None,
                 since: str | None = None, before: str | None = None) -> tuple[str, list]:
    """since / before: UTC ISO timestamps as `at` holds them (from inclusive, to exclusive)."""
    conditions, params = [], []
    for condition, value in (("entity = ?", entity), ("entity_id = ?", entity_id), ("actor = ?", actor),
                             ("action = ?", action), ("at >= ?", since), ("at < ?", before)):
        if value:
            conditions.append(condition)
            params.append(value)
    return _where_clause(conditions), params
