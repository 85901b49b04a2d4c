"""Themed matchmaking sessions (专题对接) and enterprise visits (双走进): the institute's offline work.

A broker plans a session around one theme (an industry cluster or chain, a district, or one platform);
the service picks the open demands and supplies that fit it and proposes an agenda of pairs, best
first, each enterprise and platform at most `per_party_limit` times, pairs already decided left out:

    >>> session = plan_session(db, engine, broker, "cluster", "海洋生物与健康食品", "2021-06-18")  # doctest: +SKIP
    >>> record_outcome(db, session["id"], session["pairs"][0]["id"], "interested", broker)       # doctest: +SKIP
    >>> cooperation, created = confirm_pair(db, session["id"], pair_id, broker, mode="技术转让",
    ...                                     amount_wan=30)                                       # doctest: +SKIP

A broker records a visit to any enterprise, a platform only to one that agreed to be introduced to it
(the consent rule of proposals); either registers the demands found on it (register_demand), which
keep a link to the visit and are shown on it only as workflow.redacted allows. Every write goes to
the audit log. Refusals are service.errors, which the API and the pages answer alike.
"""
from __future__ import annotations

import datetime as dt
import sqlite3

from . import store, workflow
from .permissions import SEE_ALL
from .engine import REVIEW_LOWER
from .errors import Conflict, Forbidden, Invalid, NotFound
from .records import INDUSTRY_CLUSTERS, NEW_DEMAND_STATUS, is_open_demand

THEME_KINDS = {"cluster": "产业集群", "chain": "产业链", "region": "区市", "platform": "平台"}
OUTCOMES = {"interested": "有意向", "not_interested": "无意向", "follow_up": "需跟进"}
DIRECTIONS = {"into_enterprise": "走进企业", "into_platform": "走进平台"}
DEFAULT_PER_PARTY_LIMIT = 3
DEFAULT_AGENDA_SIZE = 20
# A pair scoring below the review queue's lower threshold is not worth a slot at the table.
DEFAULT_MIN_SCORE = REVIEW_LOWER
# Engine candidates looked at per demand before the per-party limit thins them out.
CANDIDATES_PER_DEMAND = 10
# Which supply attribute a theme restricts (a district theme leaves supplies city-wide).
SUPPLY_THEME_FILTER = {"cluster": "industry_cluster", "chain": "industry_chain", "platform": "platform"}
DEMAND_THEME_FILTER = {"cluster": "industry_cluster", "chain": "industry_chain", "region": "region"}
PLANNERS = ("broker",)
VISITORS = ("broker", "platform")


def _invalid(message: str, fields: dict) -> Invalid:
    return Invalid("invalid_input", message, fields)


def _session_not_found(session_id) -> NotFound:
    return NotFound("not_found", f"找不到编号为 {session_id} 的专题对接会")


# The longest text each field of a session, an outcome or a visit takes; the forms' maxlength and the
# OpenAPI document read the same numbers.
TEXT_LIMITS = {"title": 80, "theme": 80, "note": 500, "enterprise": 100, "partner": 100, "region": 40,
               "industry_cluster": 40, "notes": 2000}


def _text(fields: dict, name: str, problems: dict) -> str:
    """A stripped text from a form or a JSON body ("" when absent); a value that is not text, or one
    longer than TEXT_LIMITS allows, is noted as the field's problem, never coerced or cut."""
    value = fields.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        problems[name] = "应为文本"
        return ""
    text = value.strip()
    if len(text) > TEXT_LIMITS[name]:
        problems[name] = f"请控制在 {TEXT_LIMITS[name]} 字以内（现为 {len(text)} 字）"
    return text


def _date(value, name: str, problems: dict) -> str | None:
    """An ISO date from a form or a JSON body; None, with the field's problem noted, otherwise."""
    try:
        return dt.date.fromisoformat(str(value or "").strip()).isoformat()
    except ValueError:
        problems[name] = "应为日期 YYYY-MM-DD"
        return None


