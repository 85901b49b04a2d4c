"""The SQLite store: schema and named queries through sqlite-utils. The one place SQL lives.

    >>> db = open_db(":memory:")
    >>> upsert_records(db, "demands", [{"id": "D1", "title": "注塑件缩痕", "description": "良品率低"}])
    1
    >>> get_record(db, "demands", "D1")["title"]
    '注塑件缩痕'
"""
from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import sqlite_utils

from .errors import Conflict, NotFound
from .records import FIELDS, OPEN_DEMAND_STATUSES, field_keys, id_prefix

# visit_id links a demand to the visit it was found on: kept by the store, not part of the interchange format.
BOOKKEEPING = ("extra", "version", "updated_at", "visit_id")

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
    """Create every table and index that is missing; existing data is left alone."""
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
    db["embeddings"].create({"key": str, "vector": bytes}, pk="key", if_not_exists=True)
    _ensure_workflow_schema(db)
    _ensure_sessions_schema(db)
    _ensure_serving_schema(db)


@contextmanager
def transaction(db: sqlite_utils.Database):
    """All-or-nothing: every write inside commits together or not at all.

    The outermost block takes the write lock up front (BEGIN IMMEDIATE) so two writers queue
    instead of failing on a lock upgrade; nested blocks become savepoints.
    """
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.rollback()
        raise
    db.execute("COMMIT")


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


# --- backup and restore -----------------------------------------------------------------------

# A file without these tables is not a matchmaker database, however sound SQLite finds it.
REQUIRED_TABLES = ("demands", "supplies", "cooperations", "proposals", "users", "audit_log")


def backup_database(db: sqlite_utils.Database, target: str | Path) -> None:
    """Copy the database to `target` with SQLite's online backup: one consistent snapshot even while
    the server writes (in WAL mode the copy reads a snapshot and blocks no one).

        >>> backup_database(db, "backups/matchmaker-2024-05-01.db")    # doctest: +SKIP
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    temporary.unlink(missing_ok=True)
    copy = sqlite3.connect(str(temporary), isolation_level=None)
    try:
        db.conn.backup(copy)  # all pages in one step: one read transaction, one snapshot
        copy.execute("PRAGMA journal_mode = DELETE")  # a backup is one self-contained file
    finally:
        copy.close()
    os.replace(temporary, target)  # a backup file is either complete or absent


def check_database(path: str | Path) -> list[str]:
    """What makes a file unfit to restore from (PRAGMA integrity_check, the tables); empty when sound.

        >>> check_database("backups/matchmaker-2024-05-01.db")        # doctest: +SKIP
        []
    """
    if not Path(path).is_file():
        return ["文件不存在"]
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        verdict = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        tables = {row[0] for row in conn.execute("select name from sqlite_master where type = 'table'")}
    except sqlite3.DatabaseError as error:
        return [f"不是有效的 SQLite 数据库，或文件已损坏（{error}）"]
    finally:
        conn.close()
    if verdict != ["ok"]:
        return ["完整性检查未通过，文件已损坏：" + "；".join(verdict[:5])]
    missing = [table for table in REQUIRED_TABLES if table not in tables]
    return [f"不是两清单对接服务的数据库（缺少数据表：{'、'.join(missing)}）"] if missing else []


def restore_database(db: sqlite_utils.Database, source: str | Path) -> None:
    """Replace the whole database with a checked backup, atomically and safely beside a running server.

    The backup API writes the pages inside one write transaction on the live file, so readers see
    the old database or the restored one, never a mix; swapping the file by rename would leave the
    old -wal file to be replayed onto the new database.
    """
    backup = sqlite3.connect(str(source), isolation_level=None)
    try:
        backup.backup(db.conn)
    finally:
        backup.close()


# --- demands and supplies ---------------------------------------------------------------

def upsert_records(db: sqlite_utils.Database, kind: str, records: list[dict], actor: str = "system",
                   progress=None) -> int:
    """Insert or replace demands or supplies by id, one audit entry each; returns how many were written.

    Keys outside the record's fields go to the `extra` column and come back on read.
    """
    known = set(field_keys(kind))
    stamp = now()
    with transaction(db):
        current = records_by_id(db, kind, [record["id"] for record in records])
        rows, entries = [], []
        for record in records:
            before = current.get(record["id"])
            row = {key: record.get(key) for key in known}
            row["keywords"] = json.dumps(record.get("keywords") or [], ensure_ascii=False)
            extra = {key: value for key, value in record.items() if key not in known}
            row["extra"] = json.dumps(extra, ensure_ascii=False) if extra else None
            row["version"] = (before["version"] + 1) if before else 1
            row["updated_at"] = stamp
            rows.append(row)
            entries.append(audit_entry(actor, "import" if before is None else "update", kind, record["id"],
                                       _public(before), _public(record)))
            current[record["id"]] = _decode_record(row)  # an id repeated later in the file updates this one
        # In batches, not row by row: a large import holds the write lock for a fraction of a second
        # per thousand rows instead of seconds, so the server's other writers are not kept waiting.
        for start in range(0, len(rows), IMPORT_BATCH):
            db[kind].upsert_all(rows[start:start + IMPORT_BATCH], pk="id")
            db["audit_log"].insert_all(entries[start:start + IMPORT_BATCH])
            if progress:
                progress(len(rows[start:start + IMPORT_BATCH]))
        if records:
            record_change(db, kind, None)  # a bulk write: the other processes reload the whole side
    return len(records)


IMPORT_BATCH = 500


def records_by_id(db: sqlite_utils.Database, kind: str, record_ids: list[str]) -> dict[str, dict]:
    """The stored demands or supplies among `record_ids`, by id."""
    found = {}
    unique = list(dict.fromkeys(record_ids))
    for start in range(0, len(unique), 500):
        chunk = unique[start:start + 500]
        for row in db.query(f"select * from [{kind}] where id in ({','.join('?' * len(chunk))})", chunk):
            found[row["id"]] = _decode_record(row)
    return found


def get_record(db: sqlite_utils.Database, kind: str, record_id: str) -> dict | None:
    """One demand or supply as a record dict (extra keys merged back), or None."""
    rows = list(db.query(f"select * from [{kind}] where id = ?", [record_id]))
    return _decode_record(rows[0]) if rows else None


def list_records(db: sqlite_utils.Database, kind: str, where: dict | None = None,
                 search: str | None = None, limit: int | None = None, offset: int = 0,
                 order: str = "posted_at desc, id") -> list[dict]:
    """Records filtered by exact column values and an optional substring search, newest first."""
    clause, params = _where(kind, where, search)
    sql = f"select * from [{kind}]{clause} order by {order}"
    if limit is not None:
        sql += " limit ? offset ?"
        params += [limit, offset]
    return [_decode_record(row) for row in db.query(sql, params)]


def count_records(db: sqlite_utils.Database, kind: str, where: dict | None = None,
                  search: str | None = None) -> int:
    clause, params = _where(kind, where, search)
    return db.execute(f"select count(*) from [{kind}]{clause}", params).fetchone()[0]


def _where(kind: str, where: dict | None, search: str | None) -> tuple[str, list]:
    allowed = set(RECORD_COLUMNS.get(kind, {})) | {field.key for field in FIELDS[kind]}
    conditions, params = [], []
    for column, value in (where or {}).items():
        if value is None or value == "":
            continue
        if column == "month":
            conditions.append("substr(posted_at, 1, 7) = ?")
        elif column in allowed:
            conditions.append(f"[{column}] = ?")
        else:
            raise ValueError(f"unknown filter column {column!r}")
        params.append(value)
    if search:
        conditions.append("(title like ? or description like ? or keywords like ?)")
        params += [f"%{search}%"] * 3
    return (" where " + " and ".join(conditions) if conditions else ""), params


NUMBER_COLUMNS = ("budget_wan", "price_wan", "amount_wan")


def _tidy_numbers(record: dict) -> dict:
    """SQLite REAL hands 30 back as 30.0; the lists write whole amounts as 30."""
    for column in NUMBER_COLUMNS:
        value = record.get(column)
        if isinstance(value, float) and value.is_integer():
            record[column] = int(value)
    return record


def _decode_record(row: dict) -> dict:
    record = _tidy_numbers(dict(row))
    record["keywords"] = json.loads(record["keywords"]) if record.get("keywords") else []
    extra = json.loads(record.pop("extra") or "{}")
    record.update(extra)
    return record


def _public(record: dict | None) -> dict | None:
    """A record without the store's bookkeeping columns, as import/export sees it."""
    if record is None:
        return None
    return {key: value for key, value in record.items() if key not in BOOKKEEPING}


