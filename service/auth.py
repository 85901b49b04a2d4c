"""Accounts, login, CSRF and the guards on views; the rules themselves are in permissions.py.

Pages log in with a session (and every form post carries a CSRF token); scripts call the API with
`Authorization: Bearer <token>`. Views are guarded with decorators:

    @bp.get("/demands/<demand_id>/edit")
    @roles_required("enterprise", "admin")
    def edit(demand_id): ...

and a record is shown or changed only where `permissions.can_view(user, "demands", demand)` or
`can_edit(...)` says so.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from flask import (Blueprint, abort, g, jsonify, redirect, render_template, request,
                   session, url_for)
from werkzeug.security import check_password_hash, generate_password_hash

from . import security, store
from .permissions import OWNED_KIND, ROLE_NAMES, ROLES
from .resources import get_db

STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")

bp = Blueprint("auth", __name__)


# --- accounts -----------------------------------------------------------------------------------

def hash_token(token: str) -> str:
    """API tokens are long random strings, so a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


MIN_PASSWORD_LENGTH = 8


def new_auth_stamp() -> str:
    """A fresh random stamp: sessions carry their account's stamp, and a new one ends them all."""
    return secrets.token_hex(16)


def check_new_password(password) -> str:
    """A password someone chose, or ValueError saying what is wrong with it."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"密码至少需要 {MIN_PASSWORD_LENGTH} 个字符")
    return password


def create_user(db, name: str, role: str, org: str | None = None, password: str | None = None,
                actor: str = "system") -> tuple[dict, str, str]:
    """Create an account; returns (user, password, api_token). The token is shown once, never stored.

    Raises ValueError for a bad role, a missing organisation or a short password, store.Conflict for
    a taken name.
    """
    name = (name or "").strip()
    if not name:
        raise ValueError("用户名不能为空")
    if role not in ROLES:
        raise ValueError(f"角色应为 {'、'.join(ROLES)} 之一")
    org = (org or "").strip() or None
    if role in OWNED_KIND and not org:
        raise ValueError(f"{ROLE_NAMES[role]}账号必须指定所属单位（--org）")
    password = check_new_password(password) if password else secrets.token_urlsafe(9)
    token = secrets.token_urlsafe(32)
    user = store.add_user(db, name, role, org, generate_password_hash(password), hash_token(token),
                          new_auth_stamp(), actor=actor)
    return store.public_user(user), password, token


def password_matches(user: dict | None, password: str | None) -> bool:
    """Does this account row's password hash match? Deleted accounts have none and never match."""
    return bool(user and user["password_hash"] and check_password_hash(user["password_hash"], password or ""))


def authenticate(db, name: str, password: str) -> dict | None:
    """The account row (secrets included) whose name and password these are, disabled or not; else None."""
    user = store.get_user_by_name(db, (name or "").strip())
    return user if password_matches(user, password) else None


def usable(user: dict | None) -> bool:
    """May this account row act at all (neither disabled nor deleted)?"""
    return user is not None and not user["disabled_at"] and not user["deleted_at"]


# --- the account lifecycle: each change is one audited write ------------------------------------

def _signed_out() -> dict:
    """The changes that end every session of an account and its API token."""
    return {"auth_stamp": new_auth_stamp(), "token_hash": None}


def set_password(db, user_id: int, password: str | None, actor: str) -> tuple[dict, str]:
    """An admin resets a password (generated when None); returns (user, password). Every session and
    the API token of the account end: whoever held them must sign in with the new password."""
    password = check_new_password(password) if password is not None else secrets.token_urlsafe(9)
    user = store.update_user(db, user_id, {"password_hash": generate_password_hash(password), **_signed_out()},
                             actor, "reset_password")
    return store.public_user(user), password


def change_own_password(db, user_id: int, old_password: str, new_password: str) -> dict:
    """A user changes their own password, proving the old one; returns the account row (with its new
    stamp, so the session that made the change can stay signed in). Other sessions and the token end.

    Raises PermissionError for a wrong old password, ValueError for an unfit new one.
    """
    user = store.get_user(db, user_id)
    if not password_matches(user, old_password):
        raise PermissionError("原密码不正确")
    changes = {"password_hash": generate_password_hash(check_new_password(new_password)), **_signed_out()}
    return store.update_user(db, user_id, changes, user["name"], "change_password")


def set_disabled(db, user_id: int, disabled: bool, actor: str) -> dict:
    """Disable an account (it cannot sign in, and its sessions and token end at once) or enable it
    again (its password works again; an API token must be issued anew)."""
    changes = {"disabled_at": store.now(), **_signed_out()} if disabled else {"disabled_at": None}
    return store.public_user(store.update_user(db, user_id, changes, actor, "disable" if disabled else "enable"))


def issue_token(db, user_id: int, actor: str) -> tuple[dict, str]:
    """A new API token for the account, shown once; the previous token stops working."""
    token = secrets.token_urlsafe(32)
    user = store.update_user(db, user_id, {"token_hash": hash_token(token)}, actor, "issue_token")
    return store.public_user(user), token


def revoke_access(db, user_id: int, actor: str) -> dict:
    """End every session of the account and revoke its API token; the password stays."""
    return store.public_user(store.update_user(db, user_id, _signed_out(), actor, "revoke"))


def delete_user(db, user_id: int, actor: str) -> None:
    """Delete an account: its row stays as a tombstone without secrets, so neither its id nor its
    name (the audit log's actor) is ever given to another account."""
    stamp = store.now()
    store.update_user(db, user_id, {"deleted_at": stamp, "disabled_at": stamp, "password_hash": None,
                                    **_signed_out()}, actor, "delete")


