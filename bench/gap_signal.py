"""Gap detection variants: which per-demand signal tells a demand nothing on the list solves.

    python bench/gap_signal.py [--work /tmp/gap-signal] [--folds 5]

Three sets are loaded into scratch stores (kept in --work, so a second run embeds nothing):
the sample (data/), match-dev (../shared/eval/match-dev) and the adapter's training cases
(data/training/cases.jsonl: each case's demand, its supply and its two near-misses, all cases
pooled into one supply list). For every demand the ranked list is read as features (best score,
cosines, margins, the best sentence pair, reciprocity...).

Gap examples without match-dev ("leave the truth out"): a demand ranked against its list with its
true supplies removed is a gap whose best candidates are near-misses; with them in it is not. The
training cases and the sample's 64 solved demands give such pairs; the sample's 30 labelled gaps
are gaps as they stand. Classifiers are trained on those and then applied to match-dev, whose
figures are therefore held out by construction; anything tuned on match-dev is reported by
5-fold cross-validation over its demands.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from matching.embedders import segment_vectors
from matching.evaluate import gap_metrics
from matching.ranker import embedded_segments, record_segments
from service import evaluation, importers, store
from service.engine import DEFAULT_GAP_THRESHOLD, REVIEW_LOWER, Engine

ROOT = Path(__file__).resolve().parent.parent
SETS = {"sample": ROOT / "data", "match-dev": ROOT.parent / "shared" / "eval" / "match-dev"}
CASES = ROOT / "data" / "training" / "cases.jsonl"
DEPTH = 10  # candidates read per demand


def cases_folder(work: Path) -> Path:
    """The training cases as a set folder: demands, one pooled supply list, truth."""
    folder = work / "cases"
    if (folder / "truth.jsonl").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    demands, supplies, truth = [], [], []
    for number, line in enumerate(CASES.read_text(encoding="utf-8").splitlines(), start=1):
        case = json.loads(line)
        demands.append({**case["demand"], "id": f"TD{number:04d}"})
        supplies.append({**case["supply"], "id": f"TS{number:04d}"})
        for letter, near in zip("ab", case["near_misses"]):
            supplies.append({**near, "id": f"TN{number:04d}{letter}"})
        truth.append({"demand_id": f"TD{number:04d}", "supply_id": f"TS{number:04d}", "grade": 2})
    for name, rows in (("demands", demands), ("supplies", supplies), ("truth", truth)):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                              encoding="utf-8")
    return folder


def loaded(folder: Path, work: Path, name: str) -> tuple[Engine, dict, set]:
    """The set's engine (store kept in work/), its truth and its gap truth."""
    path = work / f"{name}.db"
    fresh = not path.exists()
    db = store.open_db(path)
    if fresh:
        for kind in ("demands", "supplies"):
            importers.import_files(db, kind, evaluation.set_files(folder, kind), actor="bench")
    truth = evaluation.read_truth(folder)
    gaps = evaluation.read_gap_truth(folder, store.ids(db, "demands"), truth)
    return Engine(db, work / name).load(), truth, gaps


def coverage(query_rows: np.ndarray, candidate_rows: np.ndarray) -> tuple[float, float, float]:
    """(best pair, mean and min over the query's sentences of its best cosine with the candidate's)."""
    if not len(query_rows) or not len(candidate_rows):
        return 0.0, 0.0, 0.0
    best = (query_rows @ candidate_rows.T).max(axis=1)
    return float(best.max()), float(best.mean()), float(best.min())


def sentence_rows(engine: Engine, record: dict) -> np.ndarray:
    """The record's sentence vectors, title and keywords left out (what a problem is said in)."""
    segments = record_segments(record)
    rows = segment_vectors(engine.embedder, [embedded_segments(segments)], engine.cache)[0]
    keep = [i for i, segment in enumerate(segments)
            if i > 0 and segment != "、".join(record.get("keywords") or []) + "。" and len(segment.strip()) > 3]
    return rows[keep] if keep else rows


