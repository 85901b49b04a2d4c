"""The OpenAPI document is valid, covers every route, and every response the tests see fits it.

The fitting is done by `ValidatingClient` (tests/api_support.py): every API test's client checks
each /api/v1 response against the documented schema for its operation and status as it arrives.
"""
from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

from flask import Flask

from service.api import document
from service.api.audit import AuditQuery
from service.api.lists import FILTERS
from service.api.operations import declaration, parameter_schemas, undeclared

from .api_support import API, check_against_openapi
from .records import OWN_DEMAND, OWN_SUPPLY

pytestmark = pytest.mark.instance("api")

BODY_METHODS = {"post", "put", "patch"}
# The query parameters each handler reads (request.args), as the code has them; every other
# operation reads none. The record lists take their filters from service/api/lists.py.
QUERY_PARAMETERS = {
    **{("get", f"/{kind}"): {"page", "per_page", "q", "month", *FILTERS[kind]} for kind in FILTERS},
    **{("delete", f"/{kind}/{{record_id}}"): {"version"} for kind in FILTERS},
    **{("get", f"/{kind}/{{record_id}}/proposals"): {"k", "retriever", "cluster", "region", "maturity", "mode"}
       for kind in FILTERS},
    ("get", "/proposals"): {"zone", "status", "cluster", "region", "platform", "month", "demand_id", "supply_id",
                            "page", "per_page"},
    ("get", "/cooperations"): {"cluster", "region", "platform", "enterprise", "month", "demand_id", "supply_id",
                               "page", "per_page"},
    ("get", "/gaps"): {"min_score"},
    ("get", "/reports/monthly"): {"month"},
    ("get", "/audit"): {"entity", "entity_id", "limit"},
    ("get", "/sessions"): {"month"},
    ("get", "/visits"): {"month"},
}
EXISTING_PATH = {"record_id": {"demands": OWN_DEMAND, "supplies": OWN_SUPPLY}}


