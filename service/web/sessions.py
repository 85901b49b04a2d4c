"""Pages for themed matchmaking sessions (专题对接) and visits (双走进): plan, edit, print, record."""
from __future__ import annotations

import tempfile
from pathlib import Path

from flask import abort, current_app, flash, redirect, render_template, request, send_file, url_for

from .. import auth, store
from .. import sessions as domain
from ..errors import DomainError, NotFound
from ..importers import write_records
from ..records import FIELDS, INDUSTRY_CLUSTERS
from ..resources import get_db, thresholds
from ..permissions import SEE_ALL
from .blueprint import COOPERATION_MODES, bp
from .access import record_saved
from .lists import REGIONS, _merge, _validate
from .review import _back, _refused

DEMAND_FORM_FIELDS = ("title", "description", "industry_cluster", "industry_chain", "keywords", "budget_wan",
                      "cooperation_mode", "deadline", "contact")


def _engine():
    return current_app.extensions["live_index"].engine()


def _theme_options(db) -> dict:
    """What each kind of theme can be: the seven clusters, the chains, districts and platforms in the lists."""
    return {
        "cluster": INDUSTRY_CLUSTERS,
        "chain": store.distinct_values(db, "demands", "industry_chain"),
        "region": _merge(REGIONS, store.distinct_values(db, "demands", "region")),
        "platform": store.distinct_values(db, "supplies", "platform"),
    }


# --- sessions --------------------------------------------------------------------------------

@bp.get("/sessions")
@auth.roles_required(*SEE_ALL)
def sessions():
    db = get_db()
    return render_template("sessions.html", sessions=store.list_sessions(db), options=_theme_options(db),
                           theme_kinds=domain.THEME_KINDS, defaults={"per_party_limit": domain.DEFAULT_PER_PARTY_LIMIT,
                                                                     "size": domain.DEFAULT_AGENDA_SIZE,
                                                                     "min_score": domain.DEFAULT_MIN_SCORE},
                           may_plan=auth.current_user()["role"] in domain.PLANNERS)


@bp.post("/sessions")
@auth.roles_required("broker")
def session_plan():
    form = request.form
    fields = {name: form.get(name, "").strip() for name in ("title", "held_on", "per_party_limit", "size", "min_score", "note")}
    # One select with a group per kind of theme: its values read "cluster:康养旅游".
    fields["theme_kind"], _, fields["theme"] = form.get("theme", "").partition(":")
    try:
        session = domain.plan_session(get_db(), _engine(), auth.current_user(), fields)
    except DomainError as error:
        _refused(error)
        return redirect(url_for("web.sessions"))
    flash(f"已策划「{session['title']}」，议程 {len(session['pairs'])} 对，可在下面调整。", "success")
    return redirect(url_for("web.session_detail", session_id=session["id"]))


def _session_or_404(session_id: int) -> dict:
    try:
        return domain.session_view(get_db(), session_id)
    except NotFound:
        abort(404)


@bp.get("/sessions/<int:session_id>")
@auth.roles_required(*SEE_ALL)
def session_detail(session_id):
    session = _session_or_404(session_id)
    return render_template("sessions_detail.html", session=session, outcomes=domain.OUTCOMES,
                           may_edit=auth.current_user()["role"] in domain.PLANNERS, upper=thresholds()[0],
                           cooperation_modes=COOPERATION_MODES)


def _session_step(session_id: int, step, message: str):
    """Run one agenda edit, flash what happened, and return to the agenda."""
    try:
        step()
    except DomainError as error:
        _refused(error)
    else:
        flash(message, "success")
    return redirect(_back(url_for("web.session_detail", session_id=session_id)))


@bp.post("/sessions/<int:session_id>/pairs")
@auth.roles_required("broker")
def session_add_pair(session_id):
    demand_id, supply_id = request.form.get("demand_id", "").strip(), request.form.get("supply_id", "").strip()
    return _session_step(session_id, lambda: domain.add_pair(get_db(), _engine(), session_id, demand_id, supply_id,
                                                             auth.current_user()),
                         f"已将 {demand_id} × {supply_id} 加入议程。")


@bp.post("/sessions/<int:session_id>/pairs/<int:pair_id>/remove")
@auth.roles_required("broker")
def session_remove_pair(session_id, pair_id):
    return _session_step(session_id, lambda: domain.remove_pair(get_db(), session_id, pair_id, auth.current_user()),
                         "已从议程中移除该配对。")


@bp.post("/sessions/<int:session_id>/pairs/<int:pair_id>/move")
@auth.roles_required("broker")
def session_move_pair(session_id, pair_id):
    offset = -1 if request.form.get("direction") == "up" else 1
    return _session_step(session_id, lambda: domain.move_pair(get_db(), session_id, pair_id, offset,
                                                              auth.current_user()),
                         "已调整议程顺序。")


@bp.post("/sessions/<int:session_id>/pairs/<int:pair_id>/outcome")
@auth.roles_required("broker")
def session_outcome(session_id, pair_id):
    outcome = request.form.get("outcome", "")
    return _session_step(session_id, lambda: domain.record_outcome(get_db(), session_id, pair_id, outcome,
                                                                   auth.current_user(), request.form.get("note")),
                         f"已记录洽谈结果：{domain.OUTCOMES.get(outcome, outcome)}。")


