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
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from matching.evaluate import ranking_metrics
from matching.learn import Group, Reranker, memory_of, train
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


def run_split(folder: Path, seen: list[str], unseen: list[str], rejects: int, label: str) -> dict:
    started = time.perf_counter()
    with evaluation.loaded_set(folder) as (engine, truth, _):
        decide_first_half(engine.db, engine, truth, seen, rejects)
        outcome = learning.learn(engine.db, engine, dry_run=True, enabled=True)
        model = Reranker.from_dict(outcome["model"])
        labels = learning.decided_labels(engine.db)
        in_use = learning.LearnedRanking(model, learning.memory_from_labels(engine.matcher, labels))
        before = measure_unseen(engine, truth, unseen, None)
        after = measure_unseen(engine, truth, unseen, in_use)
        train_groups = [g for g in learning.build_groups(engine, labels) if (g.labels != 0).any()]
        families = family_figures(train_groups, unseen_groups(engine, truth, unseen), truth, unseen)
        sample = learning.compare_on_set(ROOT / "data", engine.embedder, model)
    return {"label": label, "outcome": outcome, "before": before, "after": after, "families": families,
            "sample": sample, "seconds": round(time.perf_counter() - started, 1)}


def row(cells) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default=str(MATCH_DEV))
    parser.add_argument("--rejects", type=int, default=3)
    args = parser.parse_args()
    folder = Path(args.set)
    demands = sorted({line["id"] for line in _rows(folder / "demands.jsonl")})
    first, second = demands[:len(demands) // 2], demands[len(demands) // 2:]
    results = [run_split(folder, first, second, args.rejects, f"learn on {first[0]}–{first[-1]}, measure {second[0]}–{second[-1]}"),
               run_split(folder, second, first, args.rejects, f"learn on {second[0]}–{second[-1]}, measure {first[0]}–{first[-1]}")]
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
    print()
    for result in results:
        print(result["label"], "verdict:", result["outcome"]["verdict"], f"({result['seconds']} s)")
        print("  weights:", {k: v for k, v in result["outcome"]["weights"].items() if v})


def _rows(path: Path) -> list[dict]:
    import json
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


if __name__ == "__main__":
    main()
