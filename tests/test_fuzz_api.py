"""Schemathesis against the served /api/v1/openapi.json, as every role, with every check.

The app is served on a free loopback port and schemathesis' own engine runs its phases (examples,
coverage, fuzzing) over every documented operation, valid and invalid requests alike, with every
check `schemathesis run --checks all` has: no server error, statuses, content types, headers and
bodies as documented, schema-violating requests rejected, schema-valid ones accepted, a 405 with
`Allow` for an undocumented method, 401 without credentials. It runs once per role, with that
role's API token.

Bounded for CI (5 examples per operation in the fuzzing phase, a fixed seed): about 1 000 requests
and 15 s a role on two cores. A longer run is the same function with more examples and other seeds:

    FUZZ_MAX_EXAMPLES=100 FUZZ_SEED=7 pytest -q tests/test_fuzz_api.py -k every_operation

(the figures of such a run are in RELIABILITY.md).
"""
from __future__ import annotations

import json
import os
import threading
import urllib.request
from collections import Counter
from dataclasses import dataclass, field

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema
from werkzeug.serving import make_server

from service import store
from service.api import document

pytestmark = pytest.mark.instance("api")


ROLES = ("enterprise", "platform", "broker", "admin")
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "5"))
SEED = int(os.environ.get("FUZZ_SEED", "1"))
# Rules the document states in words but a schema cannot, because they depend on the caller or on
# stored data. A schema-valid body refused with 422 naming only these fields is the rule at work,
# counted apart; a 422 naming any other field is a failure.
BUSINESS_RULES = {
    # An enterprise posts in its own name (and a broker names one); ten visible characters of description.
    "POST /demands": {"enterprise", "description"},
    "POST /supplies": {"platform", "description"},
    **{f"{method} /{kind}/{{record_id}}": {"id", owner, "description"}  # ids never change; owners keep their records
       for method in ("PUT", "PATCH") for kind, owner in (("demands", "enterprise"), ("supplies", "platform"))},
    "POST /visits": {"partner"},  # a platform records visits in its own name
    "POST /visits/{visit_id}/demands": {"enterprise", "description"},  # the visited enterprise's
    "POST /sessions/{session_id}/pairs": {"demand_id", "supply_id"},  # both records must exist
    "PUT /sessions/{session_id}/order": {"pair_ids"},  # a permutation of the agenda
    "POST /imports/{kind}": {"file"},  # a .jsonl/.csv/.xlsx file whose every row is sound
    "POST /me/password": {"old_password"},  # the caller's current password
}


@dataclass
class Failure:
    check: str
    operation: str
    request: str
    status: int | None
    answer: str = ""
    body: object = None  # the request's JSON body, parsed

    def business_rule(self) -> bool:
        """A schema-valid request refused by one of BUSINESS_RULES, naming only its fields."""
        if self.check != "positive_data_acceptance" or self.status != 422:
            return False
        try:
            error = json.loads(self.answer)["error"]
        except (ValueError, KeyError, TypeError):
            return False
        named = set(error.get("fields") or {}) or ({"file"} if error.get("code") == "import_rejected" else set())
        return bool(named) and named <= BUSINESS_RULES.get(self.operation, set())

    def __str__(self) -> str:
        return f"{self.check}: {self.operation}: {self.request[:300]} → {self.status} {self.answer[:300]}"


@dataclass
class FuzzRun:
    cases: Counter = field(default_factory=Counter)  # by phase
    exercised: set[str] = field(default_factory=set)  # operations that got at least one request
    failed_checks: Counter = field(default_factory=Counter)  # every failing case, by check
    business_rules: Counter = field(default_factory=Counter)  # 422s by BUSINESS_RULES, by operation
    unknown: dict[tuple[str, str], Failure] = field(default_factory=dict)  # first per (check, operation)
    errors: list[str] = field(default_factory=list)


def changes_credentials(path: str) -> bool:
    """Operations that can revoke or replace the tokens the fuzzing itself rides on (new tokens, password
    changes, disabled or deleted accounts)."""
    return path.startswith("/api/v1/users/") or path in ("/api/v1/me/token", "/api/v1/me/password")


