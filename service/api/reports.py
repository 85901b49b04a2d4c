"""/reports: the two lists' headline figures, and the monthly match-rate report (service/reports.py)."""
from __future__ import annotations

from flask import Blueprint, request

from .. import reports
from ..resources import get_db, live_index
from ..permissions import SEE_ALL
from ..auth import login_required, roles_required
from .base import ApiError

bp = Blueprint("reports", __name__, url_prefix="/reports")


@bp.get("/summary")
@login_required
def summary():
    return reports.headline_figures(get_db())


@bp.get("/monthly")
@roles_required(*SEE_ALL)
def monthly():
    """The report for ?month=YYYY-MM as JSON (report_schema.REPORT_SCHEMA); the gap list from the engine when it loads."""
    month = request.args.get("month", "")
    try:
        reports.parse_month(month)
    except reports.ReportError as error:
        raise ApiError(400, "invalid_parameter", str(error), {"month": str(error)}) from None
    return reports.monthly_report(get_db(), month, reports.gaps_if_available(live_index()))