def export_records(db: sqlite_utils.Database, kind: str) -> list[dict]:
    """All records of a kind in id order, as the interchange format has them."""
    if kind == "cooperations":
        return [{key: value for key, value in _decode_cooperation(row).items() if key != "id"}
                for row in db.query("select * from cooperations order by demand_id, supply_id")]
    return [_public(record) for record in list_records(db, kind, order="id")]


def ids(db: sqlite_utils.Database, kind: str) -> set[str]:
    return {row[0] for row in db.execute(f"select id from [{kind}]")}


def next_record_id(db: sqlite_utils.Database, kind: str, prefix: str) -> str:
    """The number after the highest one under `prefix`: D2021-001 first, then D2021-002 (D2021-1000 after 999).

    Call it inside the write transaction that inserts the record: the lock taken up front makes
    concurrent posts queue, so no two get the same number and none has to retry.
    """
    start = len(prefix) + 1
    # Ids starting with the prefix sort between it and the prefix with its last character incremented.
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    highest = db.execute(f"select max(cast(substr(id, ?) as integer)) from [{kind}] "
                         "where id > ? and id < ? and substr(id, ?) not glob '*[^0-9]*'",
                         [start, prefix, end, start]).fetchone()[0]
    return f"{prefix}{(highest or 0) + 1:03d}"


# --- cooperations -----------------------------------------------------------------------

def upsert_cooperations(db: sqlite_utils.Database, cooperations: list[dict], actor: str = "system",
                        progress=None) -> int:
    """Insert cooperations; an existing (demand, supply) pair is updated, never duplicated."""
    known = set(field_keys("cooperations"))
    with transaction(db):
        for cooperation in cooperations:
            row = {key: cooperation.get(key) for key in known}
            extra = {key: value for key, value in cooperation.items() if key not in known}
            row["extra"] = json.dumps(extra, ensure_ascii=False) if extra else None
            before = get_cooperation(db, row["demand_id"], row["supply_id"])
            if before:
                db["cooperations"].update(before["id"], row)
            else:
                db["cooperations"].insert(row)
            audit(db, actor, "import" if before is None else "update", "cooperations",
                  f"{row['demand_id']}→{row['supply_id']}", _public(before), _public(cooperation))
            if progress:
                progress(1)
    return len(cooperations)


def get_cooperation(db: sqlite_utils.Database, demand_id: str, supply_id: str) -> dict | None:
    rows = list(db.query("select * from cooperations where demand_id = ? and supply_id = ?",
                         [demand_id, supply_id]))
    return _decode_cooperation(rows[0]) if rows else None


