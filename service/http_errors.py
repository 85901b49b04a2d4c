"""One mapping from errors to HTTP answers, registered by create_app for the API and the pages alike.

A domain refusal (service.errors) gets its kind's status: the API answers the JSON error shape

    {"error": {"code": "stale_version", "message": "该记录已被他人修改……", "fields": {...}}}

(a refused import adds "problems", one per bad row), and a page the error page with the refusal's
message. Werkzeug's HTTP errors (unknown URL, wrong method, body too large) get the same two shapes.
Pages that know where a refused form returns catch the refusal and flash it (web.review._refused);
what they do not catch ends here, never as a 500.
"""
from __future__ import annotations

from flask import Flask, current_app, render_template
from werkzeug.exceptions import HTTPException

from .auth import api_error, is_api_request
from .errors import Conflict, DomainError, Forbidden, Invalid, NotFound

STATUSES = {Invalid: 422, NotFound: 404, Forbidden: 403, Conflict: 409}
# The API's code and message for each HTTP error werkzeug raises.
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
# The error page's title and explanation for each status a page can answer.
PAGE_TITLES = {
    400: ("请求无法处理", "提交的内容不完整或已过期。"),
    403: ("没有访问权限", "当前账号无权查看或操作这一页。如需协助，请联系技术经纪人或管理员。"),
    404: ("页面不存在", "您要找的需求、成果或页面不存在，可能已被删除或链接有误。"),
    405: ("操作方式不支持", "这个地址不支持当前的操作方式。"),
    409: ("内容已被修改", "该记录已被他人修改，请刷新后重试。"),
    413: ("提交内容过大", "上传或提交的内容超过了允许的大小。"),
    422: ("提交的内容有误", "请按提示修改后重试。"),
}


def init_app(app: Flask) -> None:
    app.register_error_handler(DomainError, answer_refusal)
    app.register_error_handler(HTTPException, answer_http_error)


def status_of(error: DomainError) -> int:
    """A refusal's HTTP status: its kind's, or the one an API request error names (api.base.ApiError)."""
    named = getattr(error, "status", None)
    return named or next((status for kind, status in STATUSES.items() if isinstance(error, kind)), 400)


def answer_refusal(error: DomainError):
    status = status_of(error)
    if is_api_request():
        return api_error(status, error.code, str(error), error.fields, error.problems)
    return render_error(status, str(error))


def answer_http_error(error: HTTPException):
    if is_api_request():
        return http_error(error)
    if error.code in PAGE_TITLES:
        detail = error.description if error.description and not error.description.isascii() else None
        return render_error(error.code, detail)
    return error


def http_error(error: HTTPException):
    """A werkzeug HTTP error as the API's JSON error."""
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


def render_error(status: int, detail: str | None = None):
    """The HTML error page for a status, with an optional sentence saying what exactly went wrong."""
    title, explanation = PAGE_TITLES.get(status, ("出错了", "请稍后重试。"))
    return render_template("error.html", status=status, title=title, explanation=explanation,
                           detail=detail), status
