"""The API and the pages apply one rule for one thing (issue 16, item 2): the same action through
/api/v1 and through the forms, on the same real SQLite store, gives the same result."""
from __future__ import annotations

import re

import pytest

from service import auth, errors, store, workflow
from service.app import create_app
from service.resources import shutdown
from service.web.presenting import percent

from .records import HUALIAN

pytestmark = pytest.mark.instance("api")

DEMAND = {"title": "模具钢热处理变形控制", "description": "模具钢淬火后变形超差，需要优化热处理工艺与装夹方式。",
          "posted_at": "2019-05-01"}
FOOD = "海洋生物与健康食品"
FIGURE = re.compile(r'需求匹配率</span><span class="value">([^<]*)</span>')


def signed_in(client, login, name: str) -> str:
    """Log the test client in through the login form; returns the CSRF token for its forms."""
    login(name)
    with client.session_transaction() as session:
        return session["csrf_token"]


def new_id(response) -> str:
    """The new record's id: the API's body, or the last part of where the form redirects."""
    return str(response.json["id"]) if response.is_json else response.headers["Location"].rsplit("/", 1)[1]


def test_a_new_demand_is_numbered_alike_by_the_api_and_the_form(api, client, login):
    by_api = api("broker").post("/demands", json={**DEMAND, "enterprise": HUALIAN})
    token = signed_in(client, login, "broker")
    by_form = client.post("/demands/new", data={**DEMAND, "enterprise": HUALIAN, "csrf_token": token})
    assert by_api.status_code == 201 and by_form.status_code == 302
    assert [new_id(by_api), new_id(by_form)] == ["D2019-001", "D2019-002"]


def test_a_new_session_is_numbered_alike_by_the_api_and_the_form(api, client, login):
    by_api = api("broker").post("/sessions", json={"theme_kind": "cluster", "theme": FOOD, "held_on": "2021-06-18"})
    token = signed_in(client, login, "broker")
    by_form = client.post("/sessions", data={"theme": f"cluster:{FOOD}", "held_on": "2021-06-18",
                                             "csrf_token": token})
    assert by_api.status_code == 201 and by_form.status_code == 302
    first = new_id(by_api)
    assert first.isdigit() and new_id(by_form) == str(int(first) + 1)


@pytest.mark.parametrize("bad, named", [
    pytest.param({"description": "缩痕严重"}, {"description", "enterprise"}, id="short description, no enterprise"),
    pytest.param({"enterprise": HUALIAN, "title": "长" * 81}, {"title"}, id="long title"),
    pytest.param({"enterprise": HUALIAN, "budget_wan": "很多"}, {"budget_wan"}, id="budget not a number"),
])
def test_the_api_and_the_form_refuse_the_same_demand_with_the_same_messages(api, client, login, db, bad, named):
    body = {key: value for key, value in {**DEMAND, **bad}.items() if key != "posted_at"}
    by_api = api("broker").post("/demands", json=body)
    token = signed_in(client, login, "broker")
    by_form = client.post("/demands/new", data={**body, "csrf_token": token})
    assert by_api.status_code == 422 and by_form.status_code == 422
    messages = by_api.json["error"]["fields"]
    assert set(messages) == named
    page = by_form.get_data(as_text=True)
    for message in messages.values():
        assert message in page
    assert store.count_records(db, "demands", {"title": body["title"]}) == 0


def test_the_match_rate_is_one_figure_on_the_home_page_and_in_the_summary(api, client, db):
    broker = {"name": "broker", "role": "broker"}
    proposal = store.get_proposal_for_pair(db, "D2021-101", "S2021-201")
    workflow.decide(db, proposal["id"], "recommended", broker)
    workflow.confirm(db, proposal["id"], broker, mode="技术转让", amount_wan=30)
    summary = api("broker").get("/reports/summary").json
    assert summary["match_rate"] == 0.2  # 2 of the 10 demands: this one and D2021-109
    assert FIGURE.search(client.get("/").get_data(as_text=True)).group(1) == percent(summary["match_rate"]) == "20.0%"


def test_without_demands_the_match_rate_is_no_figure_on_either(tmp_path, embedder):
    app = create_app({"TESTING": True, "DATABASE": str(tmp_path / "empty.db"), "EMBEDDER": embedder,
                      "SECRET_KEY": "test"})
    try:
        with store.open_db(app.config["DATABASE"]) as db:
            _, _, token = auth.create_user(db, "broker", "broker", None)
        client = app.test_client()
        summary = client.get("/api/v1/reports/summary", headers={"Authorization": f"Bearer {token}"}).json
        assert summary["demands"] == 0 and summary["match_rate"] is None
        assert FIGURE.search(client.get("/").get_data(as_text=True)).group(1) == "—"
    finally:
        shutdown(app)


def test_a_queue_zone_is_strong_review_or_none_for_both():
    assert workflow.queue_filters({}, None, 0.8, 0.65)["min_score"] == 0.65
    assert workflow.queue_filters({}, "review", 0.8, 0.65)["max_score"] == 0.8
    with pytest.raises(errors.Invalid) as refused:
        workflow.queue_filters({}, "all", 0.8, 0.65)
    assert refused.value.code == "invalid_zone"
