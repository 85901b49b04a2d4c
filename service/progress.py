"""Progress of long work (writing an import, embedding both lists): one tracker the CLI prints and the
admin pages poll.

    >>> progress = Progress()
    >>> progress.start("向量化"); progress.update(50, 200)
    >>> progress.snapshot()["percent"]
    25.0

`LineReporter` writes a plain line every ~10% or 10 s, for output that is not a terminal (a log,
nohup, CI), where a redrawn bar would print nothing useful until the end.
"""
from __future__ import annotations

import datetime as dt
import threading
import time


class Progress:
    """One job's stage, records done and total, readable from another thread."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self.stage: str | None = None
        self.done = self.total = 0
        self.started: float | None = None
        self.started_at: str | None = None
        self.finished_at: str | None = None
        self.failed = False
        self.message: str | None = None  # the finished job's outcome in Chinese, when it has more to say

    def start(self, stage: str, total: int = 0) -> None:
        with self._lock:
            self.stage, self.done, self.total = stage, 0, total
            self.started, self.started_at = self._clock(), _now()
            self.finished_at, self.failed, self.message = None, False, None

    def update(self, done: int, total: int) -> None:
        """progress(done, total), the callback Engine.load takes."""
        with self._lock:
            self.done, self.total = done, total

    def advance(self, count: int) -> None:
        """progress(count), the callback store.upsert_records takes: `count` more records written."""
        with self._lock:
            self.done += count

    def next_stage(self, stage: str) -> None:
        with self._lock:
            self.stage = stage

    def finish(self, failed: bool = False, message: str | None = None) -> None:
        with self._lock:
            self.stage, self.finished_at, self.failed, self.message = None, _now(), failed, message

    def snapshot(self) -> dict:
        """Plain data for a status endpoint: stage, done, total, percent, rate (records/s), seconds left,
        and the finished job's outcome (failed, message)."""
        with self._lock:
            elapsed = self._clock() - self.started if self.started is not None else 0.0
            return {"stage": self.stage, "done": self.done, "total": self.total,
                    "started_at": self.started_at, "finished_at": self.finished_at, "failed": self.failed,
                    "message": self.message,
                    **estimate(self.done, self.total, elapsed)}


def estimate(done: int, total: int, elapsed: float) -> dict:
    """Percent, rate and seconds left from counts and elapsed seconds (None where unknown)."""
    rate = done / elapsed if elapsed > 0 and done else None
    return {"percent": round(100.0 * done / total, 1) if total else None,
            "rate": round(rate, 1) if rate else None,
            "seconds_left": round((total - done) / rate) if rate else None}


def duration(seconds: float | None) -> str:
    """A Chinese duration: 45 秒, 3 分 05 秒, 2 小时 07 分."""
    if seconds is None:
        return "未知"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} 秒"
    if seconds < 3600:
        return f"{seconds // 60} 分 {seconds % 60:02d} 秒"
    return f"{seconds // 3600} 小时 {seconds % 3600 // 60:02d} 分"


class LineReporter:
    """A progress(done, total) callback printing a line at each 10% mark passed or after 10 s, and at the end.

        向量化 1,216/5,000（24%），每秒 52.3 条，预计还需 1 分 12 秒
    """

    def __init__(self, label: str, echo, every_seconds: float = 10.0, step: float = 0.1, clock=time.monotonic):
        self.label, self.echo, self.every_seconds, self.step, self.clock = label, echo, every_seconds, step, clock
        self.started = clock()
        self.last_time = self.started
        self.last_step = 0  # how many 10% marks were passed at the last line

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        fraction = done / total if total else 1.0
        step = int(fraction / self.step + 1e-9)
        if not (fraction >= 1.0 or step > self.last_step or now - self.last_time >= self.every_seconds):
            return
        self.last_time, self.last_step = now, step
        figures = estimate(done, total, now - self.started)
        rate = f"每秒 {figures['rate']} 条" if figures["rate"] else "速度未知"
        tail = f"用时 {duration(now - self.started)}" if done >= total else f"预计还需 {duration(figures['seconds_left'])}"
        self.echo(f"{self.label} {done:,}/{total:,}（{fraction:.0%}），{rate}，{tail}")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
