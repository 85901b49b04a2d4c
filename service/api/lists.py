"""The two lists as resources: /demands (技术需求) and /supplies (科技成果).

Both are built by one function because they differ only in names: who owns a record (an
enterprise its demands, a platform its supplies) and which filters apply.
"""
from __future__ import annotations

from flask import Blueprint, jsonify, request, url_for

from matching.ranker import RETRIEVERS

from .. import store, workflow
from ..resources import get_db, live_index
from ..auth import current_user, login_required
from ..permissions import OWNER_FIELD, SEE_ALL, can_create, can_delete, can_edit, can_view, visible_filter
from ..records import KIND_NAMES, clean_posted_record
from .base import ApiError, choice_arg, int_arg, json_body, month_arg, page_args, paginated

# Query parameter → column, per kind.
FILTERS = {
    "demands": {"cluster": "industry_cluster", "region": "region", "enterprise": "enterprise", "status": "status"},
    "supplies": {"cluster": "industry_cluster", "platform": "platform", "maturity": "maturity"},
}
# Query parameter → the engine's filter on the other side's records.
PROPOSAL_FILTERS = {"cluster": "industry_cluster", "region": "region", "maturity": "maturity",
                    "mode": "cooperation_mode"}


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

    @bp.get("")
    @login_required
    def index():
        page, per_page = page_args()
        where = {}
        for name in request.args:
            if name in ("page", "per_page", "q", "month"):
                continue
            if name not in FILTERS[kind]:
                raise ApiError(400, "invalid_parameter", f"{KIND_NAMES[kind]}列表不支持筛选条件 {name}",
                               {name: "不支持的筛选条件"})
            where[FILTERS[kind][name]] = request.args[name]
        where["month"] = month_arg()
        where.update(visible_filter(current_user(), kind))
        search = request.args.get("q") or None
        db = get_db()
        total = store.count_records(db, kind, where, search)
        items = store.list_records(db, kind, where, search, limit=per_page, offset=(page - 1) * per_page)
        return paginated(items, total, page, per_page)

    @bp.get("/<record_id>")
    @login_required
    def show(record_id):
        return visible_record(record_id)

    @bp.post("")
    @login_required
    def create():
        user = current_user()
        if not can_create(user, kind):
            raise ApiError(403, "forbidden", f"当前账号不能发布{KIND_NAMES[kind]}")
        body = json_body()
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

    @bp.route("/<record_id>", methods=("PUT", "PATCH"))
    @login_required
    def update(record_id):
        user = current_user()
        current = visible_record(record_id)
        if not can_edit(user, kind, current):
            raise ApiError(403, "forbidden", f"当前账号不能修改这条{KIND_NAMES[kind]}")
        body = json_body()
        version = body.pop("version", None)
        if not isinstance(version, int) or isinstance(version, bool):
            raise ApiError(422, "version_required", "请提供记录的当前版本号 version（整数）",
                           {"version": "必填，应为整数"})
        if body.get("id", record_id) != record_id:
            raise ApiError(422, "invalid_input", "编号不能修改", {"id": "编号不能修改"})
        if user["role"] not in SEE_ALL and body.get(owner_field, current.get(owner_field)) != current.get(owner_field):
            raise ApiError(422, "invalid_input", "不能把记录转到其他单位名下", {owner_field: "不能修改"})
        base = {key: value for key, value in current.items() if key not in store.BOOKKEEPING} \
            if request.method == "PATCH" else {owner_field: current.get(owner_field)}
        record = clean(kind, {**base, **body, "id": record_id})
        saved = store.save_record(get_db(), kind, record, user["name"], expected_version=version)
        live_index().refresh_later(kind, record_id)
        return saved

    @bp.delete("/<record_id>")
    @login_required
    def delete(record_id):
        user = current_user()
        current = visible_record(record_id)
        if not can_delete(user, kind, current):
            raise ApiError(403, "forbidden", f"当前账号不能删除这条{KIND_NAMES[kind]}")
        version = int_arg("version", 0, low=0, high=2**31) or None
        store.delete_record(get_db(), kind, record_id, user["name"], expected_version=version)
        live_index().refresh_later(kind, record_id)
        return "", 204

    @bp.get("/<record_id>/proposals")
    @login_required
    def proposals(record_id):
        """Brokers get the engine's current best pairs, with the stored ones' ids and decisions; owners what
        was put to them. Only reads: the worker stores a record's best pairs when it is posted, edited or
        re-indexed (workflow.propose_for_record, generate_proposals)."""
        user = current_user()
        visible_record(record_id)
        k = int_arg("k", 5, high=50)
        retriever = choice_arg("retriever", RETRIEVERS, "hybrid")
        db = get_db()
        column = "demand_id" if kind == "demands" else "supply_id"
        if user["role"] not in SEE_ALL:
            found = store.list_proposals(db, {**workflow.party_filter(user), column: record_id}, limit=k)
            records = workflow.pair_records(db, found)
            return {"items": [workflow.proposal_view(db, user, proposal, records) for proposal in found]}
        filters = {PROPOSAL_FILTERS[name]: request.args[name] for name in PROPOSAL_FILTERS if request.args.get(name)}
        rows = workflow.live_proposals(db, live_index().engine(), kind, record_id, k, retriever, filters)
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