# --- choosing the agenda -------------------------------------------------------------------------

def theme_records(db, theme_kind: str, theme: str) -> tuple[list[dict], list[dict]]:
    """The open demands and the supplies that fit a theme.

    >>> demands, supplies = theme_records(db, "region", "荣成市")      # doctest: +SKIP
    """
    demand_where = {DEMAND_THEME_FILTER[theme_kind]: theme} if theme_kind in DEMAND_THEME_FILTER else {}
    supply_where = {SUPPLY_THEME_FILTER[theme_kind]: theme} if theme_kind in SUPPLY_THEME_FILTER else {}
    demands = [demand for demand in store.list_records(db, "demands", demand_where, order="id")
               if is_open_demand(demand)]
    return demands, store.list_records(db, "supplies", supply_where, order="id")


def candidate_pairs(db, engine, theme_kind: str, theme: str, min_score: float = 0.0) -> list[dict]:
    """Engine pairs within the theme scoring at least min_score, best first, leaving out pairs decided
    or already cooperating."""
    demands, supplies = theme_records(db, theme_kind, theme)
    fitting = {supply["id"] for supply in supplies}
    decided = store.decided_pairs(db)
    filters = {SUPPLY_THEME_FILTER[theme_kind]: theme} if theme_kind in SUPPLY_THEME_FILTER else None
    rows = []
    for demand in demands:
        for proposal in engine.propose_for_demand(demand["id"], CANDIDATES_PER_DEMAND, "hybrid", filters):
            row = workflow.proposal_row(proposal)
            pair = (row["demand_id"], row["supply_id"])
            if row["score"] < min_score or row["supply_id"] not in fitting or pair in decided:
                continue
            if not store.get_cooperation(db, *pair):
                rows.append({**row, "enterprise": demand.get("enterprise"),
                             "platform": _platform_of(supplies, row["supply_id"])})
    return sorted(rows, key=lambda row: (-row["score"], row["demand_id"], row["supply_id"]))


def _platform_of(supplies: list[dict], supply_id: str) -> str | None:
    return next((supply.get("platform") for supply in supplies if supply["id"] == supply_id), None)


def choose_agenda(candidates: list[dict], per_party_limit: int = DEFAULT_PER_PARTY_LIMIT,
                  size: int = DEFAULT_AGENDA_SIZE) -> list[dict]:
    """Best pairs first, each enterprise and each platform at most per_party_limit times.

    >>> pairs = [{"score": .9, "enterprise": "甲", "platform": "A"}, {"score": .8, "enterprise": "甲", "platform": "B"}]
    >>> len(choose_agenda(pairs, per_party_limit=1))
    1
    """
    seen: dict[tuple[str, str], int] = {}
    agenda = []
    for pair in candidates:
        parties = [("enterprise", pair.get("enterprise") or pair["demand_id"]),
                   ("platform", pair.get("platform") or pair["supply_id"])]
        if any(seen.get(party, 0) >= per_party_limit for party in parties):
            continue
        for party in parties:
            seen[party] = seen.get(party, 0) + 1
        agenda.append(pair)
        if len(agenda) >= size:
            break
    return agenda


# --- planning and editing a session --------------------------------------------------------------

