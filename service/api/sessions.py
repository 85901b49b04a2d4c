"""/sessions (专题对接) and /visits (双走进): brokers plan sessions; brokers and platforms record visits."""
from __future__ import annotations

from flask import Blueprint, jsonify, url_for
from pydantic import BaseModel

from .. import sessions as domain
from .. import store
from ..resources import get_db, live_index
from ..permissions import SEE_ALL
from ..auth import current_user, login_required, roles_required
from .base import ApiError
from .lists import clean
from .operations import Month, month, operation


class MonthQuery(BaseModel):
    month: Month = month()

bp = Blueprint("sessions", __name__, url_prefix="/sessions")
visits = Blueprint("visits", __name__, url_prefix="/visits")


def created(body: dict, location: str | None = None):
    response = jsonify(body)
    response.status_code = 201
    if location:
        response.headers["Location"] = location
    return response


# --- sessions ----------------------------------------------------------------------------------

@bp.get("")
@roles_required(*SEE_ALL)
@operation("专题对接会列表（技术经纪人、管理员）", {200: "SessionList"}, (403,), query=MonthQuery, tag="sessions")
def index(query):
    return {"items": store.list_sessions(get_db(), query.month)}


@bp.post("")
@roles_required("broker")
@operation("策划专题对接会：按主题选出开放需求与成果，给出议程（最佳配对在前，每家企业、每个平台有次数上限，已决定的配对不再出现）",
           {201: "Session"}, (403, 422), body="SessionInput", tag="sessions")
def create(body):
    session = domain.plan_session(get_db(), live_index().engine(), current_user(), body)
    return created(session, url_for(".show", session_id=session["id"]))


@bp.get("/<int:session_id>")
@roles_required(*SEE_ALL)
@operation("对接会详情与议程", {200: "Session"}, (403, 404), tag="sessions")
def show(session_id):
    return domain.session_view(get_db(), session_id)


@bp.post("/<int:session_id>/pairs")
@roles_required("broker")
@operation("按编号向议程添加配对", {201: "SessionPair"}, (403, 404, 409, 422), body="PairInput", tag="sessions")
def add_pair(session_id, body):
    return created(domain.add_pair(get_db(), live_index().engine(), session_id, body.get("demand_id"),
                                   body.get("supply_id"), current_user()))


@bp.delete("/<int:session_id>/pairs/<int:pair_id>")
@roles_required("broker")
@operation("从议程中移除配对", {204: None}, (400, 403, 404), tag="sessions")
def remove_pair(session_id, pair_id):
    domain.remove_pair(get_db(), session_id, pair_id, current_user())
    return "", 204


@bp.put("/<int:session_id>/order")
@roles_required("broker")
@operation("调整议程顺序", {200: "Session"}, (403, 404, 422), body="OrderInput", tag="sessions")
def reorder(session_id, body):
    return domain.reorder(get_db(), session_id, body.get("pair_ids"), current_user())


@bp.post("/<int:session_id>/pairs/<int:pair_id>/outcome")
@roles_required("broker")
@operation("记录洽谈结果：有意向、无意向、需跟进", {200: "SessionPair"}, (403, 404, 422), body="OutcomeInput", tag="sessions")
def outcome(session_id, pair_id, body):
    return domain.record_outcome(get_db(), session_id, pair_id, body.get("outcome"), current_user(), body.get("note"))


@bp.post("/<int:session_id>/pairs/<int:pair_id>/confirm")
@roles_required("broker")
@operation("确认为合作（合作记录关联到本次对接会）", {201: "Cooperation", 200: "Cooperation"}, (403, 404, 409, 422),
           body="ConfirmInput", tag="sessions")
def confirm(session_id, pair_id, body):
    cooperation, made = domain.confirm_pair(get_db(), session_id, pair_id, current_user(), mode=body.get("mode"),
                                            amount_wan=body.get("amount_wan"), confirmed_at=body.get("confirmed_at"),
                                            note=body.get("note"), typed=True)
    response = jsonify(cooperation)
    response.status_code = 201 if made else 200
    return response


# --- visits ------------------------------------------------------------------------------------

def visible_visit(visit_id: int) -> dict:
    """A visit the caller may see; anyone else's is as good as absent."""
    visit = store.get_visit(get_db(), visit_id)
    if not domain.can_see_visit(current_user(), visit):
        raise ApiError(404, "not_found", f"找不到编号为 {visit_id} 的走访记录")
    return visit


@visits.get("")
@login_required
@operation("走访记录（经纪人、管理员：全部；平台：本单位的；企业：走访本企业的）", {200: "VisitList"}, query=MonthQuery,
           tag="sessions")
def visit_index(query):
    filters = {**domain.visit_filter(current_user()), "month": query.month}
    return {"items": store.list_visits(get_db(), filters)}


@visits.post("")
@roles_required("broker", "platform")
@operation("记录一次走访（技术经纪人、平台）", {201: "Visit"}, (403, 422), body="VisitInput", tag="sessions")
def visit_create(body):
    visit = domain.record_visit(get_db(), current_user(), body)
    return created(visit, url_for(".visit_show", visit_id=visit["id"]))


@visits.get("/<int:visit_id>")
@login_required
@operation("走访详情及其中发现的技术需求", {200: "Visit"}, (404,), tag="sessions")
def visit_show(visit_id):
    visible_visit(visit_id)
    return domain.visit_view(get_db(), visit_id, current_user())


@visits.post("/<int:visit_id>/demands")
@login_required
@operation("登记走访中发现的技术需求（企业、区市取自走访记录）", {201: "Demand"}, (403, 404, 409, 422), body="DemandInput",
           tag="sessions")
def visit_demand(visit_id, body):
    """Register a demand found on the visit: the visit's enterprise, district and date are its defaults."""
    visit = visible_visit(visit_id)
    user = current_user()
    if not domain.may_register_demands(user, visit):
        raise ApiError(403, "forbidden", "只有技术经纪人或该次走访的平台可以登记走访中发现的需求")
    if body.get("enterprise") not in (None, "", visit["enterprise"]):
        raise ApiError(422, "invalid_input", "走访中发现的需求属于被走访的企业",
                       {"enterprise": f"应为「{visit['enterprise']}」"})
    defaults = domain.visit_demand_defaults(visit)
    # A blank field takes the visit's default, but a blank id is a mistake here as on POST /demands.
    given = {key: value for key, value in body.items() if key == "id" or value not in (None, "")}
    record = clean("demands", {**defaults, **given}, new=True)
    saved = domain.register_demand(get_db(), user, visit, record)
    live_index().refresh_later("demands", saved["id"])
    return created(saved, url_for("api.demands.show", record_id=saved["id"]))