def _decode_cooperation(row: dict) -> dict:
    cooperation = _tidy_numbers({key: value for key, value in row.items() if key != "extra"})
    cooperation.update(json.loads(row.get("extra") or "{}"))
    return cooperation


# --- audit log ----------------------------------------------------------------------------

def audit(db: sqlite_utils.Database, actor: str, action: str, entity: str, entity_id: str,
          before: dict | None, after: dict | None) -> None:
    """Record who changed what; called inside the caller's transaction."""
    db["audit_log"].insert(audit_entry(actor, action, entity, entity_id, before, after))


def audit_entry(actor: str, action: str, entity: str, entity_id: str, before: dict | None,
                after: dict | None) -> dict:
    """One audit_log row, for audit() or a batch insert."""
    return {
        "at": now(), "actor": actor, "action": action, "entity": entity, "entity_id": entity_id,
        "before": json.dumps(before, ensure_ascii=False, default=str) if before is not None else None,
        "after": json.dumps(after, ensure_ascii=False, default=str) if after is not None else None,
    }


def audit_entries(db: sqlite_utils.Database, entity: str | None = None, entity_id: str | None = None,
                  limit: int = 100, offset: int = 0, **filters) -> list[dict]:
    """Audit rows newest first, filtered by entity and id and by `filters` (see _audit_where)."""
    clause, params = _audit_where(entity, entity_id, **filters)
    rows = db.query(f"select * from audit_log{clause} order by id desc limit ? offset ?", params + [limit, offset])
    return [{**row, "before": json.loads(row["before"]) if row["before"] else None,
             "after": json.loads(row["after"]) if row["after"] else None} for row in rows]


def count_audit_entries(db: sqlite_utils.Database, entity: str | None = None, entity_id: str | None = None,
                        **filters) -> int:
    clause, params = _audit_where(entity, entity_id, **filters)
    return db.execute(f"select count(*) from audit_log{clause}", params).fetchone()[0]


def audit_values(db: sqlite_utils.Database, column: str) -> list[str]:
    """The actors or the actions the audit log holds, for the page's filters."""
    if column not in ("actor", "action"):
        raise ValueError(column)
    return [row[0] for row in db.execute(f"select distinct {column} from audit_log order by 1")]


def _audit_where(entity: str | None, entity_id: str | None, actor: str | None = None, action: str | None = None,
                 since: str | None = None, before: str | None = None) -> tuple[str, list]:
    """since / before: UTC ISO timestamps as `at` holds them (from inclusive, to exclusive)."""
    conditions, params = [], []
    for condition, value in (("entity = ?", entity), ("entity_id = ?", entity_id), ("actor = ?", actor),
                             ("action = ?", action), ("at >= ?", since), ("at < ?", before)):
        if value:
            conditions.append(condition)
            params.append(value)
    return (" where " + " and ".join(conditions) if conditions else ""), params


# --- embedding cache ------------------------------------------------------------------------

class EmbeddingCache:
    """Embeddings keyed by model id, kind and text hash, so re-indexing embeds only what changed."""

    def __init__(self, db: sqlite_utils.Database):
        self.db = db

    def get_many(self, keys: list[str], dtype=np.float32) -> dict[str, np.ndarray]:
        found = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, blob in self.db.execute(f"select key, vector from embeddings where key in ({marks})", chunk):
                found[key] = np.frombuffer(blob, dtype=dtype)
        return found

    def put_many(self, items: dict[str, np.ndarray], dtype=np.float32) -> None:
        with transaction(self.db):
            self.db["embeddings"].upsert_all(
                ({"key": key, "vector": np.asarray(vector, dtype=dtype).tobytes()}
                 for key, vector in items.items()), pk="key")


# --- the service: accounts, records edited in the app, proposals, decisions --------------------

PROPOSAL_EXTRA_COLUMNS = {"enterprise_agreed_at": str, "enterprise_agreed_by": str,
                          "platform_agreed_at": str, "platform_agreed_by": str}


def _ensure_workflow_schema(db: sqlite_utils.Database) -> None:
    """Tables and columns the broker workflow adds; decisions outlive the proposals they judged."""
    for column, column_type in PROPOSAL_EXTRA_COLUMNS.items():
        if column not in db["proposals"].columns_dict:
            db["proposals"].add_column(column, column_type)
    if "proposal_id" not in db["cooperations"].columns_dict:
        db["cooperations"].add_column("proposal_id", int)
    db["decisions"].create(
        {"id": int, "proposal_id": int, "demand_id": str, "supply_id": str, "action": str,
         "from_status": str, "to_status": str, "actor": str, "at": str, "reason": str, "undone_at": str},
        pk="id", not_null={"proposal_id", "to_status"}, if_not_exists=True,
    )
    db["decisions"].create_index(["proposal_id"], if_not_exists=True)
    db["decisions"].create_index(["demand_id"], if_not_exists=True)
    db["decisions"].create_index(["supply_id"], if_not_exists=True)
    db["users"].create_index(["token_hash"], if_not_exists=True)


# --- accounts -------------------------------------------------------------------------------------

# AUTOINCREMENT: an id is never handed out twice, even after its account row is gone, so nothing
# that still names an old id (a session cookie, an audit entry) can come to mean a new account.
USERS_TABLE = """create table users (
    id integer primary key autoincrement, name text not null, role text not null, org text,
    password_hash text, token_hash text, created_at text,
    auth_stamp text, disabled_at text, deleted_at text)"""
USER_COLUMNS = ("id", "name", "role", "org", "password_hash", "token_hash", "created_at",
                "auth_stamp", "disabled_at", "deleted_at")


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
    if not isinstance(user_id, int) or not _fits_sqlite(user_id):
        return None
    rows = list(db.query("select * from users where id = ?", [user_id]))
    return rows[0] if rows else None


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


