"""A learned ranking in use: the labels in the store, the features of a proposal, the adopted model.

What the engine needs to re-rank with a model service/learning.py adopted, and nothing that measures
(so the engine does not import the evaluation code that imports it).

    >>> learned = adopted_ranking(db, engine.matcher)                       # doctest: +SKIP
    >>> learned.rerank("demands", demand, vector, proposals, engine.matcher)[0].reasons["learned"]   # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np

from matching.learn import DECLINED, Memory, Reranker, factors, history_features, pair_features, reason_category

from . import store

POSITIVE_STATUSES = ("recommended", "confirmed")
NEGATIVE_STATUSES = ("rejected", "declined")
CANDIDATES = 20      # the engine's candidates per decided demand in training, and the pool re-ranked in use


def pool_size(k: int) -> int:
    """How many of the engine's candidates are re-ranked for a top k."""
    return max(CANDIDATES, 2 * k)


# --- labels ---------------------------------------------------------------------------------------

def decided_labels(db) -> list[dict]:
    """Every decided pair once: {demand_id, supply_id, label (+1 / -1), category, at}.

    A recommendation or a confirmation is +1 (a cooperation, imported or confirmed, wins over any
    other decision on its pair); a rejection is -1 with its reason's category, a declined introduction
    -1 as 对方婉拒. Undecided and unsure pairs are not labels.
    """
    labels: dict[tuple[str, str], dict] = {}
    for proposal in store.list_proposals(db, {"statuses": POSITIVE_STATUSES + NEGATIVE_STATUSES}):
        status = proposal["status"]
        category = "" if status in POSITIVE_STATUSES else \
            DECLINED if status == "declined" else reason_category(proposal.get("decision_note"))
        labels[(proposal["demand_id"], proposal["supply_id"])] = {
            "demand_id": proposal["demand_id"], "supply_id": proposal["supply_id"],
            "label": 1 if status in POSITIVE_STATUSES else -1, "category": category,
            "at": (proposal.get("decided_at") or "")[:10]}
    for cooperation in store.export_records(db, "cooperations"):
        labels[(cooperation["demand_id"], cooperation["supply_id"])] = {
            "demand_id": cooperation["demand_id"], "supply_id": cooperation["supply_id"], "label": 1,
            "category": "", "at": str(cooperation.get("confirmed_at") or "")[:10]}
    return sorted(labels.values(), key=lambda row: (row["demand_id"], row["supply_id"]))


# --- features from the engine -----------------------------------------------------------------------

def indicator_satisfaction(proposal) -> float:
    """指标满足度 (issue 17, part 2) as a feature in [-1, 1]: the share of the demand's stated targets the
    supply meets (matching/indicators.py, put in the reasons by Engine.quote), 0 when no target is stated."""
    share = (proposal.reasons.get("indicators") or {}).get("satisfaction")
    return 0.0 if share is None else 2.0 * share - 1.0


def signals_of(proposal) -> dict:
    pair = proposal.reasons.get("sentence_pair") or {}
    return {"score": proposal.score, "lexical": proposal.lexical,
            "cosine": proposal.reasons.get("cosine", 0.0), "sentence": pair.get("similarity", 0.0)}


def memory_from_labels(matcher, labels: list[dict]) -> Memory:
    """The decided pairs still on the lists, with their records' vectors, for the history features."""
    rows = [row for row in labels
            if row["demand_id"] in matcher.demands.records and row["supply_id"] in matcher.supplies.records]
    if not rows:
        return Memory.empty(matcher.demands.vectors.dim)
    return Memory(
        demand_ids=np.array([row["demand_id"] for row in rows], dtype=object),
        labels=np.array([row["label"] for row in rows], dtype=float),
        categories=[row["category"] for row in rows],
        platforms=[matcher.supplies.records[row["supply_id"]].get("platform") or "" for row in rows],
        demand_vectors=np.stack([matcher.demands.vectors.vector(row["demand_id"]) for row in rows]),
        supply_vectors=np.stack([matcher.supplies.vectors.vector(row["supply_id"]) for row in rows]))


# --- the learned ranking in use ------------------------------------------------------------------------

class LearnedRanking:
    """An adopted model and the decisions it looks up, re-ranking the engine's candidates."""

    def __init__(self, model: Reranker, memory: Memory, version: int | None = None):
        self.model, self.memory, self.version = model, memory, version

    def rerank(self, kind: str, query: dict, vector: np.ndarray, proposals: list, matcher) -> list:
        """The proposals re-ordered by fused score + learned adjustment, renumbered; each one's reasons
        gain "learned": the adjustment, the fused score it started from and the factors that moved it."""
        if not proposals:
            return proposals
        features = np.vstack([self._features(kind, query, vector, proposal, matcher) for proposal in proposals])
        keys = self.model.key(features)
        adjustments = self.model.adjustment(features)
        for proposal, adjustment, row in zip(proposals, adjustments, features):
            proposal.reasons["learned"] = {"version": self.version, "fused_score": proposal.score,
                                           "adjustment": round(float(adjustment), 4),
                                           "factors": factors(self.model, row)}
            proposal.score = round(float(np.clip(proposal.score + adjustment, 0.0, 1.0)), 4)
        order = sorted(range(len(proposals)), key=lambda index: (-keys[index], proposals[index].candidate_id))
        ranked = [proposals[index] for index in order]
        for rank, proposal in enumerate(ranked, start=1):
            proposal.rank = rank
        return ranked

    def _features(self, kind: str, query: dict, vector: np.ndarray, proposal, matcher) -> np.ndarray:
        if kind == "demands":
            demand, demand_vector = query, vector
            supply = matcher.supplies.records[proposal.candidate_id]
            supply_vector = matcher.supplies.vectors.vector(proposal.candidate_id)
        else:
            supply, supply_vector = query, vector
            demand = matcher.demands.records[proposal.candidate_id]
            demand_vector = matcher.demands.vectors.vector(proposal.candidate_id)
        pair = pair_features(demand, supply, signals_of(proposal), indicator_satisfaction(proposal))
        history = history_features(self.memory, demand.get("id"), demand_vector, supply_vector.reshape(1, -1),
                                   [supply.get("platform") or ""], self.model.demand_scale, self.model.supply_scale)
        return np.concatenate([pair, history[0]])


def adopted_ranking(db, matcher) -> LearnedRanking | None:
    """The latest learning run's model if it was adopted (else None: the untrained ranking)."""
    run = store.latest_ranker(db)
    if not run or not run["adopted"]:
        return None
    try:
        model = Reranker.from_dict(run["model"])
    except ValueError:
        return None
    return LearnedRanking(model, memory_from_labels(matcher, decided_labels(db)), run["id"])
