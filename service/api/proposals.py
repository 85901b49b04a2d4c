"""/proposals: the broker's review queue and every step of the workflow on one pair."""
from __future__ import annotations

from typing import Literal, Optional

from flask import Blueprint, jsonify
from pydantic import BaseModel, ConfigDict, Field

from .. import store, workflow
from ..openapi import REJECTION_NEEDS_REASON
from ..resources import get_db, thresholds
from ..permissions import SEE_ALL
from ..auth import current_user, login_required, roles_required
from .base import ApiError, paginated
from .operations import Month, Paged, absent_or, month, operation, text

bp = Blueprint("proposals", __name__, url_prefix="/proposals")

STATUSES = tuple(workflow.STATUS_NAMES)


class PairQuery(Paged):
    """The filters on a pair that the review queue and the cooperations share."""
    cluster: Optional[str] = text("产业集群")
    region: Optional[str] = text("所在区市")
    platform: Optional[str] = text("平台名称")
    month: Month = month()
    demand_id: Optional[str] = text("技术需求编号")
    supply_id: Optional[str] = text("科技成果编号")


class QueueQuery(PairQuery):
    zone: Optional[Literal[tuple(workflow.SCORE_ZONES)]] = Field(
        None, description="审核分区：strong（强推荐）或 review（待复核）")
    status: Optional[Literal[STATUSES]] = text("推荐状态")


class DecisionInput(BaseModel):
    model_config = ConfigDict(json_schema_extra=REJECTION_NEEDS_REASON)  # workflow.decide refuses it without
    status: Literal[workflow.BROKER_DECISIONS + workflow.PARTY_DECISIONS]
    reason: Optional[str] = Field(None, description="否决时必填")


class QueueFilters(BaseModel):
    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, Optional[str]] = Field(init=False)
    zone: Optional[Literal[tuple(workflow.SCORE_ZONES)]] = None
    cluster: Optional[str] = None
    region: Optional[str] = None
    platform: Optional[str] = None
    month: Optional[str] = None


class BulkInput(BaseModel):
    # With `ids` the filters are not read; without, `filters` selects the pairs (the view refuses neither).
    model_config = ConfigDict(json_schema_extra={"allOf": [REJECTION_NEEDS_REASON], "if": {"required": ["ids"]},
                                                 "else": {"required": ["filters"]}})
    status: Literal[workflow.BROKER_DECISIONS]
    reason: Optional[str] = None
    # The document's `if`/`else` says which of the two is required.
    ids: list[int] = absent_or(max_length=1000, description="给出时忽略 filters")
    filters: QueueFilters = absent_or(description="队列筛选条件（没有 ids 时使用）")


def visible_proposal(proposal_id: int) -> dict:
    proposal = store.get_proposal(get_db(), proposal_id)
    if proposal is None or not workflow.can_see_proposal(current_user(), proposal):
        raise ApiError(404, "not_found", f"找不到编号为 {proposal_id} 的推荐")
    return proposal


def list_filters(query: QueueQuery) -> dict:
    """The proposal filters a list request asks for, limited to what the caller may see.

    With a zone (or no status) a broker gets the review queue: undecided pairs in that score band.
    """
    user = current_user()
    zone, status = query.zone, query.status
    chosen = {name: getattr(query, name) for name in ("cluster", "region", "platform", "demand_id", "supply_id",
                                                      "month")}
    upper, lower = thresholds()
    if user["role"] in SEE_ALL and (zone or not status):
        chosen.update(workflow.queue_filters({}, zone, upper, lower))
    elif zone:
        chosen.update(workflow.score_band(zone, upper, lower))
    if status:
        chosen["statuses"] = (status,)
    party = workflow.party_filter(user)
    if "statuses" in party and "statuses" in chosen:
        party["statuses"] = tuple(value for value in chosen["statuses"] if value in party["statuses"])
    chosen.update(party)
    return chosen


