"""/reports: the two lists' headline figures, and the monthly match-rate report (service/reports.py)."""
from __future__ import annotations

from typing import Annotated

from flask import Blueprint
from pydantic import AfterValidator, BaseModel, Field

from .. import reports
from ..resources import get_db, live_index
from ..permissions import SEE_ALL
from ..auth import login_required, roles_required
from .operations import operation

bp = Blueprint("reports", __name__, url_prefix="/reports")


def report_month(text: str) -> str:
    """reports.parse_month's check, so the API refuses a month in the words the pages use."""
    try:
        reports.parse_month(text)
    except reports.ReportError as error:
        raise ValueError(str(error)) from None
    return text


class MonthlyQuery(BaseModel):
    month: Annotated[str, AfterValidator(report_month)] = Field(
        json_schema_extra={"pattern": reports.MONTH_IN_RANGE}, description="报告月份 YYYY-MM")


@bp.get("/summary")
@login_required
@operation("两清单概况", {200: "Summary"}, tag="reports")
def summary():
    return reports.headline_figures(get_db())


@bp.get("/monthly")
@roles_required(*SEE_ALL)
@operation("月度匹配报告（技术经纪人、管理员）：本月、上月、环比、本年累计，按集群、平台、区市分解", {200: "MonthlyReport"},
           (403,), query=MonthlyQuery, tag="reports")
def monthly(query):
    """The report as JSON (report_schema.REPORT_SCHEMA); the gap list from the engine when it loads."""
    return reports.monthly_report(get_db(), query.month, reports.gaps_if_available(live_index()))
