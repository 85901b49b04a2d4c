"""`matchmaker serve --workers 2`: two gunicorn worker processes over one store, as a real server.

Which worker answers a fresh connection is the kernel's choice; to put a request to one worker in
particular, the other is paused with SIGSTOP (it accepts nothing while stopped) and resumed after.
"""
from __future__ import annotations

import http.client
import os
import signal
import threading
import time
from contextlib import contextmanager

import pytest

from service import store

from .server_process import ServerProcess, http_call
from .service_records import HIT

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
