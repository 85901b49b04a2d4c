"""The cross-encoder reranker (matching/cross.py): train it, and measure it on the sample and match-dev.

    python bench/cross_encoder.py prepare [--work /tmp/cross-encoder]   # candidates + frozen lower states
    python bench/cross_encoder.py train --variants cases --write /tmp/cross-encoder/cross.npz   # ~30 min on 2 busy cores
    python bench/cross_encoder.py onnx [--adapter /tmp/cross-encoder/cross.npz]   # the written file on ONNX Runtime
    python bench/cross_encoder.py cost [--adapter /tmp/cross-encoder/cross.npz]   # ms a pair, a new demand's top 10

prepare: the three sets of bench/gap_signal.py (the sample, match-dev, the training cases pooled into
one list) are loaded into scratch stores in --work (copy bench/gap_signal.py's stores there to embed
nothing). Each demand's top DEPTH supplies under the shipped hybrid are kept with their fused score
(solved demands of the sample to DEPTH + 4, so that the list without its truth is still DEPTH long),
and every pair that training or evaluation reads gets its hidden states below the trained layers
computed once (matching/cross_train.py, LowerStates).

Training pairs, never from match-dev: each case's demand with its supply (1), its two near-misses
(0) and the other case's supply the engine ranks highest for it (0; skipped when that case's demand
is itself close to this one, cosine ≥ OTHER_CASE_MAX_COSINE: the cases repeat textbook problems);
with --sample, each of the sample's cooperating demands with its supplies (1) and the three best
ranked others (0).

Evaluation: the hybrid's top 10 reranked by (1 − w) · fused + w · cross. w is chosen on the grid by
5-fold cross-validation over match-dev's demands (MRR on four folds, the sample's R@5 and MRR within
SAMPLE_SLACK of the hybrid's as a floor), and the pooled held-out folds are reported; beside it, w
chosen without match-dev (on the sample alone, same floor). Gaps: the best cross score of the top 10
(low = gap), as AUC and as a line chosen by 5-fold CV on match-dev or on the sample's
leave-the-truth-out rows (bench/gap_signal.py).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from matching.cross_train import CrossConfig, Group, LowerStates, predict, train
from matching.e5_onnx import BUNDLED_ADAPTER, Adapter, E5Onnx
from matching.evaluate import gap_metrics, ranking_metrics
from matching.ranker import record_text
from service import evaluation

ROOT = Path(__file__).resolve().parent.parent
DEPTH = 10
EXTRA = 4
OTHER_CASE_MAX_COSINE = 0.9
SAMPLE_SLACK = 0.01
WEIGHTS = tuple(float(w) for w in np.round(np.arange(0.0, 1.01, 0.1), 1))
KS = (1, 5, 10)


def prepare(work: Path) -> None:
    import gap_signal

    folders = {**gap_signal.SETS, "cases": gap_signal.cases_folder(work)}
    for name, folder in folders.items():
        path = work / f"{name}.lists.json"
        if path.is_file():
            continue
        engine, truth, gaps = gap_signal.loaded(folder, work, name)
        matcher = engine.matcher
        ranked = {}
        for demand_id, record in sorted(matcher.demands.records.items()):
            depth = DEPTH + EXTRA if truth.get(demand_id) else DEPTH
            found = matcher.supplies_for(record, matcher.demands.vectors.vector(demand_id), depth)
            ranked[demand_id] = [[p.candidate_id, p.score] for p in found]
        neighbours = {}
        if name == "cases":  # each case demand's cosine with the other case demands near it
            for demand_id in matcher.demands.records:
                vector = matcher.demands.vectors.vector(demand_id)
                neighbours[demand_id] = dict(matcher.demands.vectors.search(vector.reshape(1, -1), 20)[0])
        path.write_text(json.dumps({
            "demands": {i: record_text(r) for i, r in matcher.demands.records.items()},
            "supplies": {i: record_text(r) for i, r in matcher.supplies.records.items()},
            "ranked": ranked, "truth": truth, "gaps": sorted(gaps), "neighbours": neighbours,
        }, ensure_ascii=False), encoding="utf-8")
        engine.db.close()
        print(f"{name}: {len(ranked)} demands ranked")
    model, base = E5Onnx(threads=2), Adapter.load(BUNDLED_ADAPTER)
    states = LowerStates(model, base, CrossConfig())
    for name in ("cases", "match-dev", "sample"):
        path = work / f"{name}.states.npz"
        if path.is_file():
            continue
        lists = read_lists(work, name)
        pairs = training_pairs(lists, name) + evaluation_pairs(lists, name)
        started = time.time()
        states.ensure(pairs)
        states.save(path)
        print(f"{name}: {len(set(pairs))} pairs' lower states in {time.time() - started:.0f} s")
        states.states.clear()


def read_lists(work: Path, name: str) -> dict:
    return json.loads((work / f"{name}.lists.json").read_text(encoding="utf-8"))


def solving(lists: dict) -> dict[str, set[str]]:
    return {d: {s for s, g in answers.items() if g >= evaluation.SOLVES} for d, answers in lists["truth"].items()}


def training_groups(lists: dict, name: str) -> list[Group]:
    demands, supplies = lists["demands"], lists["supplies"]
    groups = []
    if name == "cases":
        for demand_id in sorted(demands):
            number = demand_id[2:]
            own = [f"TS{number}", f"TN{number}a", f"TN{number}b"]
            near = lists["neighbours"][demand_id]
            other = next((s for s, _ in lists["ranked"][demand_id] if s[2:6] != number
                          and near.get(f"TD{s[2:6]}", 0.0) < OTHER_CASE_MAX_COSINE), None)
            chosen = [s for s in own if s in supplies] + ([other] if other else [])
            groups.append(Group(demands[demand_id], [supplies[s] for s in chosen],
                                [1] + [0] * (len(chosen) - 1)))
    elif name == "sample":
        for demand_id, answers in sorted(solving(lists).items()):
            if not answers:
                continue
            others = [s for s, _ in lists["ranked"][demand_id] if s not in lists["truth"][demand_id]][:3]
            chosen = sorted(answers) + others
            groups.append(Group(demands[demand_id], [supplies[s] for s in chosen],
                                [1] * len(answers) + [0] * len(others)))
    return groups


def training_pairs(lists: dict, name: str) -> list[tuple[str, str]]:
    return [(group.demand, supply) for group in training_groups(lists, name) for supply in group.supplies]


def evaluation_pairs(lists: dict, name: str) -> list[tuple[str, str]]:
    if name == "cases":  # training only
        return []
    return [(lists["demands"][d], lists["supplies"][s]) for d, found in lists["ranked"].items() for s, _ in found]


# --- evaluation ---------------------------------------------------------------------------------

def scored_lists(lists: dict, logits_of) -> dict:
    """Per demand: [(supply, fused, cross probability)] of its whole kept list."""
    pairs = [(lists["demands"][d], lists["supplies"][s]) for d, found in lists["ranked"].items() for s, _ in found]
    logits = logits_of(pairs)
    out, at = {}, 0
    for demand_id, found in lists["ranked"].items():
        out[demand_id] = [(s, fused, float(1 / (1 + np.exp(-logits[at + n])))) for n, (s, fused) in enumerate(found)]
        at += len(found)
    return out


def reranked(scored: dict, weight: float, demands=None, removed: dict | None = None) -> dict[str, list[str]]:
    rankings = {}
    for demand_id in demands if demands is not None else scored:
        found = [row for row in scored[demand_id] if not removed or row[0] not in removed.get(demand_id, ())][:DEPTH]
        rankings[demand_id] = [s for s, fused, cross in
                               sorted(found, key=lambda row: (-((1 - weight) * row[1] + weight * row[2]), row[0]))]
    return rankings


def metrics(lists: dict, rankings: dict) -> dict:
    solves = {d: {s: 2.0 for s in a} for d, a in solving(lists).items() if a}
    solves = {d: a for d, a in solves.items() if d in rankings}
    row = ranking_metrics({d: rankings[d] for d in solves}, solves, KS)
    graded = {d: lists["truth"][d] for d in solves}
    row["ndcg@10"] = ranking_metrics({d: rankings[d] for d in solves}, graded, KS)["ndcg@10"]
    return row


def folds_of(demands: list[str], folds: int = 5) -> list[set[str]]:
    order = np.random.default_rng(0).permutation(len(demands))
    return [{demands[i] for i in order[fold::folds]} for fold in range(folds)]


def allowed(weight: float, sample_scored: dict, sample_lists: dict, floor: dict) -> bool:
    found = metrics(sample_lists, reranked(sample_scored, weight))
    return found["recall@5"] >= floor["recall@5"] - SAMPLE_SLACK and found["mrr"] >= floor["mrr"] - SAMPLE_SLACK


def cross_validated(dev_scored: dict, dev_lists: dict, sample_scored: dict, sample_lists: dict) -> tuple[dict, list]:
    """Held-out rankings of match-dev, w chosen per fold on the other four (sample floor)."""
    floor = metrics(sample_lists, reranked(sample_scored, 0.0))
    candidates = [w for w in WEIGHTS if allowed(w, sample_scored, sample_lists, floor)]
    solved = sorted(d for d, a in solving(dev_lists).items() if a)
    held_rankings, chosen = {}, []
    for held in folds_of(solved):
        rest = [d for d in solved if d not in held]
        best = max(candidates, key=lambda w: (metrics(dev_lists, reranked(dev_scored, w, rest))["mrr"], -w))
        chosen.append(best)
        held_rankings.update(reranked(dev_scored, best, sorted(held)))
    return metrics(dev_lists, held_rankings), chosen


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Probability that a gap (label 1) scores below a non-gap."""
    gaps, others = scores[labels == 1], scores[labels == 0]
    return float((gaps[:, None] < others[None, :]).mean() + 0.5 * (gaps[:, None] == others[None, :]).mean())