def features(engine: Engine, record: dict, excluded: set[str], cache: dict) -> dict:
    """What the ranked list says about one demand, its `excluded` supplies taken off the list."""
    matcher = engine.matcher
    vector = matcher.demands.vectors.vector(record["id"])
    found = [p for p in matcher.supplies_for(record, vector, DEPTH + len(excluded)) if p.candidate_id not in excluded]
    found = found[:DEPTH]
    scores = np.array([p.score for p in found])
    cosines = np.array([p.reasons["cosine"] for p in found])
    top = found[0]
    supply = matcher.supplies.records[top.candidate_id]
    supply_vector = matcher.supplies.vectors.vector(top.candidate_id)
    # Reciprocity: how the demand stands among every demand for its best supply.
    reverse = matcher.demands_for(supply, supply_vector, 2)
    rival = next((p.score for p in reverse if p.candidate_id != record["id"]), 0.0)
    own = next((p.score for p in reverse if p.candidate_id == record["id"]), None)
    # Hubness (CSLS): the best supply's usual cosine to demands, the demand's usual cosine to supplies.
    if top.candidate_id not in cache:
        cache[top.candidate_id] = float(np.mean([c for _, c in matcher.demands.vectors.search(
            supply_vector.reshape(1, -1), DEPTH)[0]]))
    demand_rows = sentence_rows(engine, record)
    pairs = [coverage(demand_rows, sentence_rows(engine, matcher.supplies.records[p.candidate_id])) for p in found[:3]]
    neighbours = [c for i, c in matcher.demands.vectors.search(vector.reshape(1, -1), 6)[0] if i != record["id"]][:5]
    return {
        "best": scores[0],
        "cos1": cosines[0],
        "cos_max": cosines.max(),
        "dense1": top.dense,
        "lex1": top.lexical,
        "lex_max": max(p.lexical for p in found),
        "margin": scores[0] - scores[1],
        "spread": scores[0] - scores[1:].mean(),
        "z": (scores[0] - scores.mean()) / (scores.std() + 1e-6),
        "above": float((scores >= REVIEW_LOWER).sum()),
        "agree": float(max(found, key=lambda p: p.dense).candidate_id == max(found, key=lambda p: p.lexical).candidate_id),
        "pair1": pairs[0][0],
        "pair_max": max(p[0] for p in pairs),
        "cover1": pairs[0][1],
        "cover_max": max(p[1] for p in pairs),
        "covermin1": pairs[0][2],
        "recip": float(own is not None and own >= rival),
        "rev_margin": top.score - rival,
        "csls": 2 * cosines[0] - cache[top.candidate_id] - cosines.mean(),
        "density": float(np.mean(neighbours)) if neighbours else 0.0,
    }


def set_rows(name: str, folder: Path, work: Path) -> list[dict]:
    """One row per demand as the list stands, and (leave the truth out) one per solved demand
    without its true supplies; each row: set, demand, gap (0/1), synthetic (0/1), features."""
    cached = work / f"{name}.features.json"
    if cached.is_file():
        return json.loads(cached.read_text(encoding="utf-8"))
    engine, truth, gaps = loaded(folder, work, name)
    records = engine.matcher.demands.records
    hub: dict = {}
    rows = []
    for demand_id in sorted(records):
        solved = {s for s, grade in truth.get(demand_id, {}).items() if grade >= evaluation.SOLVES}
        rows.append({"set": name, "demand": demand_id, "gap": int(demand_id in gaps), "synthetic": 0,
                     "labelled": int(demand_id in gaps or bool(solved)),
                     **features(engine, records[demand_id], set(), hub)})
        if solved:
            # Grade-1 answers go too: what stays is what does not address the demand.
            removed = set(truth[demand_id])
            rows.append({"set": name, "demand": demand_id, "gap": 1, "synthetic": 1, "labelled": 1,
                         **features(engine, records[demand_id], removed, hub)})
    engine.db.close()
    cached.write_text(json.dumps(rows, default=float), encoding="utf-8")
    return rows


