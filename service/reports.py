"""The monthly match-rate report: the one place that defines every figure, and its renderings.

A report is plain data (the JSON the API serves); HTML and XLSX are drawn from that same dict, the
workbook by service/report_workbook.py (which reads the figures' definitions from here); the
JSON's schema is service/report_schema.py:

    >>> report = monthly_report(db, "2021-12")                     # doctest: +SKIP
    >>> report["ytd"]["cooperations"], report["ytd"]["new_demands"]  # doctest: +SKIP
    (73, 227)

Counting rules (README.md, 报告, says the same in Chinese):
- Every figure counts events dated inside a window: the month, the previous month, or the year to
  date (1 January to the month's end). Dates are the records' own: a demand's posted_at, a supply's
  posted_at, a proposal's generated_at, a decision's time, a cooperation's confirmed_at.
- A cooperation imported without proposal or decision history went through review outside the
  system: it counts as reviewed, recommended and confirmed, all on its confirmation date.
- Breakdowns attribute a demand-side event to the demand's cluster and district, a pair (proposal,
  review, cooperation) to its demand's cluster and district and to its supply's platform, and a
  supply to its own cluster and platform. A figure with no meaning for a breakdown is null there.
"""
from __future__ import annotations

import calendar
import datetime as dt
import logging
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from . import store
from .records import INDUSTRY_CLUSTERS

log = logging.getLogger(__name__)

MONTH = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")  # ASCII digits: \d would take "٢٠٢١-03" too
# The report looks back a year (trend, previous month) and dates end at 9999; before 1900 is a typo.
FIRST_MONTH, LAST_MONTH = (1900, 1), (9999, 12)
# The months parse_month accepts, FIRST_MONTH to LAST_MONTH, as one pattern (for the OpenAPI document).
MONTH_IN_RANGE = r"^(19[0-9]{2}|[2-9][0-9]{3})-(0[1-9]|1[0-2])$"
CLOSED = "已关闭"
UNSET = "未填写"
TREND_MONTHS = 12


class ReportError(ValueError):
    """A report that cannot be made (a malformed month); the message is Chinese, for the user."""


@dataclass(frozen=True)
class Figure:
    key: str
    name: str
    unit: str          # count | rate | days | amount
    definition: str    # the Chinese definition printed with the report and in README.md


FIGURES = (
    Figure("new_demands", "新增需求", "count", "发布日期（posted_at）在统计期内的技术需求数。"),
    Figure("open_demands", "开放需求", "count",
           "统计期末已发布、截至期末尚无已确认合作、且当前状态不是“已关闭”的需求数（关闭没有日期，已关闭的需求各期都不计）。"),
    Figure("new_supplies", "新增成果", "count", "发布日期在统计期内的科技成果数。"),
    Figure("proposals_generated", "生成推荐", "count", "引擎在统计期内生成（最近一次打分，generated_at）的推荐对数。"),
    Figure("proposals_reviewed", "已审核", "count",
           "统计期内首次得到技术经纪人结论（推荐或否决，未撤销）的推荐对数；没有审核记录的导入合作按确认日期计为已审核。"),
    Figure("recommended", "已推荐", "count", "统计期内被推荐（未撤销）的推荐对数；没有审核记录的导入合作按确认日期计为已推荐。"),
    Figure("rejected", "已否决", "count", "统计期内被否决（未撤销）的推荐对数。"),
    Figure("cooperations", "确认合作", "count", "确认日期（confirmed_at）在统计期内的合作数；一项需求可有多项合作，逐项计。"),
    Figure("amount_wan", "合同金额（万元）", "amount", "统计期内确认合作的合同金额之和。"),
    Figure("matched_demands", "达成合作的需求", "count", "统计期内至少确认一项合作的不同需求数。"),
    Figure("match_rate", "匹配率", "rate",
           "达成合作的需求 ÷ 新增需求（同一统计期）。两者都按统计期计，单月可能超过 100%；年度累计是主指标。"),
    Figure("precision", "推荐精确率", "rate", "确认合作 ÷ 已审核（同一统计期）。"),
    Figure("days_to_recommendation", "发布至首次推荐（中位天数）", "days",
           "首次推荐落在统计期内的需求，从发布日期到首次推荐的天数的中位数。"),
    Figure("days_to_cooperation", "发布至合作（中位天数）", "days",
           "首次合作落在统计期内的需求，从发布日期到首次确认合作的天数的中位数。"),
)
FIGURE_KEYS = tuple(figure.key for figure in FIGURES)

