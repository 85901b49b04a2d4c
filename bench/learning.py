"""Does learning from decisions help on demands the model never saw decisions for? The half-split test.

    python bench/learning.py [--set ../shared/eval/match-dev] [--rejects 3]

match-dev's demands are split in two halves by id. For the first half, its grade-2 truth pairs are
imported as confirmed cooperations and the near-misses a broker would reject (the untrained engine's
top-ranked supplies that are not in the truth, `--rejects` per demand) are rejected through the
workflow with the reason "不对症". `learning.learn` then trains on those decisions (a dry run: the
adoption rule's verdict is printed, the model is measured either way), and the second half is
measured through the same evaluation code as `matchmaker eval --set`, against the same engine
without learning. Then the halves are swapped. The sample (data/) is measured with each model too:
no loss is allowed there.

The second table compares model families on the same unseen halves (the engine's top 20 candidates
of each unseen demand re-ordered by each model): the numpy pointwise logistic regression the service
ships, the numpy pairwise logistic ranker, and scikit-learn's gradient boosting (an optional extra,
not a dependency).

The third table (`--variants`) tries to make the learned ranking a bounded correction of the fused
score, so that it cannot lose on the sample: the fused score as an offset whose coefficient is not
penalised, L2 shrinkage of every other weight toward 0, optionally a cap on how far the correction may
move a candidate (in fused-score units), and feature subsets (without the retrieval signals lexical /
cosine / sentence; decisions only). Every variant's L2 (and cap) is chosen by the grouped 5-fold
cross-validation on the seen half's decisions only (best held-out MRR, ties to the stronger shrinkage);
the unseen half and the sample are only measured. Same top-20 re-ordering as the second table.

`--joint` prints only the table of decisions of both kinds: the sample's answered demands are split in
halves too (its cooperations as a store's confirmed pairs), and the shipped model is trained on
match-dev's seen half, on a sample half, or on both, and measured on the unseen half of each, for
every pairing of halves (four).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from matching.evaluate import ranking_metrics
from matching.learn import (FEATURE_NAMES, ANCHOR, Group, Memory, Reranker, SimilarityScale, folds_of, memory_of,
                            ranking_figures, train)
from service import evaluation, learning, store, workflow

ROOT = Path(__file__).resolve().parent.parent
MATCH_DEV = ROOT.parent / "shared" / "eval" / "match-dev"
BROKER = {"name": "bench-broker", "role": "broker"}
FIGURES = ("mrr", "recall@1", "recall@5")


def hybrid(rows: list[dict]) -> dict:
    return learning.set_figures(rows)


def decide_first_half(db, engine, truth: dict, half: list[str], rejects: int) -> None:
    """Confirm the half's grade-2 pairs; reject its best-ranked supplies that are not answers."""
    store.upsert_cooperations(db, [{"demand_id": demand, "supply_id": supply, "confirmed_at": "2021-06-30",
                                    "mode": "技术服务", "broker": BROKER["name"]}
                                   for demand in half for supply, grade in truth.get(demand, {}).items()
                                   if grade >= evaluation.SOLVES], actor="bench")
    rows = []
    for demand in half:
        answers = truth.get(demand, {})
        ranked = [p for p in engine.propose_for_demand(demand, rejects + len(answers)) if p.candidate_id not in answers]
        rows += [workflow.proposal_row(proposal) for proposal in ranked[:rejects]]
    store.save_proposals(db, rows)
    for row in rows:
        proposal = store.get_proposal_for_pair(db, row["demand_id"], row["supply_id"])
        workflow.decide(db, proposal["id"], "rejected", BROKER, "不对症：同一对象，解决的不是这个问题")


def decided_halves(engine, truth: dict, seen: list[str], unseen: list[str], rejects: int) -> tuple[list[Group], list[Group]]:
    """The seen half decided as a broker would (decide_first_half), as training groups (its decided
    demands' candidates), and the unseen half's measuring groups (unseen_groups)."""
    decide_first_half(engine.db, engine, truth, seen, rejects)
    labels = learning.decided_labels(engine.db)
    return ([g for g in learning.build_groups(engine, labels) if (g.labels != 0).any()],
            unseen_groups(engine, truth, unseen))


def measure_unseen(engine, truth: dict, unseen: list[str], learned) -> dict:
    """The unseen half's hybrid figures through evaluation.quality, with or without the learned ranking."""
    engine.use_learned(learned)
    rows = evaluation.quality(engine, {demand: truth[demand] for demand in unseen if demand in truth}, None)
    return hybrid(rows)


