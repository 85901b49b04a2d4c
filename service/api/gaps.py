"""/gaps: open demands no listed supply answers credibly (揭榜挂帅 candidates)."""
from __future__ import annotations

from flask import Blueprint, request

from ..resources import live_index
from ..permissions import SEE_ALL
from ..auth import roles_required
from .base import ApiError

bp = Blueprint("gaps", __name__, url_prefix="/gaps")


@bp.get("")
@roles_required(*SEE_ALL)
def index():
    raw = request.args.get("min_score")
    try:
        threshold = None if raw in (None, "") else float(raw)  # none given: the gap model decides
    except ValueError:
        threshold = -1.0
    if threshold is not None and not 0 <= threshold <= 1:
        raise ApiError(400, "invalid_parameter", "参数 min_score 应为 0–1 之间的数字", {"min_score": "应为 0–1 之间的数字"})
    return {"items": live_index().engine().gaps(threshold), "threshold": threshold}