def save_record(db: sqlite_utils.Database, kind: str, record: dict, actor: str,
                expected_version: int | None = None, create: bool = False) -> dict:
    """Create or edit one demand or supply as a user does in the app; returns the stored record.

    create=True refuses an id in use, and numbers a record whose id is None (next_record_id);
    otherwise the record must exist at `expected_version`.
    """
    known = set(field_keys(kind))
    with transaction(db):
        if create and record.get("id") is None:
            record = {**record, "id": next_record_id(db, kind, id_prefix(kind, record.get("posted_at")))}
        before = get_record(db, kind, record["id"])
        if create and before is not None:
            raise Conflict("duplicate_id", f"编号「{record['id']}」已被使用")
        if not create:
            if before is None:
                raise NotFound("not_found", f"编号「{record['id']}」不存在")
            if expected_version is not None and before["version"] != expected_version:
                raise Conflict("stale_version", f"该记录已被他人修改（当前版本 {before['version']}），请刷新后重试")
        row = {key: record.get(key) for key in known}
        row["keywords"] = json.dumps(record.get("keywords") or [], ensure_ascii=False)
        extra = {key: value for key, value in record.items() if key not in known and key not in BOOKKEEPING}
        row["extra"] = json.dumps(extra, ensure_ascii=False) if extra else None
        row["version"] = before["version"] + 1 if before else 1
        row["updated_at"] = now()
        if before is None:
            db[kind].insert(row)
        else:
            db[kind].update(record["id"], row)
        after = get_record(db, kind, record["id"])
        audit(db, actor, "create" if before is None else "update", kind, record["id"], _public(before),
              _public(after))
        record_change(db, kind, record["id"])
    return after


def delete_record(db: sqlite_utils.Database, kind: str, record_id: str, actor: str,
                  expected_version: int | None = None) -> None:
    """Delete a demand or supply and its open proposals; refused while a cooperation or a session agenda names it."""
    column = "demand_id" if kind == "demands" else "supply_id"
    with transaction(db):
        before = get_record(db, kind, record_id)
        if before is None:
            raise NotFound("not_found", f"编号「{record_id}」不存在")
        if expected_version is not None and before["version"] != expected_version:
            raise Conflict("stale_version", f"该记录已被他人修改（当前版本 {before['version']}），请刷新后重试")
        if db.execute(f"select count(*) from cooperations where {column} = ?", [record_id]).fetchone()[0]:
            raise Conflict("record_in_use", "该记录已有合作，不能删除")
        agendas = _agendas_holding(db, column, record_id)
        if agendas:
            raise Conflict("record_in_use", f"该记录在{agendas}的议程上，不能删除；请先从议程中移除")
        db.execute(f"delete from proposals where {column} = ?", [record_id])
        db.execute(f"delete from [{kind}] where id = ?", [record_id])
        audit(db, actor, "delete", kind, record_id, _public(before), None)
        record_change(db, kind, record_id)


def _agendas_holding(db: sqlite_utils.Database, column: str, record_id: str, shown: int = 3) -> str | None:
    """The sessions whose agenda names a record, as Chinese text: 专题对接会「…」（2021-06-18，编号 3）."""
    rows = list(db.query(f"select distinct s.id, s.title, s.held_on from session_pairs p join sessions s "
                         f"on s.id = p.session_id where p.{column} = ? order by s.held_on, s.id", [record_id]))
    if not rows:
        return None
    names = "、".join(f"专题对接会「{row['title']}」（{row['held_on']}，编号 {row['id']}）" for row in rows[:shown])
    return names + (f"等 {len(rows)} 场对接会" if len(rows) > shown else "")


# --- proposals and decisions --------------------------------------------------------------------

OPEN_PROPOSAL_STATUSES = ("proposed", "unsure")


def save_proposals(db: sqlite_utils.Database, proposals: list[dict], rescore: bool = True) -> int:
    """Store the engine's proposals: new pairs are added, undecided ones rescored, decided ones kept.

    Each proposal: demand_id, supply_id, score, dense, lexical, rank, reasons. Returns how many are new.
    rescore=False only adds new pairs (scores found from the supply side are not the demand's).
    A pair whose figures are unchanged is left alone (generated_at stays the time they were produced),
    and when nothing changes no write lock is taken: a broker re-reading proposals does not write.
    """
    stamp = now()
    rows = []
    for proposal in proposals:
        row = {key: proposal[key] for key in ("demand_id", "supply_id", "score", "dense", "lexical", "rank")}
        row["reasons"] = json.dumps(proposal.get("reasons") or {}, ensure_ascii=False)
        row["generated_at"] = stamp
        rows.append(row)
    if not any(_proposal_change(db, row, rescore) for row in rows):
        return 0
    added = 0
    with transaction(db):
        for row in rows:
            change = _proposal_change(db, row, rescore)
            if change == "new":
                db["proposals"].insert({**row, "status": "proposed"})
                added += 1
            elif change is not None:
                db["proposals"].update(change, row)
    return added


def date_proposals_by_posting(db: sqlite_utils.Database) -> int:
    """Date every proposal on the day the later of its two records was posted; returns how many.

    Only for the demo, whose sample lists span a year: there proposals read as made when the pair
    first became possible, not all on the day the demo was built. A real run keeps generated_at.
    """
    with transaction(db):
        return db.execute(
            "update proposals set generated_at = (select max(d.posted_at, s.posted_at) || 'T00:00:00+00:00' "
            "from demands d, supplies s where d.id = proposals.demand_id and s.id = proposals.supply_id) "
            "where exists (select 1 from demands d, supplies s where d.id = proposals.demand_id "
            "and s.id = proposals.supply_id and d.posted_at <> '' and s.posted_at <> '')").rowcount