def unseen_groups(engine, truth: dict, unseen: list[str]) -> list[Group]:
    """The unseen half's demands as groups whose labels are the truth (for measuring model families)."""
    labels = [{"demand_id": demand, "supply_id": supply, "label": 1, "category": "", "at": ""}
              for demand in unseen for supply, grade in truth.get(demand, {}).items() if grade >= evaluation.SOLVES]
    groups = learning.build_groups(engine, labels)
    # Answers the engine does not have in its top 20 were added by build_groups: drop them, as a
    # re-ranker of the top 20 could never reach them (they count as misses below).
    kept = []
    for group in groups:
        top = {p.candidate_id for p in engine.matcher.supplies_for(engine.matcher.demands.records[group.demand_id],
                                                                   group.demand_vector, learning.CANDIDATES)}
        keep = np.array([supply in top for supply in group.supply_ids])
        kept.append(Group(group.demand_id, group.demand_vector, [s for s, k in zip(group.supply_ids, keep) if k],
                          group.supply_vectors[keep], [p for p, k in zip(group.platforms, keep) if k],
                          group.pair[keep], group.labels[keep], [c for c, k in zip(group.categories, keep) if k]))
    return kept


def family_figures(train_groups: list[Group], test_groups: list[Group], truth: dict, unseen: list[str]) -> dict:
    """MRR / R@1 / R@5 on the unseen half for each model family, on the same candidates and features."""
    model = train(train_groups)
    memory = memory_of(train_groups)
    features_train = [g.features(memory.without({g.demand_id}), model.demand_scale, model.supply_scale)
                      for g in train_groups]
    features_test = [g.features(memory, model.demand_scale, model.supply_scale) for g in test_groups]
    x_train = np.vstack(features_train)
    y_train = np.concatenate([(g.labels > 0).astype(int) for g in train_groups])
    pairwise = train(train_groups, objective="pairwise")
    scorers = {"untrained (fused score)": lambda x: x[:, 0],
               "pointwise logistic, numpy (shipped)": model.key,
               "pairwise logistic, numpy": pairwise.key}
    try:
        from sklearn.ensemble import GradientBoostingClassifier
        booster = GradientBoostingClassifier(random_state=0).fit(x_train, y_train)
        scorers["gradient boosting, scikit-learn"] = lambda x: booster.predict_proba(x)[:, 1]
    except ImportError:
        pass
    answers = {demand: {s: g for s, g in truth.get(demand, {}).items() if g >= evaluation.SOLVES} for demand in unseen}
    answers = {demand: found for demand, found in answers.items() if found}
    results = {}
    for name, scorer in scorers.items():
        rankings = {}
        for group, x in zip(test_groups, features_test):
            key = scorer(x)
            rankings[group.demand_id] = [group.supply_ids[i] for i in np.lexsort((np.array(group.supply_ids), -key))]
        metrics = ranking_metrics(rankings, answers, (1, 5))
        results[name] = {figure: round(metrics[figure], 4) for figure in FIGURES}
    return results


# --- bounded corrections (the --variants table) ----------------------------------------------------

VARIANT_L2 = (1.0, 3.0, 10.0, 30.0, 100.0)
VARIANT_CAPS = (None, 0.05, 0.1)
RETRIEVAL_SIGNALS = ("lexical", "cosine", "sentence")
RECORD_FEATURES = ("same_cluster", "same_chain", "same_region", "same_mode", "maturity", "budget_fit", "indicators")


def _columns(excluded: tuple[str, ...]) -> np.ndarray:
    return np.array([name not in excluded for name in FEATURE_NAMES])


# name → (features used, fused score unpenalised (offset), L2 grid, cap grid)
VARIANTS = {
    "as shipped: all features, every weight L2 = 1": (_columns(()), False, (1.0,), (None,)),
    "as shipped, L2 by CV, correction capped at 0.1 (cap fixed)": (_columns(()), False, VARIANT_L2, (0.1,)),
    "offset, all features": (_columns(()), True, VARIANT_L2, (None,)),
    "offset + cap, all features": (_columns(()), True, VARIANT_L2, VARIANT_CAPS),
    "offset, without lexical": (_columns(("lexical",)), True, VARIANT_L2, (None,)),
    "offset, records + decisions (no retrieval signals)": (_columns(RETRIEVAL_SIGNALS), True, VARIANT_L2, VARIANT_CAPS),
    "offset, decisions only (history features)": (_columns(RETRIEVAL_SIGNALS + RECORD_FEATURES), True, VARIANT_L2, VARIANT_CAPS),
}


def _scales(groups: list[Group]) -> tuple[SimilarityScale, SimilarityScale]:
    return (SimilarityScale.fit(np.stack([g.demand_vector.ravel() for g in groups])),
            SimilarityScale.fit(np.vstack([g.supply_vectors for g in groups])))


