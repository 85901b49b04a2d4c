"""/gaps: open demands no listed supply answers credibly (揭榜挂帅 candidates)."""
from __future__ import annotations

from flask import Blueprint, request

from ..resources import live_index
from ..permissions import SEE_ALL
from ..auth import roles_required
from ..engine import DEFAULT_GAP_THRESHOLD
from .base import ApiError

bp = Blueprint("gaps", __name__, url_prefix="/gaps")


@bp.get("")
@roles_required(*SEE_ALL)
def index():
    raw = request.args.get("min_score")
    try:
        threshold = DEFAULT_GAP_THRESHOLD if raw in (None, "") else float(raw)
    except ValueError:
        threshold = -1.0
    if not 0 <= threshold <= 1:
        raise ApiError(400, "invalid_parameter", "参数 min_score 应为 0–1 之间的数字", {"min_score": "应为 0–1 之间的数字"})
    engine = live_index().engine()
    with engine.lock:
        found = engine.gaps(threshold)
    return {"items": found, "threshold": threshold}
