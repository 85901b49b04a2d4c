"""The two lists: home, demand and supply lists, their detail pages and the post/edit forms."""
from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from urllib.parse import quote

from flask import abort, flash, make_response, redirect, render_template, request, url_for

from .. import auth, importers, permissions, reports, store, workflow
from ..records import (DEMAND_STATUSES, FIELDS, INDUSTRY_CLUSTERS, KIND_NAMES, MATURITY_LEVELS, NEW_DEMAND_STATUS,
                       clean_posted_record)
from ..resources import get_db, thresholds
from . import presenting
from .blueprint import COOPERATION_MODES, bp
from .access import counterpart_visible, record_saved, visible_proposals

REGIONS = ("环翠区", "文登区", "荣成市", "乳山市", "火炬高技术产业开发区", "经济技术开发区",
           "临港经济技术开发区", "南海新区")


# --- home ------------------------------------------------------------------------------------

@bp.get("/")
def home():
    db = get_db()
    # What the queue holds: undecided pairs scoring at least the lower threshold.
    awaiting = store.count_proposals(db, workflow.queue_filters(None, None, *thresholds()))
    figures = {**reports.headline_figures(db), "awaiting": awaiting,
               "platforms": len(store.distinct_values(db, "supplies", "platform"))}
    user = auth.current_user()
    latest = {}
    if user:
        for kind in ("demands", "supplies"):
            if _may_list(user, kind):
                latest[kind] = store.list_records(db, kind, where=permissions.visible_filter(user, kind), limit=6)
    return render_template("home.html", figures=figures, latest=latest, waiting=_waiting_for(db, user))


def _waiting_for(db, user: dict | None) -> list[dict]:
    """Pairs a broker recommended to this enterprise or platform that it has not yet answered."""
    if not user or user["role"] not in permissions.OWNED_KIND:
        return []
    agreed = "enterprise_agreed_at" if user["role"] == "enterprise" else "platform_agreed_at"
    recommended = store.list_proposals(db, {**workflow.party_filter(user), "statuses": ("recommended",)})
    return [proposal for proposal in recommended if not proposal.get(agreed)]


# --- lists -----------------------------------------------------------------------------------

def _may_list(user: dict | None, kind: str) -> bool:
    """Brokers and admins see both lists; an enterprise its demands; a platform its supplies."""
    return bool(user) and (user["role"] in permissions.SEE_ALL or permissions.OWNED_KIND.get(user["role"]) == kind)


# Columns a list can be sorted by (the ?sort= parameter; a leading "-" reverses), newest first by default.
SORTABLE = {
    "demands": {key: f"[{key}]" for key in ("title", "enterprise", "industry_cluster", "region", "status",
                                             "posted_at")},
    "supplies": {key: f"[{key}]" for key in ("title", "platform", "industry_cluster", "maturity", "posted_at")},
}
DEFAULT_SORT = "-posted_at"
EXPORT_FORMATS = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                  "csv": "text/csv; charset=utf-8"}


def sort_order(requested: str | None, columns: dict[str, str], default: str = DEFAULT_SORT,
               tiebreak: str = "id") -> tuple[str, str]:
    """The ?sort= value to keep (unknown columns fall back to the default) and its SQL order clause.

    `columns` maps each sortable key to its SQL expression: only those ever reach the query.

        >>> sort_order("-title", {"title": "[title]"})
        ('-title', '[title] desc, id')
    """
    chosen = (requested or "").strip()
    if chosen.lstrip("-") not in columns:
        chosen = default
    return chosen, f"{columns[chosen.lstrip('-')]} {'desc' if chosen.startswith('-') else 'asc'}, {tiebreak}"


def export_response(records: list[dict], kind: str, fmt: str, name: str):
    """Records as an XLSX or CSV download, written by the CLI export's writer (formula-safe cells)."""
    if fmt not in EXPORT_FORMATS:
        abort(404)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"export.{fmt}"
        importers.write_records(records, path, kind)
        body = path.read_bytes()
    response = make_response(body)
    response.headers["Content-Type"] = EXPORT_FORMATS[fmt]
    filename = f"{name}-{dt.date.today().isoformat()}.{fmt}"
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return response


