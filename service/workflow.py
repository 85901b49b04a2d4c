"""The broker workflow: proposals are generated, reviewed, recommended, introduced and confirmed.

    proposed ─┬─ recommended ─┬─ confirmed   (broker, with mode, amount and date: one cooperation)
    unsure ───┤               └─ declined    (the enterprise or the platform)
              └─ rejected                    (broker, with a reason)

"unsure" goes to the back of the queue and comes back later. Every decision is kept with who, when
and why (the labelled data that will tune the ranking) and every write goes to the audit log. Pages
and the API call the same functions, each taking the database first; refusals are service.errors:

    >>> proposal = decide(db, 7, "recommended", broker)                                 # doctest: +SKIP
    >>> cooperation, created = confirm(db, 7, broker, mode="技术转让", amount_wan=30)      # doctest: +SKIP
"""
from __future__ import annotations

import datetime as dt
import sqlite3

from . import store
from .errors import Conflict, Forbidden, Invalid, NotFound
from .permissions import SEE_ALL, owns
from .records import PUBLIC_FIELDS, clean_record, is_open_demand

STATUS_NAMES = {
    "proposed": "待审核", "unsure": "待定", "recommended": "已推荐", "rejected": "已否决",
    "confirmed": "已确认合作", "declined": "已婉拒",
}
BROKER_DECISIONS = ("recommended", "rejected", "unsure")
PARTY_DECISIONS = ("declined",)
TRANSITIONS = {
    "proposed": ("recommended", "rejected", "unsure"),
    "unsure": ("recommended", "rejected", "unsure"),
    "recommended": ("confirmed", "declined"),
}
# What an enterprise or a platform sees of the proposals on its records: only what a broker put forward.
SHOWN_TO_PARTIES = ("recommended", "confirmed", "declined")
BROKERS = ("broker",)


def _not_found(proposal_id) -> NotFound:
    return NotFound("not_found", f"找不到编号为 {proposal_id} 的推荐")


def _forbidden(message: str = "当前账号无权对该推荐作此决定") -> Forbidden:
    return Forbidden("forbidden", message)


# --- generating proposals -----------------------------------------------------------------------

def proposal_row(proposal, reverse: bool = False) -> dict:
    """An engine Proposal as the store keeps it (reverse: the query was a supply)."""
    demand_id, supply_id = (proposal.candidate_id, proposal.query_id) if reverse else \
        (proposal.query_id, proposal.candidate_id)
    return {"demand_id": demand_id, "supply_id": supply_id, "score": proposal.score, "dense": proposal.dense,
            "lexical": proposal.lexical, "rank": proposal.rank, "reasons": proposal.reasons}


def generate_proposals(db, engine, k: int = 5) -> int:
    """Store the engine's top-k supplies for every open demand, skipping pairs already decided.

    Decided pairs keep their decision and are never served again; returns how many pairs are new.
    """
    decided = store.decided_pairs(db)
    per_demand: dict[str, int] = {}
    for demand_id, _ in decided:
        per_demand[demand_id] = per_demand.get(demand_id, 0) + 1
    extra = min(max(per_demand.values(), default=0), 50)
    found = engine.propose_all(k + extra)
    kept: dict[str, int] = {}
    rows = []
    for proposal in found:
        row = proposal_row(proposal)
        if (row["demand_id"], row["supply_id"]) in decided or kept.get(row["demand_id"], 0) >= k:
            continue
        kept[row["demand_id"]] = kept.get(row["demand_id"], 0) + 1
        rows.append(row)
    return store.save_proposals(db, rows)


def propose_for_record(db, engine, kind: str, record_id: str, k: int = 5) -> int:
    """After an edit: store fresh proposals for one demand, or for one supply against open demands."""
    record = store.get_record(db, kind, record_id)
    if record is None:
        return 0
    if kind == "demands":
        if not is_open_demand(record):
            return 0
        return store.save_proposals(db, live_proposals(db, engine, kind, record_id, k))
    open_demands = {demand["id"] for demand in store.list_records(db, "demands")
                    if is_open_demand(demand)}
    rows = [row for row in live_proposals(db, engine, kind, record_id, k) if row["demand_id"] in open_demands]
    return store.save_proposals(db, rows, rescore=False)


