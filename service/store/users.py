"""Accounts: secrets stay in the store, public_user() is what pages and the API show."""
from __future__ import annotations

import sqlite_utils

from .audit import audit
from .base import Conflict, NotFound, _row_by_id, now, transaction


def add_user(db: sqlite_utils.Database, name: str, role: str, org: str | None, password_hash: str,
             token_hash: str, auth_stamp: str, actor: str = "system") -> dict:
    """A new account; the name must be free (a deleted account keeps its name, so the audit log's
    actor names stay unambiguous)."""
    with transaction(db):
        taken = get_user_by_name(db, name)
        if taken:
            message = f"用户名「{name}」曾属于已删除的账号，不能再用" if taken["deleted_at"] else f"用户名「{name}」已存在"
            raise Conflict("duplicate_user", message)
        user_id = db["users"].insert({"name": name, "role": role, "org": org, "password_hash": password_hash,
                                      "token_hash": token_hash, "auth_stamp": auth_stamp,
                                      "created_at": now()}).last_pk
        user = get_user(db, user_id)
        audit(db, actor, "create", "users", str(user_id), None, public_user(user))
    return user


def update_user(db: sqlite_utils.Database, user_id: int, changes: dict, actor: str, action: str) -> dict:
    """Change one account (password, token, auth stamp, disabled or deleted mark) and audit it as
    `action`, in one transaction; returns the stored account. A deleted account is not found."""
    with transaction(db):
        before = get_user(db, user_id)
        if before is None or before["deleted_at"]:
            raise NotFound("not_found", f"找不到编号为 {user_id} 的账号")
        db["users"].update(user_id, changes)
        after = get_user(db, user_id)
        audit(db, actor, action, "users", str(user_id), public_user(before), public_user(after))
    return after


def get_user(db: sqlite_utils.Database, user_id: int) -> dict | None:
    """One account row, secrets included, deleted ones too (their row stays as a tombstone)."""
    if not isinstance(user_id, int):
        return None
    return _row_by_id(db, "select * from users", "id", user_id)


def get_user_by_name(db: sqlite_utils.Database, name: str) -> dict | None:
    rows = list(db.query("select * from users where name = ?", [name]))
    return rows[0] if rows else None


def get_user_by_token(db: sqlite_utils.Database, token_hash: str) -> dict | None:
    rows = list(db.query("select * from users where token_hash = ?", [token_hash]))
    return rows[0] if rows else None


def list_users(db: sqlite_utils.Database) -> list[dict]:
    """Every account that has not been deleted, oldest first."""
    return [public_user(row) for row in db.query("select * from users where deleted_at is null order by id")]


def public_user(user: dict | None) -> dict | None:
    """An account without its secrets."""
    if user is None:
        return None
    return {key: user[key] for key in ("id", "name", "role", "org", "created_at", "disabled_at")}


# --- failed logins, counted per user name and per address by every server process -------------------

def add_login_failure(db: sqlite_utils.Database, keys: tuple[str, ...], at: float, window: float) -> None:
    """Count one failed login against each key, and drop every failure older than the window."""
    with transaction(db):
        db.execute("delete from login_failures where at <= ?", [at - window])
        db.conn.executemany("insert into login_failures (key, at) values (?, ?)", [(key, at) for key in keys])


def recent_login_failures(db: sqlite_utils.Database, key: str, since: float, limit: int) -> list[float]:
    """The times of the key's last `limit` failures after `since`, newest first."""
    return [row[0] for row in db.execute("select at from login_failures where key = ? and at > ? "
                                         "order by at desc limit ?", [key, since, limit])]


def clear_login_failures(db: sqlite_utils.Database, keys: tuple[str, ...]) -> None:
    with transaction(db):
        db.conn.executemany("delete from login_failures where key = ?", [(key,) for key in keys])
