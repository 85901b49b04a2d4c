"""The broker's work: the review queue and its decisions, cooperations, gaps and the audit log."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for

from .. import auth, beijing, permissions, store, workflow
from ..errors import DomainError, Forbidden, NotFound
from ..records import FIELDS, INDUSTRY_CLUSTERS
from ..resources import get_db, thresholds
from ..permissions import SEE_ALL
from . import presenting
from .blueprint import bp
from .lists import REGIONS, _merge, export_response, sort_order

UNDO_DEPTH = 20
SEARCH_WORDS = 8


def _back(default: str) -> str:
    """Where a form posted from a filtered page returns to: its own same-site address."""
    target = request.form.get("next") or ""
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.scheme and not parts.netloc:
        return target
    return default


def _queue_filters() -> dict:
    return {name: request.args.get(name, "").strip() for name in workflow.QUEUE_FILTERS}


def _filter_options(db) -> dict:
    return {
        "cluster": INDUSTRY_CLUSTERS,
        "region": _merge(REGIONS, store.distinct_values(db, "demands", "region")),
        "platform": store.distinct_values(db, "supplies", "platform"),
        "month": list(reversed(store.distinct_values(db, "demands", "month"))),
    }


def _with_records(db, proposals: list[dict]) -> list[dict]:
    """Each proposal with both full records, for the side-by-side view (one query per side)."""
    records = workflow.pair_records(db, proposals)
    return [{**proposal, "demand": records["demands"].get(proposal["demand_id"]),
             "supply": records["supplies"].get(proposal["supply_id"])} for proposal in proposals]


# --- the queue ---------------------------------------------------------------------------------

@bp.get("/queue")
@auth.roles_required(*SEE_ALL)
def queue():
    """One zone of the queue a page: tabs with counts, filters, search, sort and a pager, all in the URL."""
    db = get_db()
    upper, lower = thresholds()
    chosen, zone, order = _queue_request()
    totals = {name: store.count_proposals(db, workflow.zone_filter(chosen, name, upper, lower))
              for name in workflow.QUEUE_ZONES}
    page = presenting.page_of(request.args.get("page"), totals[zone])
    pairs = _with_records(db, store.list_proposals(db, workflow.zone_filter(chosen, zone, upper, lower),
                                                   limit=page.size, offset=page.offset, order=order))
    # Tabs keep the filters, search and sort; the pager keeps the zone too.
    args = {name: value for name, value in chosen.items() if value and name != "search"}
    if chosen["search"]:
        args["q"] = chosen["search"]
    if order != "score":
        args["sort"] = order
    return render_template("queue.html", zone=zone, zone_names=workflow.QUEUE_ZONES, pairs=pairs, totals=totals,
                           page=page, order=order, upper=upper, lower=lower, chosen=chosen, options=_filter_options(db),
                           last=_last_decided(db), may_decide=auth.current_user()["role"] in workflow.BROKERS,
                           args=args, zone_args={**args, "zone": zone})


def _queue_request() -> tuple[dict, str, str]:
    """The queue's filters and search, zone and order, as the page and its export read them."""
    # A search is a few words: more would only make a slower query that finds nothing.
    chosen = {**_queue_filters(), "search": " ".join(request.args.get("q", "").split()[:SEARCH_WORDS])}
    zone = request.args.get("zone", "")
    order = request.args.get("sort", "")
    return (chosen, zone if zone in workflow.QUEUE_ZONES else "strong",
            order if order in store.PROPOSAL_ORDERS else "score")


@bp.get("/queue/export.<fmt>")
@auth.roles_required(*SEE_ALL)
def queue_export(fmt):
    """The zone's pairs under the page's filters, search and order, every page, as XLSX or CSV."""
    db = get_db()
    upper, lower = thresholds()
    chosen, zone, order = _queue_request()
    pairs = _with_records(db, store.list_proposals(db, workflow.zone_filter(chosen, zone, upper, lower), order=order))
    rows = [{"推荐编号": pair["id"], "需求编号": pair["demand_id"], "需求名称": pair["demand"]["title"],
             "企业": pair["demand"].get("enterprise"), "成果编号": pair["supply_id"], "成果名称": pair["supply"]["title"],
             "平台": pair["supply"].get("platform"), "匹配分": round(pair["score"], 2),
             "状态": workflow.STATUS_NAMES.get(pair["status"], pair["status"]),
             "共同关键词": "、".join((pair.get("reasons") or {}).get("shared_terms") or [])} for pair in pairs]
    return export_response(rows, "proposals", fmt, f"审核队列-{workflow.QUEUE_ZONES[zone]}")


def _last_decided(db) -> dict | None:
    """The user's latest decision that can still be undone, with its proposal."""
    for proposal_id in reversed(session.get("decided", [])):
        proposal = store.get_proposal(db, proposal_id)
        decision = store.last_decision(db, proposal_id) if proposal else None
        if decision and decision["actor"] == auth.current_user()["name"]:
            return {"proposal": proposal, "decision": decision}
    return None


