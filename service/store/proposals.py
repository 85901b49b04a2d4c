"""Proposals, the decisions brokers and the two parties take on them, and the cooperations they become."""
from __future__ import annotations

import json

import sqlite_utils

from ..records import field_keys
from .audit import audit
from .base import _decode_row, _encode_row, _paged, _public, _row_by_id, _where_clause, now, transaction


# --- proposals and decisions ----------------------------------------------------------------------

OPEN_PROPOSAL_STATUSES = ("proposed", "unsure")

PROPOSAL_FIGURES = ("score", "dense", "lexical", "rank", "reasons")

PROPOSAL_SELECT = """select p.*, d.title as demand_title, d.enterprise, d.industry_cluster, d.region,
    d.posted_at as demand_posted_at, s.title as supply_title, s.platform,
    s.industry_cluster as supply_cluster
  from proposals p join demands d on d.id = p.demand_id join supplies s on s.id = p.supply_id"""

SEARCHED_COLUMNS = ("d.enterprise", "s.platform", "d.title", "s.title")

PROPOSAL_ORDERS = {"score": "(p.status = 'unsure'), p.score desc",
                   "score_asc": "p.score",
                   "date": "d.posted_at is null, d.posted_at desc, p.score desc",
                   "date_asc": "d.posted_at is null, d.posted_at, p.score desc"}


def save_proposals(db: sqlite_utils.Database, proposals: list[dict], rescore: bool = True) -> int:
    """Store the engine's proposals: new pairs are added, undecided ones rescored, decided ones kept.

    Each proposal: demand_id, supply_id, score, dense, lexical, rank, reasons. Returns how many are new.
    rescore=False only adds new pairs (scores found from the supply side are not the demand's).
    A pair whose figures are unchanged is left alone (generated_at stays the time they were produced),
    and when nothing changes no write lock is taken: a broker re-reading proposals does not write.
    """
    stamp = now()
    rows = []
    for proposal in proposals:
        row = {key: proposal[key] for key in ("demand_id", "supply_id", "score", "dense", "lexical", "rank")}
        row["reasons"] = json.dumps(proposal.get("reasons") or {}, ensure_ascii=False)
        row["generated_at"] = stamp
        rows.append(row)
    if not any(_proposal_change(db, row, rescore) for row in rows):
        return 0
    added = 0
    with transaction(db):
        for row in rows:
            change = _proposal_change(db, row, rescore)
            if change == "new":
                db["proposals"].insert({**row, "status": "proposed"})
                added += 1
            elif change is not None:
                db["proposals"].update(change, row)
    return added


def date_proposals_by_posting(db: sqlite_utils.Database) -> int:
    """Date every proposal on the day the later of its two records was posted; returns how many.

    Only for the demo, whose sample lists span a year: there proposals read as made when the pair
    first became possible, not all on the day the demo was built. A real run keeps generated_at.
    """
    with transaction(db):
        return db.execute(
            "update proposals set generated_at = (select max(d.posted_at, s.posted_at) || 'T00:00:00+00:00' "
            "from demands d, supplies s where d.id = proposals.demand_id and s.id = proposals.supply_id) "
            "where exists (select 1 from demands d, supplies s where d.id = proposals.demand_id "
            "and s.id = proposals.supply_id and d.posted_at <> '' and s.posted_at <> '')").rowcount


def _proposal_change(db: sqlite_utils.Database, row: dict, rescore: bool) -> str | int | None:
    """What saving this row would do: "new", the id of an undecided pair to rescore, or None."""
    existing = db.execute(f"select id, status, {', '.join(PROPOSAL_FIGURES)} from proposals "
                          "where demand_id = ? and supply_id = ?", [row["demand_id"], row["supply_id"]]).fetchone()
    if existing is None:
        return "new"
    if rescore and existing[1] == "proposed" and tuple(existing[2:]) != tuple(row[key] for key in PROPOSAL_FIGURES):
        return existing[0]
    return None


def get_proposal(db: sqlite_utils.Database, proposal_id: int) -> dict | None:
    row = _row_by_id(db, PROPOSAL_SELECT, "p.id", proposal_id)
    return _decode_proposal(row) if row else None


def get_proposal_for_pair(db: sqlite_utils.Database, demand_id: str, supply_id: str) -> dict | None:
    rows = list(db.query(f"{PROPOSAL_SELECT} where p.demand_id = ? and p.supply_id = ?", [demand_id, supply_id]))
    return _decode_proposal(rows[0]) if rows else None


