"""The OpenAPI document is valid, covers every route, and every response the tests see fits it.

The fitting is done by `ValidatingClient` (tests/service_fixtures.py): every API test's client checks
each /api/v1 response against the documented schema for its operation and status as it arrives.
"""
from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

from service.openapi import document

from .service_fixtures import *  # noqa: F401,F403
from .service_fixtures import API, check_against_openapi


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
    from .service_fixtures import ValidatingClient
    assert isinstance(client, ValidatingClient)
    client.get("/api/v1/me")
    assert ("GET", "/me", 401) in ValidatingClient.seen
