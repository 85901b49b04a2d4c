"""The pages' one blueprint and what every template gets from it (helpers, filters, cooperation modes).

In its own module so that the route modules register on `bp` without importing back the package
that imports them.
"""
from __future__ import annotations

import datetime as dt

from flask import Blueprint

from .. import beijing, workflow
from . import presenting

COOPERATION_MODES = ("技术转让", "技术许可", "委托开发", "合作开发", "技术服务", "技术咨询", "共建研发平台")

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/assets")


@bp.app_context_processor
def page_helpers() -> dict:
    return {
        "highlight": presenting.highlight,
        "status_names": workflow.STATUS_NAMES,
        "action_names": presenting.ACTION_NAMES,
        "entity_names": presenting.ENTITY_NAMES,
        "cooperation_modes": COOPERATION_MODES,
        "today": lambda: dt.date.today().isoformat(),
    }


bp.add_app_template_filter(presenting.amount, "amount")
bp.add_app_template_filter(beijing.day, "day")
bp.add_app_template_filter(presenting.percent, "percent")
bp.add_app_template_filter(presenting.plain, "plain")
