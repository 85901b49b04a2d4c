"""/users: accounts (admins), and /me: who the caller is."""
from __future__ import annotations

from flask import Blueprint

from .. import store
from ..app import get_db
from ..auth import ROLES, create_user, current_user, login_required, roles_required
from .base import ApiError, json_body

bp = Blueprint("users", __name__)


@bp.get("/me")
@login_required
def me():
    return current_user()


@bp.get("/users")
@roles_required("admin")
def index():
    return {"items": store.list_users(get_db())}


@bp.post("/users")
@roles_required("admin")
def create():
    """A new account; its password (when generated) and API token are shown in this answer only."""
    body = json_body()
    fields = {}
    for name in ("name", "role", "org", "password"):
        if body.get(name) is not None and not isinstance(body[name], str):
            fields[name] = "应为文本"
    if not body.get("name"):
        fields["name"] = "必填"
    if body.get("role") not in ROLES:
        fields["role"] = f"应为 {'、'.join(ROLES)} 之一"
    if fields:
        raise ApiError(422, "invalid_input", "账号信息有误", fields)
    try:
        user, password, token = create_user(get_db(), body["name"], body["role"], body.get("org"),
                                            body.get("password"), actor=current_user()["name"])
    except ValueError as error:
        raise ApiError(422, "invalid_input", str(error), {"org": str(error)}) from None
    return {"user": user, "password": None if body.get("password") else password, "token": token}, 201
