"""/reports: the two lists' headline figures (the monthly match-rate report builds on these)."""
from __future__ import annotations

from flask import Blueprint

from .. import store
from ..app import get_db
from ..auth import login_required

bp = Blueprint("reports", __name__, url_prefix="/reports")


@bp.get("/summary")
@login_required
def summary():
    counts = store.headline_counts(get_db())
    counts["match_rate"] = round(counts["matched_demands"] / counts["demands"], 4) if counts["demands"] else 0.0
    return counts