def _proposal_where(filters: dict) -> tuple[str, list]:
    """Filters: statuses, demand_id, supply_id, enterprise, platform, cluster, region, month,
    min_score, max_score (exclusive), ids, search (words each found in an enterprise, platform or title)."""
    conditions, params = _pair_conditions(filters, "p", "d.posted_at")
    for word in (filters.get("search") or "").split():
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append("(" + " or ".join(f"{column} like ? escape '\\'" for column in SEARCHED_COLUMNS) + ")")
        params += [pattern] * len(SEARCHED_COLUMNS)
    if filters.get("min_score") is not None:
        conditions.append("p.score >= ?")
        params.append(filters["min_score"])
    if filters.get("max_score") is not None:
        conditions.append("p.score < ?")
        params.append(filters["max_score"])
    for name, column in (("statuses", "p.status"), ("ids", "p.id")):
        if filters.get(name) is not None:
            values = list(filters[name])
            conditions.append(f"{column} in ({','.join('?' * len(values))})" if values else "0")
            params += values
    return _where_clause(conditions), params


def list_proposals(db: sqlite_utils.Database, filters: dict | None = None, limit: int | None = None,
                   offset: int = 0, order: str = "score") -> list[dict]:
    """Proposals with both records' titles, best first ("unsure" ones after the undecided ones);
    order "score_asc" weakest first, "date" / "date_asc" by the demand's posting date, newest / oldest first."""
    clause, params = _proposal_where(filters or {})
    sql, params = _paged(f"{PROPOSAL_SELECT}{clause} order by {PROPOSAL_ORDERS[order]}, p.demand_id, p.supply_id",
                         params, limit, offset)
    return [_decode_proposal(row) for row in db.query(sql, params)]


def count_proposals(db: sqlite_utils.Database, filters: dict | None = None) -> int:
    clause, params = _proposal_where(filters or {})
    return db.execute(f"select count(*) from ({PROPOSAL_SELECT}{clause})", params).fetchone()[0]


def count_proposals_per_record(db: sqlite_utils.Database, column: str, record_ids: list[str],
                                filters: dict | None = None) -> dict[str, int]:
    """How many proposals (under `filters`) each of these demands or supplies has (column demand_id or
    supply_id), in one query: {record id: count}, records without any left out."""
    clause, params = _proposal_where(filters or {})
    marks = ",".join("?" * len(record_ids))
    sql = f"select {column}, count(*) from ({PROPOSAL_SELECT}{clause}) where {column} in ({marks}) group by {column}"
    return dict(db.execute(sql, [*params, *record_ids]).fetchall()) if record_ids else {}


def decided_pairs(db: sqlite_utils.Database, demand_id: str | None = None,
                  supply_id: str | None = None) -> set[tuple[str, str]]:
    """(demand, supply) pairs a person has already decided: they are never proposed again."""
    marks = ",".join("?" * len(OPEN_PROPOSAL_STATUSES))
    sql = f"select demand_id, supply_id from proposals where status not in ({marks})"
    params = list(OPEN_PROPOSAL_STATUSES)
    if demand_id:
        sql += " and demand_id = ?"
        params.append(demand_id)
    if supply_id:
        sql += " and supply_id = ?"
        params.append(supply_id)
    return {(row[0], row[1]) for row in db.execute(sql, params)}


def _decode_proposal(row: dict) -> dict:
    proposal = dict(row)
    proposal["reasons"] = json.loads(proposal["reasons"]) if proposal.get("reasons") else {}
    return proposal


def update_proposal(db: sqlite_utils.Database, proposal_id: int, changes: dict) -> None:
    db["proposals"].update(proposal_id, changes)


def add_decision(db: sqlite_utils.Database, decision: dict) -> int:
    """Keep one decision (proposal_id, demand_id, supply_id, action, from_status, to_status, actor, at, reason)."""
    return db["decisions"].insert(decision).last_pk


def last_decision(db: sqlite_utils.Database, proposal_id: int) -> dict | None:
    """The latest decision on a proposal that has not been undone."""
    rows = list(db.query("select * from decisions where proposal_id = ? and action = 'decide' and undone_at is null "
                         "order by id desc limit 1", [proposal_id]))
    return rows[0] if rows else None


