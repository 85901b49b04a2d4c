"""/reindex: an admin rebuilds the engine's indexes and the stored proposals in the background."""
from __future__ import annotations

from flask import Blueprint

from ..app import live_index
from ..auth import roles_required

bp = Blueprint("index", __name__)


@bp.post("/reindex")
@roles_required("admin")
def reindex():
    live_index().reload_later()
    return {"status": "queued", "message": "已开始重建索引并更新推荐"}, 202
