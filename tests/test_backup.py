"""`matchmaker backup` and `matchmaker restore`: a consistent copy while writes go on, a checked restore."""
from __future__ import annotations

import sqlite3
import threading

import pytest
from click.testing import CliRunner

from service import store
from service.cli import cli
from service.engine import Engine

from .records import DEMANDS

pytestmark = pytest.mark.instance("api")



def matchmaker(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


def table_contents(path) -> dict[str, list[tuple]]:
    """Every table's rows in rowid order: two databases with equal contents compare equal."""
    conn = sqlite3.connect(str(path))
    try:
        tables = [row[0] for row in conn.execute(
            "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name")]
        return {table: conn.execute(f"select * from [{table}] order by rowid").fetchall() for table in tables}
    finally:
        conn.close()


def integrity(path) -> str:
    conn = sqlite3.connect(str(path))
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def new_demand(number: int) -> dict:
    return {"id": f"DB-{number:05d}", "title": f"备份期间写入的需求 {number}", "description": "写入与备份同时进行",
            "enterprise": "威海华联精密模具有限公司"}


def test_backup_taken_while_another_thread_writes_is_one_consistent_snapshot(instance, tmp_path):
    database = instance / "matchmaker.db"
    stop, written = threading.Event(), []

    def write_demands():
        db = store.open_db(database)
        number = 0
        while not stop.is_set() or number < 20:
            store.save_record(db, "demands", new_demand(number), "writer", create=True)
            written.append(number)
            number += 1
        db.close()

    writer = threading.Thread(target=write_demands)
    writer.start()
    backups = []
    try:
        while len(written) < 5:
            pass
        for number in range(3):
            backups.append(tmp_path / f"backup-{number}.db")
            result = matchmaker("--db", database, "backup", "-o", backups[-1])
            assert result.exit_code == 0, result.output
    finally:
        stop.set()
        writer.join(60)
    assert len(written) >= 20

    for backup in backups:
        assert integrity(backup) == "ok"
        conn = sqlite3.connect(str(backup))
        demands = {row[0] for row in conn.execute("select id from demands where id like 'DB-%'")}
        audited = {row[0] for row in conn.execute(
            "select entity_id from audit_log where entity = 'demands' and entity_id like 'DB-%'")}
        conn.close()
        # Each save is one transaction (record + audit entry): a snapshot holds both or neither.
        assert demands == audited
        # Writes committed one after another: a snapshot holds a prefix of them.
        assert demands == {new_demand(number)["id"] for number in range(len(demands))}

    restored = tmp_path / "fresh" / "matchmaker.db"
    result = matchmaker("--db", restored, "restore", backups[-1])
    assert result.exit_code == 0, result.output
    assert integrity(restored) == "ok"
    assert table_contents(restored) == table_contents(backups[-1])

    final = tmp_path / "final.db"
    assert matchmaker("--db", database, "backup", "-o", final).exit_code == 0
    assert table_contents(final) == table_contents(database)
    assert len(table_contents(final)["demands"]) == len(DEMANDS) + len(written)


def test_restore_replaces_the_live_database_and_keeps_the_one_it_replaced(instance, tmp_path):
    database = instance / "matchmaker.db"
    backup = tmp_path / "before.db"
    assert matchmaker("--db", database, "backup", "-o", backup).exit_code == 0
    db = store.open_db(database)
    store.save_record(db, "demands", new_demand(1), "after-backup", create=True)
    reader = store.open_db(database)  # a server's connection stays open across the restore
    assert store.get_record(reader, "demands", "DB-00001") is not None

    result = matchmaker("--db", database, "restore", backup)

    assert result.exit_code == 0, result.output
    assert "已从" in result.output
    assert store.get_record(reader, "demands", "DB-00001") is None
    assert table_contents(database) == table_contents(backup)
    assert store.get_record(store.open_db(f"{database}.before-restore"), "demands", "DB-00001") is not None
    db.close()
    reader.close()


def test_restore_refuses_a_file_that_is_not_a_sound_matchmaker_database(instance, tmp_path):
    database = instance / "matchmaker.db"
    before = table_contents(database)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite" * 100)
    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(str(foreign))
    conn.execute("create table notes (text)")
    conn.commit()
    conn.close()
    damaged = tmp_path / "damaged.db"
    assert matchmaker("--db", database, "backup", "-o", damaged).exit_code == 0
    content = bytearray(damaged.read_bytes())
    for offset in range(4096 * 2, len(content), 4096):  # scribble over every page but the header page
        content[offset + 100:offset + 400] = b"\xff" * 300
    damaged.write_bytes(bytes(content))

    for bad, reason in ((garbage, "不是有效的 SQLite 数据库"), (foreign, "缺少数据表"),
                        (damaged, "文件已损坏"), (tmp_path / "missing.db", "文件不存在")):
        result = CliRunner().invoke(cli, ["--db", str(database), "restore", str(bad)])
        assert result.exit_code == 2, (bad, result.output)
        assert "恢复被拒绝，当前数据库未作任何修改" in result.output and reason in result.output, result.output
    assert table_contents(database) == before


def test_after_a_restore_the_saved_index_is_detected_stale_and_rebuilt(instance, tmp_path, embedder):
    database = instance / "matchmaker.db"
    backup = tmp_path / "before.db"
    assert matchmaker("--db", database, "backup", "-o", backup).exit_code == 0
    db = store.open_db(database)
    store.save_record(db, "demands", new_demand(7), "after-backup", create=True)
    engine = Engine(db, instance, embedder).load()  # the instance's index now includes DB-00007
    assert engine.rebuilt["demands"] and "DB-00007" in engine.matcher.demands.records
    db.close()

    assert matchmaker("--db", database, "restore", backup).exit_code == 0

    db = store.open_db(database)
    engine = Engine(db, instance, embedder).load()
    assert engine.rebuilt == {"demands": True, "supplies": False}
    assert "DB-00007" not in engine.matcher.demands.records
    assert Engine(db, instance, embedder).load().rebuilt == {"demands": False, "supplies": False}
    db.close()
