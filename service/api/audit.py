"""/audit: who changed what, when, with the record before and after (brokers and admins)."""
from __future__ import annotations

from typing import Optional

from flask import Blueprint
from pydantic import BaseModel, Field

from .. import store
from ..resources import get_db
from ..permissions import SEE_ALL
from ..auth import roles_required
from .operations import operation, text

bp = Blueprint("audit", __name__, url_prefix="/audit")


class AuditQuery(BaseModel):
    entity: Optional[str] = text("对象类型（demands、supplies、proposals……）")
    entity_id: Optional[str] = text("对象编号")
    limit: int = Field(100, ge=1, le=1000, description="最多条数")


@bp.get("")
@roles_required(*SEE_ALL)
@operation("操作日志（技术经纪人、管理员）", {200: "AuditList"}, (403,), query=AuditQuery, tag="admin")
def index(query):
    entries = store.audit_entries(get_db(), query.entity, query.entity_id, limit=query.limit)
    return {"items": entries}