def clean_session(fields: dict) -> dict:
    """A session's settings from a form or a JSON body; 422 with one message per wrong field."""
    problems = {}
    theme_kind, theme = fields.get("theme_kind"), _text(fields, "theme", problems)
    title, note = _text(fields, "title", problems), _text(fields, "note", problems)
    if not isinstance(theme_kind, str) or theme_kind not in THEME_KINDS:
        problems["theme_kind"] = "应为 cluster（产业集群）、chain（产业链）、region（区市）或 platform（平台）"
    if not theme and "theme" not in problems:
        problems["theme"] = "请填写主题（集群、产业链、区市或平台名称）"
    elif theme_kind == "cluster" and theme not in INDUSTRY_CLUSTERS:
        problems["theme"] = f"产业集群应为 {'、'.join(INDUSTRY_CLUSTERS)} 之一"
    limits = {}
    for name, default, high in (("per_party_limit", DEFAULT_PER_PARTY_LIMIT, 20), ("size", DEFAULT_AGENDA_SIZE, 100)):
        value = fields.get(name)
        try:
            limits[name] = default if value in (None, "") else int(value)
        except (TypeError, ValueError):
            limits[name] = None
        if isinstance(value, bool) or limits[name] is None or not 1 <= limits[name] <= high:
            problems[name] = f"应为 1–{high} 之间的整数"
    try:
        limits["min_score"] = DEFAULT_MIN_SCORE if fields.get("min_score") in (None, "") else float(fields["min_score"])
    except (TypeError, ValueError):
        limits["min_score"] = None
    if isinstance(fields.get("min_score"), bool) or limits["min_score"] is None or not 0 <= limits["min_score"] <= 1:
        problems["min_score"] = "应为 0–1 之间的数"
    held_on = _date(fields.get("held_on"), "held_on", problems)
    if problems:
        raise _invalid("对接会信息有误", problems)
    return {"title": title or f"{theme}专题对接会", "theme_kind": theme_kind, "theme": theme, "held_on": held_on,
            "per_party_limit": limits["per_party_limit"], "size": limits["size"], "min_score": limits["min_score"],
            "note": note or None}


def plan_session(db, engine, user: dict, fields: dict) -> dict:
    """Create a session and its proposed agenda; returns session_view()."""
    if user["role"] not in PLANNERS:
        raise Forbidden("forbidden", "只有技术经纪人可以策划专题对接会")
    settings = clean_session(fields)
    size, min_score = settings.pop("size"), settings.pop("min_score")
    agenda = choose_agenda(candidate_pairs(db, engine, settings["theme_kind"], settings["theme"], min_score),
                           settings["per_party_limit"], size)
    with store.transaction(db):
        session_id = store.add_session(db, {**settings, "created_by": user["name"], "created_at": store.now()})
        for position, pair in enumerate(agenda, start=1):
            store.add_session_pair(db, {"session_id": session_id, "demand_id": pair["demand_id"],
                                        "supply_id": pair["supply_id"], "position": position,
                                        "score": pair["score"], "reasons": pair["reasons"]})
        store.audit(db, user["name"], "create", "sessions", str(session_id), None,
                    {**settings, "pairs": [[pair["demand_id"], pair["supply_id"]] for pair in agenda]})
    return session_view(db, session_id)


def session_view(db, session_id: int) -> dict:
    """A session with its theme's name and its agenda in order, each pair with its outcome's name."""
    session = store.get_session(db, session_id)
    if session is None:
        raise _session_not_found(session_id)
    pairs = [{**pair, "outcome_name": OUTCOMES.get(pair["outcome"])} for pair in store.session_pairs(db, session_id)]
    return {**session, "theme_kind_name": THEME_KINDS.get(session["theme_kind"], session["theme_kind"]),
            "pairs": pairs}


def _pair_in(db, session_id: int, pair_id: int) -> dict:
    if store.get_session(db, session_id) is None:
        raise _session_not_found(session_id)
    pair = store.get_session_pair(db, pair_id)
    if pair is None or pair["session_id"] != session_id:
        raise NotFound("not_found", f"该对接会中没有编号为 {pair_id} 的配对")
    return pair


def pair_score(db, engine, demand_id: str, supply_id: str) -> dict:
    """The engine's score and reasons for one given pair (the stored proposal's when there is one)."""
    stored = store.get_proposal_for_pair(db, demand_id, supply_id)
    if stored:
        return {"score": stored["score"], "reasons": stored["reasons"]}
    found = engine.propose_for_demand(demand_id, 1, "hybrid", {"id": supply_id})
    return {"score": found[0].score, "reasons": found[0].reasons} if found else {"score": 0.0, "reasons": {}}


