"""Themed matchmaking sessions (专题对接) with their agendas of pairs, and visits (双走进)."""
from __future__ import annotations

import json

import sqlite_utils

from .base import _row_by_id, _where_clause
from .proposals import _decode_proposal
from .records import _decode_record


SESSION_SELECT = """select s.*,
    (select count(*) from session_pairs p where p.session_id = s.id) as pair_count,
    (select count(*) from cooperations c where c.session_id = s.id) as cooperation_count
  from sessions s"""

SESSION_PAIR_SELECT = """select p.*, d.title as demand_title, d.enterprise, d.region, d.industry_cluster,
    s.title as supply_title, s.platform, c.id as cooperation_id
  from session_pairs p join demands d on d.id = p.demand_id join supplies s on s.id = p.supply_id
  left join cooperations c on c.demand_id = p.demand_id and c.supply_id = p.supply_id"""

VISIT_SELECT = """select v.*, (select count(*) from demands d where d.visit_id = v.id) as demand_count
  from visits v"""


def add_session(db: sqlite_utils.Database, session: dict) -> int:
    return db["sessions"].insert(session).last_pk


def get_session(db: sqlite_utils.Database, session_id: int) -> dict | None:
    return _row_by_id(db, SESSION_SELECT, "s.id", session_id)


def list_sessions(db: sqlite_utils.Database, month: str | None = None) -> list[dict]:
    """Sessions, latest date first, with how many pairs their agenda holds and cooperations they made."""
    clause, params = ("where substr(s.held_on, 1, 7) = ?", [month]) if month else ("", [])
    return list(db.query(f"{SESSION_SELECT} {clause} order by s.held_on desc, s.id desc", params))


def session_pairs(db: sqlite_utils.Database, session_id: int) -> list[dict]:
    """A session's agenda in order, with both records' titles and the cooperation a pair became, if any."""
    rows = db.query(f"{SESSION_PAIR_SELECT} where p.session_id = ? order by p.position, p.id", [session_id])
    return [_decode_proposal(row) for row in rows]


def get_session_pair(db: sqlite_utils.Database, pair_id: int) -> dict | None:
    row = _row_by_id(db, SESSION_PAIR_SELECT, "p.id", pair_id)
    return _decode_proposal(row) if row else None


def add_session_pair(db: sqlite_utils.Database, pair: dict) -> int:
    """Append a pair to an agenda; the UNIQUE index refuses the same pair twice in one session."""
    row = {**pair, "reasons": json.dumps(pair.get("reasons") or {}, ensure_ascii=False)}
    if row.get("position") is None:
        row["position"] = db.execute("select coalesce(max(position), 0) + 1 from session_pairs where session_id = ?",
                                     [pair["session_id"]]).fetchone()[0]
    return db["session_pairs"].insert(row).last_pk


def update_session_pair(db: sqlite_utils.Database, pair_id: int, changes: dict) -> None:
    db["session_pairs"].update(pair_id, changes)


def delete_session_pair(db: sqlite_utils.Database, pair_id: int) -> None:
    db.execute("delete from session_pairs where id = ?", [pair_id])


def link_cooperation_to_session(db: sqlite_utils.Database, cooperation_id: int, session_id: int) -> None:
    db.execute("update cooperations set session_id = ? where id = ?", [session_id, cooperation_id])


def add_visit(db: sqlite_utils.Database, visit: dict) -> int:
    return db["visits"].insert(visit).last_pk


def get_visit(db: sqlite_utils.Database, visit_id: int) -> dict | None:
    return _row_by_id(db, VISIT_SELECT, "v.id", visit_id)


def list_visits(db: sqlite_utils.Database, filters: dict | None = None) -> list[dict]:
    """Visits, latest first; filters: enterprise, partner, region, month (of visited_on)."""
    conditions, params = [], []
    for name in ("enterprise", "partner", "region"):
        if (filters or {}).get(name):
            conditions.append(f"v.{name} = ?")
            params.append(filters[name])
    if (filters or {}).get("month"):
        conditions.append("substr(v.visited_on, 1, 7) = ?")
        params.append(filters["month"])
    clause = _where_clause(conditions)
    return list(db.query(f"{VISIT_SELECT}{clause} order by v.visited_on desc, v.id desc", params))


def link_demand_to_visit(db: sqlite_utils.Database, demand_id: str, visit_id: int) -> None:
    db.execute("update demands set visit_id = ? where id = ?", [visit_id, demand_id])


def visit_demands(db: sqlite_utils.Database, visit_id: int) -> list[dict]:
    """The demands registered on a visit, in the order they were found."""
    return [_decode_record(row) for row in db.query("select * from demands where visit_id = ? order by id",
                                                     [visit_id])]


def session_figures_by(db: sqlite_utils.Database, month: str, column: str) -> list[dict]:
    """Per demand cluster (column="industry_cluster") or district ("region") in a month's sessions:
    sessions held, pairs discussed, cooperations the sessions made."""
    if column not in ("industry_cluster", "region"):
        raise ValueError(f"unknown column {column!r}")
    sql = f"""select coalesce(d.[{column}], '未填') as name, count(distinct s.id) as sessions,
        count(*) as pairs, count(distinct c.id) as cooperations
      from sessions s join session_pairs p on p.session_id = s.id join demands d on d.id = p.demand_id
      left join cooperations c on c.session_id = s.id and c.demand_id = p.demand_id and c.supply_id = p.supply_id
      where substr(s.held_on, 1, 7) = ? group by 1 order by pairs desc, name"""
    return list(db.query(sql, [month]))


def visit_figures_by(db: sqlite_utils.Database, month: str, column: str) -> list[dict]:
    """Per cluster or district of a month's visits: visits made and demands collected on them."""
    if column not in ("industry_cluster", "region"):
        raise ValueError(f"unknown column {column!r}")
    sql = f"""select coalesce(v.[{column}], '未填') as name, count(distinct v.id) as visits, count(d.id) as demands
      from visits v left join demands d on d.visit_id = v.id
      where substr(v.visited_on, 1, 7) = ? group by 1 order by visits desc, name"""
    return list(db.query(sql, [month]))
