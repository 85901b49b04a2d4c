"""Learning from every broker decision: labels from the store, features from the engine, the adoption rule.

    labels (decisions, cooperations) → groups (each decided demand's candidates) → cross-validation
        → the evaluation set → adopted or refused (kept in the store with its figures) → the engine

The engine uses a learned ranking only when it beats the untrained one on held-back decisions
(grouped by demand, k-fold) and is no worse on every evaluation set given (e.g. ../shared/eval/match-dev
and the sample, data/); otherwise it keeps the untrained ranking and the run records why.

    >>> outcome = learn(db, engine, eval_set=["../shared/eval/match-dev", "data"])   # doctest: +SKIP
    >>> outcome["adopted"], outcome["verdict"]                                   # doctest: +SKIP
    (False, '留出决定上 MRR 下降（0.912 → 0.905）')
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from matching.learn import FEATURE_NAMES, Group, Memory, Reranker, beats, cross_validate, pair_features, train

from . import store
from .learned_ranking import (CANDIDATES, LearnedRanking, adopted_ranking, decided_labels,  # noqa: F401 (re-exported)
                              indicator_satisfaction, memory_from_labels, pool_size, signals_of)

MIN_DEMANDS = 5      # decided demands below which nothing is learned
FOLDS = 5
# "No worse on an evaluation set": the hybrid row's MRR may not fall by more than this, R@1 and R@5 not at all.
SET_MRR_TOLERANCE = 0.005


@dataclass(frozen=True)
class Policy:
    """How the service learns: `enabled` ranks with a model the rule accepts ($MATCHMAKER_LEARNING=on),
    `eval_set` names the sets it may not lose on ($MATCHMAKER_LEARN_SET), and `after` is how many new
    decisions make the worker learn again by itself ($MATCHMAKER_LEARN_AFTER; 0: only when asked).

        >>> Policy.from_config({"LEARNING": "on", "LEARN_SET": None, "LEARN_AFTER": 20})
        Policy(enabled=True, eval_set=None, after=20)
    """
    enabled: bool = False
    eval_set: str | None = None
    after: int = 0

    @classmethod
    def from_config(cls, config) -> "Policy":
        return cls(config.get("LEARNING") == "on", config.get("LEARN_SET"), int(config.get("LEARN_AFTER") or 0))


def new_decisions(db) -> int:
    """Decided pairs beyond those the latest learning run counted (every one before the first run)."""
    latest = store.latest_ranker(db)
    return len(decided_labels(db)) - ((latest or {}).get("extent") or {}).get("pairs", 0)


def evaluation_sets(given) -> list[str]:
    """The evaluation sets a learned ranking may not lose on: one folder, several (a list, or one string
    with os.pathsep between them, as MATCHMAKER_LEARN_SET gives), or none.

        >>> evaluation_sets("../shared/eval/match-dev:data"), evaluation_sets(None)
        (['../shared/eval/match-dev', 'data'], [])
    """
    if not given:
        return []
    if isinstance(given, (str, Path)):
        given = str(given).split(os.pathsep)
    return [str(folder) for folder in given if str(folder).strip()]


def extent(labels: list[dict]) -> dict:
    """What a model was trained on: counts and the decisions' date range."""
    dates = sorted(row["at"] for row in labels if row["at"])
    return {"pairs": len(labels), "positives": sum(row["label"] > 0 for row in labels),
            "negatives": sum(row["label"] < 0 for row in labels),
            "demands": len({row["demand_id"] for row in labels}),
            "from": dates[0] if dates else None, "to": dates[-1] if dates else None}