def add_pair(db, engine, session_id: int, demand_id, supply_id, user: dict) -> dict:
    """Add a pair the broker chose by ids to the end of the agenda; returns it."""
    if store.get_session(db, session_id) is None:
        raise _session_not_found(session_id)
    problems = {}
    if not isinstance(demand_id, str) or store.get_record(db, "demands", demand_id) is None:
        problems["demand_id"] = "找不到该技术需求"
    if not isinstance(supply_id, str) or store.get_record(db, "supplies", supply_id) is None:
        problems["supply_id"] = "找不到该科技成果"
    if problems:
        raise _invalid("配对的编号有误", problems)
    scored = pair_score(db, engine, demand_id, supply_id)
    with store.transaction(db):
        try:
            pair_id = store.add_session_pair(db, {"session_id": session_id, "demand_id": demand_id,
                                                  "supply_id": supply_id, **scored})
        except sqlite3.IntegrityError as error:
            raise Conflict("duplicate_pair", "该配对已在议程中") from error
        store.audit(db, user["name"], "update", "sessions", str(session_id), None,
                    {"added": [demand_id, supply_id]})
    return _with_outcome_name(store.get_session_pair(db, pair_id))


def remove_pair(db, session_id: int, pair_id: int, user: dict) -> None:
    """Take a pair off the agenda."""
    with store.transaction(db):
        pair = _pair_in(db, session_id, pair_id)
        store.delete_session_pair(db, pair_id)
        store.audit(db, user["name"], "update", "sessions", str(session_id),
                    {"removed": [pair["demand_id"], pair["supply_id"]]}, None)


def reorder(db, session_id: int, pair_ids: list, user: dict) -> dict:
    """Put the agenda in the given order; pair_ids must name every pair of the session exactly once."""
    current = [pair["id"] for pair in store.session_pairs(db, session_id)] \
        if store.get_session(db, session_id) else None
    if current is None:
        raise _session_not_found(session_id)
    if not isinstance(pair_ids, list) or sorted(pair_ids, key=str) != sorted(current, key=str):
        raise _invalid("新的顺序应包含议程中的每个配对各一次", {"pair_ids": "应为议程中全部配对编号的一个排列"})
    with store.transaction(db):
        for position, pair_id in enumerate(pair_ids, start=1):
            store.update_session_pair(db, pair_id, {"position": position})
        store.audit(db, user["name"], "update", "sessions", str(session_id), {"order": current}, {"order": pair_ids})
    return session_view(db, session_id)


def move_pair(db, session_id: int, pair_id: int, offset: int, user: dict) -> dict:
    """Move a pair up (offset -1) or down (+1) the agenda."""
    _pair_in(db, session_id, pair_id)
    order = [pair["id"] for pair in store.session_pairs(db, session_id)]
    index = order.index(pair_id)
    target = min(max(index + offset, 0), len(order) - 1)
    order.insert(target, order.pop(index))
    return reorder(db, session_id, order, user)


# --- after the event -----------------------------------------------------------------------------

def record_outcome(db, session_id: int, pair_id: int, outcome: str, user: dict, note: str | None = None) -> dict:
    """Record how a pair's talk went: interested (有意向), not_interested (无意向) or follow_up (需跟进)."""
    if not isinstance(outcome, str) or outcome not in OUTCOMES:
        raise _invalid("洽谈结果应为 有意向、无意向 或 需跟进", {"outcome": "应为 interested、not_interested 或 follow_up"})
    problems = {}
    note = _text({"note": note}, "note", problems)
    if problems:
        raise _invalid("备注有误", problems)
    with store.transaction(db):
        pair = _pair_in(db, session_id, pair_id)
        changes = {"outcome": outcome, "outcome_note": note or None,
                   "outcome_by": user["name"], "outcome_at": store.now()}
        store.update_session_pair(db, pair_id, changes)
        store.audit(db, user["name"], "update", "session_pairs", str(pair_id),
                    {"outcome": pair["outcome"]}, {"outcome": outcome, "note": changes["outcome_note"]})
    return _with_outcome_name(store.get_session_pair(db, pair_id))