def fit_correction(groups: list[Group], columns: np.ndarray, offset: bool, l2: float, cap: float | None):
    """A pointwise logistic fit over the chosen columns (standardised); returns (key function, scales).
    The key is the fused score plus the other columns' contribution divided by the fused score's
    coefficient (so it is in fused-score units), clipped to ±cap."""
    anchor = FEATURE_NAMES.index(ANCHOR)
    scales = _scales(groups)
    memory = memory_of(groups)
    x = np.vstack([g.features(memory, *scales) for g in groups])
    y = np.concatenate([(g.labels > 0).astype(float) for g in groups])
    centre, spread = x.mean(axis=0), x.std(axis=0)
    spread[spread < 1e-9] = 1.0
    used = [anchor] + [i for i in range(len(FEATURE_NAMES)) if i != anchor and columns[i]]
    z = np.hstack([((x - centre) / spread)[:, used], np.ones((len(x), 1))])
    penalty = np.full(z.shape[1], l2)
    if offset:  # the fused score and the intercept are free; without offset every weight is penalised, as shipped
        penalty[0] = penalty[-1] = 0.0
    w = np.zeros(z.shape[1])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(z @ w)))
        gradient = z.T @ (p - y) / len(y) + penalty * w / len(y)
        hessian = (z * (p * (1 - p))[:, None]).T @ z / len(y) + np.diag(penalty) / len(y)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    weights = np.zeros(len(FEATURE_NAMES))
    weights[used] = w[:-1] / spread[used]

    def key(features: np.ndarray) -> np.ndarray:
        if weights[anchor] <= 0:  # a model that does not count the fused score up is not used
            return features[:, anchor]
        others = np.where(np.arange(len(weights)) == anchor, 0.0, weights)
        correction = (features - centre) @ others / weights[anchor]
        return features[:, anchor] + (correction if cap is None else np.clip(correction, -cap, cap))
    return key, scales


def cv_mrr(groups: list[Group], columns, offset, l2, cap, folds: int = learning.FOLDS) -> float:
    """Held-out MRR of the learned key, grouped by demand (as learning.cross_validate)."""
    held_groups, keys = [], []
    for held in folds_of(groups, folds):
        training = [g for i, g in enumerate(groups) if i not in held]
        key, scales = fit_correction(training, columns, offset, l2, cap)
        memory = memory_of(training)
        for index in held:
            keys.append(key(groups[index].features(memory, *scales)))
            held_groups.append(groups[index])
    return ranking_figures(held_groups, keys)["mrr"]


def rank_figures(groups: list[Group], features: list[np.ndarray], key, answers: dict) -> dict:
    rankings = {g.demand_id: [g.supply_ids[i] for i in np.lexsort((np.array(g.supply_ids), -key(x)))]
                for g, x in zip(groups, features)}
    metrics = ranking_metrics(rankings, answers, (1, 5))
    return {figure: round(metrics[figure], 4) for figure in FIGURES}


def answers_of(truth: dict, demands) -> dict:
    found = {d: {s: g for s, g in truth.get(d, {}).items() if g >= evaluation.SOLVES} for d in demands}
    return {d: a for d, a in found.items() if a}


def variant_figures(train_groups: list[Group], test_groups: list[Group], truth: dict, unseen: list[str],
                    sample_groups: list[Group], sample_truth: dict) -> dict:
    """Each variant with its L2 and cap chosen by CV on the seen decisions; its unseen and sample figures."""
    anchor = FEATURE_NAMES.index(ANCHOR)
    results = {}
    for name, (columns, offset, l2s, caps) in VARIANTS.items():
        scored = [(cv_mrr(train_groups, columns, offset, l2, cap), l2, -(cap or 1.0), cap) for l2 in l2s for cap in caps]
        cv, l2, _, cap = max(scored, key=lambda row: row[:3])
        key, scales = fit_correction(train_groups, columns, offset, l2, cap)
        memory = memory_of(train_groups)
        unseen_x = [g.features(memory, *scales) for g in test_groups]
        sample_x = [g.features(Memory.empty(memory.demand_vectors.shape[1]), *scales) for g in sample_groups]
        results[name] = {"l2": l2, "cap": cap, "cv_mrr": cv,
                         "cv_untrained": cv_untrained(train_groups),
                         "unseen": rank_figures(test_groups, unseen_x, key, answers_of(truth, unseen)),
                         "sample": rank_figures(sample_groups, sample_x, key, answers_of(sample_truth, sorted(sample_truth)))}
    results["untrained (fused score)"] = {
        "l2": None, "cap": None, "cv_mrr": cv_untrained(train_groups), "cv_untrained": cv_untrained(train_groups),
        "unseen": rank_figures(test_groups, [g.pair for g in test_groups], lambda x: x[:, anchor], answers_of(truth, unseen)),
        "sample": rank_figures(sample_groups, [g.pair for g in sample_groups], lambda x: x[:, anchor],
                               answers_of(sample_truth, sorted(sample_truth)))}
    return results


