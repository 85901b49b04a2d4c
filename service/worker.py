"""The app's one engine and the background thread that keeps it in step with edits.

A request that creates, edits or deletes a record only queues the record's id and returns; the
worker re-embeds it, updates the indexes in place and stores fresh proposals for it, so the record
is matchable within a couple of seconds without blocking anyone. A confirmed import is queued the
same way: the worker writes the file, then reloads, and `progress` reports both for the admin's bar.

Several server processes (`matchmaker serve --workers N`) each hold a LiveIndex. Between jobs the
thread follows the store's change sequence about every FOLLOW_SECONDS (a `PRAGMA data_version` read
when nothing changed) and applies the other processes' writes to its engine, dropping the rankings and
gap lists it remembered. The full embedding and proposal run happens in one process at a time, under
a file lock in the instance folder; the others wait for it and load what it wrote (cached embeddings,
checksummed FAISS files).

Edits reach the indexes in memory only; the thread saves them (Engine.save) once the engine has been
quiet for `checkpoint_seconds`, and again when it stops, so the next start loads them instead of
rebuilding a side. One process writes at a time: the one that gets the indexing lock at once.

Decisions teach the ranking (service/learning.py): once `learning.after` decisions were made since the
last learning run, the thread learns again when it has been quiet as long, in the process that gets the
indexing lock at once; the others pick up the outcome from the change sequence.

    >>> live = LiveIndex("instance/matchmaker.db", "instance")     # doctest: +SKIP
    >>> live.refresh_later("demands", "D2021-001"); live.wait()     # doctest: +SKIP
    True
"""
from __future__ import annotations

import fcntl
import logging
import os
import queue
import threading
import time
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from matching.embedders import DEFAULT_EMBEDDER

from . import importers, learning, store, workflow
from .learned_ranking import adopted_ranking
from .progress import Progress
from .settings import CHECKPOINT_SECONDS

log = logging.getLogger(__name__)
STOP = None  # the job that ends the worker; every other job is a call (a bound method, maybe partial)
FOLLOW_SECONDS = 0.5  # how often the thread looks for other processes' writes
BACKGROUND = "background"  # the actor of the worker's own learning runs, in the audit log and the run list
INDEXING_LOCK = "indexing.lock"  # in the instance folder: held while one process embeds and proposes