def confirm_pair(db, session_id: int, pair_id: int, user: dict, **cooperation) -> tuple[dict, bool]:
    """Confirm a session's pair as a cooperation (workflow.confirm) and link it to the session.

    The session itself is the introduction: an undecided proposal is recommended first. A pair a
    broker rejected or a party declined is refused. Returns (cooperation, created).
    """
    if user["role"] not in workflow.BROKERS:
        raise Forbidden("forbidden", "只有技术经纪人可以确认合作")
    session = store.get_session(db, session_id)
    with store.transaction(db):
        pair = _pair_in(db, session_id, pair_id)
        proposal = store.get_proposal_for_pair(db, pair["demand_id"], pair["supply_id"])
        if proposal is None:
            store.save_proposals(db, [{"demand_id": pair["demand_id"], "supply_id": pair["supply_id"],
                                       "score": pair["score"] or 0.0, "dense": None, "lexical": None, "rank": None,
                                       "reasons": pair["reasons"]}], rescore=False)
            proposal = store.get_proposal_for_pair(db, pair["demand_id"], pair["supply_id"])
        if proposal["status"] in ("proposed", "unsure"):
            workflow.decide(db, proposal["id"], "recommended", user, f"专题对接会「{session['title']}」")
        created_cooperation, created = workflow.confirm(db, proposal["id"], user, **cooperation)
        store.link_cooperation_to_session(db, created_cooperation["id"], session_id)
        if not pair["outcome"]:
            store.update_session_pair(db, pair_id, {"outcome": "interested", "outcome_by": user["name"],
                                                    "outcome_at": store.now()})
    return store.get_cooperation_by_id(db, created_cooperation["id"]), created


def _with_outcome_name(pair: dict) -> dict:
    return {**pair, "outcome_name": OUTCOMES.get(pair["outcome"])}


# --- the handout ---------------------------------------------------------------------------------

def handout_pairs(db, session_id: int) -> tuple[dict, list[dict]]:
    """The session and its agenda's pairs with both records as anyone at the table may read them.

    The handout is printed for every enterprise and platform in the room, so each record shows only
    its public fields (workflow.redacted, nobody's consent assumed).
    """
    session = session_view(db, session_id)
    return session, [{**pair, "demand": _handed_out(db, "demands", pair["demand_id"]),
                      "supply": _handed_out(db, "supplies", pair["supply_id"])} for pair in session["pairs"]]


def _handed_out(db, kind: str, record_id: str) -> dict:
    return workflow.redacted(kind, store.get_record(db, kind, record_id), disclosed_to_viewer=False)


def handout_rows(db, session_id: int) -> list[dict]:
    """The agenda as spreadsheet rows with Chinese headers: both sides, score and the reasons."""
    rows = []
    for number, pair in enumerate(handout_pairs(db, session_id)[1], start=1):
        demand, supply = pair["demand"], pair["supply"]
        reasons = pair["reasons"] or {}
        rows.append({
            "序号": number, "需求编号": pair["demand_id"], "需求名称": demand["title"],
            "企业名称": demand.get("enterprise"), "所在区市": demand.get("region"), "需求概述": demand["description"],
            "成果编号": pair["supply_id"], "成果名称": supply["title"], "平台名称": supply.get("platform"),
            "成熟度": supply.get("maturity"), "成果简介": supply["description"],
            "匹配分": round(pair["score"] or 0.0, 2), "共同关键词": "、".join(reasons.get("shared_terms") or []),
            "产业集群一致": _yes_no(reasons.get("same_cluster")), "合作方式一致": _yes_no(reasons.get("same_mode")),
            "洽谈结果": pair["outcome_name"] or "", "备注": pair.get("outcome_note") or "",
        })
    return rows


