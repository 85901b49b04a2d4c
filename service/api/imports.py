"""/imports/<kind>: an admin uploads a JSONL, CSV or XLSX file; a file with bad rows is refused whole."""
from __future__ import annotations

import tempfile
from pathlib import Path

from flask import Blueprint, request

from .. import importers
from ..resources import get_db, live_index
from ..auth import current_user, roles_required
from ..errors import Invalid
from .base import ApiError
from .operations import FILE, operation

bp = Blueprint("imports", __name__, url_prefix="/imports")

KINDS = ("demands", "supplies", "cooperations")


@bp.post("/<kind>")
@roles_required("admin")
@operation("导入 JSONL / CSV / XLSX 文件（管理员；有错误行则整体拒绝）", {200: "ImportResult"}, (400, 403, 404, 413, 422),
           body=FILE, tag="admin", path={"kind": {"enum": list(KINDS)}})
def create(kind):
    if kind not in KINDS:
        raise ApiError(404, "not_found", f"不支持导入 {kind}，可选：{'、'.join(KINDS)}")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ApiError(422, "file_required", "请以 multipart/form-data 上传文件（字段名 file）", {"file": "必填"})
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in importers.FORMATS:
        raise ApiError(422, "unsupported_format", f"只支持 {'、'.join(importers.FORMATS)} 文件",
                       {"file": f"不支持的文件类型「{suffix or '无后缀'}」"})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix}"
        upload.save(path)
        try:
            count = importers.import_files(get_db(), kind, [path], actor=current_user()["name"])
        except importers.ImportRejected as rejected:
            problems = [{"row": problem.row, "field": problem.field, "message": problem.message}
                        for problem in rejected.problems]
            raise Invalid("import_rejected", f"导入被拒绝，数据库未作任何修改。共 {len(problems)} 处问题",
                          {"file": f"有 {len(problems)} 处问题，见 problems"}, problems) from None
    if kind != "cooperations":
        live_index().reload_later()
    return {"kind": kind, "imported": count}