PROPOSAL_FIGURES = ("score", "dense", "lexical", "rank", "reasons")


def _proposal_change(db: sqlite_utils.Database, row: dict, rescore: bool) -> str | int | None:
    """What saving this row would do: "new", the id of an undecided pair to rescore, or None."""
    existing = db.execute(f"select id, status, {', '.join(PROPOSAL_FIGURES)} from proposals "
                          "where demand_id = ? and supply_id = ?", [row["demand_id"], row["supply_id"]]).fetchone()
    if existing is None:
        return "new"
    if rescore and existing[1] == "proposed" and tuple(existing[2:]) != tuple(row[key] for key in PROPOSAL_FIGURES):
        return existing[0]
    return None


def get_proposal(db: sqlite_utils.Database, proposal_id: int) -> dict | None:
    if not _fits_sqlite(proposal_id):
        return None
    rows = list(db.query(f"{PROPOSAL_SELECT} where p.id = ?", [proposal_id]))
    return _decode_proposal(rows[0]) if rows else None


def get_proposal_for_pair(db: sqlite_utils.Database, demand_id: str, supply_id: str) -> dict | None:
    rows = list(db.query(f"{PROPOSAL_SELECT} where p.demand_id = ? and p.supply_id = ?", [demand_id, supply_id]))
    return _decode_proposal(rows[0]) if rows else None


PROPOSAL_SELECT = """select p.*, d.title as demand_title, d.enterprise, d.industry_cluster, d.region,
    d.posted_at as demand_posted_at, s.title as supply_title, s.platform,
    s.industry_cluster as supply_cluster
  from proposals p join demands d on d.id = p.demand_id join supplies s on s.id = p.supply_id"""


SEARCHED_COLUMNS = ("d.enterprise", "s.platform", "d.title", "s.title")
PROPOSAL_ORDERS = {"score": "(p.status = 'unsure'), p.score desc",
                   "score_asc": "p.score",
                   "date": "d.posted_at is null, d.posted_at desc, p.score desc",
                   "date_asc": "d.posted_at is null, d.posted_at, p.score desc"}


def _proposal_where(filters: dict) -> tuple[str, list]:
    """Filters: statuses, demand_id, supply_id, enterprise, platform, cluster, region, month,
    min_score, max_score (exclusive), ids, search (words each found in an enterprise, platform or title)."""
    conditions, params = _pair_conditions(filters, "p", "d.posted_at")
    for word in (filters.get("search") or "").split():
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append("(" + " or ".join(f"{column} like ? escape '\\'" for column in SEARCHED_COLUMNS) + ")")
        params += [pattern] * len(SEARCHED_COLUMNS)
    if filters.get("min_score") is not None:
        conditions.append("p.score >= ?")
        params.append(filters["min_score"])
    if filters.get("max_score") is not None:
        conditions.append("p.score < ?")
        params.append(filters["max_score"])
    for name, column in (("statuses", "p.status"), ("ids", "p.id")):
        if filters.get(name) is not None:
            values = list(filters[name])
            conditions.append(f"{column} in ({','.join('?' * len(values))})" if values else "0")
            params += values
    return (" where " + " and ".join(conditions) if conditions else ""), params


def list_proposals(db: sqlite_utils.Database, filters: dict | None = None, limit: int | None = None,
                   offset: int = 0, order: str = "score") -> list[dict]:
    """Proposals with both records' titles, best first ("unsure" ones after the undecided ones);
    order "score_asc" weakest first, "date" / "date_asc" by the demand's posting date, newest / oldest first."""
    clause, params = _proposal_where(filters or {})
    sql = f"{PROPOSAL_SELECT}{clause} order by {PROPOSAL_ORDERS[order]}, p.demand_id, p.supply_id"
    if limit is not None:
        sql += " limit ? offset ?"
        params += [limit, offset]
    return [_decode_proposal(row) for row in db.query(sql, params)]


def count_proposals(db: sqlite_utils.Database, filters: dict | None = None) -> int:
    clause, params = _proposal_where(filters or {})
    return db.execute(f"select count(*) from ({PROPOSAL_SELECT}{clause})", params).fetchone()[0]


def count_proposals_per_record(db: sqlite_utils.Database, column: str, record_ids: list[str],
                                filters: dict | None = None) -> dict[str, int]:
    """How many proposals (under `filters`) each of these demands or supplies has (column demand_id or
    supply_id), in one query: {record id: count}, records without any left out."""
    clause, params = _proposal_where(filters or {})
    marks = ",".join("?" * len(record_ids))
    sql = f"select {column}, count(*) from ({PROPOSAL_SELECT}{clause}) where {column} in ({marks}) group by {column}"
    return dict(db.execute(sql, [*params, *record_ids]).fetchall()) if record_ids else {}


def decided_pairs(db: sqlite_utils.Database, demand_id: str | None = None,
                  supply_id: str | None = None) -> set[tuple[str, str]]:
    """(demand, supply) pairs a person has already decided: they are never proposed again."""
    marks = ",".join("?" * len(OPEN_PROPOSAL_STATUSES))
    sql = f"select demand_id, supply_id from proposals where status not in ({marks})"
    params = list(OPEN_PROPOSAL_STATUSES)
    if demand_id:
        sql += " and demand_id = ?"
        params.append(demand_id)
    if supply_id:
        sql += " and supply_id = ?"
        params.append(supply_id)
    return {(row[0], row[1]) for row in db.execute(sql, params)}


def _decode_proposal(row: dict) -> dict:
    proposal = dict(row)
    proposal["reasons"] = json.loads(proposal["reasons"]) if proposal.get("reasons") else {}
    return proposal


