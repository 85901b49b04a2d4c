"""Friendly error pages in Chinese; API paths keep the API's JSON error shape."""
from __future__ import annotations

from flask import render_template, request
from werkzeug.exceptions import HTTPException

from ..api.base import http_error
from .blueprint import bp

TITLES = {
    400: ("请求无法处理", "提交的内容不完整或已过期。"),
    403: ("没有访问权限", "当前账号无权查看或操作这一页。如需协助，请联系技术经纪人或管理员。"),
    404: ("页面不存在", "您要找的需求、成果或页面不存在，可能已被删除或链接有误。"),
    405: ("操作方式不支持", "这个地址不支持当前的操作方式。"),
    409: ("内容已被修改", "该记录已被他人修改，请刷新后重试。"),
    413: ("提交内容过大", "上传或提交的内容超过了允许的大小。"),
}


def render_error(status: int, detail: str | None = None):
    """The HTML error page for a status, with an optional sentence saying what exactly went wrong."""
    title, explanation = TITLES.get(status, ("出错了", "请稍后重试。"))
    return render_template("error.html", status=status, title=title, explanation=explanation,
                           detail=detail), status


def _handle(error: HTTPException):
    detail = error.description if error.description and not error.description.isascii() else None
    if request.path.startswith("/api/"):
        return http_error(error)
    return render_error(error.code, detail)


for _status in TITLES:
    bp.app_errorhandler(_status)(_handle)
