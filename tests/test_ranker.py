"""matching.ranker on its own: filtered ranking on a list too large to score whole."""
from __future__ import annotations

import dataclasses

import numpy as np

from matching import ranker
from matching.ranker import Matcher
from matching.text import default_tokenizer

DIM = 8


def test_a_rare_filter_on_a_large_list_widens_the_pool_to_the_same_answer_as_scoring_everything():
    size = ranker.EXACT_FILTER_LIMIT + 1_000
    records = [{"id": f"S{number:05d}", "title": "碳纤维预浸料" if number % 2 else "海参加工",
                "region": "荣成市" if number % 997 == 0 else "环翠区"} for number in range(size)]
    vectors = np.random.default_rng(0).standard_normal((size, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    matcher = Matcher(default_tokenizer(), DIM)
    matcher.supplies.build(records, vectors, matcher.tokenizer)
    demand = {"id": "D1", "title": "碳纤维"}
    filters = {"region": "荣成市"}        # 7 of 6,000 records, none of them in a 50-record pool

    widened = matcher.supplies_for(demand, vectors[1], k=3, filters=filters)
    matcher.fusion = dataclasses.replace(matcher.fusion, candidates=size)
    whole = matcher.supplies_for(demand, vectors[1], k=3, filters=filters)

    assert len(widened) == 3 and all(records[int(p.candidate_id[1:])]["region"] == "荣成市" for p in widened)
    assert [(p.candidate_id, p.score) for p in widened] == [(p.candidate_id, p.score) for p in whole]