def _fits_sqlite(number: int) -> bool:
    """An id from a URL can be any size; SQLite integers stop at 2**63 - 1."""
    return -2**63 <= number < 2**63


def update_proposal(db: sqlite_utils.Database, proposal_id: int, changes: dict) -> None:
    db["proposals"].update(proposal_id, changes)


def add_decision(db: sqlite_utils.Database, decision: dict) -> int:
    """Keep one decision (proposal_id, demand_id, supply_id, action, from_status, to_status, actor, at, reason)."""
    return db["decisions"].insert(decision).last_pk


def last_decision(db: sqlite_utils.Database, proposal_id: int) -> dict | None:
    """The latest decision on a proposal that has not been undone."""
    rows = list(db.query("select * from decisions where proposal_id = ? and action = 'decide' and undone_at is null "
                         "order by id desc limit 1", [proposal_id]))
    return rows[0] if rows else None


def mark_decision_undone(db: sqlite_utils.Database, decision_id: int, at: str) -> None:
    db["decisions"].update(decision_id, {"undone_at": at})


def decisions_for(db: sqlite_utils.Database, kind: str | None = None, record_id: str | None = None,
                  proposal_id: int | None = None) -> list[dict]:
    """Every decision about a demand's, a supply's or one proposal's pairs, oldest first."""
    if proposal_id is not None:
        return list(db.query("select * from decisions where proposal_id = ? order by id", [proposal_id]))
    column = "demand_id" if kind == "demands" else "supply_id"
    return list(db.query(f"select * from decisions where {column} = ? order by id", [record_id]))


# --- cooperations made in the app -----------------------------------------------------------------

def add_cooperation(db: sqlite_utils.Database, cooperation: dict) -> int:
    """Insert a cooperation; the UNIQUE (demand_id, supply_id) index refuses a second one for a pair."""
    return db["cooperations"].insert(cooperation).last_pk


def delete_cooperation(db: sqlite_utils.Database, cooperation_id: int) -> None:
    db.execute("delete from cooperations where id = ?", [cooperation_id])


def get_cooperation_by_id(db: sqlite_utils.Database, cooperation_id: int) -> dict | None:
    if not _fits_sqlite(cooperation_id):
        return None
    rows = list(db.query(f"{COOPERATION_SELECT} where c.id = ?", [cooperation_id]))
    return _decode_cooperation(rows[0]) if rows else None


COOPERATION_SELECT = """select c.*, d.title as demand_title, d.enterprise, d.industry_cluster, d.region,
    s.title as supply_title, s.platform
  from cooperations c join demands d on d.id = c.demand_id join supplies s on s.id = c.supply_id"""


def _cooperation_where(filters: dict) -> tuple[str, list]:
    conditions, params = _pair_conditions(filters, "c", "c.confirmed_at")
    return (" where " + " and ".join(conditions) if conditions else ""), params


def _pair_conditions(filters: dict, pair: str, month_column: str) -> tuple[list[str], list]:
    """Filters shared by proposals and cooperations: both join one demand (d) and one supply (s)."""
    conditions, params = [], []
    simple = {"demand_id": f"{pair}.demand_id", "supply_id": f"{pair}.supply_id", "enterprise": "d.enterprise",
              "platform": "s.platform", "cluster": "d.industry_cluster", "region": "d.region"}
    for name, column in simple.items():
        if filters.get(name) not in (None, ""):
            conditions.append(f"{column} = ?")
            params.append(filters[name])
    if filters.get("month"):
        conditions.append(f"substr({month_column}, 1, 7) = ?")
        params.append(filters["month"])
    return conditions, params


def list_cooperations(db: sqlite_utils.Database, filters: dict | None = None, limit: int | None = None,
                      offset: int = 0, order: str = "c.confirmed_at desc, c.id desc") -> list[dict]:
    """Cooperations with both records' titles, newest first (`order`: an SQL order over c, d and s)."""
    clause, params = _cooperation_where(filters or {})
    sql = f"{COOPERATION_SELECT}{clause} order by {order}"
    if limit is not None:
        sql += " limit ? offset ?"
        params += [limit, offset]
    return [_decode_cooperation(row) for row in db.query(sql, params)]


def count_cooperations(db: sqlite_utils.Database, filters: dict | None = None) -> int:
    clause, params = _cooperation_where(filters or {})
    return db.execute(f"select count(*) from ({COOPERATION_SELECT}{clause})", params).fetchone()[0]


def headline_counts(db: sqlite_utils.Database) -> dict:
    """The two lists' headline figures: records, open demands, cooperations, proposals by status."""
    open_marks = ",".join("?" * len(OPEN_DEMAND_STATUSES))
    counts = {
        "demands": db.execute("select count(*) from demands").fetchone()[0],
        "open_demands": db.execute(f"select count(*) from demands where coalesce(status, '征集中') in ({open_marks})",
                                   list(OPEN_DEMAND_STATUSES)).fetchone()[0],
        "supplies": db.execute("select count(*) from supplies").fetchone()[0],
        "cooperations": db.execute("select count(*) from cooperations").fetchone()[0],
        "matched_demands": db.execute("select count(distinct demand_id) from cooperations").fetchone()[0],
        "matched_supplies": db.execute("select count(distinct supply_id) from cooperations").fetchone()[0],
    }
    counts["proposals"] = {status: count for status, count in
                           db.execute("select status, count(*) from proposals group by status")}
    return counts



# --- what the pages' filters offer -----------------------------------------------------------------

