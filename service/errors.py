"""The domain's refusals: a stable code, a Chinese message and the fields at fault, and no HTTP in them.

The kind of refusal is the class. service/http_errors.py maps each kind to an HTTP status once, for
the API (the JSON error shape) and for the pages (the error page), so workflow, sessions, the store
and the records raise these without knowing who asked.

    >>> error = Invalid("reason_required", "否决时必须填写理由", {"reason": "请填写否决理由"})
    >>> error.code, str(error), error.fields
    ('reason_required', '否决时必须填写理由', {'reason': '请填写否决理由'})
"""
from __future__ import annotations


class DomainError(Exception):
    """A refused step. `fields` names what is wrong per field; `problems` lists a refused file's bad rows
    ({"row", "field", "message"})."""

    def __init__(self, code: str, message: str, fields: dict | None = None, problems: list[dict] | None = None):
        self.code, self.fields, self.problems = code, fields or None, problems
        super().__init__(message)


class Invalid(DomainError):
    """The input breaks a rule: a field's value, a missing reason, a file with bad rows."""


class NotFound(DomainError):
    """No such record, proposal, session or account (or none the caller may see)."""


class Forbidden(DomainError):
    """The caller's role may not take this step."""


class Conflict(DomainError):
    """The step contradicts the current state: a duplicate id, a stale version, a record in use, a
    transition the proposal's status does not allow."""
