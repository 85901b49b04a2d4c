"""Every table, index and upgrade of an older database, created in one place when the store opens."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from .base import transaction


RECORD_COLUMNS = {
    "demands": {
        "id": str, "title": str, "description": str, "enterprise": str, "industry_cluster": str,
        "industry_chain": str, "region": str, "keywords": str, "budget_wan": float,
        "cooperation_mode": str, "deadline": str, "contact": str, "status": str, "posted_at": str,
        "extra": str, "version": int, "updated_at": str,
    },
    "supplies": {
        "id": str, "title": str, "description": str, "platform": str, "industry_cluster": str,
        "industry_chain": str, "maturity": str, "ip": str, "keywords": str, "cooperation_mode": str,
        "price_wan": float, "contact": str, "posted_at": str,
        "extra": str, "version": int, "updated_at": str,
    },
}


PROPOSAL_EXTRA_COLUMNS = {"enterprise_agreed_at": str, "enterprise_agreed_by": str,
                          "platform_agreed_at": str, "platform_agreed_by": str}

# Columns added to a table after it was first released: an older database gets them when it opens.
LATER_COLUMNS = {
    "proposals": PROPOSAL_EXTRA_COLUMNS,
    "cooperations": {"proposal_id": int, "session_id": int},  # the proposal and the session it came from
    "demands": {"visit_id": int},  # the visit the demand was found on
}

# AUTOINCREMENT: an id is never handed out twice, even after its account row is gone, so nothing
# that still names an old id (a session cookie, an audit entry) can come to mean a new account.
USERS_TABLE = """create table users (
    id integer primary key autoincrement, name text not null, role text not null, org text,
    password_hash text, token_hash text, created_at text,
    auth_stamp text, disabled_at text, deleted_at text)"""

USER_COLUMNS = ("id", "name", "role", "org", "password_hash", "token_hash", "created_at",
                "auth_stamp", "disabled_at", "deleted_at")


def open_db(path: str | Path, schema: bool = True) -> sqlite_utils.Database:
    """Open (and create if needed) the database with WAL, foreign keys and the full schema.

    schema=False skips the schema check: the web app checks once at start, not on every request.
    """
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    # Autocommit at the driver level: transactions are explicit (transaction() / db.atomic()).
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
    db = sqlite_utils.Database(conn)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA busy_timeout = 30000")
    if str(path) != ":memory:":
        db.enable_wal()
    if schema:
        ensure_schema(db)
    return db


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Create every table and index that is missing, add the columns an older database lacks;
    existing data is left alone."""
    for kind, columns in RECORD_COLUMNS.items():
        db[kind].create(columns, pk="id", not_null={"title", "description"}, defaults={"version": 1},
                        if_not_exists=True)
        db[kind].create_index(["industry_cluster"], if_not_exists=True)
        db[kind].create_index(["posted_at"], if_not_exists=True)
    db["demands"].create_index(["region"], if_not_exists=True)
    db["demands"].create_index(["status"], if_not_exists=True)
    db["demands"].create_index(["enterprise"], if_not_exists=True)
    db["supplies"].create_index(["platform"], if_not_exists=True)
    db["cooperations"].create(
        {"id": int, "demand_id": str, "supply_id": str, "confirmed_at": str, "mode": str,
         "amount_wan": float, "broker": str, "note": str, "extra": str},
        pk="id", not_null={"demand_id", "supply_id"},
        foreign_keys=[("demand_id", "demands", "id"), ("supply_id", "supplies", "id")],
        if_not_exists=True,
    )
    db["cooperations"].create_index(["demand_id", "supply_id"], unique=True, if_not_exists=True)
    db["cooperations"].create_index(["confirmed_at"], if_not_exists=True)
    db["proposals"].create(
        {"id": int, "demand_id": str, "supply_id": str, "score": float, "dense": float,
         "lexical": float, "rank": int, "reasons": str, "status": str, "generated_at": str,
         "decided_by": str, "decided_at": str, "decision_note": str},
        pk="id", not_null={"demand_id", "supply_id"},
        foreign_keys=[("demand_id", "demands", "id"), ("supply_id", "supplies", "id")],
        defaults={"status": "proposed"}, if_not_exists=True,
    )
    db["proposals"].create_index(["demand_id", "supply_id"], unique=True, if_not_exists=True)
    db["proposals"].create_index(["status", "score"], if_not_exists=True)
    db["proposals"].create_index(["supply_id"], if_not_exists=True)
    db["audit_log"].create(
        {"id": int, "at": str, "actor": str, "action": str, "entity": str, "entity_id": str,
         "before": str, "after": str},
        pk="id", if_not_exists=True,
    )
    db["audit_log"].create_index(["entity", "entity_id"], if_not_exists=True)
    _ensure_users_schema(db)  # after the audit log: an upgrade reads the ids it names
    db["users"].create_index(["token_hash"], if_not_exists=True)
    db["embeddings"].create({"key": str, "vector": bytes}, pk="key", if_not_exists=True)
    db["tokens"].create({"key": str, "fields": str}, pk="key", if_not_exists=True)
    # Decisions outlive the proposals they judged: no foreign key to proposals.
    db["decisions"].create(
        {"id": int, "proposal_id": int, "demand_id": str, "supply_id": str, "action": str,
         "from_status": str, "to_status": str, "actor": str, "at": str, "reason": str, "undone_at": str},
        pk="id", not_null={"proposal_id", "to_status"}, if_not_exists=True,
    )
    db["decisions"].create_index(["proposal_id"], if_not_exists=True)
    db["decisions"].create_index(["demand_id"], if_not_exists=True)
    db["decisions"].create_index(["supply_id"], if_not_exists=True)
    # Themed sessions with their agenda of pairs, and visits.
    db["sessions"].create(
        {"id": int, "title": str, "theme_kind": str, "theme": str, "held_on": str, "per_party_limit": int,
         "note": str, "created_by": str, "created_at": str},
        pk="id", not_null={"theme_kind", "theme"}, if_not_exists=True,
    )
    db["session_pairs"].create(
        {"id": int, "session_id": int, "demand_id": str, "supply_id": str, "position": int, "score": float,
         "reasons": str, "outcome": str, "outcome_note": str, "outcome_by": str, "outcome_at": str},
        pk="id", not_null={"session_id", "demand_id", "supply_id"},
        foreign_keys=[("session_id", "sessions", "id"), ("demand_id", "demands", "id"),
                      ("supply_id", "supplies", "id")],
        if_not_exists=True,
    )
    db["session_pairs"].create_index(["session_id", "demand_id", "supply_id"], unique=True, if_not_exists=True)
    db["visits"].create(
        {"id": int, "direction": str, "enterprise": str, "partner": str, "visited_on": str, "region": str,
         "industry_cluster": str, "notes": str, "created_by": str, "created_at": str},
        pk="id", not_null={"enterprise", "partner"}, if_not_exists=True,
    )
    db["visits"].create_index(["visited_on"], if_not_exists=True)
    # Serving with several processes: the change sequence every process's engine follows (AUTOINCREMENT:
    # a sequence number is never reused, even after pruning), and failed logins counted across them.
    db.execute("""create table if not exists changes (
        seq integer primary key autoincrement, kind text not null, record_id text,
        origin integer not null, at text not null)""")
    db["login_failures"].create({"key": str, "at": float}, not_null={"key", "at"}, if_not_exists=True)
    db["login_failures"].create_index(["key", "at"], if_not_exists=True)
    db["login_failures"].create_index(["at"], if_not_exists=True)
    db["rankers"].create({"id": int, "trained_at": str, "actor": str, "adopted": int, "verdict": str,
                          "model": str, "extent": str, "figures": str}, pk="id", if_not_exists=True)
    for table, columns in LATER_COLUMNS.items():
        for column, column_type in columns.items():
            if column not in db[table].columns_dict:
                db[table].add_column(column, column_type)


