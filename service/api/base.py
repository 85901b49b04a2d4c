"""What the API blueprints share: the request errors, request parsing, pagination.

Errors always have one shape, with a stable code and a Chinese message (service/http_errors.py
writes it, for the domain's refusals and for these request errors alike):

    {"error": {"code": "stale_version", "message": "该记录已被他人修改……", "fields": {...}}}

A refused import adds "problems": [{"row", "field", "message"}, …], one per bad row.
"""
from __future__ import annotations

import logging
import re

from flask import Blueprint, request
from werkzeug.exceptions import HTTPException

from .. import json_input
from ..auth import api_error
from ..errors import DomainError
from ..http_errors import HTTP_ERRORS, answer_refusal, http_error
from ..reports import MONTH_IN_RANGE

log = logging.getLogger(__name__)

api = Blueprint("api", __name__, url_prefix="/api/v1")  # every resource blueprint nests under it

MONTH = re.compile(MONTH_IN_RANGE)  # the months a report exists for, as list filters too


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


def int_arg(name: str, default: int, low: int = 1, high: int = 10_000) -> int:
    value = request.args.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"参数 {name} 应为整数", {name: "应为整数"}) from None
    if not low <= number <= high:
        raise ApiError(400, "invalid_parameter", f"参数 {name} 应在 {low}–{high} 之间", {name: f"应在 {low}–{high} 之间"})
    return number


def month_arg() -> str | None:
    month = request.args.get("month") or None
    if month and not MONTH.match(month):
        raise ApiError(400, "invalid_parameter", "参数 month 应为 1900-01 至 9999-12 之间的 YYYY-MM，如 2021-03",
                       {"month": "应为 YYYY-MM"})
    return month


def choice_arg(name: str, choices: tuple[str, ...], default: str | None = None) -> str | None:
    value = request.args.get(name) or default
    if value is not None and value not in choices:
        raise ApiError(400, "invalid_parameter", f"参数 {name} 应为 {'、'.join(choices)} 之一",
                       {name: "取值不在允许范围内"})
    return value


def page_args() -> tuple[int, int]:
    return int_arg("page", 1), int_arg("per_page", 20, high=200)


def paginated(items: list, total: int, page: int, per_page: int) -> dict:
    return {"items": items, "total": total, "page": page, "per_page": per_page}