def live_proposals(db, engine, kind: str, record_id: str, k: int = 5, retriever: str = "hybrid",
                   filters: dict | None = None) -> list[dict]:
    """The engine's best k counterparts for a record now, leaving out pairs already decided.

    Raises KeyError when the record does not exist.
    """
    reverse = kind == "supplies"
    decided = store.decided_pairs(db, supply_id=record_id) if reverse else store.decided_pairs(db, demand_id=record_id)
    propose = engine.propose_for_supply if reverse else engine.propose_for_demand
    found = propose(record_id, k + len(decided), retriever, filters)
    rows = [proposal_row(proposal, reverse) for proposal in found]
    return [row for row in rows if (row["demand_id"], row["supply_id"]) not in decided][:k]


# --- the review queue ---------------------------------------------------------------------------

QUEUE_FILTERS = ("cluster", "region", "platform", "month")
# The queue's score zones: strong (score ≥ upper) and review (lower ≤ score < upper); no zone is both.
SCORE_ZONES = {"strong": "强推荐", "review": "待复核"}
# The broker's queue page, one tab a zone: undecided pairs by score band, then the ones set aside.
QUEUE_ZONES = {**SCORE_ZONES, "recommended": "已推荐待确认", "unsure": "暂不确定"}


def score_band(zone: str | None, upper: float, lower: float) -> dict:
    """The score bounds of a zone (None: both zones); any other zone is refused.

        >>> score_band("review", 0.8, 0.65), score_band(None, 0.8, 0.65)
        ({'min_score': 0.65, 'max_score': 0.8}, {'min_score': 0.65})
    """
    if zone is not None and zone not in SCORE_ZONES:
        raise Invalid("invalid_zone", f"区段应为 {'、'.join(SCORE_ZONES)} 之一", {"zone": "取值不在允许范围内"})
    if zone == "strong":
        return {"min_score": upper}
    if zone == "review":
        return {"min_score": lower, "max_score": upper}
    return {"min_score": lower}


def queue_filters(filters: dict | None, zone: str | None, upper: float, lower: float) -> dict:
    """The store filter of the queue the API serves: pairs not yet decided for good in a zone's band
    (zone None: both zones)."""
    chosen = {name: value for name, value in (filters or {}).items() if name in QUEUE_FILTERS and value}
    return {**chosen, "statuses": store.OPEN_PROPOSAL_STATUSES, **score_band(zone, upper, lower)}


def zone_filter(filters: dict | None, zone: str, upper: float, lower: float) -> dict:
    """The store filter of one tab of the queue page: the chosen filters and search, plus the zone's band.

        >>> zone_filter({"cluster": "康养旅游"}, "recommended", 0.8, 0.65)
        {'cluster': '康养旅游', 'statuses': ('recommended',)}
    """
    chosen = {name: value for name, value in (filters or {}).items()
              if name in (*QUEUE_FILTERS, "search") and value}
    if zone in ("recommended", "unsure"):
        return {**chosen, "statuses": (zone,)}
    return {**chosen, "statuses": ("proposed",), **score_band(zone, upper, lower)}


# --- decisions ------------------------------------------------------------------------------------

def decide(db, proposal_id: int, to_status: str, user: dict, reason: str | None = None) -> dict:
    """Record a broker's recommended / rejected / unsure, or a party's declined; returns the proposal."""
    reason = (reason or "").strip() or None
    if to_status not in BROKER_DECISIONS + PARTY_DECISIONS:
        raise Invalid("invalid_status", "决定应为 推荐（recommended）、否决（rejected）、待定（unsure）"
                            "或 婉拒（declined）之一", {"status": "取值不在允许范围内"})
    if to_status == "rejected" and not reason:
        raise Invalid("reason_required", "否决时必须填写理由", {"reason": "请填写否决理由"})
    with store.transaction(db):
        proposal = store.get_proposal(db, proposal_id)
        if proposal is None:
            raise _not_found(proposal_id)
        if to_status in BROKER_DECISIONS and user["role"] not in BROKERS:
            raise _forbidden("只有技术经纪人可以推荐、否决或标记待定")
        if to_status == "declined" and not (user["role"] in BROKERS or _party(user, proposal)):
            raise _forbidden("只有该需求的企业或该成果的平台可以婉拒")
        side = _party(user, proposal) if to_status == "declined" else None
        if side and proposal.get(f"{'enterprise' if side == 'demands' else 'platform'}_agreed_at"):
            raise Conflict("already_agreed", "您已同意引荐，不能再婉拒这条推荐")
        _check_transition(proposal, to_status)
        return _apply(db, proposal, to_status, user, reason)