def distinct_values(db: sqlite_utils.Database, kind: str, column: str) -> list[str]:
    """The values a column takes, sorted, blanks left out; column "month" means posted_at's YYYY-MM.

    >>> distinct_values(db, "demands", "region")    # doctest: +SKIP
    ['文登区', '环翠区']
    """
    if column == "month":
        expression = "substr(posted_at, 1, 7)"
    elif column in RECORD_COLUMNS.get(kind, {}):
        expression = f"[{column}]"
    else:
        raise ValueError(f"unknown column {column!r}")
    sql = f"select distinct {expression} from [{kind}] where coalesce({expression}, '') != '' order by 1"
    return [row[0] for row in db.execute(sql)]


def busiest_party(db: sqlite_utils.Database, party: str) -> str | None:
    """The enterprise (or platform) with the most open proposals: a good account to show in a demo."""
    kind, column, key = ("demands", "enterprise", "demand_id") if party == "enterprise" else \
        ("supplies", "platform", "supply_id")
    row = db.execute(
        f"select r.[{column}], count(*) as n from proposals p join [{kind}] r on r.id = p.{key} "
        f"where p.status = 'proposed' and r.[{column}] is not null group by r.[{column}] "
        f"order by n desc, r.[{column}] limit 1").fetchone()
    return row[0] if row else None


# --- themed matchmaking sessions (专题对接) and visits (双走进) -------------------------------------

def _ensure_sessions_schema(db: sqlite_utils.Database) -> None:
    """Sessions with their agenda of pairs, visits; a cooperation keeps its session, a demand its visit."""
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
    if "session_id" not in db["cooperations"].columns_dict:
        db["cooperations"].add_column("session_id", int)
    if "visit_id" not in db["demands"].columns_dict:
        db["demands"].add_column("visit_id", int)


def add_session(db: sqlite_utils.Database, session: dict) -> int:
    return db["sessions"].insert(session).last_pk


def get_session(db: sqlite_utils.Database, session_id: int) -> dict | None:
    if not _fits_sqlite(session_id):
        return None
    rows = list(db.query(f"{SESSION_SELECT} where s.id = ?", [session_id]))
    return rows[0] if rows else None


SESSION_SELECT = """select s.*,
    (select count(*) from session_pairs p where p.session_id = s.id) as pair_count,
    (select count(*) from cooperations c where c.session_id = s.id) as cooperation_count
  from sessions s"""


def list_sessions(db: sqlite_utils.Database, month: str | None = None) -> list[dict]:
    """Sessions, latest date first, with how many pairs their agenda holds and cooperations they made."""
    clause, params = ("where substr(s.held_on, 1, 7) = ?", [month]) if month else ("", [])
    return list(db.query(f"{SESSION_SELECT} {clause} order by s.held_on desc, s.id desc", params))


SESSION_PAIR_SELECT = """select p.*, d.title as demand_title, d.enterprise, d.region, d.industry_cluster,
    s.title as supply_title, s.platform, c.id as cooperation_id
  from session_pairs p join demands d on d.id = p.demand_id join supplies s on s.id = p.supply_id
  left join cooperations c on c.demand_id = p.demand_id and c.supply_id = p.supply_id"""


def session_pairs(db: sqlite_utils.Database, session_id: int) -> list[dict]:
    """A session's agenda in order, with both records' titles and the cooperation a pair became, if any."""
    rows = db.query(f"{SESSION_PAIR_SELECT} where p.session_id = ? order by p.position, p.id", [session_id])
    return [_decode_proposal(row) for row in rows]


def get_session_pair(db: sqlite_utils.Database, pair_id: int) -> dict | None:
    if not _fits_sqlite(pair_id):
        return None
    rows = list(db.query(f"{SESSION_PAIR_SELECT} where p.id = ?", [pair_id]))
    return _decode_proposal(rows[0]) if rows else None


def add_session_pair(db: sqlite_utils.Database, pair: dict) -> int:
    """Append a pair to an agenda; the UNIQUE index refuses the same pair twice in one session."""
    row = {**pair, "reasons": json.dumps(pair.get("reasons") or {}, ensure_ascii=False)}
    if row.get("position") is None:
        row["position"] = db.execute("select coalesce(max(position), 0) + 1 from session_pairs where session_id = ?",
                                     [pair["session_id"]]).fetchone()[0]
    return db["session_pairs"].insert(row).last_pk


def update_session_pair(db: sqlite_utils.Database, pair_id: int, changes: dict) -> None:
    db["session_pairs"].update(pair_id, changes)


def delete_session_pair(db: sqlite_utils.Database, pair_id: int) -> None:
    db.execute("delete from session_pairs where id = ?", [pair_id])


def link_cooperation_to_session(db: sqlite_utils.Database, cooperation_id: int, session_id: int) -> None:
    db.execute("update cooperations set session_id = ? where id = ?", [session_id, cooperation_id])


def add_visit(db: sqlite_utils.Database, visit: dict) -> int:
    return db["visits"].insert(visit).last_pk


VISIT_SELECT = """select v.*, (select count(*) from demands d where d.visit_id = v.id) as demand_count
  from visits v"""


def get_visit(db: sqlite_utils.Database, visit_id: int) -> dict | None:
    if not _fits_sqlite(visit_id):
        return None
    rows = list(db.query(f"{VISIT_SELECT} where v.id = ?", [visit_id]))
    return rows[0] if rows else None


def list_visits(db: sqlite_utils.Database, filters: dict | None = None) -> list[dict]:
    """Visits, latest first; filters: enterprise, partner, region, month (of visited_on)."""
    conditions, params = [], []
    for name in ("enterprise", "partner", "region"):
        if (filters or {}).get(name):
            conditions.append(f"v.{name} = ?")
            params.append(filters[name])
    if (filters or {}).get("month"):
        conditions.append("substr(v.visited_on, 1, 7) = ?")
        params.append(filters["month"])
    clause = " where " + " and ".join(conditions) if conditions else ""
    return list(db.query(f"{VISIT_SELECT}{clause} order by v.visited_on desc, v.id desc", params))