def _listing(kind: str) -> dict:
    """What the request asks of a list: the user, filters, search and order, shared by page and export."""
    user = auth.current_user()
    if not _may_list(user, kind):
        abort(403)
    filter_names = ("industry_cluster", "region", "status", "month") if kind == "demands" else \
        ("industry_cluster", "platform", "maturity", "month")
    chosen = {name: request.args.get(name, "").strip() for name in filter_names}
    search = request.args.get("q", "").strip()
    sort, order = sort_order(request.args.get("sort"), SORTABLE[kind])
    args = {name: value for name, value in {**chosen, "q": search}.items() if value}
    return {"user": user, "chosen": chosen, "search": search, "sort": sort, "order": order,
            "where": {**chosen, **permissions.visible_filter(user, kind)}, "args": args}


def _list_page(kind: str):
    db = get_db()
    listing = _listing(kind)
    user, where, search = listing["user"], listing["where"], listing["search"] or None
    total = store.count_records(db, kind, where=where, search=search)
    page = presenting.page_of(request.args.get("page"), total)
    records = store.list_records(db, kind, where=where, search=search, limit=page.size, offset=page.offset,
                                 order=listing["order"])
    options = {
        "industry_cluster": INDUSTRY_CLUSTERS,
        "region": _merge(REGIONS, store.distinct_values(db, kind, "region")) if kind == "demands" else (),
        "status": DEMAND_STATUSES,
        "platform": store.distinct_values(db, kind, "platform") if kind == "supplies" else (),
        "maturity": MATURITY_LEVELS,
        "month": list(reversed(store.distinct_values(db, kind, "month"))),
    }
    column = "demand_id" if kind == "demands" else "supply_id"
    visible = workflow.party_filter(user)
    counts = store.count_proposals_per_record(db, column, [record["id"] for record in records], visible)
    for record in records:
        record["proposal_count"] = counts.get(record["id"], 0)
    args = listing["args"]
    sorted_args = {**args, "sort": listing["sort"]} if listing["sort"] != DEFAULT_SORT else args
    return render_template(f"{kind}.html", records=records, page=page, chosen=listing["chosen"],
                           search=listing["search"], options=options, args=sorted_args, filter_args=args,
                           sort=listing["sort"], own_only=user["role"] not in permissions.SEE_ALL,
                           may_create=permissions.can_create(user, kind))


def _export(kind: str, fmt: str):
    """The list as the page filters and sorts it, every page, in the CLI export's format.

    Fields outside PUBLIC_FIELDS are withheld from a reader the record was not disclosed to; today
    only brokers, admins and the record's owner can list it, so that is everyone who can export it.
    """
    if fmt not in EXPORT_FORMATS:
        abort(404)
    db = get_db()
    listing = _listing(kind)
    user = listing["user"]
    records = []
    for record in store.list_records(db, kind, where=listing["where"], search=listing["search"] or None,
                                     order=listing["order"]):
        shown = workflow.redacted(kind, record, user["role"] in permissions.SEE_ALL or permissions.owns(user, kind, record))
        records.append({key: value for key, value in shown.items()
                        if key not in store.BOOKKEEPING and key != "withheld"})
    return export_response(records, kind, fmt, f"{KIND_NAMES[kind]}清单")


@bp.get("/demands")
@auth.login_required
def demands():
    return _list_page("demands")


@bp.get("/supplies")
@auth.login_required
def supplies():
    return _list_page("supplies")


@bp.get("/demands/export.<fmt>")
@auth.login_required
def demands_export(fmt):
    return _export("demands", fmt)


@bp.get("/supplies/export.<fmt>")
@auth.login_required
def supplies_export(fmt):
    return _export("supplies", fmt)


def _merge(known, found) -> list[str]:
    return list(known) + [value for value in found if value not in known]


# --- details -----------------------------------------------------------------------------------