FEATURES = ("best", "cos1", "cos_max", "dense1", "lex1", "lex_max", "margin", "spread", "z", "above", "agree",
            "pair1", "pair_max", "cover1", "cover_max", "covermin1", "recip", "rev_margin", "csls", "density")


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Probability that a gap scores below a non-gap (low score = gap)."""
    gaps, others = scores[labels == 1], scores[labels == 0]
    if not len(gaps) or not len(others):
        return float("nan")
    below = (gaps[:, None] < others[None, :]).mean() + 0.5 * (gaps[:, None] == others[None, :]).mean()
    return float(below)


def matrix(rows: list[dict], names) -> np.ndarray:
    return np.array([[row[name] for name in names] for row in rows], dtype=float)


def flagged_metrics(rows: list[dict], flags: np.ndarray) -> dict:
    demands = [row["demand"] for row in rows]
    found = gap_metrics({d for d, f in zip(demands, flags) if f}, {row["demand"] for row in rows if row["gap"]})
    return found


SMALL = ("best", "cos_max", "pair_max", "spread", "margin", "rev_margin", "csls", "lex1")
GAP_SHARE = 1 / 7  # about one demand in seven (the sample: 30 of 227; match-dev: 10 of 60)


def fit(rows: list[dict], names, c: float = 1.0):
    """Logistic regression on standardised features; rows weighted so gaps are GAP_SHARE of the weight."""
    from sklearn.linear_model import LogisticRegression
    x, y = matrix(rows, names), np.array([row["gap"] for row in rows])
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    weight = np.where(y == 1, GAP_SHARE / max(y.mean(), 1e-9), (1 - GAP_SHARE) / max(1 - y.mean(), 1e-9))
    model = LogisticRegression(C=c, max_iter=1000).fit((x - mean) / scale, y, sample_weight=weight)
    return lambda chosen: model.predict_proba((matrix(chosen, names) - mean) / scale)[:, 1]


def best_cut(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The flagging cut (flag when score ≥ cut) with the best F1, ties to the higher cut."""
    weights = np.ones(len(labels)) if weights is None else weights
    best, chosen = -1.0, float(np.max(scores)) + 1
    for cut in np.unique(scores):
        flag = scores >= cut
        hits = weights[flag & (labels == 1)].sum()
        precision = hits / weights[flag].sum() if flag.any() else 0.0
        recall = hits / weights[labels == 1].sum()
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        if f1 >= best:
            best, chosen = f1, float(cut)
    return chosen


def prior_weights(rows: list[dict]) -> np.ndarray:
    y = np.array([row["gap"] for row in rows])
    return np.where(y == 1, GAP_SHARE / max(y.mean(), 1e-9), (1 - GAP_SHARE) / max(1 - y.mean(), 1e-9))


def training_rows(rows: list[dict]) -> list[dict]:
    """Rows whose label is known: labelled natural rows and every leave-truth-out row."""
    return [row for row in rows if row["labelled"]]


def folds_of(rows: list[dict], folds: int) -> list[list[int]]:
    demands = sorted({row["demand"] for row in rows})
    order = np.random.default_rng(0).permutation(len(demands))
    held = [{demands[i] for i in order[fold::folds]} for fold in range(folds)]
    return [[i for i, row in enumerate(rows) if row["demand"] in h] for h in held]


def classifier_row(label: str, train: list[dict], names, natural: dict, rows: dict, folds: int, c: float = 1.0) -> str:
    """Train on `train` (never match-dev), cut at the best prior-weighted F1 on the training rows,
    apply to match-dev and the sample. When the sample is in `train`, its figure is cross-fitted:
    each fold of its demands is scored by a model trained without that fold."""
    model = fit(train, names, c)
    cut = best_cut(model(train), np.array([r["gap"] for r in train]), prior_weights(train))
    dev = natural["match-dev"]
    dev_scores = model(dev)
    dev_found = flagged_metrics(dev, dev_scores >= cut)
    dev_auc = auc(-dev_scores, np.array([r["gap"] for r in dev]))
    sample = natural["sample"]
    if any(r["set"] == "sample" for r in train):
        flags = np.zeros(len(sample), bool)
        for held in folds_of(sample, folds):
            held_demands = {sample[i]["demand"] for i in held}
            rest = [r for r in train if not (r["set"] == "sample" and r["demand"] in held_demands)]
            fold_model = fit(rest, names, c)
            fold_cut = best_cut(fold_model(rest), np.array([r["gap"] for r in rest]), prior_weights(rest))
            flags[held] = fold_model([sample[i] for i in held]) >= fold_cut
        sample_found = flagged_metrics(sample, flags)
    else:
        sample_found = flagged_metrics(sample, model(sample) >= cut)
    return (f"| {label} | {sample_found['precision']:.2f} / {sample_found['recall']:.2f} | "
            f"{dev_found['precision']:.2f} / {dev_found['recall']:.2f} ({dev_found['flagged']} flagged) | {dev_auc:.3f} |")


