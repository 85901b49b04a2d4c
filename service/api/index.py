"""/reindex: an admin rebuilds the engine's indexes and the stored proposals in the background;
/system: what embeds them, in which precision, on which CPU."""
from __future__ import annotations

from flask import Blueprint

from ..resources import live_index
from ..auth import roles_required
from .operations import operation

bp = Blueprint("index", __name__)


@bp.post("/reindex")
@roles_required("admin")
@operation("重建索引并更新推荐（管理员，后台进行）", {202: "Queued"}, (400, 403), tag="admin")
def reindex():
    live_index().reload_later()
    return {"status": "queued", "message": "已开始重建索引并更新推荐"}, 202


@bp.get("/system")
@roles_required("admin")
@operation("向量模型、计算精度与 CPU（管理员）", {200: "System"}, (403,), tag="admin")
def system():
    """The embedder, its precision and why, and the CPU (as `matchmaker info`), with the index job's state."""
    live = live_index()
    return {"embedder": live.describe_embedder(), "index": live.status()["state"]}
