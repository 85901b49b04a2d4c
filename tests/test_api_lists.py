"""/api/v1/demands and /api/v1/supplies: list, filter, page, show, create, edit with versions, delete."""
from __future__ import annotations

import pytest

from .records import DEMANDS, HAIDA, HIT, HUALIAN, OWN_DEMAND, SUPPLIES

pytestmark = pytest.mark.instance("api")

NEW_DEMAND = {"title": "模具钢热处理变形控制", "description": "模具钢淬火后变形超差，需要优化热处理工艺与装夹方式。",
              "industry_cluster": "先进装备与智能制造", "region": "环翠区", "keywords": "热处理、变形、模具钢",
              "budget_wan": 25, "contact": "王工 139****1201"}


def test_brokers_list_every_demand_newest_first_with_pagination(api):
    first = api("broker").get("/demands?per_page=3").json
    assert first["total"] == len(DEMANDS) and first["page"] == 1 and first["per_page"] == 3
    assert [d["id"] for d in first["items"]] == ["D2021-110", "D2021-109", "D2021-108"]
    last = api("broker").get("/demands?per_page=3&page=4").json
    assert [d["id"] for d in last["items"]] == ["D2021-101"]


@pytest.mark.parametrize("query, expected", [
    ("cluster=海洋生物与健康食品", {"D2021-103", "D2021-104"}),
    ("region=荣成市&status=对接中", {"D2021-104"}),
    ("month=2021-03", {"D2021-101", "D2021-102"}),
    ("q=碳纤维", {"D2021-105"}),
    (f"enterprise={HUALIAN}", {"D2021-101", "D2021-102"}),
])
def test_demands_filter_by_cluster_region_status_month_and_text(api, query, expected):
    assert {d["id"] for d in api("broker").get(f"/demands?{query}").json["items"]} == expected


def test_supplies_filter_by_platform(api):
    found = api("broker").get(f"/supplies?platform={HIT}&per_page=50").json
    assert found["total"] == sum(1 for s in SUPPLIES if s["platform"] == HIT) == 4
    assert {s["platform"] for s in found["items"]} == {HIT}


@pytest.mark.parametrize("query, field", [("page=0", "page"), ("per_page=1000", "per_page"), ("page=x", "page"),
                                          ("month=2021-13", "month"), ("colour=red", "colour")])
def test_bad_list_parameters_are_a_400_naming_the_parameter(api, query, field):
    response = api("broker").get(f"/demands?{query}")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_parameter" and field in response.json["error"]["fields"]


def test_supplies_have_no_region_filter(api):
    assert api("broker").get("/supplies?region=环翠区").status_code == 400


def test_an_enterprise_lists_only_its_own_demands_and_no_supplies(api):
    mine = api("enterprise").get("/demands").json
    assert mine["total"] == 2 and {d["enterprise"] for d in mine["items"]} == {HUALIAN}
    assert api("enterprise").get("/supplies").json["total"] == 0


def test_a_platform_lists_only_its_own_supplies(api):
    mine = api("platform").get("/supplies?per_page=100").json
    assert mine["total"] == sum(1 for s in SUPPLIES if s["platform"] == HIT)
    assert api("platform").get("/demands").json["total"] == 0


def test_an_enterprise_posts_a_demand_under_its_own_name(api):
    response = api("enterprise").post("/demands", json=NEW_DEMAND)
    assert response.status_code == 201
    demand = response.json
    assert demand["enterprise"] == HUALIAN and demand["version"] == 1 and demand["status"] == "征集中"
    assert demand["keywords"] == ["热处理", "变形", "模具钢"] and demand["budget_wan"] == 25
    assert demand["id"].startswith("D") and response.headers["Location"].endswith(f"/api/v1/demands/{demand['id']}")
    assert api("enterprise").get(f"/demands/{demand['id']}").json == demand


def test_an_enterprise_cannot_post_in_another_enterprises_name(api):
    response = api("enterprise").post("/demands", json={**NEW_DEMAND, "enterprise": HAIDA})
    assert response.status_code == 422 and "enterprise" in response.json["error"]["fields"]


def test_field_errors_come_back_in_chinese_per_field(api):
    response = api("enterprise").post("/demands", json={"title": "", "description": "x", "budget_wan": "很多",
                                                        "industry_cluster": "火星产业", "deadline": "明年"})
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "invalid_record"
    assert set(error["fields"]) == {"title", "description", "budget_wan", "industry_cluster", "deadline"}
    assert "应为数字" in error["fields"]["budget_wan"] and "必填" in error["fields"]["title"]