def build_groups(engine, labels: list[dict], candidates: int = CANDIDATES) -> list[Group]:
    """One group per decided demand on the lists: the engine's top candidates plus every supply decided
    for it, with their record features and labels."""
    matcher = engine.ensure_current()
    by_demand: dict[str, dict[str, dict]] = {}
    for row in labels:
        if row["demand_id"] in matcher.demands.records and row["supply_id"] in matcher.supplies.records:
            by_demand.setdefault(row["demand_id"], {})[row["supply_id"]] = row
    groups = []
    for demand_id, decided in sorted(by_demand.items()):
        demand = matcher.demands.records[demand_id]
        vector = matcher.demands.vectors.vector(demand_id)
        top = [proposal.candidate_id for proposal in matcher.supplies_for(demand, vector, candidates)]
        proposals = engine.pair_proposals(demand, vector, list(dict.fromkeys(top + sorted(decided))))
        supplies = [matcher.supplies.records[proposal.candidate_id] for proposal in proposals]
        groups.append(Group(
            demand_id=demand_id, demand_vector=vector,
            supply_ids=[proposal.candidate_id for proposal in proposals],
            supply_vectors=np.stack([matcher.supplies.vectors.vector(p.candidate_id) for p in proposals]),
            platforms=[supply.get("platform") or "" for supply in supplies],
            pair=np.stack([pair_features(demand, supply, signals_of(proposal), indicator_satisfaction(proposal))
                           for proposal, supply in zip(proposals, supplies)]),
            labels=np.array([decided.get(p.candidate_id, {}).get("label", 0) for p in proposals], dtype=float),
            categories=[decided.get(p.candidate_id, {}).get("category", "") for p in proposals]))
    return groups



# --- learning and the adoption rule ---------------------------------------------------------------------

def set_figures(rows: list[dict]) -> dict:
    hybrid = next(row for row in rows if row["retriever"] == "hybrid")
    return {key: round(hybrid[key], 4) for key in ("mrr", "recall@1", "recall@5", "recall@10", "ndcg@10")}


def compare_on_set(folder: str | Path, embedder, model: Reranker) -> dict:
    """The evaluation set's hybrid figures without and with the model (no decisions there: the history
    features are all zero, so this checks what the model does to pairs it knows nothing about)."""
    from .evaluation import loaded_set, quality

    with loaded_set(folder, embedder) as (engine, truth, _):
        untrained = set_figures(quality(engine, truth, None))
        engine.use_learned(LearnedRanking(model, Memory.empty(engine.embedder.dim)))
        learned = set_figures(quality(engine, truth, None))
    return {"set": str(folder), "untrained": untrained, "learned": learned}


def no_worse(figures: dict) -> tuple[bool, str]:
    old, new = figures["untrained"], figures["learned"]
    name = Path(figures["set"]).name
    if new["mrr"] < old["mrr"] - SET_MRR_TOLERANCE:
        return False, f"评估集 {name} 上 MRR 下降（{old['mrr']:.3f} → {new['mrr']:.3f}）"
    for figure, shown in (("recall@1", "R@1"), ("recall@5", "R@5")):
        if figure in old and new[figure] < old[figure]:
            return False, f"评估集 {name} 上 {shown} 下降（{old[figure]:.3f} → {new[figure]:.3f}）"
    return True, f"评估集 {name} 上不差（MRR {old['mrr']:.3f} → {new['mrr']:.3f}，R@5 {old['recall@5']:.3f} → {new['recall@5']:.3f}）"