def _party(user: dict, proposal: dict) -> str | None:
    """Which side of the pair the user speaks for: "demands", "supplies" or None."""
    if owns(user, "demands", {"enterprise": proposal.get("enterprise")}):
        return "demands"
    if owns(user, "supplies", {"platform": proposal.get("platform")}):
        return "supplies"
    return None


def _check_transition(proposal: dict, to_status: str) -> None:
    if to_status not in TRANSITIONS.get(proposal["status"], ()):
        raise Conflict("invalid_transition",
                            f"该推荐当前为「{STATUS_NAMES[proposal['status']]}」，不能改为「{STATUS_NAMES[to_status]}」")


def _apply(db, proposal: dict, to_status: str, user: dict, reason: str | None, action: str = "decide",
           changes: dict | None = None) -> dict:
    """Move a proposal to a new status inside the caller's transaction: decision row plus audit entry."""
    at = store.now()
    update = {"status": to_status, "decided_by": user["name"], "decided_at": at, "decision_note": reason}
    update.update(changes or {})
    store.update_proposal(db, proposal["id"], update)
    store.add_decision(db, {"proposal_id": proposal["id"], "demand_id": proposal["demand_id"],
                            "supply_id": proposal["supply_id"], "action": action,
                            "from_status": proposal["status"], "to_status": to_status, "actor": user["name"],
                            "at": at, "reason": reason})
    after = store.get_proposal(db, proposal["id"])
    store.audit(db, user["name"], action, "proposals", str(proposal["id"]), _audited(proposal), _audited(after))
    return after


def _audited(proposal: dict) -> dict:
    keys = ("demand_id", "supply_id", "status", "decided_by", "decided_at", "decision_note",
            "enterprise_agreed_at", "platform_agreed_at")
    return {key: proposal.get(key) for key in keys}


def bulk_decide(db, proposal_ids: list[int], to_status: str, user: dict, reason: str | None = None) -> dict:
    """Decide many proposals (a filtered queue) at once; each one that cannot move is reported, not fatal."""
    decided, skipped = [], []
    for proposal_id in proposal_ids:
        try:
            decide(db, proposal_id, to_status, user, reason)
            decided.append(proposal_id)
        except (Conflict, NotFound) as error:  # a wrong status, a missing reason or role stops the batch
            skipped.append({"id": proposal_id, "code": error.code, "message": str(error)})
    return {"decided": decided, "skipped": skipped}


def undo_last(db, proposal_id: int, user: dict) -> dict:
    """Undo the latest decision on a proposal (its author or a broker may); the undo is kept too."""
    with store.transaction(db):
        proposal = store.get_proposal(db, proposal_id)
        if proposal is None:
            raise _not_found(proposal_id)
        last = store.last_decision(db, proposal_id)
        if last is None:
            raise Conflict("nothing_to_undo", "该推荐没有可以撤销的决定")
        if user["role"] not in BROKERS and last["actor"] != user["name"]:
            raise _forbidden("只能撤销自己作出的决定")
        changes = {}
        if last["to_status"] == "confirmed":
            for cooperation in store.list_cooperations(db, {"demand_id": proposal["demand_id"],
                                                            "supply_id": proposal["supply_id"]}):
                if cooperation.get("proposal_id") == proposal_id:
                    store.delete_cooperation(db, cooperation["id"])
                    store.audit(db, user["name"], "delete", "cooperations", str(cooperation["id"]),
                                cooperation, None)
        if last["to_status"] == "recommended":
            # An introduction rests on the recommendation; withdrawing it withdraws the consent too.
            changes = {key: None for key in store.PROPOSAL_EXTRA_COLUMNS}
        store.mark_decision_undone(db, last["id"], store.now())
        after = _apply(db, proposal, last["from_status"], user, f"撤销：{STATUS_NAMES[last['to_status']]}",
                       action="undo", changes=changes)
        previous = store.last_decision(db, proposal_id)
        restored = {"decided_by": previous["actor"], "decided_at": previous["at"], "decision_note": previous["reason"]} \
            if previous else {"decided_by": None, "decided_at": None, "decision_note": None}
        store.update_proposal(db, proposal_id, restored)
        return {**after, **restored}


