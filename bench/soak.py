"""Soak run: `matchmaker serve` under a bounded mixed read/write load on loopback.

A fresh instance is built from the sample lists (import, index), the server is started as a real
process, and client threads read lists, records, the review queue and live proposals, create
demands and edit them (with the version check) for the whole duration. The server's RSS is sampled
throughout. At the end every acknowledged write is checked in the database.

    python bench/soak.py --duration 300 --threads 6          # figures go to RELIABILITY.md
    python bench/soak.py --duration 300 --threads 6 --workers 2 --server-threads 4   # gunicorn, two workers

Exit status 0 when there were no errors, every write is present and memory stayed flat.
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service import store  # noqa: E402
from tests.server_process import ServerProcess  # noqa: E402

DATA = ROOT / "data"
ENTERPRISE = "威海锟岳机械制造有限公司"
# The last minute's mean RSS may exceed the first minute's (after warm-up) by this much and still count as flat.
FLAT_TOLERANCE = 0.10


def matchmaker(db: Path, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "service.cli", "--db", str(db), *args], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    return result.stdout


def build_instance(folder: Path) -> tuple[Path, dict[str, str]]:
    """The sample lists imported and indexed, and one account per role the load uses; returns the tokens."""
    db = folder / "matchmaker.db"
    saved_tokens = folder / "soak-tokens.json"
    if saved_tokens.is_file():  # an instance a previous run built: embedding the sample takes minutes
        return db, json.loads(saved_tokens.read_text())
    for kind in ("demands", "supplies", "cooperations"):
        matchmaker(db, "import", kind, *map(str, sorted((DATA / kind).glob("*.jsonl"))))
    matchmaker(db, "index")
    tokens = {}
    for name, role, org in (("soak-enterprise", "enterprise", ENTERPRISE), ("soak-broker", "broker", None)):
        output = matchmaker(db, "user", "add", name, "--role", role, *(["--org", org] if org else []))
        tokens[role] = re.search(r"API 令牌[^：]*：(\S+)", output).group(1)
    saved_tokens.write_text(json.dumps(tokens))
    return db, tokens


class Load:
    """The client side: each thread runs a mix of requests and remembers every acknowledged write."""

    def __init__(self, server: ServerProcess, tokens: dict[str, str], demand_ids: list[str], seed: int,
                 own: int = 0):
        self.server, self.tokens, self.demand_ids = server, tokens, demand_ids
        self.seed = seed
        self.own = own  # demands a thread creates at most (0: no limit); past it, its creates become edits
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []
        self.written: dict[str, dict] = {}  # demand id → the title and version last acknowledged
        self.lock = threading.Lock()

    def call(self, kind: str, method: str, path: str, role: str, body=None) -> tuple[int, object]:
        started = time.perf_counter()
        try:
            status, answer = self.server.call(method, path, self.tokens[role], body, timeout=60)
        except OSError as error:
            status, answer = 0, str(error)
        with self.lock:
            self.latencies[kind].append(time.perf_counter() - started)
            if not 200 <= status < 300:
                self.errors.append(f"{method} {path} → {status} {str(answer)[:200]}")
        return status, answer

    def run(self, worker: int, until: float) -> None:
        rng = random.Random(self.seed + worker)
        mine: list[str] = []
        number = 0
        while time.monotonic() < until:
            roll = rng.random()
            if (roll < 0.15 and not (self.own and len(mine) >= self.own)) or not mine:
                number += 1
                title = f"压测需求 {worker}-{number}"
                status, answer = self.call("create", "POST", "/api/v1/demands", "enterprise",
                                           {"title": title, "description": "持续负载下写入的技术需求，用于检验不丢数据。",
                                            "industry_cluster": "先进装备与智能制造", "keywords": ["压测", "可靠性"]})
                if status == 201:
                    mine.append(answer["id"])
                    with self.lock:
                        self.written[answer["id"]] = {"title": title, "version": answer["version"]}
            elif roll < 0.30:
                record_id = rng.choice(mine)
                status, current = self.call("show", "GET", f"/api/v1/demands/{record_id}", "enterprise")
                if status == 200:
                    title = f"压测需求 {worker}-{number} 第 {current['version'] + 1} 版"
                    status, answer = self.call("edit", "PATCH", f"/api/v1/demands/{record_id}", "enterprise",
                                               {"title": title, "version": current["version"]})
                    if status == 200:
                        with self.lock:
                            self.written[record_id] = {"title": title, "version": answer["version"]}
            elif roll < 0.55:
                self.call("list", "GET", f"/api/v1/demands?page={rng.randint(1, 10)}&per_page=20", "broker")
            elif roll < 0.70:
                self.call("queue", "GET", "/api/v1/proposals?zone=strong&per_page=50", "broker")
            elif roll < 0.80:
                self.call("show", "GET", f"/api/v1/demands/{rng.choice(self.demand_ids)}", "broker")
            elif roll < 0.90:
                self.call("supplies", "GET", f"/api/v1/supplies?page={rng.randint(1, 15)}", "broker")
            else:
                self.call("live-proposals", "GET", f"/api/v1/demands/{rng.choice(self.demand_ids)}/proposals?k=5",
                          "broker")


def sample_memory(server: ServerProcess, until: float, every: float, samples: list[tuple[float, int]]) -> None:
    started = time.monotonic()
    while time.monotonic() < until:
        samples.append((time.monotonic() - started, server.rss_kib()))
        time.sleep(every)


def missing_writes(db_path: Path, written: dict[str, dict]) -> list[str]:
    """Acknowledged writes the database does not hold as acknowledged."""
    db = store.open_db(db_path)
    try:
        missing = []
        for record_id, expected in written.items():
            record = store.get_record(db, "demands", record_id)
            if record is None or record["title"] != expected["title"] or record["version"] != expected["version"]:
                missing.append(record_id)
        return missing
    finally:
        db.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=300, help="seconds of load (default 300)")
    parser.add_argument("--threads", type=int, default=6, help="client threads (default 6)")
    parser.add_argument("--server-threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="server processes (serve --workers; default 1)")
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument("--own", type=int, default=0,
                        help="demands each client thread creates at most, then only edits (default: no limit); "
                             "keeps the data one size, so memory growth is not the indexes growing")
    parser.add_argument("--workdir", help="instance folder (default: a fresh temporary one)")
    args = parser.parse_args()

    folder = Path(args.workdir or tempfile.mkdtemp(prefix="matchmaker-soak-"))
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    db_path, tokens = build_instance(folder)
    print(f"instance ready in {time.monotonic() - started:.0f} s: {folder}", flush=True)
    server = ServerProcess(db_path, threads=args.server_threads, workers=args.workers).start()
    probe = store.open_db(db_path)
    demand_ids = sorted(store.ids(probe, "demands"))
    probe.close()
    load = Load(server, tokens, demand_ids, args.seed, args.own)
    # The server's start-up reload (index load, proposals for every open demand) holds the engine;
    # one live-proposals request returns when it is done, so the timed run starts warm.
    server.call("GET", f"/api/v1/demands/{demand_ids[0]}/proposals?k=5", tokens["broker"], timeout=600)
    until = time.monotonic() + args.duration
    memory: list[tuple[float, int]] = []
    threads = [threading.Thread(target=load.run, args=(worker, until)) for worker in range(args.threads)]
    threads.append(threading.Thread(target=sample_memory, args=(server, until, 5.0, memory)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    server.stop()

    missing = missing_writes(db_path, load.written)
    window = min(60.0, args.duration / 5)
    first = [rss for at, rss in memory if 10 <= at < 10 + window] or [memory[0][1]]
    last = [rss for at, rss in memory if at >= args.duration - window] or [memory[-1][1]]
    growth = statistics.mean(last) / statistics.mean(first) - 1
    requests = sum(len(values) for values in load.latencies.values())
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}, "
                   f"{__import__('os').cpu_count()} cores, Python {platform.python_version()}",
        "command": " ".join(["python", "bench/soak.py", f"--duration {args.duration:g}", f"--threads {args.threads}",
                             f"--server-threads {args.server_threads}", f"--workers {args.workers}",
                             *([f"--own {args.own}"] if args.own else [])]),
        "requests": requests,
        "requests_per_second": round(requests / args.duration, 1),
        "errors": len(load.errors),
        "acknowledged_writes": len(load.written),
        "missing_writes": len(missing),
        "rss_mib": {"min": round(min(rss for _, rss in memory) / 1024, 1),
                    "max": round(max(rss for _, rss in memory) / 1024, 1),
                    "first_window_mean": round(statistics.mean(first) / 1024, 1),
                    "last_window_mean": round(statistics.mean(last) / 1024, 1),
                    "growth_percent": round(100 * growth, 1), "samples": len(memory)},
        "latency_ms": {kind: {"count": len(values), "p50": round(1000 * percentile(values, 0.5), 1),
                              "p99": round(1000 * percentile(values, 0.99), 1)}
                       for kind, values in sorted(load.latencies.items())},
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    for error in load.errors[:20]:
        print("error:", error, file=sys.stderr)
    if missing:
        print("missing writes:", ", ".join(missing[:20]), file=sys.stderr)
    return 0 if not load.errors and not missing and growth <= FLAT_TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
