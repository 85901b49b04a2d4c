"""What the "api" instance's fixtures (conftest.py) are made of: the template instance, the test
client that checks every /api/v1 response against the OpenAPI document, and Api, one user's caller.

The records are embedded once per test session into a template instance (database with the
embedding cache filled, FAISS indexes, stored proposals, one account per role); every test gets
its own copy of that folder, so each starts fresh yet nothing is embedded twice.
"""
from __future__ import annotations

import re
from functools import lru_cache

from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.exceptions import HTTPException

from service import store, workflow
from service.engine import Engine
from service.api import document

from . import records

API = "/api/v1"
OPENAPI_URI = "urn:matchmaker:openapi"


# --- the OpenAPI check on every response ----------------------------------------------------------

@lru_cache(maxsize=1)
def openapi_registry() -> tuple[dict, Registry]:
    doc = document()
    return doc, Registry().with_resource(OPENAPI_URI, Resource.from_contents(doc, default_specification=DRAFT202012))


def documented_path(app, path: str, method: str) -> str | None:
    """The OpenAPI path template a request hit ("/demands/{record_id}"), or None for an unknown URL."""
    try:
        rule, _ = app.url_map.bind("localhost").match(path, method, return_rule=True)
    except HTTPException:
        return None
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)[len(API):]


def check_against_openapi(app, method: str, path: str, status: int, body) -> None:
    """Fail unless the response's status is documented for the operation and its JSON fits the schema."""
    doc, registry = openapi_registry()
    template = documented_path(app, path, method)
    if template is None:
        schema_ref = "#/components/schemas/Error"
    else:
        operation = doc["paths"].get(template, {}).get(method.lower())
        assert operation is not None, f"{method} {template} is not in the OpenAPI document"
        response = operation["responses"].get(str(status))
        assert response is not None, f"{method} {template} answered {status}, which the document does not list"
        content = response.get("content", {}).get("application/json")
        if content is None:
            assert body is None, f"{method} {template} {status} is documented without a body"
            return
        schema_ref = content["schema"].get("$ref", "")
        if not schema_ref:
            return
    validator = Draft202012Validator({"$ref": OPENAPI_URI + schema_ref}, registry=registry)
    errors = sorted(validator.iter_errors(body), key=lambda error: list(error.path))
    assert not errors, (f"{method} {path} → {status} does not match {schema_ref}: "
                        + "; ".join(f"{list(error.path)}: {error.message}" for error in errors[:5]))


class ValidatingClient(FlaskClient):
    """The Flask test client, checking each /api/v1 response against the OpenAPI document."""

    seen: set[tuple[str, str, int]] = set()

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        request = response.request
        if request.path.startswith(API + "/"):
            body = response.get_json(silent=True) if response.data else None
            if response.status_code != 204:
                assert response.is_json, f"{request.method} {request.path} answered {response.mimetype}, not JSON"
            check_against_openapi(self.application, request.method, request.path, response.status_code, body)
            template = documented_path(self.application, request.path, request.method)
            ValidatingClient.seen.add((request.method, template or "?", response.status_code))
        return response


# --- a template instance, built once -------------------------------------------------------------

def build_template(folder, embedder) -> tuple:
    """A folder with the database (records.load's set, cached embeddings, proposals) and FAISS indexes."""
    db = store.open_db(folder / "matchmaker.db")
    tokens = records.load(db)
    engine = Engine(db, folder, embedder).load()
    workflow.generate_proposals(db, engine, k=5)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return folder, tokens


class Api:
    """Calls /api/v1 as one user: api("broker").get("/demands")."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def __getattr__(self, method: str):
        if method not in ("get", "post", "put", "patch", "delete"):
            raise AttributeError(method)

        def call(path: str, **kwargs):
            headers = {**self.headers, **kwargs.pop("headers", {})}
            return getattr(self.client, method)(API + path, headers=headers, **kwargs)
        return call