def learn(db, engine, eval_set=None, dry_run: bool = False, folds: int = FOLDS,
          actor: str = "cli", enabled: bool = False, invert: bool = False) -> dict:
    """Train on every decision, judge the model by the adoption rule, keep the run and (unless dry_run)
    switch the engine to it or back to the untrained ranking. enabled=False (MATCHMAKER_LEARNING is off,
    the default) judges and keeps the run but never adopts it. Returns the outcome: adopted, verdict,
    extent, figures, weights, the model (as stored) and the version (None on a dry run). invert=True
    orders every labelled pair the wrong way round (a deliberately bad model: the rule must refuse it)."""
    labels = decided_labels(db)
    outcome = {"adopted": False, "extent": extent(labels), "figures": {}, "weights": {}, "model": None,
               "version": None, "dry_run": dry_run}
    groups = build_groups(engine, labels)
    usable_groups = [group for group in groups if (group.labels != 0).any()]
    reasons = []
    positive = sum(1 for group in usable_groups if (group.labels > 0).any())
    if positive < MIN_DEMANDS:
        outcome["verdict"] = (f"不采用，继续使用未学习的排序：决定太少，至少需要 {MIN_DEMANDS} 条需求上有推荐或确认合作，"
                              f"现有 {positive} 条")
        return _finish(db, engine, outcome, None, labels, actor)
    try:
        cv = cross_validate(usable_groups, folds, invert=invert)
        model = train(usable_groups, invert=invert)
    except ValueError as error:  # a fold without a single positive
        outcome["verdict"] = f"不采用，继续使用未学习的排序：{error}"
        return _finish(db, engine, outcome, None, labels, actor)
    outcome["figures"]["cross_validation"] = cv
    better, why = beats(cv["learned"], cv["untrained"])
    reasons.append(why)
    outcome["weights"] = {name: round(float(weight), 4) for name, weight in zip(FEATURE_NAMES, model.weights)}
    outcome["model"] = model.to_dict()
    adopted = better
    if not model.usable:
        adopted = False
        reasons.append("学得的模型让融合得分高的配对排得更低，无法采用")
    sets = evaluation_sets(eval_set)
    if sets and (adopted or dry_run):
        outcome["figures"]["eval_sets"] = [compare_on_set(folder, engine.embedder, model) for folder in sets]
        for figures in outcome["figures"]["eval_sets"]:
            fine, why = no_worse(figures)
            reasons.append(why)
            adopted = adopted and fine
    elif not sets:
        reasons.append("未指定评估集，只按留出决定判断")
    if adopted and not enabled:
        adopted = False
        reasons.append("规则判定可以采用，但学习排序未开启（设 MATCHMAKER_LEARNING=on 后重新学习）")
    outcome["adopted"] = adopted
    outcome["verdict"] = ("采用学得的排序：" if adopted else "不采用，继续使用未学习的排序：") + "；".join(reasons)
    return _finish(db, engine, outcome, model, labels, actor)


def _finish(db, engine, outcome: dict, model: Reranker | None, labels: list[dict], actor: str) -> dict:
    if outcome["dry_run"]:
        return outcome
    with store.transaction(db):
        outcome["version"] = store.add_ranker(db, {
            "trained_at": store.now(), "actor": actor, "adopted": int(outcome["adopted"]),
            "verdict": outcome["verdict"], "model": model.to_dict() if model else None,
            "extent": outcome["extent"], "figures": outcome["figures"]})
        store.audit(db, actor, "learn", "rankers", str(outcome["version"]), None,
                    {"adopted": outcome["adopted"], "verdict": outcome["verdict"]})
    learned = LearnedRanking(model, memory_from_labels(engine.ensure_current(), labels), outcome["version"]) \
        if outcome["adopted"] else None
    engine.use_learned(learned)
    return outcome


# --- telling people ---------------------------------------------------------------------------------

def outcome_lines(outcome: dict) -> list[str]:
    """A learning run in Chinese, a line each: what it was trained on, the figures, the verdict.

    `outcome` is what learn() returns or a stored run (store.latest_ranker).
    """
    extent_ = outcome.get("extent") or {}
    lines = [f"训练数据：{extent_.get('demands', 0)} 条需求上的 {extent_.get('pairs', 0)} 个决定"
             f"（正例 {extent_.get('positives', 0)}、否决或婉拒 {extent_.get('negatives', 0)}）"
             + (f"，{extent_['from']} 至 {extent_['to']}" if extent_.get("from") else "")]
    figures = outcome.get("figures") or {}
    cv = figures.get("cross_validation")
    if cv:
        lines.append(f"留出决定（按需求分 {cv['folds']} 折）：" + _compared(cv["untrained"], cv["learned"],
                                                                 ("mrr", "recall@1", "pair_accuracy")))
    for checked in figures.get("eval_sets") or ([figures["eval_set"]] if figures.get("eval_set") else []):
        lines.append(f"评估集 {Path(checked['set']).name}：" + _compared(checked["untrained"], checked["learned"],
                                                                     ("mrr", "recall@1", "recall@5")))
    lines.append(f"结论：{outcome.get('verdict', '')}")
    return lines


FIGURE_NAMES = {"mrr": "MRR", "recall@1": "R@1", "recall@5": "R@5", "pair_accuracy": "排序正确率"}


def _compared(before: dict, after: dict, names: tuple[str, ...]) -> str:
    shown = [f"{FIGURE_NAMES[name]} {before[name]:.3f} → {after[name]:.3f}" for name in names
             if before.get(name) is not None and after.get(name) is not None]
    return "，".join(shown) + "（未学习 → 学习后）"