def _remember(proposal_id: int) -> None:
    decided = [pid for pid in session.get("decided", []) if pid != proposal_id]
    session["decided"] = (decided + [proposal_id])[-UNDO_DEPTH:]


def _forget(proposal_id: int) -> None:
    session["decided"] = [pid for pid in session.get("decided", []) if pid != proposal_id]


def _refused(error: DomainError) -> None:
    """A refused step on a page: an absent pair is a missing page, a forbidden one the 403 page; any
    other refusal is flashed above the page the form returns to."""
    if isinstance(error, NotFound):
        abort(404)
    if isinstance(error, Forbidden):
        abort(403, description=str(error))
    details = "；".join(error.fields.values()) if error.fields else ""
    flash(f"{error}{'：' + details if details else ''}", "error")


@bp.post("/queue/<int:proposal_id>/decide")
@auth.roles_required("broker")
def decide(proposal_id):
    decision = request.form.get("decision", "")
    try:
        proposal = workflow.decide(get_db(), proposal_id, decision, auth.current_user(), request.form.get("reason"))
    except DomainError as error:
        _refused(error)
    else:
        _remember(proposal_id)
        flash(f"已将「{proposal['demand_title']}」↔「{proposal['supply_title']}」标记为"
              f"{workflow.STATUS_NAMES[proposal['status']]}。", "success")
    return redirect(_back(url_for("web.queue")))


@bp.post("/queue/<int:proposal_id>/undo")
@auth.roles_required("broker")
def undo(proposal_id):
    try:
        proposal = workflow.undo_last(get_db(), proposal_id, auth.current_user())
    except DomainError as error:
        _refused(error)
    else:
        _forget(proposal_id)
        flash(f"已撤销，「{proposal['demand_title']}」↔「{proposal['supply_title']}」回到"
              f"{workflow.STATUS_NAMES[proposal['status']]}。", "info")
    return redirect(_back(url_for("web.queue")))


@bp.post("/queue/bulk")
@auth.roles_required("broker")
def bulk():
    decision = request.form.get("decision", "")
    proposal_ids = [int(value) for value in request.form.getlist("ids") if value.isdigit()]
    if not proposal_ids:
        flash("当前筛选下没有可批量处理的推荐。", "info")
        return redirect(_back(url_for("web.queue")))
    try:
        outcome = workflow.bulk_decide(get_db(), proposal_ids, decision, auth.current_user(),
                                       request.form.get("reason"))
    except DomainError as error:
        _refused(error)
    else:
        message = f"已批量{workflow.STATUS_NAMES.get(decision, decision)} {len(outcome['decided'])} 对"
        if outcome["skipped"]:
            message += f"，{len(outcome['skipped'])} 对状态已变化、未处理"
        flash(message + "。", "success")
    return redirect(_back(url_for("web.queue")))


@bp.post("/proposals/<int:proposal_id>/confirm")
@auth.roles_required("broker")
def confirm(proposal_id):
    form = request.form
    try:
        cooperation, created = workflow.confirm(get_db(), proposal_id, auth.current_user(), mode=form.get("mode"),
                                                amount_wan=form.get("amount_wan"),
                                                confirmed_at=form.get("confirmed_at") or None,
                                                note=form.get("note"))
    except DomainError as error:
        _refused(error)
        return redirect(_back(url_for("web.queue")))
    _forget(proposal_id)
    flash(f"{'已确认合作' if created else '该对接此前已确认为合作'}：「{cooperation['demand_title']}」×"
          f"「{cooperation['supply_title']}」。", "success")
    return redirect(_back(url_for("web.cooperations")))


def _visible_proposal(proposal_id: int) -> None:
    """A proposal the user may not see answers 404 like a missing one, as in the API: a page must not
    confirm that another organisation's pair exists."""
    proposal = store.get_proposal(get_db(), proposal_id)
    if proposal is None or not workflow.can_see_proposal(auth.current_user(), proposal):
        abort(404)


@bp.post("/proposals/<int:proposal_id>/agree")
@auth.roles_required("enterprise", "platform")
def agree(proposal_id):
    _visible_proposal(proposal_id)
    try:
        workflow.agree_introduction(get_db(), proposal_id, auth.current_user())
    except DomainError as error:
        _refused(error)
    else:
        flash("已同意引荐：对方现在可以看到您的联系方式。", "success")
    return redirect(_back(url_for("web.home")))


