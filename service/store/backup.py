"""Backup and restore: whole-database copies with SQLite's online backup, checked before a restore."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import sqlite_utils


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