@bp.get("")
@login_required
@operation("审核队列（技术经纪人：强推荐区 strong 与待复核区 review，按得分排序）；企业、平台：推荐给自己的",
           {200: "ProposalPage"}, query=QueueQuery, tag="proposals")
def index(query):
    page, per_page = query.page, query.per_page
    db, user = get_db(), current_user()
    filters = list_filters(query)
    total = store.count_proposals(db, filters)
    found = store.list_proposals(db, filters, limit=per_page, offset=(page - 1) * per_page)
    upper, lower = thresholds()
    records = workflow.pair_records(db, found)
    return {**paginated([workflow.proposal_view(db, user, proposal, records) for proposal in found], total, page,
                        per_page),
            "thresholds": {"upper": upper, "lower": lower}}


@bp.get("/<int:proposal_id>")
@login_required
@operation("推荐详情", {200: "Proposal"}, (404,), tag="proposals")
def show(proposal_id):
    return workflow.proposal_view(get_db(), current_user(), visible_proposal(proposal_id))


@bp.post("/<int:proposal_id>/decision")
@login_required
@operation("作出决定：推荐、否决（须填理由）、待定（技术经纪人）；婉拒（企业或平台）", {200: "Proposal"},
           (403, 404, 409, 422), body=DecisionInput, tag="proposals")
def decision(proposal_id, body):
    visible_proposal(proposal_id)
    db = get_db()
    proposal = workflow.decide(db, proposal_id, body.status, current_user(), body.reason)
    return workflow.proposal_view(db, current_user(), proposal)


@bp.post("/<int:proposal_id>/undo")
@login_required
@operation("撤销最近一次决定", {200: "Proposal"}, (400, 403, 404, 409), tag="proposals")
def undo(proposal_id):
    visible_proposal(proposal_id)
    db = get_db()
    return workflow.proposal_view(db, current_user(), workflow.undo_last(db, proposal_id, current_user()))


@bp.post("/<int:proposal_id>/confirm")
@roles_required("broker")
@operation("确认合作（重复确认不会产生第二条合作）", {201: "Cooperation", 200: "Cooperation"}, (403, 404, 409, 422),
           body="ConfirmInput", tag="proposals")
def confirm(proposal_id, body):
    visible_proposal(proposal_id)
    cooperation, created = workflow.confirm(get_db(), proposal_id, current_user(), mode=body.get("mode"),
                                            amount_wan=body.get("amount_wan"),
                                            confirmed_at=body.get("confirmed_at"), note=body.get("note"), typed=True)
    response = jsonify(cooperation)
    response.status_code = 201 if created else 200
    return response


@bp.post("/<int:proposal_id>/introduction")
@roles_required("enterprise", "platform")
@operation("同意引荐：向对方公开本方联系人与预算（价格）", {200: "Proposal"}, (400, 403, 404, 409), tag="proposals")
def introduction(proposal_id):
    visible_proposal(proposal_id)
    db = get_db()
    return workflow.proposal_view(db, current_user(), workflow.agree_introduction(db, proposal_id, current_user()))


@bp.post("/bulk")
@roles_required("broker")
@operation("批量决定（编号列表或队列筛选条件）", {200: "BulkResult"}, (403, 422), body=BulkInput, tag="proposals")
def bulk(body):
    """Decide many pairs at once: explicit `ids`, or every pair a queue `filters` object selects."""
    db = get_db()
    if body.ids is not None:
        ids = body.ids
    elif body.filters is not None:
        upper, lower = thresholds()
        chosen = workflow.queue_filters(body.filters.model_dump(), body.filters.zone, upper, lower)
        ids = [proposal["id"] for proposal in store.list_proposals(db, chosen)]
    else:
        raise ApiError(422, "invalid_input", "请提供 ids（编号列表）或 filters（队列筛选条件）", {"ids": "必填其一"})
    return workflow.bulk_decide(db, ids, body.status, current_user(), body.reason)
