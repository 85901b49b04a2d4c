"""/cooperations (合作): confirmed pairs; each party sees its own, brokers and admins all."""
from __future__ import annotations

from flask import Blueprint, request

from .. import store
from ..resources import get_db
from ..auth import current_user, login_required
from .base import ApiError, month_arg, page_args, paginated

bp = Blueprint("cooperations", __name__, url_prefix="/cooperations")


def party_filter(user: dict) -> dict:
    if user["role"] == "enterprise":
        return {"enterprise": user.get("org") or "\0"}
    if user["role"] == "platform":
        return {"platform": user.get("org") or "\0"}
    return {}


@bp.get("")
@login_required
def index():
    page, per_page = page_args()
    filters = {name: request.args.get(name) for name in ("cluster", "region", "platform", "enterprise",
                                                         "demand_id", "supply_id")}
    filters["month"] = month_arg()
    filters.update(party_filter(current_user()))
    db = get_db()
    total = store.count_cooperations(db, filters)
    return paginated(store.list_cooperations(db, filters, limit=per_page, offset=(page - 1) * per_page),
                     total, page, per_page)


@bp.get("/<int:cooperation_id>")
@login_required
def show(cooperation_id):
    cooperation = store.get_cooperation_by_id(get_db(), cooperation_id)
    limits = party_filter(current_user())
    if cooperation is None or any(cooperation.get(key) != value for key, value in limits.items()):
        raise ApiError(404, "not_found", f"找不到编号为 {cooperation_id} 的合作")
    return cooperation