# --- who is asking ------------------------------------------------------------------------------

def current_user() -> dict | None:
    """The signed-in user as {id, name, role, org, created_at}, or None."""
    return g.get("user")


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@bp.before_app_request
def load_user() -> None:
    """Identify the caller by API token (scripts) or session (pages); set g.user and g.auth."""
    g.user, g.auth = None, None
    token = bearer_token()
    if token is not None:
        user = store.get_user_by_token(get_db(), hash_token(token))
        if not usable(user):
            g.auth = "bad_token"
            return
        g.user, g.auth = store.public_user(user), "token"
        return
    user_id = session.get("user_id")
    if user_id is not None:
        user = store.get_user(get_db(), user_id)
        if usable(user) and hmac.compare_digest(str(session.get("auth_stamp") or ""), user["auth_stamp"] or ""):
            g.user, g.auth = store.public_user(user), "session"
        else:  # disabled, deleted, or its password or access changed since this session began
            session.clear()


def sign_in(user: dict) -> None:
    """Start a fresh session for this account row, bound to its current auth stamp."""
    session.clear()
    session["user_id"], session["auth_stamp"] = user["id"], user["auth_stamp"]
    csrf_token()


def keep_session(user: dict) -> None:
    """After the signed-in user changed their own password, this session (only) carries on."""
    if g.get("auth") == "session":
        session["auth_stamp"] = user["auth_stamp"]


# --- CSRF -------------------------------------------------------------------------------------

def csrf_token() -> str:
    """This session's CSRF token, for a form's hidden field `csrf_token`."""
    if "csrf_token" not in session:
        session["csrf_token"] = secrets.token_urlsafe(32)
    return session["csrf_token"]


@bp.before_app_request
def check_csrf():
    """Every state-changing request that rides on the session cookie must echo the session's token.

    Requests authenticated by a bearer token are exempt (a browser never adds that header by itself);
    anonymous API calls fall through to the 401 of the endpoint.
    """
    if request.method not in STATE_CHANGING or g.auth in ("token", "bad_token"):
        return None
    if is_api_request() and g.auth is None:
        return None
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf_token") or ""
    if expected and hmac.compare_digest(sent, expected):
        return None
    if is_api_request():
        return api_error(400, "csrf_failed", "请求缺少有效的 CSRF 令牌，请刷新页面后重试")
    abort(400, description="表单已过期或缺少安全令牌，请刷新页面后重试")


# --- guards -----------------------------------------------------------------------------------

def api_error(status: int, code: str, message: str, fields: dict | None = None, problems: list | None = None):
    """The API's error shape: {"error": {"code", "message", "fields"?, "problems"?}}."""
    error = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    if problems:
        error["problems"] = problems
    return jsonify({"error": error}), status


def _refuse_anonymous():
    if is_api_request():
        if g.get("auth") == "bad_token":
            return api_error(401, "invalid_token", "API 令牌无效")
        return api_error(401, "unauthorized", "请先登录或提供 API 令牌")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _refuse_role():
    if is_api_request():
        return api_error(403, "forbidden", "当前账号无权执行此操作")
    abort(403, description="当前账号无权访问此页面")


def login_required(view):
    """Pages redirect an anonymous visitor to /login; the API answers 401."""
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if current_user() is None:
            return _refuse_anonymous()
        return view(*args, **kwargs)
    return wrapped


def roles_required(*roles: str):
    """Only these roles may pass: anonymous → /login or 401, any other role → 403."""
    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            user = current_user()
            if user is None:
                return _refuse_anonymous()
            if user["role"] not in roles:
                return _refuse_role()
            return view(*args, **kwargs)
        return wrapped
    return decorator


# --- login pages ------------------------------------------------------------------------------

def _safe_next(target: str | None) -> str:
    """Only same-site paths: never bounce a fresh login to another host."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return "/"


@bp.route("/login", methods=("GET", "POST"))
def login():
    error, status = None, 200
    if request.method == "POST":
        name = request.form.get("name", "")
        keys = security.login_keys(name)
        wait = security.login_throttle().retry_after(*keys)
        if wait:
            error, status = security.lockout_message(wait), 429
        else:
            user = authenticate(get_db(), name, request.form.get("password", ""))
            if user is not None and not usable(user):
                # Said only to someone who knows the password: a guesser learns nothing.
                error, status = "该账号已停用，请联系管理员", 403
            elif user is not None:
                security.login_throttle().forget(keys[0])
                sign_in(user)
                return redirect(_safe_next(request.form.get("next") or request.args.get("next")))
            else:
                security.login_throttle().record_failure(*keys)
                error, status = "用户名或密码错误", 401
    response = render_template("login.html", error=error, next=request.values.get("next", "")), status
    if status == 429:
        response = (*response, {"Retry-After": str(wait)})
    return response


@bp.get("/logout")
def confirm_logout():
    """Following a link never signs anyone out (any site could link here): it asks, with a form."""
    if current_user() is None:
        return redirect(url_for("auth.login"))
    return render_template("logout.html")


@bp.post("/logout")
def logout():
    """Sign out: a POST carrying the session's CSRF token (check_csrf has verified it)."""
    session.clear()
    return redirect(url_for("auth.login"))


def init_app(app) -> None:
    """Register the blueprint and the Jinja globals templates use."""
    app.register_blueprint(bp)
    app.jinja_env.globals.update(current_user=current_user, csrf_token=csrf_token, role_names=ROLE_NAMES)