def _yes_no(value) -> str:
    return {True: "是", False: "否"}.get(value, "未填写")


# --- visits --------------------------------------------------------------------------------------

def clean_visit(fields: dict, user: dict) -> dict:
    """A visit from a form or a JSON body; a platform records visits in its own name."""
    problems = {}
    direction = fields.get("direction")
    direction = "into_enterprise" if direction in (None, "") else direction
    if not isinstance(direction, str) or direction not in DIRECTIONS:
        problems["direction"] = "应为 into_enterprise（走进企业）或 into_platform（走进平台）"
    texts = {name: _text(fields, name, problems) for name in ("enterprise", "partner", "region", "notes",
                                                              "industry_cluster")}
    if user["role"] == "platform":
        if texts["partner"] not in ("", user.get("org")):
            problems["partner"] = f"平台只能以本单位名义记录走访，应为「{user.get('org')}」"
        texts["partner"] = user.get("org") or ""
    texts["partner"] = texts["partner"] or user["name"]
    if not texts["enterprise"] and "enterprise" not in problems:
        problems["enterprise"] = "请填写走访的企业"
    if texts["industry_cluster"] and texts["industry_cluster"] not in INDUSTRY_CLUSTERS:
        problems["industry_cluster"] = f"产业集群应为 {'、'.join(INDUSTRY_CLUSTERS)} 之一"
    visited_on = _date(fields.get("visited_on"), "visited_on", problems)
    if problems:
        raise _invalid("走访信息有误", problems)
    return {"direction": direction, "enterprise": texts["enterprise"], "partner": texts["partner"],
            "visited_on": visited_on, "region": texts["region"] or None,
            "industry_cluster": texts["industry_cluster"] or None, "notes": texts["notes"] or None}


def may_visit(db, user: dict, enterprise: str) -> bool:
    """Brokers record visits to any enterprise; a platform only to one that agreed to be introduced to it
    on a recommended pair (the consent rule of proposals), so a visit cannot open a way around it."""
    if user["role"] in PLANNERS:
        return True
    return user["role"] == "platform" and workflow.introduced(db, user, "demands", {"enterprise": enterprise})


def visitable_enterprises(db, user: dict) -> list[str]:
    """The enterprises a platform may record a visit to, for its form's choice."""
    return sorted({proposal["enterprise"] for proposal in store.list_proposals(db, workflow.party_filter(user))
                   if proposal["enterprise"] and workflow.disclosed(user, proposal, "demands")})


def record_visit(db, user: dict, fields: dict) -> dict:
    """A broker or a platform records a visit; returns visit_view()."""
    if user["role"] not in VISITORS:
        raise Forbidden("forbidden", "只有技术经纪人或平台可以记录走访")
    visit = clean_visit(fields, user)
    if not may_visit(db, user, visit["enterprise"]):
        raise Forbidden("forbidden", "平台只能记录对已同意引荐的企业的走访；走进其他企业请由技术经纪人记录",
                            {"enterprise": "该企业尚未在技术经纪人推荐的对接中同意向本平台引荐"})
    with store.transaction(db):
        visit_id = store.add_visit(db, {**visit, "created_by": user["name"], "created_at": store.now()})
        store.audit(db, user["name"], "create", "visits", str(visit_id), None, visit)
    return visit_view(db, visit_id, user)


def can_see_visit(user: dict | None, visit: dict | None) -> bool:
    """Brokers and admins see every visit; a platform those it made, an enterprise those to it."""
    if not user or not visit:
        return False
    if user["role"] in SEE_ALL:
        return True
    column = {"platform": "partner", "enterprise": "enterprise"}.get(user["role"])
    return bool(column and user.get("org")) and visit[column] == user["org"]


