"""The admin's "learn from decisions" button: queues service/learning.py on the live index's worker.

The admin index page shows the latest run (what it learned from, its figures, adopted or why not);
the shared progress bar follows the job and ends with its verdict.
"""
from __future__ import annotations

from flask import current_app, flash, redirect, url_for

from .. import auth, learning
from ..worker import BACKGROUND
from .blueprint import bp


@bp.post("/admin/learn")
@auth.roles_required("admin")
def admin_learn():
    current_app.extensions["live_index"].learn_later(auth.current_user()["name"])
    flash("已开始从经纪人的决定中学习排序：在后台训练并评估，结论见下方进度。", "success")
    return redirect(url_for("web.admin_index"))


@bp.app_template_global()
def learning_lines(run: dict | None) -> list[str]:
    """The latest learning run in Chinese lines, for the admin index page."""
    return learning.outcome_lines(run) if run else []


@bp.app_template_global()
def learning_starter(run: dict) -> str:
    """Who started a learning run: the worker by itself, or an admin or the CLI by name."""
    return "后台自动学习" if run["actor"] == BACKGROUND else f"{run['actor']} 发起"