@pytest.mark.parametrize("body", ["[1, 2]", "not json", '"text"'])
def test_a_body_that_is_not_a_json_object_is_a_400(api, body):
    response = api("enterprise").post("/demands", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json["error"]["code"] == "invalid_json"


def test_posting_an_id_in_use_is_a_409(api):
    response = api("admin").post("/demands", json={**NEW_DEMAND, "enterprise": HAIDA, "id": OWN_DEMAND})
    assert response.status_code == 409 and response.json["error"]["code"] == "duplicate_id"


def test_editing_carries_the_version_and_bumps_it(api):
    current = api("enterprise").get(f"/demands/{OWN_DEMAND}").json
    edited = api("enterprise").patch(f"/demands/{OWN_DEMAND}", json={"budget_wan": 55, "version": current["version"]})
    assert edited.status_code == 200
    assert edited.json["budget_wan"] == 55 and edited.json["version"] == current["version"] + 1
    assert edited.json["title"] == current["title"]  # PATCH keeps what it does not name


def test_a_stale_version_is_a_409_and_changes_nothing(api):
    current = api("enterprise").get(f"/demands/{OWN_DEMAND}").json
    api("enterprise").patch(f"/demands/{OWN_DEMAND}", json={"budget_wan": 55, "version": current["version"]})
    stale = api("enterprise").patch(f"/demands/{OWN_DEMAND}", json={"budget_wan": 99, "version": current["version"]})
    assert stale.status_code == 409 and stale.json["error"]["code"] == "stale_version"
    assert api("enterprise").get(f"/demands/{OWN_DEMAND}").json["budget_wan"] == 55


def test_an_edit_without_a_version_is_refused(api):
    response = api("enterprise").patch(f"/demands/{OWN_DEMAND}", json={"budget_wan": 55})
    assert response.status_code == 422 and "version" in response.json["error"]["fields"]


def test_put_replaces_the_record_but_keeps_the_owner(api):
    current = api("enterprise").get(f"/demands/{OWN_DEMAND}").json
    replaced = api("enterprise").put(f"/demands/{OWN_DEMAND}", json={
        "title": "注塑件缩痕（更新）", "description": "只剩这一句：注塑件表面缩痕", "version": current["version"]}).json
    assert replaced["title"] == "注塑件缩痕（更新）" and replaced["keywords"] == [] and replaced["enterprise"] == HUALIAN


def test_the_owner_cannot_be_changed_by_an_edit(api):
    current = api("enterprise").get(f"/demands/{OWN_DEMAND}").json
    response = api("enterprise").patch(f"/demands/{OWN_DEMAND}", json={"enterprise": HAIDA, "version": current["version"]})
    assert response.status_code == 422 and "enterprise" in response.json["error"]["fields"]


def test_deleting_a_record_removes_it_and_its_open_proposals(api, db):
    assert db.execute("select count(*) from proposals where demand_id = ?", [OWN_DEMAND]).fetchone()[0] > 0
    assert api("enterprise").delete(f"/demands/{OWN_DEMAND}").status_code == 204
    assert api("enterprise").get(f"/demands/{OWN_DEMAND}").status_code == 404
    assert db.execute("select count(*) from proposals where demand_id = ?", [OWN_DEMAND]).fetchone()[0] == 0


def test_deleting_with_a_stale_version_is_a_409(api):
    assert api("enterprise").delete(f"/demands/{OWN_DEMAND}?version=99").status_code == 409


def test_every_write_is_in_the_audit_log_with_before_and_after(api):
    current = api("enterprise").get(f"/demands/{OWN_DEMAND}").json
    api("enterprise").patch(f"/demands/{OWN_DEMAND}", json={"budget_wan": 55, "version": current["version"]})
    entry = api("broker").get(f"/audit?entity=demands&entity_id={OWN_DEMAND}").json["items"][0]
    assert entry["actor"] == "enterprise" and entry["action"] == "update"
    assert entry["before"]["budget_wan"] == 40 and entry["after"]["budget_wan"] == 55


def test_a_platform_posts_and_edits_its_supply(api):
    created = api("platform").post("/supplies", json={"title": "激光熔覆修复模具技术", "description": "用激光熔覆修复磨损模具型腔。",
                                                      "maturity": "中试", "price_wan": 20}).json
    assert created["platform"] == HIT
    edited = api("platform").patch(f"/supplies/{created['id']}", json={"price_wan": 25, "version": 1})
    assert edited.status_code == 200 and edited.json["price_wan"] == 25