def cv_untrained(groups: list[Group]) -> float:
    anchor = FEATURE_NAMES.index(ANCHOR)
    return ranking_figures(groups, [g.pair[:, anchor] for g in groups])["mrr"]


def sample_groups() -> tuple[list[Group], dict]:
    """The sample's answered demands as top-20 groups labelled by its cooperations."""
    with evaluation.loaded_set(ROOT / "data") as (engine, truth, _):
        return unseen_groups(engine, truth, sorted(truth)), truth


def run_split(folder: Path, seen: list[str], unseen: list[str], rejects: int, label: str,
              sample: tuple[list[Group], dict] | None = None) -> dict:
    started = time.perf_counter()
    with evaluation.loaded_set(folder) as (engine, truth, _):
        train_groups, test_groups = decided_halves(engine, truth, seen, unseen, rejects)
        outcome = learning.learn(engine.db, engine, dry_run=True, enabled=True)
        model = Reranker.from_dict(outcome["model"])
        labels = learning.decided_labels(engine.db)
        in_use = learning.LearnedRanking(model, learning.memory_from_labels(engine.matcher, labels))
        before = measure_unseen(engine, truth, unseen, None)
        after = measure_unseen(engine, truth, unseen, in_use)
        families = family_figures(train_groups, test_groups, truth, unseen)
        variants = variant_figures(train_groups, test_groups, truth, unseen, *sample) if sample else None
        sample = learning.compare_on_set(ROOT / "data", engine.embedder, model)
    return {"label": label, "outcome": outcome, "before": before, "after": after, "families": families,
            "variants": variants, "sample": sample, "seconds": round(time.perf_counter() - started, 1)}


# --- decisions of both kinds (the --joint table) ----------------------------------------------------

def truth_labels(truth: dict, demands) -> list[dict]:
    """The demands' grade-2 pairs as confirmed cooperations (what decided_labels gives for a store's cooperations)."""
    return [{"demand_id": demand, "supply_id": supply, "label": 1, "category": "", "at": ""}
            for demand in demands for supply, grade in truth.get(demand, {}).items() if grade >= evaluation.SOLVES]


SAMPLE_HALVES = ("sample's first half", "sample's second half")


