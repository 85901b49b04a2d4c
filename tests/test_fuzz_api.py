"""Schemathesis against /api/v1/openapi.json, through the WSGI app, as every role.

Every documented operation gets generated requests, valid by the document (POSITIVE) and invalid
(NEGATIVE); each is sent with the API token of an enterprise, a platform, a broker and an admin and
must answer without a 500, with a status the document lists, as JSON matching the documented schema.
Bounded (a few examples per operation and mode, no deadline) so the module runs in about a minute.

Schemathesis' pytest plugin (from_fixture) does not run under this pytest, so the operations are
walked here and each one's strategy is driven by hypothesis directly; every failure is collected
and reported together, named by operation, mode and role.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from service import store

from .service_fixtures import *  # noqa: F401,F403
from .service_records import OWN_DEMAND, OWN_SUPPLY

ROLES = ("enterprise", "platform", "broker", "admin")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = {GenerationMode.POSITIVE: 6, GenerationMode.NEGATIVE: 3}
# Random ids mostly hit 404; a second pass pins path ids to records that exist, to reach the handlers.
EXISTING = {"record_id": {"demands": OWN_DEMAND, "supplies": OWN_SUPPLY}, "proposal_id": 1}


def existing_ids(operation) -> dict:
    """Path parameters of `operation` set to ids the fixture's database holds (empty: none apply)."""
    chosen = {}
    for parameter in operation.path_parameters:
        if parameter.name == "record_id":
            chosen["record_id"] = EXISTING["record_id"]["demands" if operation.path.startswith("/demands") else
                                                        "supplies"]
        elif parameter.name in EXISTING:
            chosen[parameter.name] = EXISTING[parameter.name]
    return chosen


def changes_credentials(operation) -> bool:
    """Operations that can revoke or replace the tokens the fuzzing itself rides on (new tokens, password
    changes, disabled or deleted accounts)."""
    return operation.path.startswith("/users/") or operation.path in ("/me/token", "/me/password")


def put_accounts_back(app, accounts: list[dict]) -> None:
    """Restore every account row as it was, so each role's token works for the next request."""
    db = store.open_db(app.config["DATABASE"], schema=False)
    try:
        with store.transaction(db):
            db["users"].upsert_all(accounts, pk="id")
    finally:
        db.close()


def fuzz(operation, mode: GenerationMode, tokens: dict[str, str], path_parameters: dict | None = None,
         app=None) -> None:
    """Send the operation's generated cases as every role; raise on the first that breaks a check.

    With `app`, an operation that changes credentials has the accounts put back after every request:
    otherwise one generated POST /me/token would leave every later operation answering 401.
    """
    accounts = None
    if app is not None and changes_credentials(operation):
        db = store.open_db(app.config["DATABASE"], schema=False)
        accounts = list(db.query("select * from users"))
        db.close()

    @settings(max_examples=EXAMPLES[mode], deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def run(case):
        for role in ROLES:
            try:
                case.call_and_validate(headers={"Authorization": f"Bearer {tokens[role]}"}, checks=CHECKS)
            except Exception as error:
                error.add_note(f"as {role}: {case.method} {case.formatted_path} query={case.query} body={case.body!r:.300}")
                raise
            finally:
                if accounts is not None:
                    put_accounts_back(app, accounts)
    run()


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda mode: mode.name.lower())
def test_every_operation_answers_by_the_document_for_every_role(app, tokens, mode):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        try:
            fuzz(operation, mode, tokens, app=app)
            if mode == GenerationMode.POSITIVE and existing_ids(operation):
                fuzz(operation, mode, tokens, existing_ids(operation), app=app)
        except Exception as error:  # keep going: one run reports every broken operation
            notes = "; ".join(getattr(error, "__notes__", [])[-1:])
            failures.append(f"{operation.method.upper()} {operation.path}: {type(error).__name__}: "
                            f"{str(error)[:600]} [{notes}]")
    assert not failures, "\n\n".join(failures)
    for role in ROLES:  # still the same callers at the end: no operation ran against revoked tokens
        me = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {tokens[role]}"})
        assert me.status_code == 200, f"{role}'s token was revoked during the run"


@pytest.mark.parametrize("body", [
    '{"title": "\\ud800", "description": "半个代理码位"}',
    '{"title": "标题", "description": "巨大的预算", "budget_wan": 1' + "0" * 400 + '}',
    '{"title": "标题", "description": "非数字", "budget_wan": NaN}',
    '{"title": "\\u0000\\u001b", "description": "只有控制字符的标题"}',
])
def test_bodies_schemathesis_does_not_generate_are_refused_with_422_not_a_500(api, body):
    response = api("enterprise").post("/demands", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422), response.get_data(as_text=True)[:300]