def confirm(db, proposal_id: int, user: dict, mode: str | None = None, amount_wan=None,
            confirmed_at: str | None = None, note: str | None = None, typed: bool = False) -> tuple[dict, bool]:
    """Confirm a recommended pair as a cooperation; returns (cooperation, created).

    Confirming again (or at the same moment from two tabs) returns the one cooperation already made:
    the write lock taken up front and the UNIQUE (demand_id, supply_id) index make sure of it.
    The details are checked before anything is written; typed=True when they come as JSON (the API).
    """
    if user["role"] not in BROKERS:
        raise _forbidden("只有技术经纪人可以确认合作")
    raw = {"demand_id": "-", "supply_id": "-", "mode": mode, "amount_wan": amount_wan,
           "confirmed_at": dt.date.today().isoformat() if confirmed_at in (None, "") else confirmed_at, "note": note}
    cleaned, problems = clean_record("cooperations", raw, typed=typed)
    fields = dict(problems)
    if not cleaned.get("mode") and "mode" not in fields:
        fields["mode"] = "请填写合作方式"
    if cleaned.get("amount_wan") is None and "amount_wan" not in fields:
        fields["amount_wan"] = "请填写合同金额（万元）"
    if fields:
        raise Invalid("invalid_cooperation", "合作信息有误", fields)
    with store.transaction(db):
        proposal = store.get_proposal(db, proposal_id)
        if proposal is None:
            raise _not_found(proposal_id)
        existing = store.get_cooperation(db, proposal["demand_id"], proposal["supply_id"])
        if proposal["status"] == "confirmed" and existing:
            return store.get_cooperation_by_id(db, existing["id"]), False
        _check_transition(proposal, "confirmed")
        if existing is None:
            row = {"demand_id": proposal["demand_id"], "supply_id": proposal["supply_id"],
                   "confirmed_at": cleaned["confirmed_at"], "mode": cleaned["mode"],
                   "amount_wan": cleaned["amount_wan"], "broker": user["name"], "note": cleaned.get("note"),
                   "proposal_id": proposal_id}
            try:
                cooperation_id = store.add_cooperation(db, row)
            except sqlite3.IntegrityError as error:  # another writer got there first
                raise Conflict("already_confirmed", "该对接已确认为合作") from error
            created = True
            store.audit(db, user["name"], "create", "cooperations", str(cooperation_id), None, row)
        else:
            cooperation_id, created = existing["id"], False
        _apply(db, proposal, "confirmed", user, cleaned.get("note"))
        return store.get_cooperation_by_id(db, cooperation_id), created


def agree_introduction(db, proposal_id: int, user: dict) -> dict:
    """The enterprise (or the platform) agrees to be introduced: its contact details go to the other side."""
    with store.transaction(db):
        proposal = store.get_proposal(db, proposal_id)
        if proposal is None:
            raise _not_found(proposal_id)
        side = _party(user, proposal)
        if side is None:
            raise _forbidden("只有该需求的企业或该成果的平台可以同意引荐")
        if proposal["status"] not in ("recommended", "confirmed"):
            raise Conflict("not_recommended", "技术经纪人推荐之后才能同意引荐")
        prefix = "enterprise" if side == "demands" else "platform"
        if proposal.get(f"{prefix}_agreed_at"):
            return proposal
        store.update_proposal(db, proposal_id, {f"{prefix}_agreed_at": store.now(), f"{prefix}_agreed_by": user["name"]})
        after = store.get_proposal(db, proposal_id)
        store.audit(db, user["name"], "introduce", "proposals", str(proposal_id), _audited(proposal), _audited(after))
        return after


def history(db, kind: str, record_id: str) -> list[dict]:
    """Every decision on a demand's (or a supply's) pairs, oldest first, with who, when and why."""
    return [{**decision, "to_status_name": STATUS_NAMES.get(decision["to_status"], decision["to_status"]),
             "from_status_name": STATUS_NAMES.get(decision["from_status"], decision["from_status"])}
            for decision in store.decisions_for(db, kind, record_id)]


# --- who sees what ------------------------------------------------------------------------------

def can_see_proposal(user: dict | None, proposal: dict) -> bool:
    """Brokers and admins see all; a party sees the proposals on its records a broker put forward."""
    if not user:
        return False
    if user["role"] in SEE_ALL:
        return True
    return _party(user, proposal) is not None and proposal["status"] in SHOWN_TO_PARTIES


