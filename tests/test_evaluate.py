"""Ranking metrics on small cases computed by hand."""
from __future__ import annotations

import math

import pytest

from matching.evaluate import (gap_metrics, ndcg_at_k, ranking_metrics, recall_at_k, reciprocal_rank,
                               truth_from_pairs)


def test_recall_counts_relevant_ids_in_the_top_k():
    assert recall_at_k(["a", "b", "c"], {"c": 1, "z": 1}, 2) == 0.0
    assert recall_at_k(["a", "b", "c"], {"c": 1, "z": 1}, 3) == 0.5


def test_reciprocal_rank_is_one_over_the_first_hit():
    assert reciprocal_rank(["a", "b", "c"], {"b": 1, "c": 1}) == 0.5
    assert reciprocal_rank(["a"], {"x": 1}) == 0.0


def test_ndcg_matches_a_hand_computation():
    # gains [0, 2, 1] -> dcg = 2/log2(3) + 1/log2(4); ideal [2, 1] -> 2/1 + 1/log2(3)
    expected = (2 / math.log2(3) + 1 / 2) / (2 + 1 / math.log2(3))
    assert ndcg_at_k(["a", "b", "c"], {"b": 2, "c": 1}, 10) == pytest.approx(expected)
    assert ndcg_at_k(["b", "c"], {"b": 2, "c": 1}, 10) == pytest.approx(1.0)


def test_ranking_metrics_average_over_queries_and_count_missing_rankings_as_misses():
    truth = {"d1": {"s1": 1}, "d2": {"s2": 1}}
    metrics = ranking_metrics({"d1": ["s1", "s3"]}, truth, ks=(1,))
    assert metrics["queries"] == 2
    assert metrics["recall@1"] == 0.5 and metrics["mrr"] == 0.5


def test_gap_metrics():
    metrics = gap_metrics({"d1", "d2", "d3", "d4"}, {"d1", "d2", "d9"})
    assert metrics["precision"] == 0.5 and metrics["recall"] == pytest.approx(2 / 3)


def test_truth_from_pairs_in_both_directions():
    pairs = [{"demand_id": "d1", "supply_id": "s1"}, {"demand_id": "d1", "supply_id": "s2", "grade": 2}]
    assert truth_from_pairs(pairs) == {"d1": {"s1": 1.0, "s2": 2.0}}
    assert truth_from_pairs(pairs, reverse=True) == {"s1": {"d1": 1.0}, "s2": {"d1": 2.0}}