def _detail_page(kind: str, record_id: str):
    db = get_db()
    user = auth.current_user()
    record = store.get_record(db, kind, record_id)
    if not permissions.can_view(user, kind, record):
        abort(404)  # another organisation's record is as absent as a missing one: no id is confirmed
    other = "supplies" if kind == "demands" else "demands"
    proposals = []
    found = visible_proposals(db, user, kind, record_id)
    counterparts = workflow.pair_records(db, found)[other]
    for proposal in found:
        counterpart = counterparts.get(proposal["supply_id" if kind == "demands" else "demand_id"])
        if counterpart is None:
            continue
        counterpart = workflow.record_for(user, proposal, other, counterpart)
        pair = {"demand": record, "supply": counterpart} if kind == "demands" else \
            {"demand": counterpart, "supply": record}
        proposals.append({**proposal, **pair, "counterpart": counterpart,
                          "counterpart_open": counterpart_visible(user, other, proposal)})
    shared_terms = list(dict.fromkeys(term for proposal in proposals
                                      for term in proposal["reasons"].get("shared_terms") or []))
    cooperations = store.list_cooperations(db, {"demand_id" if kind == "demands" else "supply_id": record_id})
    upper, lower = thresholds()
    # Undecided pairs below the review zone are shown apart, collapsed and without decision buttons.
    low_proposals = [p for p in proposals if p["status"] == "proposed" and (p["score"] or 0) < lower]
    return render_template("record.html", kind=kind, noun=KIND_NAMES[kind], record=record,
                           proposals=proposals, low_proposals=low_proposals, shared_terms=shared_terms,
                           cooperations=cooperations, history=_history(db, user, kind, record_id),
                           may_edit=permissions.can_edit(user, kind, record), other=other, upper=upper, lower=lower)


def _history(db, user: dict, kind: str, record_id: str) -> list[dict]:
    """What happened to a record: its edits and every decision on its pairs, newest first."""
    events = []
    for entry in store.audit_entries(db, kind, record_id, limit=50):
        events.append({"at": entry["at"], "actor": entry["actor"], "action": entry["action"],
                       "changes": _changes(entry["before"], entry["after"])})
    other, other_column = ("supplies", "supply_id") if kind == "demands" else ("demands", "demand_id")
    # An enterprise or a platform sees what a broker put forward to it, not the pairs turned down.
    decisions = [decision for decision in store.decisions_for(db, kind, record_id)
                 if user["role"] in permissions.SEE_ALL
                 or (decision["to_status"] in workflow.SHOWN_TO_PARTIES and not decision.get("undone_at"))]
    counterparts = store.records_by_id(db, other, [decision[other_column] for decision in decisions])
    for decision in decisions:
        other_id = decision[other_column]
        title = counterparts[other_id]["title"] if other_id in counterparts else other_id
        events.append({"at": decision["at"], "actor": decision["actor"], "action": decision["to_status"],
                       "pair": title, "reason": decision.get("reason"),
                       "undone": bool(decision.get("undone_at"))})
    return sorted(events, key=lambda event: event["at"] or "", reverse=True)


def _changes(before: dict | None, after: dict | None) -> list[tuple[str, object, object]]:
    """(field header, old, new) for each field an edit changed."""
    if not before or not after:
        return []
    headers = {field.key: field.header for fields in FIELDS.values() for field in fields}
    return [(headers.get(key, key), before.get(key), after.get(key))
            for key in after if key in headers and before.get(key) != after.get(key)]


@bp.get("/demands/<record_id>")
@auth.login_required
def demand_detail(record_id):
    return _detail_page("demands", record_id)


@bp.get("/supplies/<record_id>")
@auth.login_required
def supply_detail(record_id):
    return _detail_page("supplies", record_id)


# --- post and edit ----------------------------------------------------------------------------