def best_line(scores: np.ndarray, labels: np.ndarray) -> float:
    """Flag score < line; the line with the best F1."""
    best, chosen = -1.0, 0.0
    for line in np.unique(scores) + 1e-9:
        flag = scores < line
        hits = (flag & (labels == 1)).sum()
        precision, recall = hits / max(flag.sum(), 1), hits / max(labels.sum(), 1)
        f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
        if f1 > best:
            best, chosen = f1, float(line)
    return chosen


def gap_rows(lists: dict, scored: dict, leave_truth_out: bool) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(demand, best cross of the top DEPTH, gap label); with leave_truth_out, also every solved demand
    without its answers (label 1) as bench/gap_signal.py does."""
    gaps, answered = set(lists["gaps"]), {d for d, a in lists["truth"].items() if a}
    demands, best, labels = [], [], []
    for demand_id, found in scored.items():
        if demand_id in gaps or demand_id in answered or not leave_truth_out:
            demands.append(demand_id)
            best.append(max(cross for _, _, cross in found[:DEPTH]))
            labels.append(int(demand_id in gaps))
        if leave_truth_out and demand_id in answered:
            rest = [cross for s, _, cross in found if s not in lists["truth"][demand_id]][:DEPTH]
            demands.append(demand_id + "/lto")
            best.append(max(rest))
            labels.append(1)
    return demands, np.array(best), np.array(labels)


def gap_figures(dev_lists, dev_scored, sample_lists, sample_scored) -> dict:
    _, dev_best, dev_labels = gap_rows(dev_lists, dev_scored, False)
    dev_ids = list(dev_scored)
    flags = np.zeros(len(dev_ids), bool)
    for held in folds_of(dev_ids):
        rest = np.array([d not in held for d in dev_ids])
        line = best_line(dev_best[rest], dev_labels[rest])
        flags[~rest] = dev_best[~rest] < line
    cv = gap_metrics({d for d, f in zip(dev_ids, flags) if f}, set(dev_lists["gaps"]))
    _, sample_best, sample_labels = gap_rows(sample_lists, sample_scored, True)
    line = best_line(sample_best, sample_labels)
    on_sample = gap_metrics({d for d, b in zip(dev_ids, dev_best) if b < line}, set(dev_lists["gaps"]))
    _, natural_best, natural_labels = gap_rows(sample_lists, sample_scored, False)
    sample_ids = list(sample_scored)
    sample_found = gap_metrics({d for d, b in zip(sample_ids, natural_best) if b < line}, set(sample_lists["gaps"]))
    return {"dev_auc": auc(dev_best, dev_labels), "sample_auc": auc(natural_best, natural_labels),
            "dev_cv": cv, "line": line, "dev_at_line": on_sample, "sample_at_line": sample_found}


def report(label: str, dev_lists, dev_scored, sample_lists, sample_scored) -> None:
    dev_cv, chosen = cross_validated(dev_scored, dev_lists, sample_scored, sample_lists)
    floor = metrics(sample_lists, reranked(sample_scored, 0.0))
    on_sample = [w for w in WEIGHTS if allowed(w, sample_scored, sample_lists, floor)]
    w_sample = max(on_sample, key=lambda w: (metrics(sample_lists, reranked(sample_scored, w))["mrr"], -w))
    gaps = gap_figures(dev_lists, dev_scored, sample_lists, sample_scored)

    def cells(found):
        return f"{found['recall@1']:.3f} / {found['recall@5']:.3f} / {found['mrr']:.3f} / {found['ndcg@10']:.3f}"

    print(f"\n### {label}")
    print("| w | sample R@1 / R@5 / MRR / nDCG@10 | match-dev R@1 / R@5 / MRR / nDCG@10 |\n|---|---|---|")
    for w in WEIGHTS:
        print(f"| {w} | {cells(metrics(sample_lists, reranked(sample_scored, w)))} | "
              f"{cells(metrics(dev_lists, reranked(dev_scored, w)))} |")
    print(f"| match-dev 5-fold held-out (folds chose w = {chosen}) | | {cells(dev_cv)} |")
    print(f"| w chosen on the sample alone ({w_sample}) | {cells(metrics(sample_lists, reranked(sample_scored, w_sample)))}"
          f" | {cells(metrics(dev_lists, reranked(dev_scored, w_sample)))} |")
    print(f"gaps, best cross of the top {DEPTH}: AUC sample {gaps['sample_auc']:.3f}, match-dev {gaps['dev_auc']:.3f}; "
          f"line by 5-fold CV on match-dev: P/R {gaps['dev_cv']['precision']:.2f} / {gaps['dev_cv']['recall']:.2f} "
          f"({gaps['dev_cv']['flagged']} flagged); line from the sample's leave-truth-out rows ({gaps['line']:.3f}): "
          f"match-dev {gaps['dev_at_line']['precision']:.2f} / {gaps['dev_at_line']['recall']:.2f} "
          f"({gaps['dev_at_line']['flagged']} flagged), sample {gaps['sample_at_line']['precision']:.2f} / "
          f"{gaps['sample_at_line']['recall']:.2f}")


def run_training(work: Path, variants: list[tuple[str, CrossConfig, bool]], write: Path | None) -> None:
    torch.set_num_threads(2)
    model, base = E5Onnx(threads=2), Adapter.load(BUNDLED_ADAPTER)
    lists = {name: read_lists(work, name) for name in ("cases", "match-dev", "sample")}
    for label, config, with_sample in variants:
        states = LowerStates(model, base, config)
        for name in ("cases", "sample") if with_sample else ("cases",):
            states.load(work / f"{name}.states.npz")
        groups = training_groups(lists["cases"], "cases") + (training_groups(lists["sample"], "sample") if with_sample else [])
        started = time.time()
        network = train(groups, states, config, base)
        seconds = time.time() - started
        network.eval()
        for name in ("match-dev", "sample"):
            path = work / f"{name}.states.npz"
            while not path.is_file() or time.time() - path.stat().st_mtime < 30:  # prepare may still be writing it
                time.sleep(10)
            states.load(work / f"{name}.states.npz")
        scored = {name: scored_lists(lists[name], lambda pairs: predict(network, states, pairs))
                  for name in ("match-dev", "sample")}
        (work / f"scored-{label}.json").write_text(json.dumps(scored), encoding="utf-8")
        report(f"{label}: {len(groups)} groups, {sum(len(g.supplies) for g in groups)} pairs, trained in {seconds:.0f} s"
               + (" (the sample is in training: its figures are in-sample)" if with_sample else ""),
               lists["match-dev"], scored["match-dev"], lists["sample"], scored["sample"])
        if write and label == variants[0][0]:
            trained = (f"bench/cross_encoder.py train: {label}; {len(groups)} groups from data/training/cases.jsonl"
                       + (" and the sample's cooperations" if with_sample else "") + "; match-dev not used")
            network.cross_adapter(config, base, trained).save(write)
            print(f"wrote {write}")


def run_onnx(work: Path, path: Path, precisions: list[str]) -> None:
    """A written adapter as the service would run it (both adapters merged, ONNX Runtime, head in
    numpy): the same tables as training's."""
    from matching.cross import CrossEncoder

    lists = {name: read_lists(work, name) for name in ("match-dev", "sample")}
    for precision in precisions:
        reranker = CrossEncoder(path, precision)

        def logits_of(pairs):
            probabilities = np.clip(reranker.pair_scores(pairs), 1e-7, 1 - 1e-7)
            return np.log(probabilities / (1 - probabilities))

        scored = {name: scored_lists(lists[name], logits_of) for name in lists}
        (work / f"scored-onnx-{precision}.json").write_text(json.dumps(scored), encoding="utf-8")
        report(f"{path.name} on ONNX Runtime, {reranker.model.precision} ({reranker.model.precision_note or 'float32'})",
               lists["match-dev"], scored["match-dev"], lists["sample"], scored["sample"])