@bp.post("/proposals/<int:proposal_id>/decline")
@auth.roles_required("enterprise", "platform", "broker")
def decline(proposal_id):
    _visible_proposal(proposal_id)
    try:
        workflow.decide(get_db(), proposal_id, "declined", auth.current_user(), request.form.get("reason"))
    except DomainError as error:
        _refused(error)
    else:
        flash("已婉拒这条推荐。", "info")
    return redirect(_back(url_for("web.home")))


# --- cooperations, gaps, audit ---------------------------------------------------------------------

COOPERATION_SORTS = {"demand_title": "d.title", "supply_title": "s.title", "mode": "c.mode",
                     "amount_wan": "c.amount_wan", "confirmed_at": "c.confirmed_at", "broker": "c.broker"}
DEFAULT_COOPERATION_SORT = "-confirmed_at"
# The export's columns beyond the cooperation's own fields: both records' names, as the page shows them.
COOPERATION_EXPORT_NAMES = {"demand_title": "需求名称", "enterprise": "企业名称", "region": "所在区市",
                            "supply_title": "成果名称", "platform": "平台名称"}


def _cooperation_listing() -> dict:
    """The cooperations the request asks for, as the user may see them, in the order it asks."""
    user = auth.current_user()
    chosen = _queue_filters()
    scope = {}
    if user["role"] == "enterprise":
        scope = {"enterprise": user.get("org") or "\0"}
    elif user["role"] == "platform":
        scope = {"platform": user.get("org") or "\0"}
    sort, order = sort_order(request.args.get("sort"), COOPERATION_SORTS, DEFAULT_COOPERATION_SORT, "c.id desc")
    rows = store.list_cooperations(get_db(), {**chosen, **scope}, order=order)
    args = {name: value for name, value in chosen.items() if value}
    return {"user": user, "chosen": chosen, "scope": scope, "sort": sort, "rows": rows, "filter_args": args,
            "args": {**args, "sort": sort} if sort != DEFAULT_COOPERATION_SORT else args}


@bp.get("/cooperations")
@auth.login_required
def cooperations():
    db = get_db()
    listing = _cooperation_listing()
    rows = listing["rows"]
    page = presenting.page_of(request.args.get("page"), len(rows))
    total_amount = sum(row["amount_wan"] or 0 for row in rows)
    options = _filter_options(db)
    options["month"] = sorted({(row["confirmed_at"] or "")[:7] for row in store.list_cooperations(db, listing["scope"])
                               if row.get("confirmed_at")}, reverse=True)
    return render_template("cooperations.html", rows=rows[page.offset:page.offset + page.size], page=page,
                           count=len(rows), total_amount=total_amount, chosen=listing["chosen"], options=options,
                           args=listing["args"], filter_args=listing["filter_args"], sort=listing["sort"],
                           own_only=listing["user"]["role"] not in permissions.SEE_ALL)


@bp.get("/cooperations/export.<fmt>")
@auth.login_required
def cooperations_export(fmt):
    """The cooperations page's rows, every page: the same rows and fields the page shows this user."""
    rows = [{**{field.key: row.get(field.key) for field in FIELDS["cooperations"]},
             **{name: row.get(key) for key, name in COOPERATION_EXPORT_NAMES.items()}}
            for row in _cooperation_listing()["rows"]]
    return export_response(rows, "cooperations", fmt, "合作成果")


# The gap list is the engine's, sorted in Python: each sortable key reads one value off a row.
GAP_SORTS = {"title": lambda row: row["demand"]["title"], "industry_cluster": lambda row: row["industry_cluster"],
             "best_score": lambda row: row["best_score"], "best": lambda row: (row["best"] or {}).get("title")}
DEFAULT_GAP_SORT = "best_score"


def _gap_listing() -> dict:
    db = get_db()
    raw = request.args.get("threshold", "").strip()
    threshold = _float(raw, 0.0) if raw else None  # none given: the gap model decides
    engine = current_app.extensions["live_index"].engine()
    found = engine.gaps(threshold)
    cluster = request.args.get("cluster", "").strip()
    if cluster:
        found = [gap for gap in found if gap.get("industry_cluster") == cluster]
    demands = store.records_by_id(db, "demands", [gap["demand_id"] for gap in found])
    supplies = store.records_by_id(db, "supplies",
                                   [gap["best_supply_id"] for gap in found if gap.get("best_supply_id")])
    rows = [{**gap, "demand": demands[gap["demand_id"]], "best": supplies.get(gap.get("best_supply_id"))}
            for gap in found if gap["demand_id"] in demands]
    sort = request.args.get("sort", "").strip()
    if sort.lstrip("-") not in GAP_SORTS:
        sort = DEFAULT_GAP_SORT
    value = GAP_SORTS[sort.lstrip("-")]
    # A stable sort: the engine's order (weakest first) breaks ties; blanks go last either way.
    descending = sort.startswith("-")
    rows.sort(key=lambda row: ((value(row) is None) != descending, value(row) if value(row) is not None else 0),
              reverse=descending)
    filter_args = {name: value for name, value in (("cluster", cluster),
                                                   ("threshold", request.args.get("threshold", "").strip())) if value}
    return {"rows": rows, "threshold": threshold, "cluster": cluster, "sort": sort, "filter_args": filter_args,
            "args": {**filter_args, "sort": sort} if sort != DEFAULT_GAP_SORT else filter_args}


