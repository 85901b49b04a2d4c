"""`matchmaker serve --workers 2`: two gunicorn worker processes over one store, as a real server.

Which worker answers a fresh connection is the kernel's choice; to put a request to one worker in
particular, the other is paused with SIGSTOP (it accepts nothing while stopped) and resumed after.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from contextlib import contextmanager

import pytest

from service import auth, store

from .server_process import ServerProcess, http_call
from .records import HIT, PASSWORD

DEMAND = "D2021-101"  # 注塑件表面缩痕 (the fixture's first demand)


@pytest.fixture
def server(instance):
    server = ServerProcess(instance / "matchmaker.db", threads=4, workers=2).start(timeout=120)
    deadline = time.monotonic() + 30
    while len(server.worker_pids()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(server.worker_pids()) == 2, server.log()
    yield server
    server.stop()
    assert server.process.returncode == 0, server.log()  # Ctrl+C: the master stops its workers cleanly


@contextmanager
def only(server: ServerProcess, worker: int):
    """Every connection made inside goes to `worker`: the other workers are paused meanwhile."""
    paused = [pid for pid in server.worker_pids() if pid != worker]
    for pid in paused:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in paused:
            os.kill(pid, signal.SIGCONT)


def proposed_supplies(server, token) -> list[str]:
    status, body = http_call(server.base, "GET", f"/api/v1/demands/{DEMAND}/proposals?k=10", token, timeout=60)
    assert status == 200, body
    return [proposal["supply_id"] for proposal in body["items"]]


def test_a_supply_posted_to_one_worker_is_proposed_by_every_worker_within_2_s(server, tokens):
    workers = server.worker_pids()
    for worker in workers:  # each worker loads its engine and remembers this ranking
        with only(server, worker):
            proposed_supplies(server, tokens["broker"])
    supply = {"title": "注塑件缩痕与良品率：模具冷却水路与保压工艺优化", "platform": HIT,
              "description": "针对汽车内饰注塑件壁厚不均处的缩痕和气纹，优化模具冷却水路和保压工艺，"
                             "良品率由85%提高到95%以上。",
              "industry_cluster": "先进装备与智能制造", "keywords": ["注塑", "缩痕", "模具冷却", "保压"]}
    status, saved = http_call(server.base, "POST", "/api/v1/supplies", tokens["platform"], supply)
    assert status == 201, saved
    written = time.monotonic()
    for worker in workers:
        with only(server, worker):
            while saved["id"] not in proposed_supplies(server, tokens["broker"]):
                assert time.monotonic() - written < 2.0, f"worker {worker} did not propose {saved['id']} in 2 s"
                time.sleep(0.05)


def test_failed_logins_are_counted_across_workers(server, tokens):
    first, second = server.worker_pids()
    wrong = {"old_password": "not the password", "new_password": "another password 2026"}
    for worker, attempts in ((first, 3), (second, 2)):
        with only(server, worker):
            for _ in range(attempts):
                assert http_call(server.base, "POST", "/api/v1/me/password", tokens["admin"], wrong)[0] == 422
    for worker in (first, second):  # five failures in all: both refuse the sixth
        with only(server, worker):
            assert http_call(server.base, "POST", "/api/v1/me/password", tokens["admin"], wrong)[0] == 429


def test_a_worker_killed_with_sigkill_is_replaced_and_nothing_acknowledged_is_lost(server, tokens, instance):
    acknowledged, stop = [], threading.Event()

    def create_demands():
        number = 0
        while not stop.is_set():
            number += 1
            body = {"id": f"KILL-{number:04d}", "title": "工作进程被杀时提交的需求",
                    "description": "用于检验多进程下已确认的写入不会丢失", "status": "征集中"}
            try:
                status, _ = http_call(server.base, "POST", "/api/v1/demands", tokens["enterprise"], body, timeout=30)
            except (OSError, http.client.HTTPException):  # this request's worker was the one killed
                continue
            if status == 201:
                acknowledged.append(body["id"])

    writer = threading.Thread(target=create_demands)
    writer.start()
    try:
        time.sleep(1.0)
        killed = server.worker_pids()[0]
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            workers = server.worker_pids()
            if len(workers) == 2 and killed not in workers:
                break
            time.sleep(0.1)
        assert len(server.worker_pids()) == 2 and killed not in server.worker_pids(), server.log()
        time.sleep(1.0)
    finally:
        stop.set()
        writer.join(60)
    assert acknowledged
    for worker in server.worker_pids():  # the replacement serves too
        with only(server, worker):
            assert http_call(server.base, "GET", f"/api/v1/demands/{DEMAND}", tokens["broker"])[0] == 200
    db = store.open_db(instance / "matchmaker.db")
    try:
        assert [record_id for record_id in acknowledged if store.get_record(db, "demands", record_id) is None] == []
    finally:
        db.close()


def pinned(server: ServerProcess, worker: int, token: str) -> http.client.HTTPConnection:
    """A kept-alive connection that `worker` accepted (send on it within gunicorn's 2 s keep-alive)."""
    host, port = server.base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    with only(server, worker):
        assert send(connection, token, "GET", "/api/v1/demands?per_page=1")[0] == 200
    return connection


def send(connection: http.client.HTTPConnection, token: str, method: str, path: str, body=None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connection.request(method, path, json.dumps(body, ensure_ascii=False).encode() if body else None, headers)
    answer = connection.getresponse()
    return answer.status, json.loads(answer.read() or b"null")


def race_workers(server: ServerProcess, calls: list[tuple[str, str, str, dict]]) -> list[tuple[int, dict]]:
    """Send (token, method, path, body) calls at the same moment, the first to one worker and the second
    to the other; (status, JSON) in order."""
    connections = [pinned(server, worker, call[0]) for worker, call in zip(server.worker_pids(), calls)]
    barrier, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(index):
        barrier.wait()
        results[index] = send(connections[index], *calls[index])

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_two_workers_confirming_the_same_proposal_at_once_make_one_cooperation(server, tokens, instance):
    status, page = http_call(server.base, "GET", "/api/v1/proposals?per_page=1", tokens["broker"])
    assert status == 200, page
    proposal = page["items"][0]
    path = f"/api/v1/proposals/{proposal['id']}"
    assert http_call(server.base, "POST", path + "/decision", tokens["broker"], {"status": "recommended"})[0] == 200
    confirmation = {"mode": "技术服务", "amount_wan": 30, "confirmed_at": "2021-06-01"}
    db = store.open_db(instance / "matchmaker.db")
    _, _, second_broker = auth.create_user(db, "second-broker", "broker", None, PASSWORD, actor="fixture")
    results = race_workers(server, [(token, "POST", path + "/confirm", confirmation) for token in (tokens["broker"], second_broker)])

    assert sorted(status for status, _ in results) == [200, 201], results  # one made it, the other got it back
    assert results[0][1]["id"] == results[1][1]["id"]
    try:
        assert store.count_cooperations(db, {"demand_id": proposal["demand_id"], "supply_id": proposal["supply_id"]}) == 1
    finally:
        db.close()


def test_two_workers_editing_one_version_at_once_one_wins_the_other_gets_409(server, tokens, instance):
    status, current = http_call(server.base, "GET", f"/api/v1/demands/{DEMAND}", tokens["enterprise"])
    assert status == 200, current
    titles = ["甲在一个进程里的修改", "乙在另一个进程里的修改"]
    results = race_workers(server, [(tokens[name], "PATCH", f"/api/v1/demands/{DEMAND}",
                                     {"title": title, "version": current["version"]})
                                    for name, title in zip(("enterprise", "broker"), titles)])

    assert sorted(status for status, _ in results) == [200, 409], results
    assert next(body for status, body in results if status == 409)["error"]["code"] == "stale_version"
    db = store.open_db(instance / "matchmaker.db")
    try:
        stored = store.get_record(db, "demands", DEMAND)
    finally:
        db.close()
    winner = titles[[status for status, _ in results].index(200)]
    assert stored["title"] == winner and stored["version"] == current["version"] + 1
