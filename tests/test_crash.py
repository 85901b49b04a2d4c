"""Crash safety: `matchmaker serve` killed with SIGKILL in the middle of an import, a re-index and a
confirmation. After a restart the database is sound, nothing is half-imported, the index is
detected stale or damaged and rebuilt, and every write the server acknowledged is there.

The kill comes right after a request has been sent in full, then after a few longer delays, so it
lands before, during and after the work the request starts; every outcome must satisfy the same rules.
"""
from __future__ import annotations

import http.client
import json
import re
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from matching.index import INDEX_FILE
from service import store
from service.engine import Engine

from .record_files import jsonl
from .server_process import ROOT, ServerProcess, http_call
from .records import HUALIAN

pytestmark = pytest.mark.instance("api")

KILL_DELAYS = (0.0, 0.3, 1.0)  # seconds between sending the request and the SIGKILL
# An import of BIG_IMPORT rows takes a few seconds here: killed on arrival, while reading, while
# writing, and just after the answer.
IMPORT_KILL_DELAYS = (0.0, 0.5, 1.5, None)
BIG_IMPORT = 3000


def integrity(database) -> str:
    conn = sqlite3.connect(str(database))
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def add_user_via_cli(database, name: str, role: str, org: str | None = None) -> str:
    """`matchmaker user add` as an operator runs it; returns the API token it prints once."""
    output = subprocess.run([sys.executable, "-m", "service.cli", "--db", str(database), "user", "add", name,
                             "--role", role, *(["--org", org] if org else [])],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return re.search(r"API 令牌[^：]*：(\S+)", output).group(1)


def send_then_kill(server: ServerProcess, method: str, path: str, token: str, delay: float | None,
                   body: bytes = b"", content_type: str = "application/json") -> int | None:
    """Send one request in full, SIGKILL the server `delay` seconds later; the status if an answer came.

    delay=None kills the moment the answer has arrived: what was acknowledged must outlive the process.
    """
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    conn.request(method, path, body=body, headers={"Authorization": f"Bearer {token}",
                                                   "Content-Type": content_type})
    if delay is None:
        status = conn.getresponse().status
        server.kill()
        conn.close()
        return status
    time.sleep(delay)
    server.kill()
    try:
        return conn.getresponse().status  # an answer already on the wire was acknowledged
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


class AcknowledgedWrites:
    """A client creating demands in a loop until the server dies; remembers each one answered 201."""

    def __init__(self, server: ServerProcess, token: str, prefix: str):
        self.server, self.token, self.prefix = server, token, prefix
        self.acknowledged: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        while not self.acknowledged and self.thread.is_alive():
            time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        self.thread.join(60)

    def _run(self):
        number = 0
        while True:
            number += 1
            body = {"id": f"{self.prefix}-{number:04d}", "title": f"崩溃前写入的需求 {number}",
                    "description": "服务被强行终止前已确认写入的记录", "enterprise": HUALIAN}
            try:
                status, _ = http_call(self.server.base, "POST", "/api/v1/demands", self.token, body, timeout=30)
            except (OSError, http.client.HTTPException):  # the server is gone
                return
            if status == 201:
                self.acknowledged.append(body["id"])

    def missing(self, db) -> list[str]:
        return [record_id for record_id in self.acknowledged if store.get_record(db, "demands", record_id) is None]


def big_import(path) -> bytes:
    """Many closed demands with one shared text: a large file whose re-index embeds one text only."""
    rows = [{"id": f"BULK-{number:05d}", "title": "批量导入的技术需求", "description": "用于检验导入的全有或全无",
             "enterprise": HUALIAN, "status": "已关闭"} for number in range(BIG_IMPORT)]
    return jsonl(rows).encode("utf-8")


def multipart(filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = "matchmaker-crash-test"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.fixture
def database(instance):
    return instance / "matchmaker.db"


def test_killed_during_an_import_the_file_is_all_or_nothing_and_acknowledged_writes_survive(
        database, instance, tokens):
    admin = add_user_via_cli(database, "crash-admin", "admin")
    body, content_type = multipart("bulk.jsonl", big_import(instance))
    outcomes = []
    for attempt, delay in enumerate(IMPORT_KILL_DELAYS):
        server = ServerProcess(database).start()
        with AcknowledgedWrites(server, tokens["enterprise"], f"IMP{attempt}") as writes:
            status = send_then_kill(server, "POST", "/api/v1/imports/demands", admin, delay, body, content_type)
        assert integrity(database) == "ok"
        db = store.open_db(database)
        imported = db.execute("select count(*) from demands where id like 'BULK-%'").fetchone()[0]
        audited = db.execute("select count(*) from audit_log where entity_id like 'BULK-%'").fetchone()[0]
        assert imported in (0, BIG_IMPORT), f"half an import after a kill at {delay} s: {imported} rows"
        assert audited % BIG_IMPORT == 0  # each import's audit entries, whole (a re-import audits updates)
        if status is not None and 200 <= status < 300:
            assert imported == BIG_IMPORT
        if delay is None:
            assert status == 200 and imported == BIG_IMPORT
        assert writes.missing(db) == []
        outcomes.append((delay, status, imported, len(writes.acknowledged)))
        db.close()

    server = ServerProcess(database).start()  # a restart after the last kill serves again
    try:
        status, answer = server.call("GET", "/api/v1/demands?per_page=1", tokens["broker"])
        assert status == 200 and answer["total"] >= 8
    finally:
        server.stop()
    print("import kill outcomes (delay, status, rows, acknowledged creates):", outcomes)


def test_killed_during_a_reindex_the_index_is_detected_stale_and_rebuilt(database, instance, tokens, embedder):
    folder = instance / "index" / "demands"
    for attempt, delay in enumerate(KILL_DELAYS):
        db = store.open_db(database)
        for number in range(30):  # fresh texts to embed, so the re-index has real work to be killed in
            store.save_record(db, "demands", {"id": f"RIX{attempt}-{number:03d}", "title": f"新增需求{attempt}-{number}",
                                              "description": f"第{attempt}轮第{number}条：深海养殖网箱的防腐涂层与监测",
                                              "enterprise": HUALIAN}, "fixture", create=True)
        db.close()
        server = ServerProcess(database).start()
        with AcknowledgedWrites(server, tokens["enterprise"], f"RIX{attempt}W") as writes:
            send_then_kill(server, "POST", "/api/v1/reindex", tokens["admin"], delay)
        assert integrity(database) == "ok"
        db = store.open_db(database)
        assert writes.missing(db) == []
        db.close()

    db = store.open_db(database)
    records = store.ids(db, "demands")
    engine = Engine(db, instance, embedder).load()  # what a restarted server does first
    assert set(engine.matcher.demands.records) == records
    assert Engine(db, instance, embedder).load().rebuilt == {"demands": False, "supplies": False}

    (folder / INDEX_FILE).write_bytes((folder / INDEX_FILE).read_bytes()[:100])  # a torn index file
    engine = Engine(db, instance, embedder).load()
    assert engine.rebuilt["demands"] and set(engine.matcher.demands.records) == records
    db.close()

    server = ServerProcess(database).start()
    try:
        status, answer = server.call("GET", "/api/v1/demands/RIX2-029/proposals?k=3", tokens["broker"])
        assert status == 200 and len(answer["items"]) == 3
    finally:
        server.stop()


def recommended_proposal(server: ServerProcess, broker: str, skip: set[int]) -> int:
    status, queue = server.call("GET", "/api/v1/proposals?per_page=50", broker)
    assert status == 200
    proposal = next(item for item in queue["items"] if item["id"] not in skip)
    status, _ = server.call("POST", f"/api/v1/proposals/{proposal['id']}/decision", broker, {"status": "recommended"})
    assert status == 200
    return proposal["id"]


def test_killed_during_a_confirmation_a_retry_makes_exactly_one_cooperation(database, tokens):
    broker = tokens["broker"]
    confirmation = json.dumps({"mode": "技术服务", "amount_wan": 30, "confirmed_at": "2021-06-01"}).encode()
    used: set[int] = set()
    for attempt, delay in enumerate((0.0, 0.02, 0.1, 0.5)):
        server = ServerProcess(database).start()
        proposal_id = recommended_proposal(server, broker, used)  # acknowledged before the kill
        used.add(proposal_id)
        with AcknowledgedWrites(server, tokens["enterprise"], f"CNF{attempt}") as writes:
            status = send_then_kill(server, "POST", f"/api/v1/proposals/{proposal_id}/confirm", broker, delay,
                                    confirmation)
        assert integrity(database) == "ok"
        db = store.open_db(database)
        proposal = store.get_proposal(db, proposal_id)
        cooperations = store.list_cooperations(db, {"demand_id": proposal["demand_id"],
                                                    "supply_id": proposal["supply_id"]})
        assert proposal["status"] in ("recommended", "confirmed")
        assert len(cooperations) == (1 if proposal["status"] == "confirmed" else 0)  # both or neither
        if status is not None and 200 <= status < 300:
            assert len(cooperations) == 1
        assert writes.missing(db) == []
        db.close()

        server = ServerProcess(database).start()  # the broker, seeing no answer, confirms again
        try:
            status, answer = server.call("POST", f"/api/v1/proposals/{proposal_id}/confirm", broker,
                                         json.loads(confirmation))
            assert status in (200, 201) and answer["demand_id"] == proposal["demand_id"]
        finally:
            server.stop()
        db = store.open_db(database)
        assert len(store.list_cooperations(db, {"demand_id": proposal["demand_id"],
                                                "supply_id": proposal["supply_id"]})) == 1
        assert store.get_proposal(db, proposal_id)["status"] == "confirmed"
        db.close()
