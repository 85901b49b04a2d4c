"""/cooperations (合作): confirmed pairs; each party sees its own, brokers and admins all."""
from __future__ import annotations

from typing import Optional

from flask import Blueprint

from .. import store
from ..resources import get_db
from ..auth import current_user, login_required
from .base import ApiError, paginated
from .operations import operation, text
from .proposals import PairQuery

bp = Blueprint("cooperations", __name__, url_prefix="/cooperations")


class CooperationQuery(PairQuery):
    enterprise: Optional[str] = text("企业名称")


def party_filter(user: dict) -> dict:
    if user["role"] == "enterprise":
        return {"enterprise": user.get("org") or "\0"}
    if user["role"] == "platform":
        return {"platform": user.get("org") or "\0"}
    return {}


@bp.get("")
@login_required
@operation("合作列表", {200: "CooperationPage"}, query=CooperationQuery, tag="cooperations")
def index(query):
    page, per_page = query.page, query.per_page
    filters = query.model_dump(exclude={"page", "per_page"})
    filters.update(party_filter(current_user()))
    db = get_db()
    total = store.count_cooperations(db, filters)
    return paginated(store.list_cooperations(db, filters, limit=per_page, offset=(page - 1) * per_page),
                     total, page, per_page)


@bp.get("/<int:cooperation_id>")
@login_required
@operation("合作详情", {200: "Cooperation"}, (404,), tag="cooperations")
def show(cooperation_id):
    cooperation = store.get_cooperation_by_id(get_db(), cooperation_id)
    limits = party_filter(current_user())
    if cooperation is None or any(cooperation.get(key) != value for key, value in limits.items()):
        raise ApiError(404, "not_found", f"找不到编号为 {cooperation_id} 的合作")
    return cooperation
