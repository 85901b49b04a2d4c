"""What the API blueprints share: the error shape, request parsing, pagination.

Errors always have one shape, with a stable code and a Chinese message:

    {"error": {"code": "stale_version", "message": "该记录已被他人修改……", "fields": {...}}}
"""
from __future__ import annotations

import logging
import re

from flask import Blueprint, current_app, request
from werkzeug.exceptions import HTTPException

from .. import json_input, store
from ..auth import api_error, is_api_request
from ..reports import MONTH_IN_RANGE
from ..workflow import WorkflowError

log = logging.getLogger(__name__)

api = Blueprint("api", __name__, url_prefix="/api/v1")  # every resource blueprint nests under it

HTTP_ERRORS = {
    400: ("bad_request", "请求格式有误"),
    401: ("unauthorized", "请先登录或提供 API 令牌"),
    403: ("forbidden", "当前账号无权执行此操作"),
    404: ("not_found", "找不到请求的资源"),
    405: ("method_not_allowed", "该地址不支持此请求方法"),
    409: ("conflict", "请求与当前状态冲突"),
    413: ("payload_too_large", "上传的内容过大"),
    415: ("unsupported_media_type", "不支持的内容类型"),
    422: ("invalid_input", "提交的内容有误"),
    500: ("internal_error", "服务器内部错误，请稍后重试"),
}
MONTH = re.compile(MONTH_IN_RANGE)  # the months a report exists for, as list filters too


class ApiError(Exception):
    """Raise from a view to answer with the error shape."""

    def __init__(self, status: int, code: str, message: str, fields: dict | None = None):
        self.status, self.code, self.fields = status, code, fields
        super().__init__(message)


@api.errorhandler(ApiError)
@api.errorhandler(WorkflowError)
def _known_error(error):
    return api_error(error.status, error.code, str(error), error.fields)


@api.errorhandler(store.Conflict)
def _conflict(error):
    return api_error(404 if error.code == "not_found" else 409, error.code, str(error))


def http_error(error: HTTPException):
    """Werkzeug's HTTP errors (unknown URL, wrong method, body too large) as JSON on the API."""
    code, message = HTTP_ERRORS.get(error.code, ("http_error", error.name))
    if error.code == 413:
        message = upload_limit_message()
    # A 405 must say which methods the URL takes (RFC 9110): keep werkzeug's Allow header.
    allow = [(name, value) for name, value in error.get_headers() if name == "Allow"]
    return (*api_error(error.code or 500, code, message), allow)


def upload_limit_message() -> str:
    """413 says what the limit is: 上传的内容过大（上限 5 MB）."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if not limit:
        return HTTP_ERRORS[413][1]
    size = f"{limit / 1024 / 1024:g} MB" if limit >= 1024 * 1024 else f"{limit / 1024:g} KB"
    return f"上传的内容过大（上限 {size}）"


@api.errorhandler(Exception)
def _unexpected(error):
    if isinstance(error, HTTPException):
        return http_error(error)
    log.exception("unhandled error on %s %s", request.method, request.path)
    return api_error(500, *HTTP_ERRORS[500])


def app_http_error(error: HTTPException):
    # Outside any blueprint (an unknown /api/ URL) the API still answers JSON; pages keep Flask's own.
    if is_api_request():
        return http_error(error)
    return error


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
