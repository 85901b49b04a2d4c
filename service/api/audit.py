"""/audit: who changed what, when, with the record before and after (brokers and admins)."""
from __future__ import annotations

from flask import Blueprint, request

from .. import store
from ..resources import get_db
from ..permissions import SEE_ALL
from ..auth import roles_required
from .base import int_arg

bp = Blueprint("audit", __name__, url_prefix="/audit")


@bp.get("")
@roles_required(*SEE_ALL)
def index():
    entries = store.audit_entries(get_db(), request.args.get("entity") or None, request.args.get("entity_id") or None,
                                  limit=int_arg("limit", 100, high=1000))
    return {"items": entries}
