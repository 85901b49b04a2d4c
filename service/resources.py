"""What a request uses and the app keeps between requests: each serving thread's database connection
and the live index (the engine and its background re-indexer).

Its own small module, like `db.py` in Flask's tutorial, so views, auth and the API take their
resources from here and never import the app factory.
"""
from __future__ import annotations

import threading

from flask import Flask, current_app, g

from . import learning, store
from .worker import LiveIndex


def init_app(app: Flask) -> None:
    """Set up the app's kept connections and its live index; close_db runs after every request."""
    app.extensions["connections"] = threading.local()  # each serving thread's own connection
    app.extensions["opened"] = []  # all of them, for shutdown()
    app.teardown_appcontext(close_db)
    app.extensions["live_index"] = LiveIndex(app.config["DATABASE"], app.config["INSTANCE"],
                                             app.config["EMBEDDER"], app.config["PROPOSALS_PER_DEMAND"],
                                             app.config["CHECKPOINT_SECONDS"], learning.Policy.from_config(app.config))


def get_db():
    """This request's database connection: the serving thread's own, opened on its first request and
    kept for the next (opening one costs more than a typical request's queries together)."""
    if "db" not in g:
        kept = current_app.extensions["connections"]
        if getattr(kept, "db", None) is None:
            kept.db = store.open_db(current_app.config["DATABASE"], schema=False)
            current_app.extensions["opened"].append(kept.db)
        g.db = kept.db
    return g.db


def close_db(error=None) -> None:
    """The request is over: its connection stays open for the thread's next one, never mid-transaction."""
    db = g.pop("db", None)
    if db is not None and db.conn.in_transaction:
        db.conn.rollback()


def shutdown(app: Flask) -> None:
    """Close what the app keeps open between requests: the live index's worker and engine, and every
    serving thread's connection. For the end of serving (and of a test's app), not mid-request."""
    app.extensions["live_index"].close()
    opened = app.extensions["opened"]
    while opened:
        opened.pop().close()


def thresholds() -> tuple[float, float]:
    """The review queue's (upper, lower) score thresholds, as configured (create_app checked them)."""
    return current_app.config["UPPER"], current_app.config["LOWER"]


def live_index() -> LiveIndex:
    """The app's engine and background re-indexer."""
    return current_app.extensions["live_index"]
