"""Gap detection variants: which per-demand signal tells a demand nothing on the list solves.

    python bench/gap_signal.py [--work /tmp/gap-signal] [--folds 5] [--write matching/resources/gap_model.json]

The signals are kept in --work too (<set>.features.json): delete them after changing matching/gaps.py.

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
from matching.gaps import DEPTH, SIGNALS, GapModel, gap_signals
from matching.ranker import embedded_segments, record_segments
from service import evaluation, importers, store
from service.engine import REVIEW_LOWER, Engine

ROOT = Path(__file__).resolve().parent.parent
SETS = {"sample": ROOT / "data", "match-dev": ROOT.parent / "shared" / "eval" / "match-dev"}
CASES = ROOT / "data" / "training" / "cases.jsonl"


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


def sentence_rows(engine: Engine):
    """record → its segment vectors, from the embedding cache (as the engine reads them)."""
    return lambda record: segment_vectors(engine.embedder, [embedded_segments(record_segments(record))], engine.cache)[0]


def signals_without(engine: Engine, demand: dict, excluded: set[str], rows_of, hubness: dict) -> dict:
    """The demand's gap signals with the `excluded` supplies taken off the list."""
    vector = engine.matcher.demands.vectors.vector(demand["id"])
    found = [proposal for proposal in engine.matcher.supplies_for(demand, vector, DEPTH + len(excluded))
             if proposal.candidate_id not in excluded][:DEPTH]
    return gap_signals(engine.matcher, demand, vector, found, rows_of, hubness)


def set_rows(name: str, folder: Path, work: Path) -> list[dict]:
    """One row per demand as the list stands, and (leave the truth out) one per solved demand
    without its true supplies; each row: set, demand, gap (0/1), synthetic (0/1), features."""
    cached = work / f"{name}.features.json"
    if cached.is_file():
        return json.loads(cached.read_text(encoding="utf-8"))
    engine, truth, gaps = loaded(folder, work, name)
    records = engine.matcher.demands.records
    hub: dict = {}
    rows_of = sentence_rows(engine)
    rows = []
    for demand_id in sorted(records):
        solved = {s for s, grade in truth.get(demand_id, {}).items() if grade >= evaluation.SOLVES}
        rows.append({"set": name, "demand": demand_id, "gap": int(demand_id in gaps), "synthetic": 0,
                     "labelled": int(demand_id in gaps or bool(solved)),
                     **signals_without(engine, records[demand_id], set(), rows_of, hub)})
        if solved:
            # Grade-1 answers go too: what stays is what does not address the demand.
            removed = set(truth[demand_id])
            rows.append({"set": name, "demand": demand_id, "gap": 1, "synthetic": 1, "labelled": 1,
                         **signals_without(engine, records[demand_id], removed, rows_of, hub)})
    engine.db.close()
    cached.write_text(json.dumps(rows, default=float), encoding="utf-8")
    return rows


FEATURES = SIGNALS


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
COMPACT = ("best", "cos_max", "pair_max", "spread", "rev_margin")
GAP_SHARE = 1 / 7  # about one demand in seven (the sample: 30 of 227; match-dev: 10 of 60)


def fit(rows: list[dict], names, c: float = 1.0, cut: float = float("nan")) -> GapModel:
    """Logistic regression on standardised signals; rows weighted so gaps are GAP_SHARE of the weight."""
    from sklearn.linear_model import LogisticRegression
    x, y = matrix(rows, names), np.array([row["gap"] for row in rows])
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    fitted = LogisticRegression(C=c, max_iter=1000).fit((x - mean) / scale, y, sample_weight=prior_weights(rows))
    return GapModel(tuple(names), tuple(mean.tolist()), tuple(scale.tolist()), tuple(fitted.coef_[0].tolist()),
                    float(fitted.intercept_[0]), cut)


def scorer(model: GapModel):
    return lambda chosen: np.array([model.probability(row) for row in chosen])


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


