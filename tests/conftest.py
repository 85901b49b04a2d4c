"""Shared fixtures: every test gets a fresh database file in its own temporary folder."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from service import store
from service.cli import cli

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "matchmaker.db"


@pytest.fixture
def db(db_path):
    database = store.open_db(db_path)
    yield database
    database.close()


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def invoke(runner, db_path):
    """Run `matchmaker --db <fresh db> ARGS...` as a user types it."""
    def run(*args):
        return runner.invoke(cli, ["--db", str(db_path), *map(str, args)], catch_exceptions=False)
    return run


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def sample_files(kind: str) -> list[Path]:
    return sorted((DATA / kind).glob("*.jsonl"))


# Property tests explore new inputs on every developer run; under CI they replay the same
# examples, so a landing is decided by the code, not by the draw.
if os.environ.get("CI"):
    from hypothesis import settings
    settings.register_profile("ci", derandomize=True, database=None)
    settings.load_profile("ci")
