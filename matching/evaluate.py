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


def same_indicator(found: tuple, expected: tuple) -> bool:
    """An extracted (name, comparator, value, unit) tuple against a labelled one.

    Comparator, unit and value(s) must agree (values to 1e-6); names agree when the labelled name is
    empty (no sensible name in the text) or one contains the other, the extracted name having at
    least two characters when it is the shorter: the name is the phrase before the figure, and where
    that phrase starts is a matter of taste ("两年内把漏损率" holds "漏损率").

        >>> same_indicator(("两年内把漏损率", "≤", 18.0, "%"), ("漏损率", "≤", 18, "%"))
        True
    """
    name, comparator, value, unit = found
    label_name, label_comparator, label_value, label_unit = expected
    if comparator != label_comparator or unit != label_unit:
        return False
    values = value if isinstance(value, list) else [value]
    labels = label_value if isinstance(label_value, list) else [label_value]
    if len(values) != len(labels) or any((a is None) != (b is None) or (a is not None and abs(a - b) > 1e-6)
                                         for a, b in zip(values, labels)):
        return False
    if not label_name:
        return True
    return label_name in name or (len(name) >= 2 and name in label_name)


def extraction_scores(cases: list[dict], extract) -> dict:
    """Precision and recall of extract(text) → tuples over labelled cases ({"text", "expected"}):
    each labelled tuple is matched by at most one extracted tuple.

        >>> extraction_scores([{"text": "t", "expected": [["a", "=", 1, "mm"]]}], lambda text: [("a", "=", 1.0, "mm")])
        {'cases': 1, 'expected': 1, 'found': 1, 'correct': 1, 'precision': 1.0, 'recall': 1.0}
    """
    expected_total = found_total = correct = 0
    for case in cases:
        found = list(extract(case["text"]))
        unmatched = [tuple(label) for label in case["expected"]]
        expected_total += len(unmatched)
        found_total += len(found)
        for item in found:
            match = next((label for label in unmatched if same_indicator(item, label)), None)
            if match is not None:
                unmatched.remove(match)
                correct += 1
    return {"cases": len(cases), "expected": expected_total, "found": found_total, "correct": correct,
            "precision": correct / found_total if found_total else 1.0,
            "recall": correct / expected_total if expected_total else 1.0}
