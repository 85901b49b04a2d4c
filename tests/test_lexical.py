"""Specification of matching.lexical: BM25F numbers worked out by hand, updates, explanations."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.lexical import BM25Index, shared_terms

K1, B = 1.5, 0.75


def bm25_term(idf: float, tf: float, length: float, average_length: float) -> float:
    """The textbook BM25 term score, written out independently of the module."""
    return idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / average_length))


def idf(n_docs: int, df: int) -> float:
    return math.log(1 + (n_docs - df + 0.5) / (df + 0.5))


@pytest.fixture
def docs() -> dict[str, dict[str, list[str]]]:
    return {
        # weighted length: 2*2 + 1*3 + 3*1 = 10; tf(碳纤维) = 2*1 + 1*1 + 3*1 = 6
        "S1": {"title": ["碳纤维", "预浸料"], "description": ["碳纤维", "制备", "工艺"],
               "keywords": ["碳纤维"]},
        # weighted length: 2*2 + 1*4 = 8; tf(碳纤维) = 1
        "S2": {"title": ["钓具", "设计"], "description": ["碳纤维", "钓竿", "轻量化", "设计"]},
        # weighted length: 2*2 + 1*2 + 3*2 = 12
        "S3": {"title": ["海参", "加工"], "description": ["副产物", "利用"],
               "keywords": ["海参", "胶原蛋白"]},
    }


@pytest.fixture
def bm25(docs) -> BM25Index:
    index = BM25Index()
    index.build(docs)
    return index


def test_defaults_are_the_usual_bm25_parameters_and_field_weights():
    index = BM25Index()
    assert (index.k1, index.b) == (1.5, 0.75)
    assert index.field_weights == {"title": 2.0, "description": 1.0, "keywords": 3.0}


def test_weighted_term_frequency_and_length_sum_over_fields(bm25, docs):
    frequencies, length = bm25.weighted_terms(docs["S1"])
    assert frequencies["碳纤维"] == 6.0
    assert frequencies["预浸料"] == 2.0
    assert length == 10.0
    assert bm25.average_length == pytest.approx((10 + 8 + 12) / 3)


def test_idf_uses_the_non_negative_bm25_form(bm25):
    assert bm25.idf("碳纤维") == pytest.approx(math.log(1 + (3 - 2 + 0.5) / (2 + 0.5)))
    assert bm25.idf("海参") == pytest.approx(math.log(1 + (3 - 1 + 0.5) / (1 + 0.5)))
    assert bm25.idf("碳纤维") > 0


def test_single_term_score_matches_the_formula(bm25):
    average = 10.0
    expected_s1 = bm25_term(idf(3, 2), tf=6.0, length=10.0, average_length=average)
    expected_s2 = bm25_term(idf(3, 2), tf=1.0, length=8.0, average_length=average)
    scores = bm25.scores(["碳纤维"])
    assert scores == {"S1": pytest.approx(expected_s1), "S2": pytest.approx(expected_s2)}


def test_multi_term_score_is_the_sum_of_term_scores(bm25):
    average = 10.0
    expected = (
        bm25_term(idf(3, 2), tf=1.0, length=8.0, average_length=average)      # 碳纤维 in a description
        + bm25_term(idf(3, 1), tf=2.0, length=8.0, average_length=average)    # 钓具 in the title
        + bm25_term(idf(3, 1), tf=3.0, length=8.0, average_length=average)    # 设计: title + description
    )
    assert bm25.scores(["碳纤维", "钓具", "设计"])["S2"] == pytest.approx(expected)


def test_a_repeated_query_term_counts_once(bm25):
    assert bm25.scores(["海参", "海参", "海参"]) == bm25.scores(["海参"])


def test_search_ranks_best_first_and_leaves_out_non_matching_docs(bm25):
    hits = bm25.search(["碳纤维", "预浸料"], k=10)
    assert [doc_id for doc_id, _ in hits] == ["S1", "S2"]
    assert hits[0][1] > hits[1][1] > 0


def test_search_cuts_at_k_and_breaks_ties_by_id():
    index = BM25Index()
    index.build({doc_id: {"title": ["海参"]} for doc_id in ["D3", "D1", "D2"]})
    assert [doc_id for doc_id, _ in index.search(["海参"], k=2)] == ["D1", "D2"]


def test_a_keyword_hit_outranks_a_description_hit():
    index = BM25Index()
    index.build({
        "by-keyword": {"title": ["复合材料", "构件"], "description": ["结构", "设计"],
                       "keywords": ["碳纤维"]},
        "by-description": {"title": ["复合材料", "构件"], "description": ["碳纤维", "设计"],
                           "keywords": ["结构"]},
    })
    ranking = [doc_id for doc_id, _ in index.search(["碳纤维"], k=2)]
    assert ranking == ["by-keyword", "by-description"]


def test_a_title_hit_outranks_a_description_hit():
    index = BM25Index()
    index.build({
        "by-title": {"title": ["钓具", "工艺"], "description": ["表面", "处理"]},
        "by-description": {"title": ["表面", "工艺"], "description": ["钓具", "处理"]},
    })
    assert index.search(["钓具"], k=1)[0][0] == "by-title"


def test_custom_field_weights_change_the_ranking():
    index = BM25Index(field_weights={"title": 1.0, "description": 5.0})
    index.build({
        "by-title": {"title": ["钓具", "工艺"], "description": ["表面", "处理"]},
        "by-description": {"title": ["表面", "工艺"], "description": ["钓具", "处理"]},
    })
    assert index.search(["钓具"], k=1)[0][0] == "by-description"


def test_empty_query_finds_nothing(bm25):
    assert bm25.scores([]) == {}
    assert bm25.search([], k=5) == []


def test_unknown_terms_and_an_empty_index_find_nothing(bm25):
    assert bm25.search(["量子计算"], k=5) == []
    assert BM25Index().search(["碳纤维"], k=5) == []


def test_upsert_and_remove_keep_statistics_equal_to_a_fresh_build(bm25, docs):
    bm25.upsert("S4", {"title": ["碳纤维", "自行车"], "keywords": ["碳纤维"]})
    bm25.upsert("S2", {"title": ["渔具"], "description": ["碳纤维", "钓竿"]})
    bm25.remove("S3")
    bm25.remove("never-indexed")

    fresh = BM25Index()
    fresh.build({
        "S1": docs["S1"],
        "S2": {"title": ["渔具"], "description": ["碳纤维", "钓竿"]},
        "S4": {"title": ["碳纤维", "自行车"], "keywords": ["碳纤维"]},
    })

    assert len(bm25) == len(fresh) == 3
    assert bm25.average_length == pytest.approx(fresh.average_length)
    for term in ["碳纤维", "钓具", "渔具", "海参", "设计", "自行车"]:
        assert bm25.document_frequency(term) == fresh.document_frequency(term)
        assert bm25.idf(term) == pytest.approx(fresh.idf(term))
    query = ["碳纤维", "钓竿", "海参", "自行车", "设计"]
    assert bm25.scores(query) == pytest.approx(fresh.scores(query))


def test_removed_documents_and_their_terms_are_gone(bm25):
    bm25.remove("S3")
    assert "S3" not in bm25
    assert bm25.document_frequency("海参") == 0
    assert bm25.search(["海参", "胶原蛋白"], k=5) == []


def test_upsert_with_the_same_fields_changes_nothing(bm25, docs):
    before = bm25.scores(["碳纤维", "设计"])
    bm25.upsert("S2", docs["S2"])
    assert bm25.scores(["碳纤维", "设计"]) == pytest.approx(before)


def test_term_contributions_add_up_to_the_score(bm25, docs):
    query = ["碳纤维", "预浸料", "海参"]
    contributions = bm25.term_contributions(query, docs["S1"])
    assert set(contributions) == {"碳纤维", "预浸料"}
    assert sum(contributions.values()) == pytest.approx(bm25.scores(query)["S1"])


def test_shared_terms_lists_the_query_terms_in_the_doc_by_contribution(bm25, docs):
    # 碳纤维: idf ln(1.6) = 0.47 x saturated tf 6 -> 2.0 = 0.94
    # 预浸料: idf ln(2.67) = 0.98 x saturated tf 2 -> 1.43 = 1.40 (rarity beats repetition)
    assert shared_terms(["海参", "碳纤维", "预浸料", "钓具"], docs["S1"], bm25) == ["预浸料", "碳纤维"]
    # Same weighted frequency in S2's description: the rarer term comes first.
    assert shared_terms(["碳纤维", "钓竿"], {"description": ["碳纤维", "钓竿"]}, bm25) == ["钓竿", "碳纤维"]


def test_shared_terms_is_empty_without_overlap(bm25, docs):
    assert shared_terms(["量子计算"], docs["S1"], bm25) == []
    assert shared_terms([], docs["S1"], bm25) == []


# --- edits against a fresh build, through the array rewrites ------------------------------------

TERMS = ["碳纤维", "预浸料", "钓具", "海参", "设计", "工艺", "轴承", "传感器"]
doc_fields = st.fixed_dictionaries({field: st.lists(st.sampled_from(TERMS), max_size=4)
                                    for field in ("title", "description", "keywords")})
edit = st.tuples(st.sampled_from(["upsert", "remove"]), st.sampled_from(["S1", "S2", "S3", "S4", "S5"]), doc_fields)


@settings(max_examples=60, deadline=None)
@given(start=st.dictionaries(st.sampled_from(["S1", "S2", "S3"]), doc_fields), edits=st.lists(edit, max_size=12),
       rewrite_after=st.sampled_from([1, 3, 100_000]))
def test_any_edits_score_exactly_as_a_fresh_build_of_the_result(start, edits, rewrite_after):
    # A small rewrite threshold makes the arrays be laid out afresh in the middle of the edits.
    edited, expected = BM25Index(rewrite_after=rewrite_after), dict(start)
    edited.build(start)
    for action, doc_id, fields in edits:
        if action == "upsert":
            edited.upsert(doc_id, fields)
            expected[doc_id] = fields
        else:
            edited.remove(doc_id)
            expected.pop(doc_id, None)
    fresh = BM25Index()
    fresh.build(expected)
    assert len(edited) == len(fresh) and all(doc_id in edited for doc_id in expected)
    assert edited.average_length == pytest.approx(fresh.average_length)
    for term in TERMS:
        assert edited.document_frequency(term) == fresh.document_frequency(term)
    assert edited.scores(TERMS[:5]) == pytest.approx(fresh.scores(TERMS[:5]))
    found, expected_hits = edited.search(TERMS[2:], k=3), fresh.search(TERMS[2:], k=3)
    assert [doc_id for doc_id, _ in found] == [doc_id for doc_id, _ in expected_hits]
    assert [score for _, score in found] == pytest.approx([score for _, score in expected_hits])


def test_scores_of_gives_the_score_of_any_document_and_follows_edits(bm25):
    query = ["碳纤维", "设计"]
    assert bm25.scores_of(query, ["S2", "S3", "never-indexed"]) == \
        {"S2": pytest.approx(bm25.scores(query)["S2"]), "S3": 0.0, "never-indexed": 0.0}
    bm25.upsert("S3", {"title": ["碳纤维"]})     # the remembered query scores must not outlive an edit
    assert bm25.scores_of(query, ["S3"])["S3"] == pytest.approx(bm25.scores(query)["S3"]) != 0


def test_search_keeps_every_tie_at_the_kth_score_and_cuts_them_by_id():
    index = BM25Index()
    index.build({doc_id: {"title": ["轴承"]} for doc_id in ["S9", "S3", "S7", "S1"]} | {"S0": {"title": ["海参"]}})
    assert [doc_id for doc_id, _ in index.search(["轴承"], k=2)] == ["S1", "S3"]


def test_saved_arrays_load_and_score_as_the_index_that_saved_them_after_edits(bm25, docs, tmp_path):
    bm25.upsert("S4", {"title": ["碳纤维", "钓竿"], "keywords": ["钓竿"]})
    bm25.remove("S2")
    bm25.save(tmp_path, checksum="c1")
    loaded = BM25Index.load(tmp_path)
    assert loaded.checksum == "c1" and len(loaded) == len(bm25) == 3
    for query in (["碳纤维"], ["钓竿", "海参", "设计"], ["不存在"]):
        assert loaded.scores(query) == bm25.scores(query)
        assert loaded.search(query, 2) == bm25.search(query, 2)
    loaded.upsert("S5", {"title": ["海参"]})   # the mapped arrays are never written: edits work as usual
    assert "S5" in loaded.scores(["海参"])


def test_a_saved_file_that_does_not_match_its_sidecar_is_not_loaded(bm25, tmp_path):
    bm25.save(tmp_path, checksum="c1")
    (tmp_path / "bm25-lengths.npy").write_bytes((tmp_path / "bm25-lengths.npy").read_bytes()[:-8])
    assert BM25Index.load(tmp_path) is None
    assert BM25Index.load(tmp_path / "nothing-here") is None
