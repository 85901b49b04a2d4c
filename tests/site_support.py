"""A small, realistic instance of the site for page and browser tests.

The seed database (tests/records.py: the records, their cooperation, the accounts; engine proposals)
is built once per session, because embedding is the slow part; every test gets its own copy of it.
A page test signs in as a role: the account of that name (records.USERS).
"""
from __future__ import annotations

import atexit
import functools
import shutil
import sqlite3
import tempfile
from pathlib import Path

from service import store, workflow
from service.worker import LiveIndex

from . import records

ROLES = ("enterprise", "platform", "broker", "admin")


def build_seed(folder: Path) -> Path:
    """Create the seed database in `folder`: records, accounts, proposals; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "seed.db"
    db = store.open_db(path)
    records.load(db)
    live = LiveIndex(path, folder / "instance")
    workflow.generate_proposals(db, live.engine(), k=3)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    live.engine().db.close()
    return path


@functools.lru_cache(maxsize=1)
def seed_folder() -> Path:
    """The seed, built once per test process (page and browser tests share it)."""
    folder = Path(tempfile.mkdtemp(prefix="matchmaker-seed-"))
    atexit.register(shutil.rmtree, folder, True)
    build_seed(folder)
    return folder


def make_site(target: Path, **config):
    """A fresh app over a private copy of the seed, in `target`."""
    from service.app import create_app

    target.mkdir(parents=True, exist_ok=True)
    seed = seed_folder()
    database = copy_seed(seed / "seed.db", target / "matchmaker.db")
    copy_instance(seed, target / "instance")
    return create_app({"DATABASE": str(database), "INSTANCE": str(target / "instance"),
                       "SECRET_KEY": "test-secret", "TESTING": True, **config})


def copy_seed(seed: Path, target: Path) -> Path:
    """A private copy of the seed database (a consistent one, whatever the WAL holds)."""
    source = sqlite3.connect(seed)
    destination = sqlite3.connect(target)
    with destination:
        source.backup(destination)
    source.close()
    destination.close()
    return target


def copy_instance(seed_folder: Path, target_folder: Path) -> None:
    """The seed's derived index files too, so a test's engine loads instead of rebuilding."""
    if (seed_folder / "instance").exists():
        shutil.copytree(seed_folder / "instance", target_folder, dirs_exist_ok=True)


# --- helpers shared by the page tests --------------------------------------------------------------

CSRF = "test-csrf-token"


def log_in(client, db, role: str | None) -> None:
    """Sign the test client in as the seed's account for a role, the account of that name (None:
    signed out); the session carries a known CSRF token either way."""
    with client.session_transaction() as session:
        session.clear()
        session["csrf_token"] = CSRF
        if role is not None:
            account = store.get_user_by_name(db, role)
            session["user_id"], session["auth_stamp"] = account["id"], account["auth_stamp"]


def text(response) -> str:
    return response.get_data(as_text=True)



def post(client, url: str, data: dict | None = None, **kwargs):
    """A form post with the session's CSRF token (log_in sets it)."""
    return client.post(url, data={"csrf_token": CSRF, **(data or {})}, **kwargs)


# --- a crowded review queue, for the queue's page and browser tests --------------------------------

STRONG, REVIEW = 30, 18   # how the crowded queue splits the seed's 10 × 13 pairs; the other 82 score below


def crowd_the_queue(db) -> None:
    """Every demand × supply pair of the seed proposed: 30 strong (≥ 0.80), 18 for review (0.65–0.80),
    the rest below the review zone (0.44–0.64), so no engine score of the seed is left in a zone."""
    demands = sorted(record["id"] for record in store.list_records(db, "demands"))
    supplies = sorted(record["id"] for record in store.list_records(db, "supplies"))
    pairs = [(demand, supply) for demand in demands for supply in supplies]
    proposals = []
    for number, (demand, supply) in enumerate(pairs):
        if number < STRONG:
            score = 0.99 - number * 0.005
        elif number < STRONG + REVIEW:
            score = 0.79 - (number - STRONG) * 0.005
        else:
            score = 0.64 - (number - STRONG - REVIEW) * 0.0025
        proposals.append({"demand_id": demand, "supply_id": supply, "score": round(score, 4), "dense": score,
                          "lexical": 0.5, "rank": 1,
                          "reasons": {"shared_terms": [], "dense": score, "lexical": 0.5, "same_cluster": True,
                                      "same_mode": False}})
    store.save_proposals(db, proposals)


# --- demand rows to upload, for the imports page and browser tests -------------------------------------------

GOOD_ROWS = [
    ["D2026-901", "海参育苗池水温自动调控", "育苗车间冬季水温波动大，幼参成活率低，希望有低成本的自动控温与报警方案。",
     "威海海旭水产有限公司", "海洋生物与健康食品"],
    ["D2026-902", "碳纤维鱼竿节间开裂", "高模量碳纤维鱼竿在节间接口处易开裂，希望改进铺层和接口补强工艺。",
     "威海光威渔具有限公司", "碳纤维等复合材料"],
]

