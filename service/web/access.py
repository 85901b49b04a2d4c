"""What the pages take from the live index and workflow: re-indexing after an edit, and which
proposals and confidential details a user may see."""
from __future__ import annotations

from flask import current_app

from .. import store, workflow


def record_saved(kind: str, record_id: str) -> None:
    """Queue a created or edited record for re-embedding and fresh proposals (returns at once)."""
    live = current_app.extensions.get("live_index")
    if live is not None:
        live.refresh_later(kind, record_id)


def visible_proposals(db, user: dict, kind: str, record_id: str) -> list[dict]:
    """The proposals on one demand or supply the user may see, best first."""
    filters = {**workflow.party_filter(user), ("demand_id" if kind == "demands" else "supply_id"): record_id}
    return store.list_proposals(db, filters)


def counterpart_visible(user: dict, other_kind: str, proposal: dict) -> bool:
    """May the user see the other side's contact and budget/price in this pair?"""
    return workflow.disclosed(user, proposal, other_kind)
