"""The two lists as resources: /demands (技术需求) and /supplies (科技成果).

Both are built by one function because they differ only in names: who owns a record (an
enterprise its demands, a platform its supplies) and which filters apply.
"""
from __future__ import annotations

from typing import Literal, Optional

from flask import Blueprint, jsonify, url_for
from pydantic import BaseModel, ConfigDict, Field, create_model

from matching.ranker import RETRIEVERS

from .. import store, workflow
from ..resources import get_db, live_index
from ..auth import current_user, login_required
from ..permissions import OWNER_FIELD, SEE_ALL, can_create, can_delete, can_edit, can_view, visible_filter
from ..records import DEMAND_STATUSES, KIND_NAMES, clean_posted_record
from .base import ApiError, paginated
from .operations import Month, Paged, month, operation, text

# Query parameter → column, per kind.
FILTERS = {
    "demands": {"cluster": "industry_cluster", "region": "region", "enterprise": "enterprise", "status": "status"},
    "supplies": {"cluster": "industry_cluster", "platform": "platform", "maturity": "maturity"},
}
FILTER_NAMES = {"cluster": "产业集群", "region": "所在区市", "enterprise": "企业名称",
                "status": f"需求状态：{'、'.join(DEMAND_STATUSES)}", "platform": "平台名称", "maturity": "成熟度"}
# Query parameter → the engine's filter on the other side's records.
PROPOSAL_FILTERS = {"cluster": "industry_cluster", "region": "region", "maturity": "maturity",
                    "mode": "cooperation_mode"}


class ListQuery(Paged):
    """A list's query; any parameter it does not name is refused, as a filter the list lacks."""
    model_config = ConfigDict(extra="forbid")
    month: Month = month()
    q: Optional[str] = text("在名称、概述、关键词中搜索")


def list_query(kind: str) -> type[ListQuery]:
    filters = {name: (Optional[str], text(FILTER_NAMES[name])) for name in FILTERS[kind]}
    return create_model(f"{kind.title()}Query", __base__=ListQuery, __doc__=f"{KIND_NAMES[kind]}列表", **filters)


class DeleteQuery(BaseModel):
    version: int = Field(0, ge=0, le=2**31, description="删除时可带上当前版本号，过期则 409")


class ProposalQuery(BaseModel):
    k: int = Field(5, ge=1, le=50, description="返回条数")
    retriever: Literal[RETRIEVERS] = Field("hybrid", description="检索方式")
    cluster: Optional[str] = text("产业集群")
    region: Optional[str] = text("所在区市")
    maturity: Optional[str] = text("成熟度")
    mode: Optional[str] = text("合作方式")


def not_found(kind: str, record_id: str) -> ApiError:
    return ApiError(404, "not_found", f"找不到编号为「{record_id}」的{KIND_NAMES[kind]}")


