"""The monthly match-rate report as a page for brokers and admins, and its Excel and JSON downloads."""
from __future__ import annotations

import datetime as dt
import io

from flask import Blueprint, Response, abort, current_app, render_template, request, send_file, send_from_directory

from .. import auth, reports
from ..report_workbook import write_workbook
from ..resources import get_db
from ..permissions import SEE_ALL
from .blueprint import bp


def _month() -> str:
    """The requested month, or last month when none is given; a malformed one is a 400 in Chinese."""
    month = request.args.get("month", "").strip()
    if not month:
        first = dt.date.today().replace(day=1) - dt.timedelta(days=1)
        return f"{first.year:04d}-{first.month:02d}"
    try:
        reports.parse_month(month)
    except reports.ReportError as error:
        abort(400, description=str(error))
    return month


@bp.get("/reports")
@auth.roles_required(*SEE_ALL)
def report():
    built = reports.monthly_report(get_db(), _month(), reports.gaps_if_available(current_app.extensions["live_index"]))
    return render_template("report.html", **reports.html_context(built))


# The report's body and stylesheet live with the report renderer, so this page and the standalone file
# (reports.render_html) show the same report: the page's templates find the body through this blueprint.
bp.register_blueprint(Blueprint("report_templates", __name__, template_folder=reports.TEMPLATES))


@bp.get("/assets/report.css")
def report_stylesheet():
    return send_from_directory(reports.TEMPLATES, "report.css")


@bp.get("/reports/download")
@auth.roles_required(*SEE_ALL)
def report_download():
    month = _month()
    chosen = request.args.get("format", "xlsx")
    if chosen not in ("xlsx", "json"):
        abort(400, description="下载格式应为 xlsx 或 json")
    built = reports.monthly_report(get_db(), month, reports.gaps_if_available(current_app.extensions["live_index"]))
    if chosen == "json":
        return Response(reports.render_json(built), mimetype="application/json",
                        headers={"Content-Disposition": f"attachment; filename=report-{month}.json"})
    buffer = io.BytesIO()
    write_workbook(built, buffer)
    buffer.seek(0)
    return send_file(buffer, as_attachment=True, download_name=f"report-{month}.xlsx",
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