def run_cost(work: Path, path: Path, precisions: list[str], repeats: int = 5) -> None:
    """Load time, one pair, and a new demand's top DEPTH (match-dev's first demand), median of `repeats`."""
    from matching.cross import CrossEncoder

    lists = read_lists(work, "match-dev")
    first = sorted(lists["demands"])[0]
    pairs = [(lists["demands"][first], lists["supplies"][s]) for s, _ in lists["ranked"][first][:DEPTH]]
    sample_pairs = sum(min(DEPTH, len(found)) for found in read_lists(work, "sample")["ranked"].values())
    for precision in precisions:
        started = time.time()
        reranker = CrossEncoder(path, precision)
        loaded = time.time() - started
        reranker.pair_scores(pairs[:2])
        one, top = [], []
        for _ in range(repeats):
            started = time.time()
            reranker.pair_scores(pairs[:1])
            one.append(time.time() - started)
            started = time.time()
            reranker.pair_scores(pairs)
            top.append(time.time() - started)
        print(f"asked {precision}, ran {reranker.model.precision} ({reranker.model.precision_note or 'float32'}), "
              f"{reranker.model.threads} threads: load {loaded:.1f} s; one pair p50 {1000 * np.median(one):.0f} ms; "
              f"a new demand's top {DEPTH} p50 {1000 * np.median(top):.0f} ms; the sample's gap list "
              f"({sample_pairs} pairs) ~{sample_pairs * np.median(top) / DEPTH:.0f} s")


VARIANTS = {
    "cases": ("cases only, top 2 layers, rank 16, 3 epochs", CrossConfig(), False),
    "cases+sample": ("cases + sample, top 2 layers, rank 16, 3 epochs", CrossConfig(), True),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=("prepare", "train", "onnx", "cost"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/cross-encoder"))
    parser.add_argument("--variants", nargs="+", default=["cases", "cases+sample"], choices=sorted(VARIANTS))
    parser.add_argument("--write", type=Path, help="save the first variant's adapter here")
    parser.add_argument("--adapter", type=Path, help="a written cross adapter (default: --work/cross.npz)")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "int8"])
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.stage == "prepare":
        prepare(args.work)
    elif args.stage == "onnx":
        run_onnx(args.work, args.adapter or args.work / "cross.npz", args.precisions)
    elif args.stage == "cost":
        run_cost(args.work, args.adapter or args.work / "cross.npz", args.precisions)
    else:
        run_training(args.work, [VARIANTS[name] for name in args.variants], args.write)


if __name__ == "__main__":
    main()