def party_filter(user: dict) -> dict:
    """The store filter that limits proposals to those the user may see."""
    if user["role"] in SEE_ALL:
        return {}
    if user["role"] == "enterprise":
        return {"enterprise": user.get("org") or "\0", "statuses": SHOWN_TO_PARTIES}
    if user["role"] == "platform":
        return {"platform": user.get("org") or "\0", "statuses": SHOWN_TO_PARTIES}
    return {"ids": []}


def disclosed(user: dict, proposal: dict, kind: str) -> bool:
    """May the user see the confidential details (contact, budget or price) of this side of the pair?"""
    if user["role"] in SEE_ALL or _party(user, proposal) == kind:
        return True
    agreed = proposal.get("enterprise_agreed_at" if kind == "demands" else "platform_agreed_at")
    return proposal.get("status") in ("recommended", "confirmed") and bool(agreed)


def introduced(db, user: dict, kind: str, where: dict) -> bool:
    """Did the owner of the `kind` side agree to be introduced to the user on a pair the store filter
    `where` selects (e.g. {"enterprise": "…"} or {"demand_id": "D2021-101"})?"""
    pairs = store.list_proposals(db, {**party_filter(user), **where})
    return any(disclosed(user, proposal, kind) for proposal in pairs)


def record_disclosed(db, user: dict, kind: str, record: dict) -> bool:
    """May the user see this record's confidential fields outside a pair (e.g. on a visit)?

    Its owner, brokers and admins may; anyone else only once the owner agreed to be introduced to them.
    """
    if user["role"] in SEE_ALL or owns(user, kind, record):
        return True
    return introduced(db, user, kind, {"demand_id" if kind == "demands" else "supply_id": record["id"]})


def redacted(kind: str, record: dict, disclosed_to_viewer: bool) -> dict:
    """A demand or supply as its viewer may see it: in full once disclosed, else only PUBLIC_FIELDS.

    Default deny: every other key (contact, budget or price, any imported column) is blanked and
    named in "withheld". Every API response, page and handout that shows a record to someone
    without consent goes through here.

        >>> redacted("demands", {"id": "D1", "title": "缩痕", "联系电话": "138"}, False)["withheld"]
        ['联系电话']
    """
    shown = {key: value for key, value in record.items() if key != "updated_at"}
    withheld = [] if disclosed_to_viewer else \
        [key for key in shown if key not in PUBLIC_FIELDS[kind] and key not in store.BOOKKEEPING]
    for key in withheld:
        shown[key] = None
    shown["withheld"] = withheld
    return shown


def record_for(user: dict, proposal: dict, kind: str, record: dict | None) -> dict | None:
    """One side of a pair as the user may see it: confidential fields blanked until introduced."""
    if record is None:
        return None
    return redacted(kind, record, disclosed(user, proposal, kind))


def pair_records(db, proposals: list[dict]) -> dict[str, dict[str, dict]]:
    """Both sides' records of these proposals, read in one query per side: {kind: {id: record}}."""
    return {kind: store.records_by_id(db, kind, [proposal[column] for proposal in proposals])
            for kind, column in (("demands", "demand_id"), ("supplies", "supply_id"))}


def proposal_view(db, user: dict, proposal: dict, records: dict[str, dict[str, dict]] | None = None) -> dict:
    """A proposal with both records, shaped for the API and the pages.

    records: what pair_records() read for a whole list, so each proposal does not read its own.
    """
    view = {key: proposal.get(key) for key in
            ("id", "demand_id", "supply_id", "score", "dense", "lexical", "rank", "reasons", "status",
             "generated_at", "decided_by", "decided_at", "decision_note")}
    view["status"] = view["status"] or "proposed"
    view["status_name"] = STATUS_NAMES[view["status"]]
    view["introduction"] = {"enterprise_agreed": bool(proposal.get("enterprise_agreed_at")),
                            "platform_agreed": bool(proposal.get("platform_agreed_at"))}
    for kind, column, key in (("demands", "demand_id", "demand"), ("supplies", "supply_id", "supply")):
        record = records[kind].get(proposal[column]) if records else store.get_record(db, kind, proposal[column])
        view[key] = record_for(user, proposal, kind, record)
    return view
