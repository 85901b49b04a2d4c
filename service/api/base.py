"""What the API blueprints share: the request errors, the JSON body, pagination (query parameters are
read from each operation's declaration, service/api/operations.py).

Errors always have one shape, with a stable code and a Chinese message (service/http_errors.py
writes it, for the domain's refusals and for these request errors alike):

    {"error": {"code": "stale_version", "message": "该记录已被他人修改……", "fields": {...}}}

A refused import adds "problems": [{"row", "field", "message"}, …], one per bad row.
"""
from __future__ import annotations

import logging

from flask import Blueprint, request
from werkzeug.exceptions import HTTPException

from .. import json_input
from ..auth import api_error
from ..errors import DomainError
from ..http_errors import HTTP_ERRORS, answer_refusal, http_error

log = logging.getLogger(__name__)

api = Blueprint("api", __name__, url_prefix="/api/v1")  # every resource blueprint nests under it


class ApiError(DomainError):
    """A request the API cannot take as it came (bad JSON, a parameter out of range): raise it from a
    view with the HTTP status to answer."""

    def __init__(self, status: int, code: str, message: str, fields: dict | None = None):
        self.status = status
        super().__init__(code, message, fields)


@api.errorhandler(Exception)
def _unexpected(error):
    # This catch-all is looked up before the app's handlers: hand what they answer back to them.
    if isinstance(error, DomainError):
        return answer_refusal(error)
    if isinstance(error, HTTPException):
        return http_error(error)
    log.exception("unhandled error on %s %s", request.method, request.path)
    return api_error(500, *HTTP_ERRORS[500])


# --- request helpers ----------------------------------------------------------------------------

def json_body() -> dict:
    """The request's JSON object, or a 400; every JSON body is read here, with json_input's nesting limit."""
    try:
        body = json_input.loads(request.get_data()) if request.is_json else None
    except json_input.TooDeep as error:
        raise ApiError(400, "json_too_deep", str(error)) from None
    except ValueError:  # not JSON, or not in a Unicode encoding
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "请求体应为 JSON 对象")
    return body


def paginated(items: list, total: int, page: int, per_page: int) -> dict:
    return {"items": items, "total": total, "page": page, "per_page": per_page}
