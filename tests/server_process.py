"""`matchmaker serve` as a real process on 127.0.0.1, and a small HTTP client for it.

Used by the crash and concurrency tests and by bench/soak.py:

    >>> server = ServerProcess(instance / "matchmaker.db").start()       # doctest: +SKIP
    >>> server.call("GET", "/api/v1/demands", token)[0]                  # doctest: +SKIP
    200
    >>> server.kill()                                                    # SIGKILL, no clean-up at all  # doctest: +SKIP
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def interruptible() -> None:
    """Run in the child before exec: SIGINT acts as Ctrl+C in a terminal, even when the tests
    themselves run in the background, where the shell starts every child with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    """One `matchmaker --db DB serve` process (with workers > 1: gunicorn's master, which forks them);
    start() waits until it answers."""

    def __init__(self, db_path: str | Path, threads: int | None = 8, log_path: str | Path | None = None,
                 workers: int | None = None):
        self.db_path = Path(db_path)
        self.threads = threads
        # None: $MATCHMAKER_TEST_WORKERS, else 1, so the crash tests can be run against several workers too.
        self.workers = workers or int(os.environ.get("MATCHMAKER_TEST_WORKERS") or 1)
        self.log_path = Path(log_path) if log_path else self.db_path.with_name("server.log")
        self.port = None
        self.process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "ServerProcess":
        self.port = free_port()
        env = {**os.environ, "MATCHMAKER_ENV": "development", "PYTHONUNBUFFERED": "1"}
        env.pop("MATCHMAKER_DB", None)
        log = open(self.log_path, "ab")
        threads = ["--threads", str(self.threads)] if self.threads else []  # None: serve's own default
        threads += ["--workers", str(self.workers)] if self.workers else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "--db", str(self.db_path), "serve", "--port", str(self.port),
             *threads], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=interruptible)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.log()}")
            try:
                with urllib.request.urlopen(f"{self.base}/api/v1/openapi.json", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"server did not answer within {timeout} s: {self.log()}")

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to flush, commit or clean up."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """Ctrl+C, as an operator stops it."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:  # a worker stopped seconds after it started first finishes its start-up indexing job
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()

    def worker_pids(self) -> list[int]:
        """The master's child processes (gunicorn's workers), from /proc."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except OSError:
            return []

    def rss_kib(self) -> int:
        """The server's resident memory now, from /proc: the process and its workers, if any."""
        return sum(_rss_kib(pid) for pid in (self.process.pid, *self.worker_pids()))

    def cpu_seconds(self) -> float:
        """CPU time the server has used so far (user + system), from /proc."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def call(self, method: str, path: str, token: str | None = None, body=None, timeout: float = 60,
             upload: tuple[str, bytes] | None = None) -> tuple[int, object]:
        """One request; returns (status, parsed JSON or None). Connection failures raise OSError."""
        return http_call(self.base, method, path, token, body, timeout, upload)


def _rss_kib(pid: int) -> int:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:  # a worker that just exited
        return 0
    return next((int(line.split()[1]) for line in lines if line.startswith("VmRSS:")), 0)


def http_call(base: str, method: str, path: str, token: str | None = None, body=None, timeout: float = 60,
              upload: tuple[str, bytes] | None = None) -> tuple[int, object]:
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if upload is not None:
        boundary = uuid.uuid4().hex
        filename, content = upload
        data = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    elif body is not None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode("utf-8", "replace")