def _ensure_users_schema(db: sqlite_utils.Database) -> None:
    """Create the accounts table, or bring an older one up to date: AUTOINCREMENT ids, an auth stamp
    for every account (older sessions carry none, so they end once), disabled and deleted marks."""
    if not db["users"].exists():
        db.execute(USERS_TABLE)
    elif "autoincrement" not in db["users"].schema.lower():
        _rebuild_users_table(db)
    db["users"].create_index(["name"], unique=True, if_not_exists=True)
    if db.execute("select count(*) from users where auth_stamp is null").fetchone()[0]:
        with transaction(db):
            db.execute("update users set auth_stamp = lower(hex(randomblob(16))) where auth_stamp is null")


def _rebuild_users_table(db: sqlite_utils.Database) -> None:
    """Copy an older accounts table into one with AUTOINCREMENT ids. The id sequence starts past every
    id the table or the audit log has ever named, so an id deleted before the upgrade is not reused."""
    old_columns = [column for column in USER_COLUMNS if column in db["users"].columns_dict]
    with transaction(db):
        db.execute("alter table users rename to users_before_upgrade")
        db.execute(USERS_TABLE)
        db.execute(f"insert into users ({', '.join(old_columns)}) "
                   f"select {', '.join(old_columns)} from users_before_upgrade")
        db.execute("drop table users_before_upgrade")
        highest = db.execute(
            "select max(coalesce((select max(id) from users), 0), coalesce((select max(cast(entity_id as integer)) "
            "from audit_log where entity = 'users'), 0))").fetchone()[0]
        db.execute("delete from sqlite_sequence where name = 'users'")
        db.execute("insert into sqlite_sequence (name, seq) values ('users', ?)", [highest])
