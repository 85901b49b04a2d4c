"""Quality of proposals against known cooperations: recall@k, MRR, nDCG, and the gap list's precision.

Rankings and truth are plain data: {query id: [candidate ids, best first]} and
{query id: {relevant id: grade}}.

    >>> recall_at_k(["s2", "s9", "s1"], {"s1": 1, "s5": 1}, k=3)
    0.5
    >>> reciprocal_rank(["s2", "s9", "s1"], {"s1": 1})
    0.3333333333333333
"""
from __future__ import annotations

import math
from statistics import mean


def recall_at_k(ranked: list[str], relevant: dict[str, float], k: int) -> float:
    """Share of the relevant ids found in the top k."""
    if not relevant:
        return 0.0
    return len(set(ranked[:k]) & set(relevant)) / len(relevant)


def reciprocal_rank(ranked: list[str], relevant: dict[str, float]) -> float:
    """1 / rank of the first relevant id, 0 when none is ranked."""
    for position, candidate in enumerate(ranked, start=1):
        if candidate in relevant:
            return 1.0 / position
    return 0.0


def ndcg_at_k(ranked: list[str], relevant: dict[str, float], k: int) -> float:
    """Normalised discounted cumulative gain with graded relevance (gain = grade)."""
    gains = [relevant.get(candidate, 0.0) for candidate in ranked[:k]]
    dcg = sum(gain / math.log2(position + 1) for position, gain in enumerate(gains, start=1))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(gain / math.log2(position + 1) for position, gain in enumerate(ideal, start=1))
    return dcg / idcg if idcg else 0.0


def ranking_metrics(rankings: dict[str, list[str]], truth: dict[str, dict[str, float]],
                    ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """Mean metrics over the queries that have truth; a query missing from rankings counts as a miss."""
    queries = [query for query, relevant in truth.items() if relevant]
    if not queries:
        return {"queries": 0}
    metrics: dict[str, float] = {"queries": len(queries)}
    for k in ks:
        metrics[f"recall@{k}"] = mean(recall_at_k(rankings.get(q, []), truth[q], k) for q in queries)
    metrics["mrr"] = mean(reciprocal_rank(rankings.get(q, []), truth[q]) for q in queries)
    metrics["ndcg@10"] = mean(ndcg_at_k(rankings.get(q, []), truth[q], 10) for q in queries)
    return metrics


def gap_metrics(flagged: set[str], true_gaps: set[str]) -> dict[str, float]:
    """Precision and recall of the gap list (demands flagged as having no credible supply)."""
    hits = len(flagged & true_gaps)
    precision = hits / len(flagged) if flagged else 0.0
    recall = hits / len(true_gaps) if true_gaps else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"flagged": len(flagged), "true_gaps": len(true_gaps), "precision": precision,
            "recall": recall, "f1": f1}


def truth_from_pairs(pairs: list[dict], reverse: bool = False) -> dict[str, dict[str, float]]:
    """{demand: {supply: grade}} from cooperation-like rows (grade defaults to 1); reverse for supply → demands."""
    truth: dict[str, dict[str, float]] = {}
    for pair in pairs:
        query, answer = (pair["supply_id"], pair["demand_id"]) if reverse else (pair["demand_id"], pair["supply_id"])
        truth.setdefault(query, {})[answer] = float(pair.get("grade") or 1.0)
    return truth