@bp.post("/sessions/<int:session_id>/pairs/<int:pair_id>/confirm")
@auth.roles_required("broker")
def session_confirm(session_id, pair_id):
    form = request.form
    return _session_step(session_id, lambda: domain.confirm_pair(
        get_db(), session_id, pair_id, auth.current_user(), mode=form.get("mode"), amount_wan=form.get("amount_wan"),
        confirmed_at=form.get("confirmed_at") or None, note=form.get("note")), "已确认为合作，并关联到本次对接会。")


@bp.get("/sessions/<int:session_id>/handout")
@auth.roles_required(*SEE_ALL)
def session_handout(session_id):
    """The print-ready handout (A4): each pair's two summaries, its score and the engine's reasons."""
    _session_or_404(session_id)
    session, pairs = domain.handout_pairs(get_db(), session_id)
    return render_template("handout.html", session=session, pairs=pairs)


@bp.get("/sessions/<int:session_id>/handout.xlsx")
@auth.roles_required(*SEE_ALL)
def session_handout_xlsx(session_id):
    session = _session_or_404(session_id)
    rows = domain.handout_rows(get_db(), session_id)
    folder = Path(tempfile.mkdtemp(prefix="handout-"))
    path = folder / "handout.xlsx"
    write_records(rows, path, "专题对接议程")
    response = send_file(path, as_attachment=True, download_name=f"{session['title']}-议程.xlsx",
                         mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response.call_on_close(lambda: (path.unlink(missing_ok=True), folder.rmdir()))
    return response


# --- visits ------------------------------------------------------------------------------------

VISIT_FIELDS = ("direction", "enterprise", "partner", "visited_on", "region", "industry_cluster", "notes")


@bp.get("/visits")
@auth.login_required
def visits():
    db = get_db()
    user = auth.current_user()
    return render_template("visits.html", visits=store.list_visits(db, domain.visit_filter(user)),
                           directions=domain.DIRECTIONS, clusters=INDUSTRY_CLUSTERS,
                           regions=_merge(REGIONS, store.distinct_values(db, "demands", "region")),
                           may_record=user["role"] in domain.VISITORS,
                           enterprises=domain.visitable_enterprises(db, user) if user["role"] == "platform" else None,
                           enterprise_names=store.distinct_values(db, "demands", "enterprise"),
                           platform_names=store.distinct_values(db, "supplies", "platform"))


@bp.post("/visits")
@auth.roles_required("broker", "platform")
def visit_record():
    fields = {name: request.form.get(name, "").strip() for name in VISIT_FIELDS}
    try:
        visit = domain.record_visit(get_db(), auth.current_user(), fields)
    except DomainError as error:
        _refused(error)
        return redirect(url_for("web.visits"))
    flash(f"已记录走访「{visit['enterprise']}」，可以在本页登记走访中发现的技术需求。", "success")
    return redirect(url_for("web.visit_detail", visit_id=visit["id"]))


def _visible_visit(visit_id: int) -> dict:
    db = get_db()
    visit = store.get_visit(db, visit_id)
    if not domain.can_see_visit(auth.current_user(), visit):
        abort(404)  # someone else's visit is as absent as a missing one, as in the API
    return domain.visit_view(db, visit_id, auth.current_user())


def _visit_page(visit: dict, values: dict, errors: dict, status: int = 200):
    db = get_db()
    return render_template("visits_detail.html", visit=visit, values=values, errors=errors,
                           fields={field.key: field for field in FIELDS["demands"]},
                           clusters=INDUSTRY_CLUSTERS, modes=COOPERATION_MODES,
                           regions=_merge(REGIONS, store.distinct_values(db, "demands", "region")),
                           may_register=domain.may_register_demands(auth.current_user(), visit)), status


@bp.get("/visits/<int:visit_id>")
@auth.login_required
def visit_detail(visit_id):
    visit = _visible_visit(visit_id)
    return _visit_page(visit, domain.visit_demand_defaults(visit), {})


@bp.post("/visits/<int:visit_id>/demands")
@auth.login_required
def visit_demand(visit_id):
    """The demand form on the visit page: the enterprise is the visit's, district and date default to it."""
    visit = _visible_visit(visit_id)
    user = auth.current_user()
    if not domain.may_register_demands(user, visit):
        abort(403)
    values = {**domain.visit_demand_defaults(visit),
              **{key: request.form.get(key, "").strip() for key in (*DEMAND_FORM_FIELDS, "region")}}
    values["enterprise"] = visit["enterprise"]
    record, errors = _validate("demands", values, None)
    if errors:
        return _visit_page(visit, values, errors, 422)
    try:
        saved = domain.register_demand(get_db(), user, visit, record)
    except DomainError as error:
        _refused(error)
        return redirect(url_for("web.visit_detail", visit_id=visit_id))
    record_saved("demands", saved["id"])
    flash(f"已登记技术需求「{saved['title']}」（{saved['id']}），系统正在为它匹配。", "success")
    return redirect(url_for("web.visit_detail", visit_id=visit_id))
