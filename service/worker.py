"""The app's one engine and the background thread that keeps it in step with edits.

A request that creates, edits or deletes a record only queues the record's id and returns; the
worker re-embeds it, updates the indexes in place and stores fresh proposals for it, so the record
is matchable within a couple of seconds without blocking anyone. A confirmed import is queued the
same way: the worker writes the file, then reloads, and `progress` reports both for the admin's bar.

    >>> live = LiveIndex("instance/matchmaker.db", "instance")     # doctest: +SKIP
    >>> live.refresh_later("demands", "D2021-001"); live.wait()     # doctest: +SKIP
    True
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from functools import partial
from pathlib import Path

from matching.embedders import DEFAULT_EMBEDDER

from . import importers, store, workflow
from .progress import Progress

log = logging.getLogger(__name__)
STOP = None  # the job that ends the worker; every other job is a call (a bound method, maybe partial)


class LiveIndex:
    def __init__(self, database: str | Path, instance_dir: str | Path, embedder=DEFAULT_EMBEDDER, k: int = 5):
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
        self.progress = Progress()  # the current or last import or full reload, for the admin pages' bars

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

    def describe_embedder(self) -> dict:
        """matching.embedders.describe of the engine's embedder: the loaded engine's, else loaded alone
        (the bundled model is shared per process, so the engine's later load reuses it)."""
        from matching.embedders import describe, load_embedder
        embedder = self._engine.embedder if self._engine is not None else self.embedder
        return describe(load_embedder(embedder) if isinstance(embedder, str) else embedder)

    # --- background jobs ------------------------------------------------------------------------

    def refresh_later(self, kind: str, record_id: str) -> None:
        """Queue one created, edited or deleted record for re-indexing and fresh proposals."""
        self._submit(partial(self._refresh, kind, record_id))

    def reload_later(self) -> None:
        """Queue a full reload (after an import or a re-index request), then proposals for every open demand."""
        self._submit(self._reload)

    def import_later(self, kind: str, path: str | Path, actor: str) -> None:
        """Queue a previewed upload: checked again and written in one transaction, audited as `actor`;
        the file is deleted whatever the outcome. Demands and supplies are then reloaded in the same job,
        so the admin's bar goes from the write to the embedding without a gap."""
        self._submit(partial(self._import, kind, Path(path), actor))

    def learn_later(self, actor: str, eval_set: str | None = None, enabled: bool = False) -> None:
        """Queue learning from the decisions (service/learning.py); its verdict ends the progress bar."""
        self._submit(partial(self._learn, actor, eval_set, enabled))

    def wait(self, timeout: float = 30.0) -> bool:
        """Block until every queued job is done; False when the timeout passed first."""
        deadline = time.monotonic() + timeout
        while self._jobs.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def status(self) -> dict:
        """The import's or reload's progress for a status endpoint: state is queued, running or idle;
        failed and message tell how the last job ended."""
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
                self._jobs.put(STOP)
        if thread is not None:
            thread.join(60)
        with self._engine_lock:
            if self._engine is not None:
                self._engine.db.close()
                self._engine = None

    def _submit(self, job) -> None:
        with self._thread_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="matchmaker-live-index", daemon=True)
                self._thread.start()
        self._jobs.put(job)

    def _run(self) -> None:
        self._db = store.open_db(self.database)
        while True:
            job = self._jobs.get()
            if job is STOP:
                self._db.close()
                self._jobs.task_done()
                return
            try:
                job()
            except Exception:  # a failed job must not kill the worker; the next edit retries
                log.exception("live index job %s failed", job)
            finally:
                self._jobs.task_done()

    def _refresh(self, kind: str, record_id: str) -> None:
        engine = self.engine()
        engine.refresh(kind, record_id)
        workflow.propose_for_record(self._db, engine, kind, record_id, self.k)

    def _import(self, kind: str, path: Path, actor: str) -> None:
        """Write the upload, then reload; a refused file ends the job with its rows in `progress.message`."""
        self.progress.start("写入")
        try:
            count = self._write(kind, path, actor)
        except importers.ImportRejected as rejected:  # the store changed since the preview: not a fault
            log.warning("import of %s refused at write time:\n%s", path.name, rejected)
            self.progress.finish(failed=True, message=importers.rejection_message(kind, rejected))
            return
        except Exception:
            self.progress.finish(failed=True, message="导入失败，数据库未作任何修改。请查看服务日志后重试。")
            raise
        finally:
            path.unlink(missing_ok=True)
        imported = f"已导入 {count} 条{importers.KIND_NAMES[kind]}"
        if kind == "cooperations":  # cooperations are not embedded: nothing to reload
            self.progress.finish(message=imported)
        else:
            self._reload(imported)

    def _write(self, kind: str, path: Path, actor: str) -> int:
        """Check the file again (the store may have changed since the preview), then write it all or nothing,
        one progress step per batch."""
        records = importers.read_records([path], kind, importers.reference_ids(self._db, kind))
        self.progress.update(0, len(records))
        return importers.save_records(self._db, kind, records, actor, progress=self.progress.advance)

    def _learn(self, actor: str, eval_set: str | None, enabled: bool) -> None:
        """Learn, switch the engine to the adopted ranking (or back), then rescore the undecided proposals."""
        from . import learning
        self.progress.start("学习")
        try:
            outcome = learning.learn(self._db, self.engine(), eval_set, actor=actor, enabled=enabled)
            workflow.generate_proposals(self._db, self.engine(), self.k)
        except Exception:
            self.progress.finish(failed=True, message="学习失败，继续使用原有排序。请查看服务日志后重试。")
            raise
        self.progress.finish(message=f"第 {outcome['version']} 版：{outcome['verdict']}")

    def _reload(self, imported: str | None = None) -> None:
        """Embed both lists afresh and propose for every open demand; `imported` (已导入 …) heads the outcome."""
        self.progress.start("向量化")
        try:
            engine, loaded = self._ensure_engine(self.progress.update)
            if not loaded:
                engine.load(progress=self.progress.update)
            self.progress.next_stage("生成推荐")
            workflow.generate_proposals(self._db, engine, self.k)
        except Exception:
            self.progress.finish(failed=True, message=(f"{imported}，但" if imported else "")
                                 + "重建索引失败，网站仍在使用原有索引。请查看服务日志后重试。")
            raise
        embedded = self.progress.snapshot()
        self.progress.finish(message=(f"{imported}，" if imported else "")
                             + f"向量化 {embedded['done']} / {embedded['total']} 条，推荐已更新")