ACTIVITY_KEYS = ("sessions_held", "pairs_discussed", "session_cooperations", "visits_made", "demands_collected")
ACTIVITY_NAMES = {"sessions_held": "专题对接会", "pairs_discussed": "上会对接", "session_cooperations": "对接会促成合作",
                  "visits_made": "双走进走访", "demands_collected": "走访收集需求"}


DIMENSIONS = {"cluster": "产业集群", "platform": "平台", "region": "所在区市"}
# Which event lists carry which breakdown: a demand has no platform, a supply no district.
CARRIES = {
    "demands": ("cluster", "region"),
    "supplies": ("cluster", "platform"),
    "proposals": ("cluster", "region", "platform"),
    "reviews": ("cluster", "region", "platform"),
    "cooperations": ("cluster", "region", "platform"),
}
NEEDS = {
    "new_demands": ("demands",), "open_demands": ("demands",), "new_supplies": ("supplies",),
    "proposals_generated": ("proposals",), "proposals_reviewed": ("reviews",), "recommended": ("reviews",),
    "rejected": ("reviews",), "cooperations": ("cooperations",), "amount_wan": ("cooperations",),
    "matched_demands": ("cooperations",), "match_rate": ("demands", "cooperations"),
    "precision": ("reviews", "cooperations"), "days_to_recommendation": ("reviews",),
    "days_to_cooperation": ("cooperations",),
}


def applies(key: str, dimension: str) -> bool:
    """Does a figure mean something per group of this breakdown (match rate per platform does not)?"""
    return all(dimension in CARRIES[name] for name in NEEDS[key])


# --- months -------------------------------------------------------------------------------------

def parse_month(text: str | None) -> tuple[int, int]:
    """'2021-12' → (2021, 12); anything else raises ReportError with a Chinese message."""
    match = MONTH.match((text or "").strip())
    if not match:
        raise ReportError(f"月份「{text or ''}」格式有误，应为 YYYY-MM，如 2021-12")
    year_month = int(match.group(1)), int(match.group(2))
    if not FIRST_MONTH <= year_month <= LAST_MONTH:
        raise ReportError(f"月份「{text.strip()}」超出范围，应在 {month_key(*FIRST_MONTH)} 至 {month_key(*LAST_MONTH)} 之间")
    return year_month


