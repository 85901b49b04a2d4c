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


# --- records as sentences, and the quoted sentence pair ------------------------------------------

def test_record_segments_are_title_keywords_and_sentences_and_join_to_the_embedded_text():
    record = {"title": "ＰＶＣ管发硬", "keywords": ["输液器", "DEHP"],
              "description": "换了增塑剂后管子发硬；透明度也下降！注册检验担心过不去。0.5mm壁厚"}
    segments = ranker.record_segments(record)
    assert segments == ["ＰＶＣ管发硬。", "输液器、DEHP。", "换了增塑剂后管子发硬；", "透明度也下降！",
                        "注册检验担心过不去。", "0.5mm壁厚"]
    embedded = ranker.embedded_segments(segments)
    assert "".join(embedded) == ranker.record_text(record) and len(embedded) == len(segments)
    assert embedded[0] == "pvc管发硬."


def test_a_record_with_a_title_only_is_one_segment():
    assert ranker.record_segments({"title": "海参自溶"}) == ["海参自溶"]


def test_the_best_sentence_pair_is_quoted_as_written_and_never_the_keywords():
    demand = {"title": "冷库门口结冰", "keywords": ["结冰"], "description": "地面老结冰摔人。换了防滑垫也没用。"}
    supply = {"title": "相变储能防冻地坪", "keywords": ["结冰"], "description": "电伴热融冰，地表不结冰。适用于冷库门口"}
    demand_rows = np.eye(4, DIM, dtype=np.float32)                  # title, keywords, 2 sentences
    supply_rows = np.zeros((4, DIM), np.float32)
    supply_rows[1] = demand_rows[1]                                  # keywords identical: must not be quoted
    supply_rows[3] = 0.9 * demand_rows[2] + 0.1 * demand_rows[3]     # 适用于冷库门口 ~ 地面老结冰摔人
    pair = ranker.best_sentence_pair(demand, demand_rows, supply, supply_rows)
    assert pair == {"query": "地面老结冰摔人", "candidate": "适用于冷库门口", "similarity": 0.9}


def test_a_long_sentence_is_cut_for_quoting():
    demand = {"title": "长" * 200}
    rows = np.ones((1, DIM), np.float32)
    pair = ranker.best_sentence_pair(demand, rows, demand, rows)
    assert len(pair["query"]) == ranker.QUOTE_LIMIT and pair["query"].endswith("…")
