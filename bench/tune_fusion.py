"""Compare fusion methods and weights against the known cooperations, in both directions.

    python bench/tune_fusion.py [--db PATH]

Uses the sample lists (imported into a temporary database unless --db is given; embeddings are
cached there, so a second run is fast). Besides the full records, it scores a harder variant in
which each query is only its description (no title or keywords), where the signals disagree more.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from matching.evaluate import gap_metrics, ranking_metrics, truth_from_pairs
from matching.ranker import FusionConfig
from service import importers, store
from service.engine import Engine

DATA = Path(__file__).resolve().parent.parent / "data"
CONFIGS = [("dense", None), ("lexical", None)] + \
    [("hybrid", FusionConfig(method="convex", alpha=a)) for a in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)] + \
    [("hybrid", FusionConfig(method="rrf", rrf_k=k)) for k in (2, 10, 60)]


def rankings(engine: Engine, kind: str, queries: list[dict], retriever: str) -> dict[str, list[str]]:
    vectors = engine.embed(queries)
    matcher = engine.matcher
    ranked = {}
    for query, vector in zip(queries, vectors):
        found = matcher.supplies_for(query, vector, 10, retriever) if kind == "demands" else \
            matcher.demands_for(query, vector, 10, retriever)
        ranked[query["id"]] = [p.candidate_id for p in found]
    return ranked


def description_only(record: dict) -> dict:
    return {**record, "title": "", "keywords": []}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db")
    args = parser.parse_args()
    folder = Path(args.db).parent if args.db else Path(tempfile.mkdtemp())
    db = store.open_db(args.db or folder / "tune.db")
    if not store.count_records(db, "demands"):
        for kind in ("demands", "supplies", "cooperations"):
            importers.import_files(db, kind, sorted((DATA / kind).glob("*.jsonl")))
    engine = Engine(db, folder).load()
    pairs = store.export_records(db, "cooperations")
    truths = {"demands": truth_from_pairs(pairs), "supplies": truth_from_pairs(pairs, reverse=True)}
    queries = {kind: [store.get_record(db, kind, qid) for qid in truth] for kind, truth in truths.items()}
    print(f"{'config':<22} {'direction':<10} {'query':<12} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR':>6} {'nDCG':>6}")
    for retriever, fusion in CONFIGS:
        if fusion:
            engine.matcher.fusion = fusion
        name = retriever if not fusion else (f"convex a={fusion.alpha}" if fusion.method == "convex" else f"rrf k={fusion.rrf_k}")
        for kind in ("demands", "supplies"):
            for variant, transform in (("full", lambda r: r), ("description", description_only)):
                ranked = rankings(engine, kind, [transform(q) for q in queries[kind]], retriever)
                m = ranking_metrics(ranked, truths[kind], (1, 5, 10))
                print(f"{name:<22} {kind:<10} {variant:<12} {m['recall@1']:>6.3f} {m['recall@5']:>6.3f} "
                      f"{m['recall@10']:>6.3f} {m['mrr']:>6.3f} {m['ndcg@10']:>6.3f}")
    gaps_file = DATA / "evaluation" / "gaps-2021.jsonl"
    if gaps_file.exists():
        engine.matcher.fusion = FusionConfig()
        true_gaps = {row["demand_id"] for row in importers.read_rows(gaps_file) for row in [row[1]]}
        scored = {g["demand_id"]: g["best_score"] for g in engine.gaps(1.01, only_open=False)}
        print(f"\n{'gap threshold':<14} {'flagged':>8} {'precision':>10} {'recall':>7} {'f1':>6}")
        for threshold in (0.40, 0.45, 0.50, 0.52, 0.55, 0.58, 0.60):
            flagged = {d for d, s in scored.items() if s < threshold}
            m = gap_metrics(flagged, true_gaps)
            print(f"{threshold:<14.2f} {m['flagged']:>8} {m['precision']:>10.3f} {m['recall']:>7.3f} {m['f1']:>6.3f}")


if __name__ == "__main__":
    main()
