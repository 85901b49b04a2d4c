"""Counts across the lists: the headline figures pages show, the raw facts of the monthly report
(service/reports.py turns them into figures)."""
from __future__ import annotations

import sqlite_utils

from ..records import OPEN_DEMAND_STATUSES


def headline_counts(db: sqlite_utils.Database) -> dict:
    """The two lists' headline figures: records, open demands, cooperations, proposals by status."""
    open_marks = ",".join("?" * len(OPEN_DEMAND_STATUSES))
    counts = {
        "demands": db.execute("select count(*) from demands").fetchone()[0],
        "open_demands": db.execute(f"select count(*) from demands where coalesce(status, '征集中') in ({open_marks})",
                                   list(OPEN_DEMAND_STATUSES)).fetchone()[0],
        "supplies": db.execute("select count(*) from supplies").fetchone()[0],
        "cooperations": db.execute("select count(*) from cooperations").fetchone()[0],
        "matched_demands": db.execute("select count(distinct demand_id) from cooperations").fetchone()[0],
        "matched_supplies": db.execute("select count(distinct supply_id) from cooperations").fetchone()[0],
    }
    counts["proposals"] = {status: count for status, count in
                           db.execute("select status, count(*) from proposals group by status")}
    return counts


def report_facts(db: sqlite_utils.Database) -> dict[str, list[dict]]:
    """Every dated event the match-rate report counts, each with its cluster, district and platform.

    >>> sorted(report_facts(db))    # doctest: +SKIP
    ['cooperations', 'decisions', 'demands', 'proposals', 'supplies']
    """
    return {
        "demands": list(db.query("select id, title, industry_cluster, region, status, posted_at from demands")),
        "supplies": list(db.query("select id, industry_cluster, platform, posted_at from supplies")),
        "proposals": list(db.query(
            "select p.demand_id, p.supply_id, p.generated_at, d.industry_cluster, d.region, s.platform "
            "from proposals p join demands d on d.id = p.demand_id join supplies s on s.id = p.supply_id")),
        # Undone decisions and the undo rows themselves are not reviews.
        "decisions": list(db.query(
            "select x.demand_id, x.supply_id, x.to_status, x.at, d.industry_cluster, d.region, s.platform "
            "from decisions x left join demands d on d.id = x.demand_id left join supplies s on s.id = x.supply_id "
            "where x.action = 'decide' and x.undone_at is null order by x.at, x.id")),
        "cooperations": list(db.query(
            "select c.demand_id, c.supply_id, c.confirmed_at, c.amount_wan, d.industry_cluster, d.region, "
            "d.posted_at as demand_posted_at, s.platform "
            "from cooperations c join demands d on d.id = c.demand_id join supplies s on s.id = c.supply_id")),
    }
