"""/reports: the two lists' headline figures, and the monthly match-rate report (service/reports.py)."""
from __future__ import annotations

from flask import Blueprint, request

from .. import reports, store
from ..resources import get_db, live_index
from ..auth import login_required, roles_required
from .base import ApiError

bp = Blueprint("reports", __name__, url_prefix="/reports")


@bp.get("/summary")
@login_required
def summary():
    counts = store.headline_counts(get_db())
    counts["match_rate"] = round(counts["matched_demands"] / counts["demands"], 4) if counts["demands"] else 0.0
    return counts


@bp.get("/monthly")
@roles_required("broker", "admin")
def monthly():
    """The report for ?month=YYYY-MM as JSON (reports.REPORT_SCHEMA); the gap list from the engine when it loads."""
    month = request.args.get("month", "")
    try:
        reports.parse_month(month)
    except reports.ReportError as error:
        raise ApiError(400, "invalid_parameter", str(error), {"month": str(error)}) from None
    return reports.monthly_report(get_db(), month, reports.gaps_if_available(live_index()))