def link_demand_to_visit(db: sqlite_utils.Database, demand_id: str, visit_id: int) -> None:
    db.execute("update demands set visit_id = ? where id = ?", [visit_id, demand_id])


def visit_demands(db: sqlite_utils.Database, visit_id: int) -> list[dict]:
    """The demands registered on a visit, in the order they were found."""
    return [_decode_record(row) for row in db.query("select * from demands where visit_id = ? order by id",
                                                     [visit_id])]


def session_figures_by(db: sqlite_utils.Database, month: str, column: str) -> list[dict]:
    """Per demand cluster (column="industry_cluster") or district ("region") in a month's sessions:
    sessions held, pairs discussed, cooperations the sessions made."""
    if column not in ("industry_cluster", "region"):
        raise ValueError(f"unknown column {column!r}")
    sql = f"""select coalesce(d.[{column}], '未填') as name, count(distinct s.id) as sessions,
        count(*) as pairs, count(distinct c.id) as cooperations
      from sessions s join session_pairs p on p.session_id = s.id join demands d on d.id = p.demand_id
      left join cooperations c on c.session_id = s.id and c.demand_id = p.demand_id and c.supply_id = p.supply_id
      where substr(s.held_on, 1, 7) = ? group by 1 order by pairs desc, name"""
    return list(db.query(sql, [month]))


def visit_figures_by(db: sqlite_utils.Database, month: str, column: str) -> list[dict]:
    """Per cluster or district of a month's visits: visits made and demands collected on them."""
    if column not in ("industry_cluster", "region"):
        raise ValueError(f"unknown column {column!r}")
    sql = f"""select coalesce(v.[{column}], '未填') as name, count(distinct v.id) as visits, count(d.id) as demands
      from visits v left join demands d on d.visit_id = v.id
      where substr(v.visited_on, 1, 7) = ? group by 1 order by visits desc, name"""
    return list(db.query(sql, [month]))


# --- the monthly report's raw facts (service/reports.py turns them into figures) ----------------------

def report_facts(db: sqlite_utils.Database) -> dict[str, list[dict]]:
    """Every dated event the match-rate report counts, each with its cluster, district and platform.

    >>> sorted(report_facts(db))    # doctest: +SKIP
    ['cooperations', 'decisions', 'demands', 'proposals', 'supplies']
    """
    return {
        "demands": list(db.query("select id, title, industry_cluster, region, status, posted_at from demands")),
        "supplies": list(db.query("select id, industry_cluster, platform, posted_at from supplies")),
        "proposals": list(db.query(
            "select p.demand_id, p.supply_id, p.generated_at, d.industry_cluster, d.region, s.platform "
            "from proposals p join demands d on d.id = p.demand_id join supplies s on s.id = p.supply_id")),
        # Undone decisions and the undo rows themselves are not reviews.
        "decisions": list(db.query(
            "select x.demand_id, x.supply_id, x.to_status, x.at, d.industry_cluster, d.region, s.platform "
            "from decisions x left join demands d on d.id = x.demand_id left join supplies s on s.id = x.supply_id "
            "where x.action = 'decide' and x.undone_at is null order by x.at, x.id")),
        "cooperations": list(db.query(
            "select c.demand_id, c.supply_id, c.confirmed_at, c.amount_wan, d.industry_cluster, d.region, "
            "d.posted_at as demand_posted_at, s.platform "
            "from cooperations c join demands d on d.id = c.demand_id join supplies s on s.id = c.supply_id")),
    }


# --- serving with several processes: the change sequence and login failures ------------------------

CHANGES_KEPT = 100_000  # change rows kept; a follower further behind than this reloads everything


def _ensure_serving_schema(db: sqlite_utils.Database) -> None:
    """The change sequence every server process follows, and failed logins counted across processes."""
    db.execute("""create table if not exists changes (
        seq integer primary key autoincrement, kind text not null, record_id text,
        origin integer not null, at text not null)""")
    db["login_failures"].create({"key": str, "at": float}, not_null={"key", "at"}, if_not_exists=True)
    db["login_failures"].create_index(["key", "at"], if_not_exists=True)
    db["login_failures"].create_index(["at"], if_not_exists=True)


def record_change(db: sqlite_utils.Database, kind: str, record_id: str | None) -> int:
    """Note that a demand or supply was written (record_id None: many of them, as an import does), inside
    the writer's transaction so the change is seen exactly when the write is; origin is this process."""
    seq = db.execute("insert into changes (kind, record_id, origin, at) values (?, ?, ?, ?)",
                     [kind, record_id, os.getpid(), now()]).lastrowid
    if seq % 1000 == 0:
        db.execute("delete from changes where seq <= ?", [seq - CHANGES_KEPT])
    return seq


def last_change(db: sqlite_utils.Database) -> int:
    """The newest change's sequence number (0 before any)."""
    return db.execute("select coalesce(max(seq), 0) from changes").fetchone()[0]


def changes_since(db: sqlite_utils.Database, seq: int) -> list[dict]:
    """The changes after `seq`, oldest first; a first row further on than seq + 1 means some were pruned."""
    return list(db.query("select seq, kind, record_id, origin from changes where seq > ? order by seq", [seq]))


def data_version(db: sqlite_utils.Database) -> int:
    """SQLite's counter of commits by other connections: unchanged means nothing to read (a cheap poll)."""
    return db.execute("PRAGMA data_version").fetchone()[0]


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
