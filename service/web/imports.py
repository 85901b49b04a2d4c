"""The administrator's imports and re-index pages, and the JSON status their progress bars poll.

An import is two steps: the upload is validated whole and kept in the instance folder while the
admin looks at a preview (or at the bad rows, with nothing written); confirming only queues it for
the live index's worker and returns. The worker checks the file again, writes it in one transaction
(all or nothing, audited as the admin), deletes it and reloads; /admin/progress reports the write,
the embedding and how it ended (the counts, or why nothing was written).
"""
from __future__ import annotations

import re
import secrets
import time
from pathlib import Path

from flask import current_app, flash, redirect, render_template, request, url_for

from .. import auth, importers, store
from ..resources import get_db
from .blueprint import bp

KINDS = ("demands", "supplies", "cooperations")
PREVIEW_ROWS = 10
UPLOAD_NAME = re.compile(r"^(demands|supplies|cooperations)-[0-9a-f]{32}\.(jsonl|csv|xlsx)$")
QUEUED_PREFIX = "queued-"  # a confirmed upload, renamed so a second confirm cannot queue it twice
UPLOAD_LIFETIME = 24 * 3600  # seconds an unconfirmed upload is kept
PREVIEW_COLUMNS = {
    "demands": (("id", "需求编号"), ("title", "需求名称"), ("enterprise", "企业名称"), ("industry_cluster", "产业集群")),
    "supplies": (("id", "成果编号"), ("title", "成果名称"), ("platform", "平台名称"), ("industry_cluster", "产业集群")),
    "cooperations": (("demand_id", "需求编号"), ("supply_id", "成果编号"), ("mode", "合作方式"),
                     ("confirmed_at", "确认日期")),
}


def _uploads() -> Path:
    folder = Path(current_app.config["INSTANCE"]) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _forget_stale_uploads(folder: Path) -> None:
    """Delete uploads older than a day: previews never confirmed, and queued ones a stopped server left."""
    cutoff = time.time() - UPLOAD_LIFETIME
    for path in folder.iterdir():
        if UPLOAD_NAME.match(path.name.removeprefix(QUEUED_PREFIX)) and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)


def _claim(path: Path) -> Path | None:
    """The upload renamed as queued, or None when it is gone (imported or expired). The rename is
    atomic, so of two confirms of one upload (a double click) only the first queues it."""
    queued = path.with_name(QUEUED_PREFIX + path.name)
    try:
        path.rename(queued)
    except FileNotFoundError:
        return None
    return queued


def _counts(db) -> dict:
    return {kind: db[kind].count for kind in KINDS}


def _page(**context):
    return render_template("admin_imports.html", kinds=KINDS, kind_names=importers.KIND_NAMES,
                           counts=_counts(get_db()), **context)


@bp.get("/admin/imports")
@auth.roles_required("admin")
def admin_imports():
    return _page(kind=request.args.get("kind", "demands"))


@bp.post("/admin/imports")
@auth.roles_required("admin")
def admin_imports_preview():
    """Validate the uploaded file whole: a preview to confirm, or every bad row with nothing written."""
    kind = request.form.get("kind", "")
    upload = request.files.get("file")
    errors = {}
    if kind not in KINDS:
        errors["kind"] = "请选择导入的清单类型"
    suffix = Path(upload.filename).suffix.lower() if upload and upload.filename else ""
    if not suffix:
        errors["file"] = "请选择要上传的文件"
    elif suffix not in importers.FORMATS:
        errors["file"] = f"不支持的文件类型「{suffix}」，请上传 {'、'.join(importers.FORMATS)} 文件"
    if errors:
        return _page(kind=kind, errors=errors), 422
    folder = _uploads()
    _forget_stale_uploads(folder)
    path = folder / f"{kind}-{secrets.token_hex(16)}{suffix}"
    upload.save(path)
    try:
        records = importers.read_records([path], kind, importers.reference_ids(get_db(), kind))
    except importers.ImportRejected as rejected:
        path.unlink(missing_ok=True)
        return _page(kind=kind, filename=upload.filename, problems=importers.headed_problems(kind, rejected)), 422
    return _page(kind=kind, filename=upload.filename, upload=path.name, total=len(records),
                 preview=records[:PREVIEW_ROWS], columns=PREVIEW_COLUMNS[kind])


@bp.post("/admin/imports/confirm")
@auth.roles_required("admin")
def admin_imports_confirm():
    """Queue a previewed upload for the worker to write (checked again there: the store may have
    changed) and reload; the page's progress bar follows both, so the request returns at once."""
    name = request.form.get("upload", "")
    queued = _claim(_uploads() / name) if UPLOAD_NAME.match(name) else None
    if queued is None:
        flash("找不到待确认的上传文件（可能已导入或已过期），请重新上传。", "error")
        return redirect(url_for("web.admin_imports"))
    kind = name.split("-", 1)[0]
    current_app.extensions["live_index"].import_later(kind, queued, actor=auth.current_user()["name"])
    flash(f"已开始导入{importers.KIND_NAMES[kind]}：在后台写入"
          + ("，再向量化并更新推荐" if kind != "cooperations" else "") + "，进度见下方。", "success")
    return redirect(url_for("web.admin_imports", kind=kind))


@bp.get("/admin/index")
@auth.roles_required("admin")
def admin_index():
    return render_template("admin_index.html", counts=_counts(get_db()),
                           system=current_app.extensions["live_index"].describe_embedder(),
                           learning_run=store.latest_ranker(get_db()))


@bp.post("/admin/index")
@auth.roles_required("admin")
def admin_reindex():
    """Queue a full reload; the site keeps answering from the current index until the new one is ready."""
    db = get_db()
    with store.transaction(db):
        store.audit(db, auth.current_user()["name"], "reindex", "index", "all", None, _counts(db))
    current_app.extensions["live_index"].reload_later()
    flash("已开始重建索引并更新推荐，期间网站照常可用。", "success")
    return redirect(url_for("web.admin_index"))


@bp.get("/admin/progress")
@auth.roles_required("admin")
def admin_progress():
    """The background import's or reload's progress and the record counts, polled by progress.js."""
    return {**current_app.extensions["live_index"].status(), "counts": _counts(get_db())}