def accounts_put_back(app):
    """`app`, with every account row restored after a request that could change credentials: otherwise
    one generated POST /me/token would leave every later operation answering 401, untested."""
    db = store.open_db(app.config["DATABASE"], schema=False)
    accounts = list(db.query("select * from users"))
    db.close()

    def wsgi(environ, start_response):
        try:
            return app(environ, start_response)
        finally:
            if changes_credentials(environ.get("PATH_INFO", "")):
                db = store.open_db(app.config["DATABASE"], schema=False)
                try:
                    with store.transaction(db):
                        db["users"].upsert_all(accounts, pk="id")
                finally:
                    db.close()
    return wsgi


@pytest.fixture
def served(app, tokens):
    """The app on a free loopback port (schemathesis' in-process WSGI transport cannot send its
    unauthenticated probes), one thread per request as under waitress; the role's accounts (made by
    `tokens`) stay as they are."""
    server = make_server("127.0.0.1", 0, accounts_put_back(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()
    thread.join()


def schemathesis_config(token: str, max_examples: int, seed: int) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict({
        "seed": seed,
        "checks": {"enabled": True},  # all of them, as --checks all
        "phases": {"stateful": {"enabled": False}},  # the document declares no links
        "generation": {"mode": "all", "max-examples": max_examples, "database": "none"},
        "headers": {"Authorization": f"Bearer {token}"},
    })


def failure_of(check, label: str, interaction) -> Failure:
    request, response = interaction.request, interaction.response
    raw = request.body or b""
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    summary = f"{request.method} {request.uri.split('/api/v1', 1)[-1]} {raw[:240].decode('utf-8', 'replace')}"
    return Failure(check.name, label, summary.strip(), response.status_code if response else None,
                   (response.content or b"").decode("utf-8", "replace") if response else "", body)


def record(run: FuzzRun, recorder) -> None:
    """Sort every failing check of a scenario: a business rule at work, or a failure."""
    for case_id, checks in recorder.checks.items():
        interaction = recorder.interactions.get(case_id)
        for check in checks:
            if check.status.name != "FAILURE" or interaction is None:
                continue
            failure = failure_of(check, recorder.label, interaction)
            if failure.business_rule():
                run.business_rules[failure.operation] += 1
                continue
            run.failed_checks[check.name] += 1
            run.unknown.setdefault((check.name, recorder.label), failure)


def fuzz(base: str, token: str, max_examples: int = MAX_EXAMPLES, seed: int = SEED) -> FuzzRun:
    """Run schemathesis over the served document as the token's user; what it sent and what failed."""
    schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json",
                                           config=schemathesis_config(token, max_examples, seed))
    run = FuzzRun()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            run.cases[event.phase.name.lower()] += len(event.recorder.cases)
            if event.recorder.interactions:
                run.exercised.add(event.recorder.label)
            record(run, event.recorder)
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            run.errors.append(f"{getattr(event, 'label', '')}: {getattr(event, 'value', None) or event.exception!r}")
    return run


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_by_the_document_for_every_role(served, tokens, role):
    run = fuzz(served, tokens[role])
    print(f"{role}: cases {dict(run.cases)}; failing cases by check {dict(run.failed_checks)}; "
          f"refused by business rules {sum(run.business_rules.values())}")
    assert not run.errors, "\n".join(run.errors)
    documented = {f"{method.upper()} {path}" for path, item in document()["paths"].items()
                  for method in item if method != "parameters"}
    # An operation schemathesis cannot read is never sent (it skips the document's own URL).
    assert documented - run.exercised == {"GET /openapi.json"}
    assert not run.unknown, "\n".join(map(str, run.unknown.values()))
    for token in tokens.values():  # still the same callers at the end: nothing ran against revoked tokens
        me = urllib.request.Request(f"{served}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(me) as answer:  # raises HTTPError on a 401
            assert answer.status == 200


@pytest.mark.parametrize("body", [
    '{"title": "\\ud800", "description": "半个代理码位"}',
    '{"title": "标题", "description": "巨大的预算", "budget_wan": 1' + "0" * 400 + '}',
    '{"title": "标题", "description": "非数字", "budget_wan": NaN}',
    '{"title": "\\u0000\\u001b", "description": "只有控制字符的标题"}',
])
def test_bodies_schemathesis_does_not_generate_are_refused_with_422_not_a_500(api, body):
    response = api("enterprise").post("/demands", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422), response.get_data(as_text=True)[:300]
