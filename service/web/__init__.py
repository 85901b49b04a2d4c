"""The pages brokers, enterprises and research platforms work in (zh-CN, server-rendered).

One blueprint, `bp`, registered by create_app; its templates and its one stylesheet live beside it.
Routes are grouped by concern: lists.py (the two lists, details, post/edit forms), review.py (the
broker queue, cooperations, gaps, audit log), errors.py (friendly 4xx pages).
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

from . import errors, lists, review  # noqa: E402,F401  (their routes register on bp)
from . import reports  # noqa: E402,F401  (the monthly report page)
from . import sessions  # noqa: E402,F401  (专题对接 and 双走进 pages)
from . import accounts  # noqa: E402,F401  (the administrator's pages: /admin, /users)
from . import imports  # noqa: E402,F401  (the admin's imports and re-index pages)
from .errors import render_error  # noqa: E402,F401