@contextmanager
def indexing_lock(instance_dir: Path, blocking: bool = True):
    """Hold the instance's indexing lock (fcntl.flock, released by the kernel if the process dies);
    yields False at once when blocking=False and another process holds it."""
    instance_dir.mkdir(parents=True, exist_ok=True)
    with open(instance_dir / INDEXING_LOCK, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class LiveIndex:
    def __init__(self, database: str | Path, instance_dir: str | Path, embedder=DEFAULT_EMBEDDER, k: int = 5,
                 checkpoint_seconds: float = CHECKPOINT_SECONDS, learning_policy: learning.Policy = learning.Policy()):
        self.database = str(database)
        self.instance_dir = Path(instance_dir)
        self.embedder = embedder
        self.k = k
        self.checkpoint_seconds = checkpoint_seconds
        self.learning = learning_policy
        self._busy_at = time.monotonic()  # when the thread last ran a job or applied others' writes
        self._engine = None
        self._engine_lock = threading.Lock()
        self._jobs: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._db = None
        self._seen = 0  # the last change (store.changes) the engine reflects
        self._data_version = None
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
            seen = store.last_change(engine.db)  # read before the records: a change in between is applied again
            engine.load(progress=progress)
            self._engine, self._seen = engine, seen
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

    def start_serving(self) -> None:
        """A server process starts: the first to take the indexing lock loads, embeds and proposes for
        every open demand; the others wait for it, then load what it wrote. Then every process follows
        the others' writes."""
        self._submit(self._start)

    def learn_later(self, actor: str) -> None:
        """Queue learning from the decisions (service/learning.py); its verdict ends the progress bar."""
        self._submit(partial(self._learn, actor))

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
        followed = time.monotonic()
        while True:
            if time.monotonic() - followed >= FOLLOW_SECONDS:
                self._follow_safely()
                followed = time.monotonic()
            try:
                job = self._jobs.get(timeout=FOLLOW_SECONDS)
            except queue.Empty:
                if time.monotonic() - self._busy_at >= self.checkpoint_seconds:
                    self._checkpoint()
                    self._learn_if_due()
                continue
            if job is STOP:
                self._checkpoint()
                self._db.close()
                self._jobs.task_done()
                return
            try:
                job()
            except Exception:  # a failed job must not kill the worker; the next edit retries
                log.exception("live index job %s failed", job)
            finally:
                self._busy_at = time.monotonic()
                self._jobs.task_done()

    def _checkpoint(self) -> None:
        """Save the engine's edits unless another process holds the indexing lock (it is indexing, or
        saving the same edits); a failed or refused save is tried again after the next quiet period."""
        engine = self._engine
        if engine is None or not engine.edited:
            return
        try:
            with indexing_lock(self.instance_dir, blocking=False) as owner:
                if owner and engine.save(self._db):
                    log.info("live index edits saved to %s", self.instance_dir / "index")
        except Exception:  # the indexes in memory are intact; only the next start's speed is at stake
            log.exception("saving the live index failed")
        self._busy_at = time.monotonic()

    def _learn_if_due(self) -> None:
        """Learn in the background once `learning.after` decisions were made since the last run, unless
        another process holds the indexing lock (it is indexing, or learning from the same decisions). It marks
        the thread busy, so the decisions are counted again only after the next quiet period."""
        if not self.learning.after or self._engine is None:
            return
        try:
            with indexing_lock(self.instance_dir, blocking=False) as owner:
                if owner and learning.new_decisions(self._db) >= self.learning.after:
                    self._learn(BACKGROUND, report=False)
        except Exception:  # the ranking in use stays; the next quiet period tries again
            log.exception("learning in the background failed")
        self._busy_at = time.monotonic()

    def _follow_safely(self) -> None:
        try:
            self._follow()
        except Exception:  # a failed poll must not kill the worker; the next one retries
            log.exception("following the change sequence failed")

    def _follow(self) -> None:
        """Apply the writes other processes made since the engine last looked (their record ids, or a full
        reload for an import, a restore or a sequence pruned past us); drop what the engine remembered."""
        version = store.data_version(self._db)
        if version == self._data_version:
            return
        self._data_version = version
        with self._engine_lock:
            engine, seen = self._engine, self._seen
        if engine is None:  # not loaded yet: its load will read the store as it is then
            return
        newest = store.last_change(self._db)
        if newest == seen:
            return
        changes = store.changes_since(self._db, seen) if newest > seen else []
        reload = newest < seen or (changes and changes[0]["seq"] > seen + 1)
        theirs = [change for change in changes if change["origin"] != os.getpid()]
        whole = [change for change in theirs if change["record_id"] is None]
        if reload or any(change["kind"] != "rankers" for change in whole):
            with indexing_lock(self.instance_dir):
                engine.load()
        elif whole:  # another process learned: rank with what it adopted (or without, if it refused)
            engine.use_learned(adopted_ranking(self._db, engine.ensure_current()))
        else:
            for kind, record_id in dict.fromkeys((change["kind"], change["record_id"]) for change in theirs):
                engine.refresh(kind, record_id)
            self._busy_at = time.monotonic()
        engine.forget()
        with self._engine_lock:
            self._seen = changes[-1]["seq"] if changes else newest

    def _start(self) -> None:
        with indexing_lock(self.instance_dir, blocking=False) as owner:
            if owner:
                self._reload_locked()
                return
        with indexing_lock(self.instance_dir):
            self._ensure_engine()

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

    def _learn(self, actor: str, report: bool = True) -> None:
        """Learn, switch the engine to the adopted ranking (or back), then rescore the undecided proposals
        if the ranking in use changed. report=False leaves the admin's progress bar to imports and reloads."""
        progress = self.progress if report else Progress()
        progress.start("学习")
        engine = self.engine()
        ranked_with = engine.learned
        try:
            outcome = learning.learn(self._db, engine, self.learning.eval_set, actor=actor,
                                     enabled=self.learning.enabled)
            if ranked_with is not None or outcome["adopted"]:
                workflow.generate_proposals(self._db, engine, self.k)
        except Exception:
            progress.finish(failed=True, message="学习失败，继续使用原有排序。请查看服务日志后重试。")
            raise
        log.info("learning run %s by %s: %s", outcome["version"], actor, outcome["verdict"])
        progress.finish(message=f"第 {outcome['version']} 版：{outcome['verdict']}")

    def _reload(self, imported: str | None = None) -> None:
        """Embed both lists afresh and propose for every open demand; `imported` (已导入 …) heads the outcome."""
        with indexing_lock(self.instance_dir):
            self._reload_locked(imported)

    def _reload_locked(self, imported: str | None = None) -> None:
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