@bp.get("/gaps")
@auth.roles_required(*SEE_ALL)
def gaps():
    listing = _gap_listing()
    return render_template("gaps.html", clusters=INDUSTRY_CLUSTERS, **listing)


@bp.get("/gaps/export.<fmt>")
@auth.roles_required(*SEE_ALL)
def gaps_export(fmt):
    """The gap list as the page filters and sorts it: each demand in full (brokers see every field)."""
    rows = []
    for row in _gap_listing()["rows"]:
        best = row["best"] or {}
        rows.append({**{key: value for key, value in row["demand"].items() if key not in store.BOOKKEEPING},
                     "最佳匹配分": round(row["best_score"], 4), "最接近的成果编号": best.get("id"),
                     "最接近的成果": best.get("title"), "成果平台": best.get("platform")})
    return export_response(rows, "demands", fmt, "揭榜挂帅候选")


def _float(value, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return float(default)
    return min(max(number, 0.0), 1.0)


AUDIT_PAGE_SIZE = 50


@bp.get("/audit")
@auth.roles_required(*SEE_ALL)
def audit():
    db = get_db()
    chosen = {name: request.args.get(name, "").strip() for name in ("entity", "entity_id", "actor", "action",
                                                                     "from", "to")}
    if chosen["entity"] not in presenting.ENTITY_NAMES:
        chosen["entity"] = ""
    errors = {}
    bounds = {}
    for name, key, days in (("from", "since", 0), ("to", "before", 1)):
        if chosen[name]:
            try:
                bounds[key] = beijing.beijing_day_start(chosen[name], days)
            except ValueError:
                errors[name] = "请输入日期，如 2021-06-18"
    filters = {"actor": chosen["actor"] or None, "action": chosen["action"] or None, **bounds}
    entity, entity_id = chosen["entity"] or None, chosen["entity_id"] or None
    total = store.count_audit_entries(db, entity, entity_id, **filters)
    page = presenting.page_of(request.args.get("page"), total, size=AUDIT_PAGE_SIZE)
    entries = store.audit_entries(db, entity, entity_id, limit=page.size, offset=page.offset, **filters)
    for entry in entries:
        entry["changes"] = audit_changes(entry["entity"], entry["before"], entry["after"])
    return render_template("audit.html", entries=entries, chosen=chosen, errors=errors, page=page,
                           args={name: value for name, value in chosen.items() if value},
                           actors=store.audit_values(db, "actor"), actions=store.audit_values(db, "action"))


HIDDEN_IN_AUDIT = ("version", "updated_at", "password_hash", "token_hash")
# Keys of the audited rows that are not record fields (proposals, accounts, sessions, visits).
AUDIT_FIELD_NAMES = {
    "status": "状态", "decided_by": "审核人", "decided_at": "审核时间", "decision_note": "审核意见",
    "enterprise_agreed_at": "企业同意引荐时间", "platform_agreed_at": "平台同意引荐时间",
    "demand_id": "需求编号", "supply_id": "成果编号", "name": "账号", "role": "角色", "org": "所属单位",
    "created_at": "创建时间", "disabled_at": "停用时间", "created_by": "创建人", "pairs": "议程配对",
    "order": "议程顺序", "demand": "登记需求", "title": "标题", "outcome": "结果", "theme": "主题",
}


def audit_changes(entity: str, before: dict | None, after: dict | None) -> list[tuple[str, object, object]]:
    """(Chinese field name, old, new) for each key that changed; proposal statuses and roles by name.

        >>> audit_changes("proposals", {"status": "proposed"}, {"status": "recommended"})
        [('状态', '待审核', '已推荐')]
    """
    before, after = before or {}, after or {}
    headers = {field.key: field.header for field in FIELDS.get(entity, ())}
    names = {"status": workflow.STATUS_NAMES, "role": permissions.ROLE_NAMES} if entity in ("proposals", "users") else {}

    def shown(key: str, value):
        if key.endswith("_at") and isinstance(value, str) and "T" in value:
            return beijing.day(value)  # a stored UTC timestamp, in Beijing time like every other
        return names[key].get(value, value) if key in names and isinstance(value, str) else value

    keys = list(dict.fromkeys([*before, *after]))
    return [(headers.get(key) or AUDIT_FIELD_NAMES.get(key, key), shown(key, before.get(key)),
             shown(key, after.get(key)))
            for key in keys if key not in HIDDEN_IN_AUDIT and before.get(key) != after.get(key)]