def sample_halves() -> tuple[dict[str, tuple[list[Group], list[Group]]], dict]:
    """The sample's answered demands split in two halves by id: for each half (SAMPLE_HALVES), its
    training groups (its cooperations as positives, the other top-20 candidates unlabelled) and its
    measuring groups; and the sample's truth."""
    with evaluation.loaded_set(ROOT / "data") as (engine, truth, _):
        answered = sorted(answers_of(truth, truth))
        halves = answered[:len(answered) // 2], answered[len(answered) // 2:]
        return ({name: (learning.build_groups(engine, truth_labels(truth, half)), unseen_groups(engine, truth, half))
                 for name, half in zip(SAMPLE_HALVES, halves)}, truth)


def match_dev_halves(folder: Path, seen: list[str], unseen: list[str], rejects: int) -> tuple[list[Group], list[Group], dict]:
    """decided_halves on match-dev, with its truth."""
    with evaluation.loaded_set(folder) as (engine, truth, _):
        return (*decided_halves(engine, truth, seen, unseen, rejects), truth)


def joint_figures(train_sets: dict[str, list[Group]], tests: dict[str, tuple[list[Group], dict]]) -> dict:
    """For each choice of training decisions: the pointwise model as shipped, measured on every unseen
    half (its top-20 groups re-ordered), with the fused score as the untrained row."""
    anchor = FEATURE_NAMES.index(ANCHOR)
    results = {"untrained (fused score)": {name: rank_figures(groups, [g.pair for g in groups],
                                                              lambda x: x[:, anchor], answers_of(truth, [g.demand_id for g in groups]))
                                           for name, (groups, truth) in tests.items()}}
    for label, groups in train_sets.items():
        model = train(groups)
        memory = memory_of(groups)
        results[label] = {name: rank_figures(test, [g.features(memory, model.demand_scale, model.supply_scale) for g in test],
                                             model.key, answers_of(truth, [g.demand_id for g in test]))
                          for name, (test, truth) in tests.items()}
    return results


def row(cells) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default=str(MATCH_DEV))
    parser.add_argument("--rejects", type=int, default=3)
    parser.add_argument("--variants", action="store_true", help="also the bounded-correction variants (third table)")
    parser.add_argument("--joint", action="store_true",
                        help="only the table of decisions of both kinds: match-dev's and the sample's halves")
    args = parser.parse_args()
    folder = Path(args.set)
    demands = sorted({line["id"] for line in _rows(folder / "demands.jsonl")})
    first, second = demands[:len(demands) // 2], demands[len(demands) // 2:]
    if args.joint:
        return print_joint(folder, first, second, args.rejects)
    sample = sample_groups() if args.variants else None
    results = [run_split(folder, first, second, args.rejects, f"learn on {first[0]}–{first[-1]}, measure {second[0]}–{second[-1]}", sample),
               run_split(folder, second, first, args.rejects, f"learn on {second[0]}–{second[-1]}, measure {first[0]}–{first[-1]}", sample)]
    print(row(("split", "adoption rule (CV on the seen half)", "unseen MRR", "unseen R@1", "unseen R@5",
               "sample MRR", "sample R@1", "sample R@5")))
    print(row(("---",) * 8))
    for result in results:
        before, after = result["before"], result["after"]
        sample_before, sample_after = result["sample"]["untrained"], result["sample"]["learned"]
        cv = result["outcome"]["figures"]["cross_validation"]
        print(row((result["label"],
                   f"{'adopt' if result['outcome']['adopted'] else 'refuse'} (MRR {cv['untrained']['mrr']:.3f} → {cv['learned']['mrr']:.3f})",
                   *(f"{before[f]:.3f} → {after[f]:.3f}" for f in FIGURES),
                   *(f"{sample_before[f]:.3f} → {sample_after[f]:.3f}" for f in FIGURES))))
    print()
    print(row(("model", *(f"{r['label'].split(',')[1].strip()} {f}" for r in results for f in FIGURES))))
    print(row(("---",) * (1 + 3 * len(results))))
    for name in results[0]["families"]:
        print(row((name, *(f"{r['families'][name][f]:.3f}" for r in results for f in FIGURES))))
    if args.variants:
        print()
        print(row(("variant (L2, cap chosen by CV on the seen half)",
                   *(f"{r['label'].split(',')[0].replace('learn on ', 'seen ')}: {part}" for r in results
                     for part in ("L2 / cap", "CV MRR", "unseen MRR / R@1 / R@5", "sample MRR / R@1 / R@5")))))
        print(row(("---",) * (1 + 4 * len(results))))
        for name in results[0]["variants"]:
            cells = []
            for r in results:
                v = r["variants"][name]
                cells += [f"{v['l2']} / {v['cap']}", f"{v['cv_untrained']:.3f} → {v['cv_mrr']:.3f}",
                          " / ".join(f"{v['unseen'][f]:.3f}" for f in FIGURES),
                          " / ".join(f"{v['sample'][f]:.3f}" for f in FIGURES)]
            print(row((name, *cells)))
    print()
    for result in results:
        print(result["label"], "verdict:", result["outcome"]["verdict"], f"({result['seconds']} s)")
        print("  weights:", {k: v for k, v in result["outcome"]["weights"].items() if v})


def print_joint(folder: Path, first: list[str], second: list[str], rejects: int) -> None:
    sample, sample_truth = sample_halves()
    print(row(("training decisions", "measured: match-dev half", "match-dev MRR / R@1 / R@5",
               "sample half", "sample MRR / R@1 / R@5")))
    print(row(("---",) * 5))
    for seen, unseen in ((first, second), (second, first)):
        md_train, md_test, md_truth = match_dev_halves(folder, seen, unseen, rejects)
        md_name = f"{seen[0]}–{seen[-1]}"
        for s_seen, s_unseen in (SAMPLE_HALVES, SAMPLE_HALVES[::-1]):
            train_sets = {f"match-dev {md_name}": md_train, s_seen: sample[s_seen][0],
                          f"both: match-dev {md_name} + {s_seen}": md_train + sample[s_seen][0]}
            tests = {"md": (md_test, md_truth), "sample": (sample[s_unseen][1], sample_truth)}
            for label, figures in joint_figures(train_sets, tests).items():
                print(row((label, f"{unseen[0]}–{unseen[-1]}", " / ".join(f"{figures['md'][f]:.3f}" for f in FIGURES),
                           s_unseen, " / ".join(f"{figures['sample'][f]:.3f}" for f in FIGURES))))


def _rows(path: Path) -> list[dict]:
    import json
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


if __name__ == "__main__":
    main()
