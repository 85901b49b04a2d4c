"""Every endpoint × every kind of caller → the status the object-level rules promise.

Columns: anonymous, the enterprise that owns D2021-101, another enterprise, the platform that owns
S2021-201, another platform, a broker, an admin. Someone else's record answers 404, as if absent.
Brokers post and edit both lists (demands found on visits, issue 8) but delete nothing.
"""
from __future__ import annotations

import io

import pytest

from service import store, workflow

from .records import HUALIAN, OTHER_DEMAND, OTHER_SUPPLY, OWN_DEMAND, OWN_SUPPLY, SDU

pytestmark = pytest.mark.instance("api")

CALLERS = (None, "enterprise", "other_enterprise", "platform", "other_platform", "broker", "admin")
DEMAND = {"title": "新的技术需求", "description": "需要解决的问题：注塑件表面缩痕"}
SUPPLY = {"title": "新的科技成果", "description": "可以提供的技术：注塑模流分析"}
# Owners post in their own name; a broker or an admin names the enterprise or platform (records.clean_posted_record).
NAMED_OWNER = {"/demands": {"enterprise": HUALIAN}, "/supplies": {"platform": SDU}}
DEMANDS_FILE = ("data", '{"id": "D2021-900", "title": "导入的需求", "description": "导入"}\n')

# (method, path, body, expected statuses in CALLERS order). {open}: a proposal nobody decided on;
# {recommended}: HUALIAN × HIT recommended by the broker; {cooperation}: HAIDA × SDU confirmed.
TABLE = [
    ("get", "/demands", None, (401, 200, 200, 200, 200, 200, 200)),
    ("get", f"/demands/{OWN_DEMAND}", None, (401, 200, 404, 404, 404, 200, 200)),
    ("post", "/demands", DEMAND, (401, 201, 201, 403, 403, 201, 201)),
    ("patch", f"/demands/{OWN_DEMAND}", {"budget_wan": 50, "version": 1}, (401, 200, 404, 404, 404, 200, 200)),
    ("put", f"/demands/{OWN_DEMAND}", {**DEMAND, "version": 1}, (401, 200, 404, 404, 404, 200, 200)),
    ("delete", f"/demands/{OTHER_DEMAND}", None, (401, 404, 409, 404, 404, 403, 409)),
    ("delete", f"/demands/{OWN_DEMAND}", None, (401, 204, 404, 404, 404, 403, 204)),
    ("get", f"/demands/{OWN_DEMAND}/proposals", None, (401, 200, 404, 404, 404, 200, 200)),
    ("get", f"/demands/{OWN_DEMAND}/history", None, (401, 200, 404, 404, 404, 200, 200)),
    ("get", "/supplies", None, (401, 200, 200, 200, 200, 200, 200)),
    ("get", f"/supplies/{OWN_SUPPLY}", None, (401, 404, 404, 200, 404, 200, 200)),
    ("post", "/supplies", SUPPLY, (401, 403, 403, 201, 201, 201, 201)),
    ("patch", f"/supplies/{OWN_SUPPLY}", {"price_wan": 50, "version": 1}, (401, 404, 404, 200, 404, 200, 200)),
    ("delete", f"/supplies/{OWN_SUPPLY}", None, (401, 404, 404, 204, 404, 403, 204)),
    ("delete", f"/supplies/{OTHER_SUPPLY}", None, (401, 404, 404, 404, 409, 403, 409)),
    ("get", f"/supplies/{OWN_SUPPLY}/proposals", None, (401, 404, 404, 200, 404, 200, 200)),
    ("get", f"/supplies/{OWN_SUPPLY}/history", None, (401, 404, 404, 200, 404, 200, 200)),
    ("get", "/proposals", None, (401, 200, 200, 200, 200, 200, 200)),
    ("get", "/proposals?zone=review", None, (401, 200, 200, 200, 200, 200, 200)),
    ("get", "/proposals/{open}", None, (401, 404, 404, 404, 404, 200, 200)),
    ("get", "/proposals/{recommended}", None, (401, 200, 404, 200, 404, 200, 200)),
    ("post", "/proposals/{open}/decision", {"status": "recommended"}, (401, 404, 404, 404, 404, 200, 403)),
    ("post", "/proposals/{recommended}/decision", {"status": "declined"}, (401, 200, 404, 200, 404, 200, 403)),
    ("post", "/proposals/{recommended}/undo", None, (401, 403, 404, 403, 404, 200, 403)),
    ("post", "/proposals/{recommended}/confirm", {"mode": "技术服务", "amount_wan": 30},
     (401, 403, 403, 403, 403, 201, 403)),
    ("post", "/proposals/{recommended}/introduction", None, (401, 200, 404, 200, 404, 403, 403)),
    ("post", "/proposals/bulk", {"status": "unsure", "ids": ["{open}"]}, (401, 403, 403, 403, 403, 200, 403)),
    ("get", "/cooperations", None, (401, 200, 200, 200, 200, 200, 200)),
    ("get", "/cooperations/{cooperation}", None, (401, 404, 200, 404, 200, 200, 200)),
    ("get", "/gaps", None, (401, 403, 403, 403, 403, 200, 200)),
    ("get", "/reports/summary", None, (401, 200, 200, 200, 200, 200, 200)),
    ("get", "/audit", None, (401, 403, 403, 403, 403, 200, 200)),
    ("get", "/me", None, (401, 200, 200, 200, 200, 200, 200)),
    ("get", "/users", None, (401, 403, 403, 403, 403, 403, 200)),
    ("post", "/users", {"name": "新经纪人", "role": "broker"}, (401, 403, 403, 403, 403, 403, 201)),
    ("post", "/imports/demands", DEMANDS_FILE, (401, 403, 403, 403, 403, 403, 200)),
    ("post", "/reindex", None, (401, 403, 403, 403, 403, 403, 202)),
    ("get", "/openapi.json", None, (200,) * 7),
]
CASES = [pytest.param(method, path, body, caller, expected, id=f"{method.upper()} {path} as {caller or 'anonymous'}")
         for method, path, body, statuses in TABLE for caller, expected in zip(CALLERS, statuses)]


@pytest.fixture
def ids(db):
    """A recommended pair for the enterprise and platform accounts, and a confirmed one for the others."""
    broker = store.public_user(store.get_user_by_name(db, "broker"))
    recommended = store.get_proposal_for_pair(db, OWN_DEMAND, OWN_SUPPLY)["id"]
    workflow.decide(db, recommended, "recommended", broker)
    confirmed = store.get_proposal_for_pair(db, OTHER_DEMAND, OTHER_SUPPLY)["id"]
    workflow.decide(db, confirmed, "recommended", broker)
    cooperation, _ = workflow.confirm(db, confirmed, broker, mode="技术转让", amount_wan=80)
    return {"open": store.get_proposal_for_pair(db, "D2021-105", "S2021-203")["id"], "recommended": recommended,
            "cooperation": cooperation["id"]}


@pytest.mark.parametrize("method, path, body, caller, expected", CASES)
def test_permission(api, ids, method, path, body, caller, expected):
    path = path.format(**ids)
    kwargs = {}
    if body == DEMANDS_FILE:
        kwargs["data"] = {"file": (io.BytesIO(body[1].encode()), "demands.jsonl")}
    elif body is not None:
        kwargs["json"] = {key: ([ids["open"]] if value == ["{open}"] else value) for key, value in body.items()}
        if method == "post" and caller in ("broker", "admin"):
            kwargs["json"].update(NAMED_OWNER.get(path, {}))
    response = getattr(api(caller), method)(path, **kwargs)
    assert response.status_code == expected, response.get_data(as_text=True)[:300]