def month_key(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def shift(year: int, month: int, months: int) -> tuple[int, int]:
    """(2021, 1) shifted by -1 → (2020, 12)."""
    index = year * 12 + month - 1 + months
    return index // 12, index % 12 + 1


def month_window(year: int, month: int) -> tuple[str, str]:
    """First and last day of a month as ISO dates."""
    last = calendar.monthrange(year, month)[1]
    return f"{year:04d}-{month:02d}-01", f"{year:04d}-{month:02d}-{last:02d}"


def ytd_window(year: int, month: int) -> tuple[str, str]:
    return f"{year:04d}-01-01", month_window(year, month)[1]


# --- events ----------------------------------------------------------------------------------------

def _day(value) -> str | None:
    return str(value)[:10] if value else None


def _groups(row: dict) -> dict:
    return {"cluster": row.get("industry_cluster") or UNSET, "region": row.get("region") or UNSET,
            "platform": row.get("platform") or UNSET}


def events_from(facts: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The store's rows as dated events; review events merge decisions with imported cooperations.

    A review event is one (demand, supply) pair with the dates it was first reviewed, recommended and
    rejected. A pair confirmed with no decision recorded (imported) is reviewed and recommended on
    its confirmation date.
    """
    first_cooperation: dict[str, str] = {}
    for row in facts["cooperations"]:
        day = _day(row["confirmed_at"])
        if day and (row["demand_id"] not in first_cooperation or day < first_cooperation[row["demand_id"]]):
            first_cooperation[row["demand_id"]] = day
    posted = {row["id"]: _day(row["posted_at"]) for row in facts["demands"]}
    demands = [{"date": _day(row["posted_at"]), "demand_id": row["id"], "closed": row.get("status") == CLOSED,
                "matched_on": first_cooperation.get(row["id"]), **_groups(row)} for row in facts["demands"]]
    supplies = [{"date": _day(row["posted_at"]), **_groups(row)} for row in facts["supplies"]]
    proposals = [{"date": _day(row["generated_at"]), **_groups(row)} for row in facts["proposals"]]
    reviews: dict[tuple[str, str], dict] = {}
    for row in facts["decisions"]:
        if row["to_status"] not in ("recommended", "rejected"):
            continue
        pair = (row["demand_id"], row["supply_id"])
        review = reviews.setdefault(pair, {"date": _day(row["at"]), "demand_id": row["demand_id"],
                                           "posted": posted.get(row["demand_id"]), "recommended": None,
                                           "rejected": None, **_groups(row)})
        review[row["to_status"]] = review[row["to_status"]] or _day(row["at"])
    cooperations = []
    for row in facts["cooperations"]:
        pair = (row["demand_id"], row["supply_id"])
        day = _day(row["confirmed_at"])
        if pair not in reviews and day:
            reviews[pair] = {"date": day, "demand_id": row["demand_id"], "posted": _day(row["demand_posted_at"]),
                             "recommended": day, "rejected": None, **_groups(row)}
        cooperations.append({"date": day, "demand_id": row["demand_id"], "amount_wan": row["amount_wan"] or 0,
                             "posted": _day(row["demand_posted_at"]), **_groups(row)})
    return {"demands": demands, "supplies": supplies, "proposals": proposals,
            "reviews": list(reviews.values()), "cooperations": cooperations}


def subset(events: dict[str, list[dict]], dimension: str, value: str) -> dict[str, list[dict] | None]:
    """The events of one group; a list that does not carry the dimension becomes None (not applicable)."""
    return {name: ([event for event in rows if event[dimension] == value]
                   if dimension in CARRIES[name] else None) for name, rows in events.items()}


# --- the figures -------------------------------------------------------------------------------------

def _within(rows: list[dict], start: str, end: str, key: str = "date") -> list[dict]:
    return [row for row in rows if row.get(key) and start <= row[key] <= end]


def _days(later: str, earlier: str | None) -> int | None:
    if not earlier:
        return None
    return (dt.date.fromisoformat(later) - dt.date.fromisoformat(earlier)).days


def _median_days(rows: list[dict], key: str, start: str, end: str) -> float | None:
    """Median days from posting to each demand's first `key` event, over demands whose first one is in the window."""
    first: dict[str, dict] = {}
    for row in rows:
        day = row.get(key)
        if day and (row["demand_id"] not in first or day < first[row["demand_id"]][key]):
            first[row["demand_id"]] = row
    days = [_days(row[key], row["posted"]) for row in first.values() if start <= row[key] <= end]
    days = [value for value in days if value is not None]
    return float(statistics.median(days)) if days else None


def _ratio(numerator, denominator) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 4)


def match_rate(matched_demands: int | None, demands: int | None) -> float | None:
    """Demands with a cooperation over demands, to four places; None (shown as —) without demands.

    >>> match_rate(3, 8), match_rate(0, 0)
    (0.375, None)
    """
    return _ratio(matched_demands, demands)


def headline_figures(db) -> dict:
    """The two lists' headline figures (store.headline_counts) with the match rate over every demand:
    the home page's figures and GET /reports/summary."""
    counts = store.headline_counts(db)
    return {**counts, "match_rate": match_rate(counts["matched_demands"], counts["demands"])}


def figures(events: dict[str, list[dict] | None], start: str, end: str) -> dict:
    """Every figure over [start, end] (ISO dates, inclusive); null where the events do not apply.

    >>> figures(events_from(store.report_facts(db)), "2021-01-01", "2021-12-31")["cooperations"]  # doctest: +SKIP
    73
    """
    demands, supplies, proposals = events["demands"], events["supplies"], events["proposals"]
    reviews, cooperations = events["reviews"], events["cooperations"]
    values: dict = {}
    if demands is not None:
        values["new_demands"] = len(_within(demands, start, end))
        values["open_demands"] = sum(1 for row in demands if row["date"] and row["date"] <= end and not row["closed"]
                                     and not (row["matched_on"] and row["matched_on"] <= end))
    if supplies is not None:
        values["new_supplies"] = len(_within(supplies, start, end))
    if proposals is not None:
        values["proposals_generated"] = len(_within(proposals, start, end))
    if reviews is not None:
        values["proposals_reviewed"] = len(_within(reviews, start, end))
        values["recommended"] = len(_within(reviews, start, end, "recommended"))
        values["rejected"] = len(_within(reviews, start, end, "rejected"))
        values["days_to_recommendation"] = _median_days(reviews, "recommended", start, end)
    if cooperations is not None:
        confirmed = _within(cooperations, start, end)
        values["cooperations"] = len(confirmed)
        values["amount_wan"] = round(sum(row["amount_wan"] for row in confirmed), 2)
        values["matched_demands"] = len({row["demand_id"] for row in confirmed})
        values["days_to_cooperation"] = _median_days(cooperations, "date", start, end)
    if demands is not None and cooperations is not None:
        values["match_rate"] = match_rate(values["matched_demands"], values["new_demands"])
    if reviews is not None and cooperations is not None:
        values["precision"] = _ratio(values["cooperations"], values["proposals_reviewed"])
    return {key: values.get(key) for key in FIGURE_KEYS}


def change(current: dict, previous: dict) -> dict:
    """Month-on-month change of each figure (rates in fractions, so 0.05 is five percentage points)."""
    out = {}
    for key in FIGURE_KEYS:
        a, b = current.get(key), previous.get(key)
        out[key] = None if a is None or b is None else round(a - b, 4)
    return out


# --- the report --------------------------------------------------------------------------------------

def gaps_from_engine(engine, threshold: float | None = None) -> dict:
    """The engine's gap list, as monthly_report takes it: {"threshold", "items"}; threshold None is
    the gap model's list (the default everywhere), a number a best-score line."""
    return {"threshold": threshold, "items": engine.gaps(threshold)}


def gaps_if_available(live_index) -> dict | None:
    """The app's engine's gap list, or None when the engine cannot load: the figures do not need it."""
    try:
        return gaps_from_engine(live_index.engine())
    except Exception:  # a report must still print without the index; the page says the list is missing
        log.exception("gap list unavailable for the report")
        return None


def monthly_report(db, month: str, gaps: dict | None = None) -> dict:
    """The report for month YYYY-MM as plain data (REPORT_SCHEMA describes it).

    gaps: {"threshold", "items": [{"demand_id", "best_score", ...}]} from gaps_from_engine(), or None
    when no engine is at hand; the report then says the gap list was not computed.
    """
    year, number = parse_month(month)
    facts = store.report_facts(db)
    events = events_from(facts)
    windows = _windows(year, number)
    report = {
        "month": month_key(year, number),
        "generated_at": store.now(),
        "windows": {name: {"start": start, "end": end} for name, (start, end) in windows.items()},
        "definitions": [{"key": f.key, "name": f.name, "unit": f.unit, "definition": f.definition} for f in FIGURES],
        **_block(events, windows),
        "trend": _trend(events, year, number),
    }
    gap_block = _gaps(facts, gaps)
    report["breakdowns"] = {dimension: {"name": name, "groups": _breakdown(events, dimension, windows, year, number,
                                                                            gap_block)}
                            for dimension, name in DIMENSIONS.items()}
    report["heatmap"] = _heatmap(events, windows["ytd"])
    report["platforms"] = _platform_view(facts, events, windows["ytd"])
    report["gaps"] = gap_block
    report["activities"] = _activities(db, report["month"])
    return report


def _activities(db, month: str) -> dict:
    """The month's 专题对接 sessions and 双走进 visits, as service/sessions.py counts them."""
    from .sessions import session_figures
    counted = session_figures(db, month)
    return {**{key: counted[key] for key in ACTIVITY_KEYS},
            "sessions": [{key: session[key] for key in ("title", "held_on", "pair_count", "cooperation_count")}
                         for session in counted["per_session"]]}


def _windows(year: int, month: int) -> dict[str, tuple[str, str]]:
    return {"month": month_window(year, month), "previous": month_window(*shift(year, month, -1)),
            "ytd": ytd_window(year, month)}


def _block(events: dict, windows: dict) -> dict:
    """Month, previous month, change and year to date for one set of events."""
    current = figures(events, *windows["month"])
    previous = figures(events, *windows["previous"])
    return {"current": current, "previous": previous, "change": change(current, previous),
            "ytd": figures(events, *windows["ytd"])}


def _trend(events: dict, year: int, month: int) -> list[dict]:
    """The twelve months ending with the report's month, oldest first, each with its year-to-date match rate."""
    points = []
    for back in range(TREND_MONTHS - 1, -1, -1):
        y, m = shift(year, month, -back)
        points.append({"month": month_key(y, m), "figures": figures(events, *month_window(y, m)),
                       "ytd_match_rate": figures(events, *ytd_window(y, m))["match_rate"]})
    return points


def _group_keys(events: dict, dimension: str) -> list[str]:
    """The groups of a breakdown: the seven clusters in their fixed order, others by name; blanks last."""
    seen = {event[dimension] for name, rows in events.items() if dimension in CARRIES[name] for event in rows}
    ordered = [cluster for cluster in INDUSTRY_CLUSTERS if cluster in seen] if dimension == "cluster" else []
    ordered += sorted(seen - set(ordered) - {UNSET})
    return ordered + ([UNSET] if UNSET in seen else [])


def _breakdown(events: dict, dimension: str, windows: dict, year: int, month: int, gap_block: dict) -> list[dict]:
    groups = []
    gap_counts = gap_block.get(f"by_{dimension}") if gap_block["available"] else None
    for key in _group_keys(events, dimension):
        part = subset(events, dimension, key)
        groups.append({"key": key, **_block(part, windows), "trend": [
            {"month": month_key(y, m), "figures": figures(part, *month_window(y, m))}
            for y, m in (shift(year, month, -back) for back in range(TREND_MONTHS - 1, -1, -1))],
            "gaps": None if gap_counts is None else gap_counts.get(key, 0)})
    return groups


def _heatmap(events: dict, window: tuple[str, str]) -> dict:
    """Year-to-date match rate for every cluster × district cell."""
    clusters, regions = _group_keys(events, "cluster"), _group_keys(events, "region")
    cells = []
    for cluster in clusters:
        row = []
        for region in regions:
            part = subset(subset(events, "cluster", cluster), "region", region)
            values = figures(part, *window)
            row.append({"new_demands": values["new_demands"], "matched_demands": values["matched_demands"],
                        "match_rate": values["match_rate"]})
        cells.append(row)
    return {"rows": clusters, "columns": regions, "cells": cells}


def _platform_view(facts: dict, events: dict, window: tuple[str, str]) -> list[dict]:
    """Per platform, for the annual evaluation: supplies listed, proposals, recommendations, cooperations, amounts."""
    start, end = window
    rows = []
    for platform in _group_keys(events, "platform"):
        part = subset(events, "platform", platform)
        values = figures(part, start, end)
        listed = sum(1 for row in part["supplies"] if row["date"] and row["date"] <= end)
        rows.append({"platform": platform, "supplies_listed": listed, "new_supplies": values["new_supplies"],
                     "proposals": values["proposals_generated"], "recommended": values["recommended"],
                     "cooperations": values["cooperations"], "amount_wan": values["amount_wan"],
                     "demands_served": values["matched_demands"], "precision": values["precision"]})
    return sorted(rows, key=lambda row: (-row["cooperations"], -row["amount_wan"], row["platform"]))


def _gaps(facts: dict, gaps: dict | None) -> dict:
    if gaps is None:
        return {"available": False, "threshold": None, "items": [], "by_cluster": {}, "by_region": {}}
    demands = {row["id"]: row for row in facts["demands"]}
    items = []
    for gap in gaps.get("items", []):
        demand = demands.get(gap["demand_id"], {})
        items.append({"demand_id": gap["demand_id"], "title": demand.get("title") or gap.get("title") or "",
                      "industry_cluster": demand.get("industry_cluster") or UNSET,
                      "region": demand.get("region") or UNSET, "best_score": round(float(gap["best_score"]), 4),
                      "best_supply_id": gap.get("best_supply_id")})
    by_cluster: dict[str, int] = {}
    by_region: dict[str, int] = {}
    for item in items:
        by_cluster[item["industry_cluster"]] = by_cluster.get(item["industry_cluster"], 0) + 1
        by_region[item["region"]] = by_region.get(item["region"], 0) + 1
    return {"available": True, "threshold": gaps.get("threshold"), "items": items, "by_cluster": by_cluster,
            "by_region": by_region}


# --- how a figure reads ---------------------------------------------------------------------------------

UNITS = {figure.key: figure.unit for figure in FIGURES}


def shown(key: str, value) -> str:
    """A figure as the report prints it: 28.2%, 12, 86.5 天, 4,609 万元; null is a dash."""
    if value is None:
        return "—"
    unit = UNITS.get(key, "count")
    if unit == "rate":
        return f"{value * 100:.1f}%"
    if unit == "days":
        return f"{value:g} 天"
    if unit == "amount":
        return f"{value:,.10g}"
    return f"{value:,}"


def shown_change(key: str, value) -> str:
    """A month-on-month change: +3, −2, +5.2 个百分点; no change is 持平."""
    if value is None:
        return "—"
    if value == 0:
        return "持平"
    sign = "+" if value > 0 else "−"
    magnitude = abs(value)
    unit = UNITS.get(key, "count")
    if unit == "rate":
        return f"{sign}{magnitude * 100:.1f} 个百分点"
    if unit == "days":
        return f"{sign}{magnitude:g} 天"
    return f"{sign}{magnitude:,.10g}"


def year_and_month(report: dict) -> str:
    year, month = parse_month(report["month"])
    return f"{year} 年 {month} 月"


# --- renderings -------------------------------------------------------------------------------------------

# The report's own templates and stylesheet; the site's report page includes the same body (web/reports.py).
TEMPLATES = Path(__file__).resolve().parent / "report_templates"
REPORT_CSS = TEMPLATES / "report.css"


def html_context(report: dict) -> dict:
    """What report_body.html needs: the report, its charts as inline SVG and the formatting helpers."""
    from . import charts
    return {"report": report, "charts": charts.report_charts(report), "figures": FIGURES, "shown": shown,
            "shown_change": shown_change, "title": f"两清单月度匹配报告 · {year_and_month(report)}",
            "dimensions": DIMENSIONS, "sparkline": charts.sparkline, "activity_names": ACTIVITY_NAMES,
            "applicable": {dimension: [key for key in FIGURE_KEYS if applies(key, dimension)] for dimension in DIMENSIONS}}


def render_html(report: dict) -> str:
    """A self-contained HTML document (styles inlined, no script, no network) for printing or mailing."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape
    from .beijing import day
    environment = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))
    environment.filters["day"] = day  # as the site's pages show times
    return environment.get_template("report_document.html").render(
        css=REPORT_CSS.read_text(encoding="utf-8"), **html_context(report))


def render_json(report: dict) -> str:
    import json
    return json.dumps(report, ensure_ascii=False, indent=2)