def dev_cross_validated(label: str, natural: dict, folds: int, names=None, rule: str | None = None) -> str:
    """Tuned on match-dev: 5-fold over its demands, a model (or a one-signal cut) fitted on four
    folds and applied to the fifth; pooled held-out flags."""
    dev = natural["match-dev"]
    labels = np.array([r["gap"] for r in dev])
    flags = np.zeros(len(dev), bool)
    for held in folds_of(dev, folds):
        rest = [i for i in range(len(dev)) if i not in set(held)]
        train = [dev[i] for i in rest]
        if rule:
            scores = -matrix(dev, [rule])[:, 0]
        else:
            scores = fit(train, names)(dev)
        cut = best_cut(scores[rest], labels[rest])
        flags[held] = scores[held] >= cut
    found = flagged_metrics(dev, flags)
    return f"| {label} | | {found['precision']:.2f} / {found['recall']:.2f} ({found['flagged']} flagged) | |"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, default=Path("/tmp/gap-signal"))
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    folders = {**SETS, "cases": cases_folder(args.work)}
    rows = {name: set_rows(name, folder, args.work) for name, folder in folders.items()}
    natural = {name: [r for r in set_rows_ if not r["synthetic"]] for name, set_rows_ in rows.items()}
    print("AUC of each signal (low = gap): sample and match-dev as they stand; leave-truth-out pairs")
    print("| signal | sample | match-dev | LTO sample | LTO cases |\n|---|---|---|---|---|")
    for name in FEATURES:
        cells = []
        for set_name in ("sample", "match-dev"):
            chosen = natural[set_name]
            cells.append(auc(matrix(chosen, [name])[:, 0], np.array([r["gap"] for r in chosen])))
        for set_name in ("sample", "cases"):
            chosen = [r for r in rows[set_name] if r["synthetic"] or (r["labelled"] and not r["gap"])]
            cells.append(auc(matrix(chosen, [name])[:, 0], np.array([r["gap"] for r in chosen])))
        print(f"| {name} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    print("\n| gap rule | sample P / R | match-dev P / R | match-dev AUC |\n|---|---|---|---|")
    for set_name in ("sample", "match-dev"):
        pass
    shipped = {s: flagged_metrics(natural[s], matrix(natural[s], ["best"])[:, 0] < DEFAULT_GAP_THRESHOLD)
               for s in ("sample", "match-dev")}
    print(f"| shipped: best < {DEFAULT_GAP_THRESHOLD} | {shipped['sample']['precision']:.2f} / "
          f"{shipped['sample']['recall']:.2f} | {shipped['match-dev']['precision']:.2f} / "
          f"{shipped['match-dev']['recall']:.2f} ({shipped['match-dev']['flagged']} flagged) | "
          f"{auc(matrix(natural['match-dev'], ['best'])[:, 0], np.array([r['gap'] for r in natural['match-dev']])):.3f} |")
    cases = training_rows(rows["cases"])
    sample = training_rows(rows["sample"])
    for names, label in ((FEATURES, "all signals"), (SMALL, "eight signals")):
        for train, source in ((cases, "cases LTO"), (sample, "sample + its LTO"), (cases + sample, "both")):
            print(classifier_row(f"logistic, {label}, trained on {source}", train, names, natural, rows, args.folds))
    for rule in ("best", "cos_max", "pair_max", "spread", "z", "csls"):
        print(dev_cross_validated(f"one signal `{rule}`, cut by {args.folds}-fold CV on match-dev", natural, args.folds,
                                  rule=rule))
    for names, label in ((FEATURES, "all signals"), (SMALL, "eight signals")):
        print(dev_cross_validated(f"logistic, {label}, trained on match-dev ({args.folds}-fold CV)", natural,
                                  args.folds, names))


if __name__ == "__main__":
    main()
