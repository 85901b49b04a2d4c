"""The broker's review queue page with 10,000 proposals in the store: p50 / p99 through Flask's test client.

A fresh database holds the sample lists (227 demands, 359 supplies) and --proposals pairs with scores
spread over every zone (a few recommended and set aside as unsure). No embedding is needed: the queue
page reads the store only. A signed-in broker then requests the queue the ways brokers use it — each
tab, a deep page, a filter, a search, the date sort — in rotation, --requests times after a warm-up.

    python bench/queue_speed.py                                 # 10,000 proposals, 300 requests
    python bench/queue_speed.py --proposals 10000 --requests 600 --json

Exit status 0 when the issue's target holds: p50 ≤ 300 ms.
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service import auth, importers, store  # noqa: E402
from service.app import create_app  # noqa: E402
from service.resources import shutdown  # noqa: E402

DATA = ROOT / "data"
TARGET_P50_MS = 300.0
BROKER = "bench-broker"
URLS = [
    "/queue",
    "/queue?zone=review",
    "/queue?zone=strong&page=40",
    "/queue?zone=review&sort=date&page=3",
    "/queue?zone=strong&cluster=先进装备与智能制造",
    "/queue?zone=strong&q=检测",
    "/queue?zone=recommended",
    "/queue?zone=unsure&region=荣成市",
]


def build_store(path: Path, proposals: int, seed: int = 15) -> dict[str, int]:
    """The sample lists and `proposals` scored pairs; returns how many pairs each status holds."""
    db = store.open_db(path)
    for kind in ("demands", "supplies"):
        importers.import_files(db, kind, sorted((DATA / kind).glob("*.jsonl")))
    demands = sorted(store.ids(db, "demands"))
    supplies = sorted(store.ids(db, "supplies"))
    if proposals > len(demands) * len(supplies):
        raise SystemExit(f"最多 {len(demands) * len(supplies)} 对")
    chosen = random.Random(seed).sample([(d, s) for d in demands for s in supplies], proposals)
    rows = []
    for rank, (demand, supply) in enumerate(chosen):
        score = round(random.Random(rank).uniform(0.55, 0.99), 4)
        rows.append({"demand_id": demand, "supply_id": supply, "score": score, "dense": score, "lexical": 0.4,
                     "rank": 1 + rank % 5, "reasons": {"shared_terms": ["检测"], "dense": score, "lexical": 0.4,
                                                       "same_cluster": True, "same_mode": False}})
    store.save_proposals(db, rows)
    with store.transaction(db):   # some already decided, as in a month of use
        db.execute("update proposals set status = 'recommended' where id % 20 = 0")
        db.execute("update proposals set status = 'unsure' where id % 33 = 0 and status = 'proposed'")
    auth.create_user(db, BROKER, "broker", None, password="bench-password-1")
    counts = {row[0]: row[1] for row in db.execute("select status, count(*) from proposals group by status")}
    db.close()
    return counts


def signed_in_client(app):
    client = app.test_client()
    db = store.open_db(app.config["DATABASE"])
    account = store.get_user_by_name(db, BROKER)
    db.close()
    with client.session_transaction() as session:
        session["user_id"], session["auth_stamp"] = account["id"], account["auth_stamp"]
    return client


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proposals", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=len(URLS))
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="queue-speed-") as folder:
        database = Path(folder) / "matchmaker.db"
        counts = build_store(database, args.proposals)
        app = create_app({"DATABASE": str(database), "INSTANCE": folder, "SECRET_KEY": "bench", "TESTING": True})
        try:
            client = signed_in_client(app)
            for url in URLS[:args.warmup]:
                assert client.get(url).status_code == 200, url
            timings: dict[str, list[float]] = {url: [] for url in URLS}
            for number in range(args.requests):
                url = URLS[number % len(URLS)]
                started = time.perf_counter()
                response = client.get(url)
                timings[url].append((time.perf_counter() - started) * 1000)
                if response.status_code != 200 or "审核队列" not in response.get_data(as_text=True):
                    raise SystemExit(f"{url} 返回 {response.status_code}")
        finally:
            shutdown(app)

    every = [ms for values in timings.values() for ms in values]
    figures = {
        "proposals": args.proposals, "by_status": counts, "requests": len(every),
        "p50_ms": round(statistics.median(every), 1), "p99_ms": round(percentile(every, 0.99), 1),
        "per_url_p50_ms": {url: round(statistics.median(values), 1) for url, values in timings.items() if values},
        "python": platform.python_version(), "machine": platform.machine(),
    }
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        print(f"审核队列，{args.proposals} 对推荐（{counts}），{len(every)} 次请求："
              f"p50 {figures['p50_ms']} ms，p99 {figures['p99_ms']} ms（目标 p50 ≤ {TARGET_P50_MS:.0f} ms）")
        for url, ms in figures["per_url_p50_ms"].items():
            print(f"  {ms:8.1f} ms  {url}")
    return 0 if figures["p50_ms"] <= TARGET_P50_MS else 1


if __name__ == "__main__":
    sys.exit(main())
