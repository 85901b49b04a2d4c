"""The administrator's pages: /admin (a landing page) and /users (accounts and their lifecycle).

Every change calls the same audited functions as the API and the CLI (service/auth.py). A password
or token is shown in the answer to the POST that made it and nowhere else: it is never flashed,
since the flash travels in the (signed, not encrypted) session cookie.
"""
from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, request, url_for

from .. import auth, permissions, store
from ..resources import get_db
from .blueprint import bp


@bp.get("/admin")
@auth.roles_required("admin")
def admin():
    return render_template("admin.html", accounts=store.list_users(get_db()))


def _users_page(values: dict | None = None, errors: dict | None = None, issued: dict | None = None,
                status: int = 200):
    """The account list with the create form; `issued` carries secrets shown this once."""
    response = make_response(render_template(
        "users.html", users=store.list_users(get_db()), roles=permissions.ROLES, owned_roles=tuple(permissions.OWNED_KIND),
        values=values or {}, errors=errors or {}, issued=issued), status)
    if issued:
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/users")
@auth.roles_required("admin")
def users():
    return _users_page()


def _new_account_errors(values: dict) -> dict:
    """{field: Chinese message} for the create form, before anything is written."""
    errors = {}
    if not values["name"]:
        errors["name"] = "请填写用户名"
    if values["role"] not in permissions.ROLES:
        errors["role"] = "请选择角色"
    elif values["role"] in permissions.OWNED_KIND and not values["org"]:
        errors["org"] = f"{permissions.ROLE_NAMES[values['role']]}账号必须填写所属单位"
    return errors


@bp.post("/users")
@auth.roles_required("admin")
def user_create():
    values = {name: request.form.get(name, "").strip() for name in ("name", "role", "org")}
    errors = _new_account_errors(values)
    if not errors:
        try:
            user, password, token = auth.create_user(get_db(), values["name"], values["role"], values["org"],
                                                     actor=auth.current_user()["name"])
        except store.Conflict as error:
            errors["name"] = str(error)
        except ValueError as error:
            errors["org" if values["role"] in permissions.OWNED_KIND else "name"] = str(error)
        else:
            return _users_page(issued={"user": user, "password": password, "token": token,
                                       "message": f"已创建账号「{user['name']}」"}, status=201)
    return _users_page(values, errors, status=422)


def _account_or_404(user_id: int) -> dict:
    account = store.get_user(get_db(), user_id)
    if account is None or account["deleted_at"]:
        abort(404)
    return account


def _not_oneself(account: dict, doing: str):
    """An admin does not disable or delete their own account: it could leave no admin at all."""
    if account["id"] == auth.current_user()["id"]:
        flash(f"不能{doing}自己的账号，请由另一位管理员操作。", "error")
        return redirect(url_for("web.users"))
    return None


@bp.post("/users/<int:user_id>/disable")
@auth.roles_required("admin")
def user_disable(user_id):
    account = _account_or_404(user_id)
    refused = _not_oneself(account, "停用")
    if refused:
        return refused
    auth.set_disabled(get_db(), user_id, True, auth.current_user()["name"])
    flash(f"已停用账号「{account['name']}」：它不能再登录，已有的会话和 API 令牌立即失效。", "success")
    return redirect(url_for("web.users"))


@bp.post("/users/<int:user_id>/enable")
@auth.roles_required("admin")
def user_enable(user_id):
    account = _account_or_404(user_id)
    auth.set_disabled(get_db(), user_id, False, auth.current_user()["name"])
    flash(f"已启用账号「{account['name']}」：原密码可再次登录，API 令牌需重新签发。", "success")
    return redirect(url_for("web.users"))


@bp.post("/users/<int:user_id>/password")
@auth.roles_required("admin")
def user_reset_password(user_id):
    _account_or_404(user_id)
    user, password = auth.set_password(get_db(), user_id, None, auth.current_user()["name"])
    return _users_page(issued={"user": user, "password": password, "token": None,
                               "message": f"已重置账号「{user['name']}」的密码，它的会话和 API 令牌已失效"})


@bp.post("/users/<int:user_id>/token")
@auth.roles_required("admin")
def user_issue_token(user_id):
    _account_or_404(user_id)
    user, token = auth.issue_token(get_db(), user_id, auth.current_user()["name"])
    return _users_page(issued={"user": user, "password": None, "token": token,
                               "message": f"已为账号「{user['name']}」签发新的 API 令牌，旧令牌已失效"})


@bp.post("/users/<int:user_id>/revoke")
@auth.roles_required("admin")
def user_revoke(user_id):
    account = _account_or_404(user_id)
    auth.revoke_access(get_db(), user_id, auth.current_user()["name"])
    flash(f"已注销账号「{account['name']}」的全部会话并吊销其 API 令牌，密码不变。", "success")
    return redirect(url_for("web.users"))


@bp.post("/users/<int:user_id>/delete")
@auth.roles_required("admin")
def user_delete(user_id):
    account = _account_or_404(user_id)
    refused = _not_oneself(account, "删除")
    if refused:
        return refused
    if request.form.get("confirm") != account["name"]:
        flash(f"删除前请输入账号名「{account['name']}」确认。", "error")
        return redirect(url_for("web.users"))
    auth.delete_user(get_db(), user_id, auth.current_user()["name"])
    flash(f"已删除账号「{account['name']}」；它的名称不会再分配给新账号。", "success")
    return redirect(url_for("web.users"))
