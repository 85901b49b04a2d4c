"""Who may see and change which record: the roles and the object-level rules.

Plain functions of a user dict and a record, with no Flask in them, so the domain modules
(workflow, sessions) apply the same rules as the pages and the API without importing web code.

    >>> can_edit({"role": "enterprise", "org": "海尔"}, "demands", {"enterprise": "海尔"})
    True
"""
from __future__ import annotations

ROLES = ("enterprise", "platform", "broker", "admin")
ROLE_NAMES = {"enterprise": "企业", "platform": "平台", "broker": "技术经纪人", "admin": "管理员"}
# Whose records a role owns: an enterprise its demands, a platform its supplies.
OWNED_KIND = {"enterprise": "demands", "platform": "supplies"}
OWNER_FIELD = {"demands": "enterprise", "supplies": "platform"}
SEE_ALL = ("broker", "admin")


def owns(user: dict | None, kind: str, record: dict | None) -> bool:
    """An enterprise owns the demands filed under its name; a platform the supplies it lists."""
    if not user or not record or OWNED_KIND.get(user["role"]) != kind:
        return False
    return bool(user.get("org")) and record.get(OWNER_FIELD[kind]) == user["org"]


def can_view(user: dict | None, kind: str, record: dict | None) -> bool:
    """Brokers and admins see every record; enterprises and platforms only their own."""
    if not user or not record:
        return False
    return user["role"] in SEE_ALL or owns(user, kind, record)


def can_edit(user: dict | None, kind: str, record: dict | None) -> bool:
    """Owners edit their own records; admins (imports) and brokers (records taken down on visits) any."""
    if not user or not record:
        return False
    return user["role"] in SEE_ALL or owns(user, kind, record)


def can_delete(user: dict | None, kind: str, record: dict | None) -> bool:
    """Owners delete their own records and admins any; a broker edits but does not delete."""
    if not user or not record:
        return False
    return user["role"] == "admin" or owns(user, kind, record)


def can_create(user: dict | None, kind: str) -> bool:
    """Owners post their own kind; brokers post both lists (demands found on visits); admins anything."""
    return bool(user) and (user["role"] in SEE_ALL or OWNED_KIND.get(user["role"]) == kind)


def visible_filter(user: dict, kind: str) -> dict:
    """The store filter that limits a list to what the user may see (always empty for brokers)."""
    if user["role"] in SEE_ALL:
        return {}
    if OWNED_KIND.get(user["role"]) == kind:
        return {OWNER_FIELD[kind]: user.get("org") or "\0"}
    return {"id": "\0"}  # nothing: an enterprise sees no supplies list, a platform no demands list