def mark_decision_undone(db: sqlite_utils.Database, decision_id: int, at: str) -> None:
    db["decisions"].update(decision_id, {"undone_at": at})


def decisions_for(db: sqlite_utils.Database, kind: str | None = None, record_id: str | None = None,
                  proposal_id: int | None = None) -> list[dict]:
    """Every decision about a demand's, a supply's or one proposal's pairs, oldest first."""
    if proposal_id is not None:
        return list(db.query("select * from decisions where proposal_id = ? order by id", [proposal_id]))
    column = "demand_id" if kind == "demands" else "supply_id"
    return list(db.query(f"select * from decisions where {column} = ? order by id", [record_id]))


# --- cooperations: imported, or confirmed in the app ---------------------------------------------

COOPERATION_SELECT = """select c.*, d.title as demand_title, d.enterprise, d.industry_cluster, d.region,
    s.title as supply_title, s.platform
  from cooperations c join demands d on d.id = c.demand_id join supplies s on s.id = c.supply_id"""


def upsert_cooperations(db: sqlite_utils.Database, cooperations: list[dict], actor: str = "system",
                        progress=None) -> int:
    """Insert cooperations; an existing (demand, supply) pair is updated, never duplicated."""
    known = set(field_keys("cooperations"))
    with transaction(db):
        for cooperation in cooperations:
            row = _encode_row(cooperation, known)
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
    return _decode_row(rows[0]) if rows else None


def add_cooperation(db: sqlite_utils.Database, cooperation: dict) -> int:
    """Insert a cooperation; the UNIQUE (demand_id, supply_id) index refuses a second one for a pair."""
    return db["cooperations"].insert(cooperation).last_pk


def delete_cooperation(db: sqlite_utils.Database, cooperation_id: int) -> None:
    db.execute("delete from cooperations where id = ?", [cooperation_id])


def get_cooperation_by_id(db: sqlite_utils.Database, cooperation_id: int) -> dict | None:
    row = _row_by_id(db, COOPERATION_SELECT, "c.id", cooperation_id)
    return _decode_row(row) if row else None


def _cooperation_where(filters: dict) -> tuple[str, list]:
    conditions, params = _pair_conditions(filters, "c", "c.confirmed_at")
    return _where_clause(conditions), params


def _pair_conditions(filters: dict, pair: str, month_column: str) -> tuple[list[str], list]:
    """Filters shared by proposals and cooperations: both join one demand (d) and one supply (s)."""
    conditions, params = [], []
    simple = {"demand_id": f"{pair}.demand_id", "supply_id": f"{pair}.supply_id", "enterprise": "d.enterprise",
              "platform": "s.platform", "cluster": "d.industry_cluster", "region": "d.region"}
    for name, column in simple.items():
        if filters.get(name) not in (None, ""):
            conditions.append(f"{column} = ?")
            params.append(filters[name])
    if filters.get("month"):
        conditions.append(f"substr({month_column}, 1, 7) = ?")
        params.append(filters["month"])
    return conditions, params


def list_cooperations(db: sqlite_utils.Database, filters: dict | None = None, limit: int | None = None,
                      offset: int = 0, order: str = "c.confirmed_at desc, c.id desc") -> list[dict]:
    """Cooperations with both records' titles, newest first (`order`: an SQL order over c, d and s)."""
    clause, params = _cooperation_where(filters or {})
    sql, params = _paged(f"{COOPERATION_SELECT}{clause} order by {order}", params, limit, offset)
    return [_decode_row(row) for row in db.query(sql, params)]


def count_cooperations(db: sqlite_utils.Database, filters: dict | None = None) -> int:
    clause, params = _cooperation_where(filters or {})
    return db.execute(f"select count(*) from ({COOPERATION_SELECT}{clause})", params).fetchone()[0]


def busiest_party(db: sqlite_utils.Database, party: str) -> str | None:
    """The enterprise (or platform) with the most open proposals: a good account to show in a demo."""
    kind, column, key = ("demands", "enterprise", "demand_id") if party == "enterprise" else \
        ("supplies", "platform", "supply_id")
    row = db.execute(
        f"select r.[{column}], count(*) as n from proposals p join [{kind}] r on r.id = p.{key} "
        f"where p.status = 'proposed' and r.[{column}] is not null group by r.[{column}] "
        f"order by n desc, r.[{column}] limit 1").fetchone()
    return row[0] if row else None