def training_f1(train: list[dict], names, folds: int, c: float) -> float:
    """Prior-weighted gap F1 of the classifier on its own training rows, 5-fold over demands:
    how a variant is chosen without looking at match-dev."""
    labels = np.array([r["gap"] for r in train])
    scores = np.zeros(len(train))
    for held in folds_of(train, folds):
        rest = [train[i] for i in range(len(train)) if i not in set(held)]
        model = scorer(fit(rest, names, c))
        cut = best_cut(model(rest), np.array([r["gap"] for r in rest]), prior_weights(rest))
        scores[held] = model([train[i] for i in held]) - cut
    flag, weights = scores >= 0, prior_weights(train)
    hits = weights[flag & (labels == 1)].sum()
    precision, recall = hits / max(weights[flag].sum(), 1e-9), hits / weights[labels == 1].sum()
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def classifier_row(label: str, train: list[dict], names, natural: dict, rows: dict, folds: int, c: float = 1.0,
                   train_f1: float = float("nan")) -> str:
    """Train on `train` (never match-dev), cut at the best prior-weighted F1 on the training rows,
    apply to match-dev and the sample. When the sample is in `train`, its figure is cross-fitted:
    each fold of its demands is scored by a model trained without that fold."""
    model = scorer(fit(train, names, c))
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
            fold_model = scorer(fit(rest, names, c))
            fold_cut = best_cut(fold_model(rest), np.array([r["gap"] for r in rest]), prior_weights(rest))
            flags[held] = fold_model([sample[i] for i in held]) >= fold_cut
        sample_found = flagged_metrics(sample, flags)
    else:
        sample_found = flagged_metrics(sample, model(sample) >= cut)
    return (f"| {label} | {sample_found['precision']:.2f} / {sample_found['recall']:.2f} | "
            f"{dev_found['precision']:.2f} / {dev_found['recall']:.2f} ({dev_found['flagged']} flagged) | {dev_auc:.3f} | "
            f"{train_f1:.3f} |")


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
            scores = scorer(fit(train, names))(dev)
        cut = best_cut(scores[rest], labels[rest])
        flags[held] = scores[held] >= cut
    found = flagged_metrics(dev, flags)
    return f"| {label} | | {found['precision']:.2f} / {found['recall']:.2f} ({found['flagged']} flagged) | |"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, default=Path("/tmp/gap-signal"))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--write", type=Path, help="write the chosen model here (matching/resources/gap_model.json)")
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
    print("\n| gap rule | sample P / R | match-dev P / R | match-dev AUC | training CV F1 |\n|---|---|---|---|---|")
    shipped = {s: flagged_metrics(natural[s], matrix(natural[s], ["best"])[:, 0] < REVIEW_LOWER)
               for s in ("sample", "match-dev")}
    print(f"| shipped: best < {REVIEW_LOWER} | {shipped['sample']['precision']:.2f} / "
          f"{shipped['sample']['recall']:.2f} | {shipped['match-dev']['precision']:.2f} / "
          f"{shipped['match-dev']['recall']:.2f} ({shipped['match-dev']['flagged']} flagged) | "
          f"{auc(matrix(natural['match-dev'], ['best'])[:, 0], np.array([r['gap'] for r in natural['match-dev']])):.3f} |")
    cases = training_rows(rows["cases"])
    sample = training_rows(rows["sample"])
    chosen, chosen_f1 = None, -1.0
    for names, label in ((FEATURES, "all signals"), (SMALL, "eight signals"), (COMPACT, "five signals")):
        for train, source in ((cases, "cases LTO"), (sample, "sample + its LTO"), (cases + sample, "both")):
            for c in (0.1, 1.0, 10.0):
                f1 = training_f1(train, names, args.folds, c)
                print(classifier_row(f"logistic C={c}, {label}, trained on {source}", train, names, natural, rows,
                                     args.folds, c, f1))
                # The shipped model: trained on both sources, the variant with the best training CV F1.
                if source == "both" and f1 > chosen_f1:
                    chosen, chosen_f1 = (names, label, c), f1
    if args.write:
        names, label, c = chosen
        train = cases + sample
        model = fit(train, names, c)
        cut = best_cut(scorer(model)(train), np.array([r["gap"] for r in train]), prior_weights(train))
        trained = (f"bench/gap_signal.py --write: logistic regression (C={c}, {label}) on {len(train)} rows, "
                   f"leave-the-truth-out on data/training/cases.jsonl and the sample (data/), gaps weighted to "
                   f"{GAP_SHARE:.3f} of the rows; cut at the best gap-weighted F1 on those rows; match-dev not used")
        GapModel(model.signals, model.mean, model.scale, model.weights, model.bias, cut, trained).save(args.write)
        print(f"\nwrote {args.write}: {label}, C={c}, cut {cut:.3f} (training CV F1 {chosen_f1:.3f})")
    for rule in ("best", "cos_max", "pair_max", "spread", "z", "csls"):
        print(dev_cross_validated(f"one signal `{rule}`, cut by {args.folds}-fold CV on match-dev", natural, args.folds,
                                  rule=rule))
    for names, label in ((FEATURES, "all signals"), (SMALL, "eight signals")):
        print(dev_cross_validated(f"logistic, {label}, trained on match-dev ({args.folds}-fold CV)", natural,
                                  args.folds, names))


if __name__ == "__main__":
    main()
