"""`matchmaker serve`: one waitress process, or N gunicorn worker processes behind one port.

    >>> make_app = lambda: create_app({"DATABASE": "instance/matchmaker.db"})     # doctest: +SKIP
    >>> serve(make_app, "127.0.0.1", 5000, threads=8, workers=2)                  # doctest: +SKIP

With workers > 1, gunicorn's master (its Python API, so `matchmaker serve` stays one command) binds the
port and forks the workers; each builds its own app, hence its own engine, and follows the others'
writes through the store's change sequence (worker.LiveIndex). The master creates the app once
before forking, so the schema is created or upgraded once, and hands a generated SECRET_KEY to the
workers through the environment: a session cookie signed by one worker is honoured by every other. A
worker that dies (even by SIGKILL) is replaced by the master.
"""
from __future__ import annotations

import os
import signal

from gunicorn.app.base import BaseApplication

from . import resources


def cores() -> int:
    """The cores this process may run on: the default number of workers."""
    return len(os.sched_getaffinity(0))


def default_threads(workers: int) -> int:
    """Threads per process when not given: 8 for the one waitress process (slow requests such as exports
    do not hold the others up); 2 per gunicorn worker, the set-up that gave ≥ 1.6× one process in both
    runs on an unsaturated machine, where 2 × 4 and 2 × 8 fell to ~1× (BENCHMARKS.md, "Several server
    processes")."""
    return 8 if workers <= 1 else 2


def serve(make_app, host: str, port: int, threads: int = 8, workers: int = 1) -> None:
    """Serve the app `make_app()` builds until Ctrl+C (SIGINT) or SIGTERM."""
    if workers <= 1:
        import waitress
        app = make_app()
        app.extensions["live_index"].start_serving()
        signal.signal(signal.SIGTERM, interrupt)
        try:
            waitress.serve(app, host=host, port=port, threads=threads, ident="matchmaker")
        finally:
            resources.shutdown(app)  # the live index saves its edits for the next start
        return
    first = make_app()  # checks the configuration and the schema once, before any worker exists
    os.environ["SECRET_KEY"] = first.config["SECRET_KEY"]
    resources.shutdown(first)
    Server(make_app, {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 120,  # the workers' heartbeat; requests run in threads and do not hold it up
        # A stopping worker saves its live edits (worker.LiveIndex.close); at 1M supplies that can take
        # longer than gunicorn's default 30 s, and a worker killed mid-save leaves the next start a rebuild.
        "graceful_timeout": 120,
        "proc_name": "matchmaker",
        "accesslog": None,
        "errorlog": "-",
        "worker_exit": stop_worker,
        "control_socket_disable": True,  # gunicorn ≥ 25's one path under ~ would be shared by every instance
    }).run()


def interrupt(signum, frame) -> None:
    """SIGTERM stops waitress as Ctrl+C does (its loop returns), so the process shuts down cleanly."""
    raise KeyboardInterrupt


def stop_worker(server, worker) -> None:
    """gunicorn's worker_exit hook: finish the worker's queued jobs and close its connections."""
    app = getattr(worker, "wsgi", None)
    if app is not None:
        resources.shutdown(app)


class Server(BaseApplication):
    """gunicorn configured from a dict, each worker building its own app (no preloading: nothing with
    threads or open connections crosses the fork)."""

    def __init__(self, make_app, options: dict):
        self.make_app, self.options = make_app, options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            if key in self.cfg.settings:  # a setting an older gunicorn lacks is left out
                self.cfg.set(key, value)

    def load(self):
        app = self.make_app()
        app.extensions["live_index"].start_serving()
        return app
