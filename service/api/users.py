"""/users: accounts and their lifecycle (admins), and /me: who the caller is, their own password and token.

Every change is one audited write (service/auth.py); a password change, a disable, a revoke or a
delete ends the account's sessions and API token at once.
"""
from __future__ import annotations

from typing import Literal, Optional

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from .. import auth, security, store
from ..resources import get_db
from ..auth import MIN_PASSWORD_LENGTH, create_user, current_user, login_required, roles_required
from ..permissions import OWNED_KIND, ROLES
from .base import ApiError
from .operations import operation

bp = Blueprint("users", __name__)

VISIBLE = r"\S"  # at least one character that is not white space


class UserInput(BaseModel):
    # An enterprise's or platform's account names its organisation (auth.create_user refuses it without).
    model_config = ConfigDict(json_schema_extra={
        "if": {"properties": {"role": {"enum": list(OWNED_KIND)}}},
        "then": {"required": ["org"], "properties": {"org": {"type": "string", "pattern": VISIBLE}}}})
    name: str = Field(pattern=VISIBLE)
    role: Literal[ROLES]
    org: Optional[str] = Field(None, description="企业名称或平台名称；企业、平台账号必填")
    password: Optional[str] = Field(None, min_length=MIN_PASSWORD_LENGTH, description="省略时自动生成并在回应中给出")


class PasswordInput(BaseModel):
    password: Optional[str] = Field(None, min_length=MIN_PASSWORD_LENGTH,
                                    description="新密码；省略或 null 时自动生成并在回应中给出")


class OwnPasswordInput(BaseModel):
    old_password: str = Field(min_length=1)
    new_password: str = Field(min_length=MIN_PASSWORD_LENGTH)


@bp.get("/me")
@login_required
@operation("当前账号", {200: "User"}, tag="admin")
def me():
    return current_user()


@bp.post("/me/password")
@login_required
@operation("修改本人密码（须提供原密码）；本会话保留，其他会话与 API 令牌失效", {200: "User"}, (422, 429),
           body=OwnPasswordInput, tag="admin")
def change_own_password(body):
    """Change one's own password with the old one; other sessions and the API token end, this session stays.

    Wrong old passwords count against the login throttle, so a borrowed session cannot guess them.
    """
    user = current_user()
    keys = security.login_keys(user["name"])
    wait = security.login_throttle().retry_after(*keys)
    if wait:
        response = auth.api_error(429, "too_many_attempts", security.lockout_message(wait))
        return (*response, {"Retry-After": str(wait)})
    try:
        changed = auth.change_own_password(get_db(), user["id"], body.old_password, body.new_password)
    except PermissionError as refused:
        security.login_throttle().record_failure(*keys)
        raise ApiError(422, "wrong_password", str(refused), {"old_password": str(refused)}) from None
    auth.keep_session(changed)
    return store.public_user(changed)


@bp.post("/me/token")
@login_required
@operation("为本人签发新的 API 令牌（原令牌失效）", {200: "NewToken"}, (400,), tag="admin")
def issue_own_token():
    """A new API token for oneself (shown once); the previous one stops working."""
    user, token = auth.issue_token(get_db(), current_user()["id"], current_user()["name"])
    return {"user": user, "token": token}


@bp.get("/users")
@roles_required("admin")
@operation("账号列表（管理员）", {200: "UserList"}, (403,), tag="admin")
def index():
    return {"items": store.list_users(get_db())}


@bp.post("/users")
@roles_required("admin")
@operation("新建账号（管理员）；回应中给出一次性 API 令牌", {201: "NewUser"}, (403, 409, 422), body=UserInput, tag="admin")
def create(body):
    """A new account; its password (when generated) and API token are shown in this answer only."""
    try:
        user, password, token = create_user(get_db(), body.name, body.role, body.org, body.password,
                                            actor=current_user()["name"])
    except ValueError as error:  # an enterprise's or platform's account without its organisation
        raise ApiError(422, "invalid_input", str(error), {"org": str(error)}) from None
    return {"user": user, "password": None if body.password else password, "token": token}, 201


def not_oneself(user_id: int) -> None:
    """An admin does not disable or delete their own account: it could leave no admin at all."""
    if user_id == current_user()["id"]:
        raise ApiError(409, "own_account", "不能停用或删除自己的账号，请由另一位管理员操作")


@bp.post("/users/<int:user_id>/disable")
@roles_required("admin")
@operation("停用账号（管理员）：不能登录，会话与令牌立即失效", {200: "User"}, (400, 403, 404, 409), tag="admin")
def disable(user_id):
    """Disable an account: it cannot sign in, and its sessions and API token stop working at once."""
    not_oneself(user_id)
    return auth.set_disabled(get_db(), user_id, True, current_user()["name"])


@bp.post("/users/<int:user_id>/enable")
@roles_required("admin")
@operation("重新启用账号（管理员）", {200: "User"}, (400, 403, 404), tag="admin")
def enable(user_id):
    return auth.set_disabled(get_db(), user_id, False, current_user()["name"])


@bp.post("/users/<int:user_id>/password")
@roles_required("admin")
@operation("重置密码（管理员）：会话与令牌随之失效", {200: "PasswordReset"}, (403, 404, 422), body=PasswordInput,
           tag="admin")
def reset_password(user_id, body):
    """Reset a password (generated when the body gives none); the account's sessions and token end."""
    user, password = auth.set_password(get_db(), user_id, body.password, current_user()["name"])
    return {"user": user, "password": None if body.password is not None else password}


@bp.post("/users/<int:user_id>/token")
@roles_required("admin")
@operation("签发新的 API 令牌（管理员；原令牌失效）", {200: "NewToken"}, (400, 403, 404), tag="admin")
def issue_token(user_id):
    """A new API token for the account, shown in this answer only; the previous one stops working."""
    user, token = auth.issue_token(get_db(), user_id, current_user()["name"])
    return {"user": user, "token": token}


@bp.post("/users/<int:user_id>/revoke")
@roles_required("admin")
@operation("吊销 API 令牌并结束全部登录会话（管理员；密码不变）", {200: "User"}, (400, 403, 404), tag="admin")
def revoke(user_id):
    """End every session of the account and revoke its API token (its password stays)."""
    return auth.revoke_access(get_db(), user_id, current_user()["name"])


@bp.delete("/users/<int:user_id>")
@roles_required("admin")
@operation("删除账号（管理员）：会话与令牌立即失效，编号和用户名不再分配", {204: None}, (400, 403, 404, 409), tag="admin")
def delete(user_id):
    """Delete an account; its id and name are never given to another one."""
    not_oneself(user_id)
    auth.delete_user(get_db(), user_id, current_user()["name"])
    return "", 204
