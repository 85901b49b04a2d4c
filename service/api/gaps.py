"""/gaps: open demands no listed supply answers credibly (揭榜挂帅 candidates)."""
from __future__ import annotations

from typing import Optional

from flask import Blueprint
from pydantic import BaseModel, Field

from ..resources import live_index
from ..permissions import SEE_ALL
from ..auth import roles_required
from .operations import operation

bp = Blueprint("gaps", __name__, url_prefix="/gaps")


class GapQuery(BaseModel):
    min_score: Optional[float] = Field(None, ge=0, le=1, allow_inf_nan=False,
                                       description="改用自定的线：最佳得分低于此值即为缺口；省略时由缺口模型判定")


@bp.get("")
@roles_required(*SEE_ALL)
@operation("揭榜挂帅候选：没有可信成果的开放需求", {200: "GapList"}, (403,), query=GapQuery, tag="reports")
def index(query):
    # none given: the gap model decides
    return {"items": live_index().engine().gaps(query.min_score), "threshold": query.min_score}