def _form_page(kind: str, record_id: str | None):
    db = get_db()
    user = auth.current_user()
    before = None
    if record_id is not None:
        before = store.get_record(db, kind, record_id)
        if not permissions.can_view(user, kind, before):
            abort(404)  # as on the record's own page
        if not permissions.can_edit(user, kind, before):
            abort(403)
    elif not permissions.can_create(user, kind):
        abort(403)
    errors: dict[str, str] = {}
    conflict = None
    values = _form_values(before) if before else {"posted_at": dt.date.today().isoformat(), "status": NEW_DEMAND_STATUS,
                                                   permissions.OWNER_FIELD[kind]: _own_org(user, kind) or ""}
    status = 200
    if request.method == "POST":
        values = {field.key: request.form.get(field.key, "").strip() for field in FIELDS[kind] if field.key != "id"}
        if _own_org(user, kind):
            values[permissions.OWNER_FIELD[kind]] = _own_org(user, kind)
        record, errors = _validate(kind, values, before)
        if not errors:
            try:
                saved = _save(db, kind, record, before, user, request.form.get("version"))
            except store.Conflict as error:
                if error.code != "stale_version":
                    raise  # the app's error mapping answers it with the error page and its message
                conflict = str(error)
                status = 409
            else:
                record_saved(kind, saved["id"])
                flash(f"{KIND_NAMES[kind]}「{saved['title']}」已{'保存' if before else '发布'}，系统正在为它匹配。", "success")
                return redirect(url_for(f"web.{'demand' if kind == 'demands' else 'supply'}_detail",
                                        record_id=saved["id"]))
        else:
            status = 422
    return render_template("record_form.html", kind=kind, noun=KIND_NAMES[kind], before=before, values=values,
                           errors=errors, conflict=conflict, fields={field.key: field for field in FIELDS[kind]},
                           options={"industry_cluster": INDUSTRY_CLUSTERS, "region": _merge(REGIONS, [values.get("region")] if values.get("region") else []),
                                    "maturity": MATURITY_LEVELS, "status": DEMAND_STATUSES,
                                    "cooperation_mode": _merge(COOPERATION_MODES, [values.get("cooperation_mode")] if values.get("cooperation_mode") else [])},
                           owner_fixed=bool(_own_org(user, kind)),
                           version=request.form.get("version") if request.method == "POST" and not conflict
                           else (before or {}).get("version")), status


def _own_org(user: dict, kind: str) -> str | None:
    """An enterprise posts demands under its own name, a platform supplies under its own."""
    return user.get("org") if permissions.OWNED_KIND.get(user["role"]) == kind else None


def _form_values(record: dict) -> dict:
    values = {key: ("" if value is None else value) for key, value in record.items()}
    values["keywords"] = "、".join(record.get("keywords") or [])
    return values


def _validate(kind: str, values: dict, before: dict | None) -> tuple[dict, dict[str, str]]:
    """The record the form describes and one Chinese message per field that is wrong.

    The rules are records.clean_posted_record's, as for the API; a new record has no id yet: the store
    numbers it when it saves it.
    """
    record, problems = clean_posted_record(kind, {**values, "id": before["id"] if before else None},
                                           new=before is None)
    errors: dict[str, str] = {}
    for key, problem in problems:
        errors.setdefault(key, problem)
    if before:
        for key, value in before.items():
            if key not in record and key not in store.BOOKKEEPING:
                record[key] = value
    return record, errors


def _save(db, kind: str, record: dict, before: dict | None, user: dict, version: str | None) -> dict:
    if before:
        expected = int(version) if version and version.isdigit() else None
        return store.save_record(db, kind, record, user["name"], expected_version=expected)
    return store.save_record(db, kind, record, user["name"], create=True)


@bp.route("/demands/new", methods=("GET", "POST"))
@auth.login_required
def demand_new():
    return _form_page("demands", None)


@bp.route("/demands/<record_id>/edit", methods=("GET", "POST"))
@auth.login_required
def demand_edit(record_id):
    return _form_page("demands", record_id)


@bp.route("/supplies/new", methods=("GET", "POST"))
@auth.login_required
def supply_new():
    return _form_page("supplies", None)


@bp.route("/supplies/<record_id>/edit", methods=("GET", "POST"))
@auth.login_required
def supply_edit(record_id):
    return _form_page("supplies", record_id)