def visit_filter(user: dict) -> dict:
    """The store filter that limits the visit list to what the user may see."""
    if user["role"] in SEE_ALL:
        return {}
    column = {"platform": "partner", "enterprise": "enterprise"}.get(user["role"], "partner")
    return {column: user.get("org") or "\0"}


def may_register_demands(user: dict | None, visit: dict) -> bool:
    """Brokers, and the platform that made the visit, register the demands found on it."""
    return bool(user) and (user["role"] in PLANNERS or (user["role"] == "platform" and can_see_visit(user, visit)))


def visit_view(db, visit_id: int, user: dict) -> dict:
    """A visit with the demands found on it, each as the user may see it (workflow.redacted)."""
    visit = store.get_visit(db, visit_id)
    if visit is None:
        raise NotFound("not_found", f"找不到编号为 {visit_id} 的走访记录")
    demands = [workflow.redacted("demands", demand, workflow.record_disclosed(db, user, "demands", demand))
               for demand in store.visit_demands(db, visit_id)]
    return {**visit, "direction_name": DIRECTIONS.get(visit["direction"], visit["direction"]),
            "headline": visit_headline(visit), "demands": demands}


def visit_headline(visit: dict) -> str:
    """Who visited whom: "平台 走进企业 企业" or "企业 走进平台 平台"."""
    if visit["direction"] == "into_platform":
        return f"{visit['enterprise']} {DIRECTIONS['into_platform']} {visit['partner']}"
    return f"{visit['partner']} {DIRECTIONS['into_enterprise']} {visit['enterprise']}"


def visit_demand_defaults(visit: dict) -> dict:
    """What a demand found on a visit starts with: the enterprise, district and cluster, posted that day."""
    return {"enterprise": visit["enterprise"], "region": visit.get("region") or "",
            "industry_cluster": visit.get("industry_cluster") or "", "posted_at": visit["visited_on"],
            "status": NEW_DEMAND_STATUS}


def register_demand(db, user: dict, visit: dict, record: dict) -> dict:
    """Save a clean demand found on a visit (in the visit's enterprise's name) and link it to the visit."""
    if not may_register_demands(user, visit):
        raise Forbidden("forbidden", "只有技术经纪人或该次走访的平台可以登记走访中发现的需求")
    record = {**record, "enterprise": visit["enterprise"]}
    with store.transaction(db):
        saved = store.save_record(db, "demands", record, user["name"], create=True)
        store.link_demand_to_visit(db, saved["id"], visit["id"])
        store.audit(db, user["name"], "update", "visits", str(visit["id"]), None, {"demand": saved["id"]})
    return store.get_record(db, "demands", saved["id"])


# --- figures for the monthly report --------------------------------------------------------------

def session_figures(db, month: str) -> dict:
    """A month's sessions and visits: totals, each session's pairs and cooperations, and both by
    demand cluster and district.

    >>> session_figures(db, "2021-06")["sessions_held"]      # doctest: +SKIP
    2
    """
    sessions = store.list_sessions(db, month)
    visits = store.list_visits(db, {"month": month})
    return {
        "month": month,
        "sessions_held": len(sessions),
        "pairs_discussed": sum(session["pair_count"] for session in sessions),
        "session_cooperations": sum(session["cooperation_count"] for session in sessions),
        "per_session": [{key: session[key] for key in ("id", "title", "theme_kind", "theme", "held_on",
                                                       "pair_count", "cooperation_count")} for session in sessions],
        "sessions_by_cluster": store.session_figures_by(db, month, "industry_cluster"),
        "sessions_by_region": store.session_figures_by(db, month, "region"),
        "visits_made": len(visits),
        "demands_collected": sum(visit["demand_count"] for visit in visits),
        "per_visit": [{key: visit[key] for key in ("id", "enterprise", "partner", "visited_on", "region",
                                                   "industry_cluster", "demand_count")} for visit in visits],
        "visits_by_cluster": store.visit_figures_by(db, month, "industry_cluster"),
        "visits_by_region": store.visit_figures_by(db, month, "region"),
    }