def api_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(API + "/"):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)[len(API):]
            routes |= {(method.lower(), path) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def test_the_document_is_valid_openapi_3_1():
    doc = document()
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def operations(doc: dict):
    """(method, path, operation) for every documented operation."""
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                yield method, path, operation


def resolve(doc: dict, pointer: str):
    """The node a local `$ref` points at; KeyError if there is none."""
    assert pointer.startswith("#/"), pointer
    node = doc
    for part in pointer[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def query_parameters(doc: dict, path: str, operation: dict) -> list[dict]:
    declared = [resolve(doc, p["$ref"]) if "$ref" in p else p
                for p in doc["paths"][path].get("parameters", []) + operation.get("parameters", [])]
    return [parameter for parameter in declared if parameter["in"] == "query"]


def test_every_ref_in_the_document_resolves():
    doc = document()
    broken = set()
    for pointer in refs(doc):
        try:
            resolve(doc, pointer)
        except (KeyError, AssertionError):
            broken.add(pointer)
    assert not broken, sorted(broken)


def test_only_operations_that_read_a_body_declare_one():
    doc = document()
    for method, path, operation in operations(doc):
        if method not in BODY_METHODS:
            assert "requestBody" not in operation, f"{method} {path} declares a request body"


def test_every_operation_declares_the_query_parameters_its_handler_reads():
    doc = document()
    for method, path, operation in operations(doc):
        declared = {parameter["name"] for parameter in query_parameters(doc, path, operation)}
        assert declared == QUERY_PARAMETERS.get((method, path), set()), f"{method} {path}"


def edge_values(schema: dict) -> list[tuple[str, bool]]:
    """Query values at a documented bound: (value, whether the document admits it)."""
    values = []
    if "enum" in schema:
        values += [(str(choice), True) for choice in schema["enum"]] + [("not-a-choice", False)]
    if schema.get("type") == "integer":
        values.append(("1.5", False))
    if schema.get("type") in ("integer", "number"):
        step = 1 if schema["type"] == "integer" else 0.5
        if "minimum" in schema:
            values += [(str(schema["minimum"]), True), (str(schema["minimum"] - step), False)]
        if "maximum" in schema:
            values += [(str(schema["maximum"]), True), (str(schema["maximum"] + step), False)]
    if "pattern" in schema:
        values += [("2021-12", True), ("2021-13", False), ("2021-1", False)]
    return values


def test_the_documented_query_bounds_are_the_ones_the_server_enforces(api):
    """At every documented bound a value just inside is answered 200 and one just outside 400."""
    doc = document()
    for method, path, operation in operations(doc):
        for parameter in query_parameters(doc, path, operation):
            for value, admitted in edge_values(parameter["schema"]):
                if method != "get" and admitted:
                    continue  # a valid DELETE would delete; its out-of-bounds answers are still checked
                url = re.sub(r"\{record_id\}", lambda _: EXISTING_PATH["record_id"][path.split("/")[1]], path)
                role = "admin" if method == "delete" else "broker"
                response = getattr(api(role), method)(url, query_string={parameter["name"]: value})
                expected = 200 if admitted else 400
                assert response.status_code == expected, (f"{method} {path}?{parameter['name']}={value}: "
                                                          f"{response.status_code}")
                if not admitted:
                    error = response.json["error"]
                    assert error["code"] == "invalid_parameter" and parameter["name"] in error["fields"], error


def test_every_route_is_documented_and_every_documented_operation_exists(app):
    documented = {(method, path) for path, item in document()["paths"].items()
                  for method in item if method != "parameters"}
    assert documented == api_routes(app)


def test_the_document_is_served(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.json == document()


def test_every_operation_documents_the_error_shape():
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if method == "parameters" or path == "/openapi.json":
                continue
            assert "401" in operation["responses"], f"{method} {path}"
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    assert response["content"]["application/json"]["schema"] == \
                        {"$ref": "#/components/schemas/Error"}, f"{method} {path} {status}"


def test_a_response_that_strays_from_the_document_fails_the_test(app):
    with pytest.raises(AssertionError, match="does not match"):
        check_against_openapi(app, "GET", "/api/v1/demands/D1", 200, {"id": "D1", "title": 3})
    with pytest.raises(AssertionError, match="does not list"):
        check_against_openapi(app, "GET", "/api/v1/demands/D1", 418, {"error": {"code": "teapot", "message": "茶壶"}})
    with pytest.raises(AssertionError, match="does not match"):
        check_against_openapi(app, "GET", "/api/v1/demands", 401, {"error": "nope"})


def test_the_checking_client_is_the_one_api_tests_use(client):
    from .api_support import ValidatingClient
    assert isinstance(client, ValidatingClient)
    client.get("/api/v1/me")
    assert ("GET", "/me", 401) in ValidatingClient.seen


def test_every_api_route_has_a_declaration(app):
    assert undeclared(app.url_map, app.view_functions) == []


def test_a_route_without_a_declaration_is_found():
    bare = Flask(__name__)
    bare.add_url_rule("/api/v1/forgotten", "forgotten", lambda: {})
    assert undeclared(bare.url_map, bare.view_functions) == ["GET /api/v1/forgotten"]


def test_the_documented_parameters_are_the_model_the_view_validates_with(app):
    """GET /audit's parameters are its AuditQuery's fields; the view checks the request with that model."""
    view = app.view_functions["api.audit.index"]
    assert declaration(view).query is AuditQuery
    documented = {parameter["name"]: parameter["schema"] for parameter in document()["paths"]["/audit"]["get"]["parameters"]}
    assert documented == {name: {key: value for key, value in schema.items() if key != "description"}
                          for name, schema in parameter_schemas(AuditQuery).items()}


def test_a_query_the_model_forbids_is_refused_naming_the_parameter(api):
    response = api("broker").get("/audit", query_string={"limit": "1001"})
    assert response.status_code == 400
    assert response.json["error"] == {"code": "invalid_parameter", "message": "参数 limit 应在 1–1000 之间",
                                      "fields": {"limit": "应在 1–1000 之间"}}


def test_a_list_refuses_a_filter_it_does_not_declare(api):
    response = api("broker").get("/supplies", query_string={"enterprise": "某企业"})
    assert response.status_code == 400 and response.json["error"]["fields"] == {"enterprise": "不支持的筛选条件"}


def test_every_declared_json_body_refuses_what_is_not_an_object(api):
    """The body a declaration names is read before the view runs: a JSON array is refused with 400."""
    doc = document()
    for method, path, operation in operations(doc):
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            continue
        url = re.sub(r"\{record_id\}", lambda _: EXISTING_PATH["record_id"][path.split("/")[1]], path)
        url = re.sub(r"\{[a-z_]+\}", "1", url)
        answers = [getattr(api(role), method)(url, json=[]) for role in ("broker", "admin", "enterprise")]
        assert any(answer.status_code == 400 and answer.json["error"]["code"] == "invalid_json"
                   for answer in answers), f"{method} {path}: {[answer.status_code for answer in answers]}"