def list_blueprint(kind: str) -> Blueprint:
    bp = Blueprint(kind, __name__, url_prefix=f"/{kind}")
    owner_field = OWNER_FIELD[kind]

    def visible_record(record_id: str) -> dict:
        record = store.get_record(get_db(), kind, record_id)
        if not can_view(current_user(), kind, record):
            raise not_found(kind, record_id)  # someone else's record is as good as absent
        return record

    name = KIND_NAMES[kind]
    item = "Demand" if kind == "demands" else "Supply"

    @bp.get("")
    @login_required
    @operation(f"{name}列表（分页、筛选）", {200: f"{item}Page"}, query=list_query(kind), tag=kind)
    def index(query):
        where = {FILTERS[kind][name]: value for name, value in query if name in FILTERS[kind] and value is not None}
        where["month"] = query.month
        where.update(visible_filter(current_user(), kind))
        db, page, per_page = get_db(), query.page, query.per_page
        total = store.count_records(db, kind, where, query.q)
        items = store.list_records(db, kind, where, query.q, limit=per_page, offset=(page - 1) * per_page)
        return paginated(items, total, page, per_page)

    @bp.get("/<record_id>")
    @login_required
    @operation(f"{name}详情", {200: item}, (404,), tag=kind)
    def show(record_id):
        return visible_record(record_id)

    @bp.post("")
    @login_required
    @operation(f"发布{name}", {201: item}, (403, 409, 422), body=f"{item}Input", tag=kind)
    def create(body):
        user = current_user()
        if not can_create(user, kind):
            raise ApiError(403, "forbidden", f"当前账号不能发布{name}")
        if user["role"] not in SEE_ALL:  # owners post in their own name; brokers and admins in anyone's
            if body.get(owner_field) not in (None, "", user["org"]):
                raise ApiError(422, "invalid_input", "只能以本单位名义发布", {owner_field: f"应为「{user['org']}」"})
            body[owner_field] = user["org"]
        record = clean(kind, body, new=True)  # without an id the store numbers it: D2021-001
        saved = store.save_record(get_db(), kind, record, user["name"], create=True)
        live_index().refresh_later(kind, saved["id"])
        response = jsonify(saved)
        response.status_code = 201
        response.headers["Location"] = url_for(".show", record_id=saved["id"])
        return response

    @bp.put("/<record_id>")
    @login_required
    @operation(f"修改{name}（整体替换，须带 version）", {200: item}, (403, 404, 409, 422), body=f"{item}Replace",
               tag=kind)
    def replace(record_id, body):
        return update(record_id, body, partial=False)

    @bp.patch("/<record_id>")
    @login_required
    @operation(f"修改{name}（部分字段，须带 version）", {200: item}, (403, 404, 409, 422), body=f"{item}Edit", tag=kind)
    def edit(record_id, body):
        return update(record_id, body, partial=True)

    def update(record_id: str, body: dict, partial: bool) -> dict:
        user = current_user()
        current = visible_record(record_id)
        if not can_edit(user, kind, current):
            raise ApiError(403, "forbidden", f"当前账号不能修改这条{name}")
        version = body.pop("version", None)
        if not isinstance(version, int) or isinstance(version, bool):
            raise ApiError(422, "version_required", "请提供记录的当前版本号 version（整数）",
                           {"version": "必填，应为整数"})
        if body.get("id", record_id) != record_id:
            raise ApiError(422, "invalid_input", "编号不能修改", {"id": "编号不能修改"})
        if user["role"] not in SEE_ALL and body.get(owner_field, current.get(owner_field)) != current.get(owner_field):
            raise ApiError(422, "invalid_input", "不能把记录转到其他单位名下", {owner_field: "不能修改"})
        base = {key: value for key, value in current.items() if key not in store.BOOKKEEPING} \
            if partial else {owner_field: current.get(owner_field)}
        record = clean(kind, {**base, **body, "id": record_id})
        saved = store.save_record(get_db(), kind, record, user["name"], expected_version=version)
        live_index().refresh_later(kind, record_id)
        return saved

    @bp.delete("/<record_id>")
    @login_required
    @operation(f"删除{name}", {204: None}, (403, 404, 409), query=DeleteQuery, tag=kind)
    def delete(record_id, query):
        user = current_user()
        current = visible_record(record_id)
        if not can_delete(user, kind, current):
            raise ApiError(403, "forbidden", f"当前账号不能删除这条{name}")
        store.delete_record(get_db(), kind, record_id, user["name"], expected_version=query.version or None)
        live_index().refresh_later(kind, record_id)
        return "", 204

    @bp.get("/<record_id>/proposals")
    @login_required
    @operation("推荐对接：技术经纪人看到引擎当前的最佳匹配（已决定的不再出现）；企业、平台看到经纪人推荐给它的",
               {200: "ProposalList"}, (404,), query=ProposalQuery, tag="proposals")
    def proposals(record_id, query):
        """Brokers get the engine's current best pairs, with the stored ones' ids and decisions; owners what
        was put to them. Only reads: the worker stores a record's best pairs when it is posted, edited or
        re-indexed (workflow.propose_for_record, generate_proposals)."""
        user = current_user()
        visible_record(record_id)
        db = get_db()
        column = "demand_id" if kind == "demands" else "supply_id"
        if user["role"] not in SEE_ALL:
            found = store.list_proposals(db, {**workflow.party_filter(user), column: record_id}, limit=query.k)
            records = workflow.pair_records(db, found)
            return {"items": [workflow.proposal_view(db, user, proposal, records) for proposal in found]}
        filters = {PROPOSAL_FILTERS[name]: getattr(query, name) for name in PROPOSAL_FILTERS if getattr(query, name)}
        rows = workflow.live_proposals(db, live_index().engine(), kind, record_id, query.k, query.retriever, filters)
        # One query for the stored pairs and one per side for the records, not three per pair.
        pairs = {(stored["demand_id"], stored["supply_id"]): stored
                 for stored in store.list_proposals(db, {column: record_id})}
        records = workflow.pair_records(db, rows)
        items = []
        for row in rows:
            stored = pairs.get((row["demand_id"], row["supply_id"]))
            proposal = {**(stored or {}), **row, "id": stored["id"] if stored else None,
                        "status": stored["status"] if stored else "proposed"}
            items.append(workflow.proposal_view(db, user, proposal, records))
        return {"items": items}

    @bp.get("/<record_id>/history")
    @login_required
    @operation("审核历史：每个决定的人、时间与理由", {200: "DecisionList"}, (404,), tag="proposals")
    def history(record_id):
        user = current_user()
        visible_record(record_id)
        db = get_db()
        decisions = workflow.history(db, kind, record_id)
        if user["role"] not in SEE_ALL:
            shown = {proposal["id"] for proposal in store.list_proposals(db, {**workflow.party_filter(user),
                     ("demand_id" if kind == "demands" else "supply_id"): record_id})}
            decisions = [decision for decision in decisions if decision["proposal_id"] in shown]
        return {"items": decisions}

    return bp


def clean(kind: str, body: dict, new: bool = False) -> dict:
    """Validate a JSON body as a record, types checked as the fields define them: Chinese messages → 422.

    new=True: the id may be left out (the store numbers the record when it saves it).
    """
    unknown_objects = [key for key, value in body.items() if isinstance(value, (dict,)) and key != "extra"]
    record, problems = clean_posted_record(kind, body, typed=True, new=new)
    fields = dict(problems)
    fields.update({key: "不支持嵌套对象" for key in unknown_objects})
    if fields:
        raise ApiError(422, "invalid_record", "提交的内容有误，请按提示修改", fields)
    return record


demands = list_blueprint("demands")
supplies = list_blueprint("supplies")
