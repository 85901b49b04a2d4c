"""BM25F-style lexical scoring over jieba tokens, with per-field weights.

    >>> bm25 = BM25Index()
    >>> bm25.build({"S1": {"title": ["碳纤维", "预浸料"], "keywords": ["碳纤维"]},
    ...             "S2": {"title": ["海参", "加工"], "description": ["副产物", "利用"]}})
    >>> bm25.search(["碳纤维", "制备"], k=5)
    [('S1', 1.315...)]

A document is a dict of field -> tokens. A term's frequency in a document is
the weighted sum of its counts over the fields, and the document length the
weighted sum of the field lengths (BM25F with one shared b). A keyword hit
therefore counts three times a description hit, by default.
"""
from __future__ import annotations

import heapq
import json
import logging
import math
from array import array
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from .saved import file_sha256, write_atomically

log = logging.getLogger(__name__)

Fields = Mapping[str, Sequence[str]]

DEFAULT_FIELD_WEIGHTS = {"title": 2.0, "description": 1.0, "keywords": 3.0}
# Fields without a configured weight count like a description.
UNLISTED_FIELD_WEIGHT = 1.0
# Edits after which the arrays are rewritten (added postings, or dead rows beyond the live ones).
REWRITE_AFTER = 100_000
# save() writes one .npy file per array (np.load maps the postings instead of reading them) and a sidecar.
SIDECAR_FILE = "bm25.json"
SIDECAR_FORMAT = 1
ARRAY_FILES = ("starts", "rows", "frequencies", "lengths", "terms", "ids")
MAPPED_ARRAYS = ("rows", "frequencies")   # read from the page cache as queries touch them


class BM25Index:
    """Inverted index (term -> postings of document rows and weighted tf) scored with BM25.

        >>> bm25 = BM25Index(k1=1.2, b=0.75, field_weights={"title": 2.0, "description": 1.0})
        >>> bm25.upsert("D1", {"title": ["钓具"], "description": ["碳纤维", "钓竿"]})
        >>> bm25.scores(["钓竿"])
        {'D1': 0.28...}

    Postings are numpy arrays: about 8 bytes each, so a million records fit in
    a few hundred MB, and scoring a query is a few array operations per query
    term over that term's postings only (bench/engine_scale.py). build() lays
    them out in one pass. upsert() and remove() change one document without a
    rebuild: a removed or replaced document's row is marked dead (skipped by
    scoring and document frequencies) and new rows' postings are kept per term
    until dead rows or added postings grow large, when the arrays are rewritten.
    Scores are the same float64 sums as term-by-term Python would give (weighted
    frequencies are stored as float32, exact for the default field weights).
    """

    def __init__(
        self, k1: float = 1.5, b: float = 0.75, field_weights: Mapping[str, float] | None = None,
        rewrite_after: int = REWRITE_AFTER,
    ) -> None:
        self.k1 = k1
        self.b = b
        self.field_weights = dict(DEFAULT_FIELD_WEIGHTS if field_weights is None else field_weights)
        self.rewrite_after = rewrite_after
        self.checksum: str | None = None   # of the records a saved index was built from (save, load)
        self._lay_out({}, [], [], [], [], [])

    def _lay_out(self, terms: dict[str, int], ids: list[str], lengths: Sequence[float],
                 term_numbers: Sequence[int], rows: Sequence[int], frequencies: Sequence[float]) -> None:
        """Replace everything with documents `ids` (row = position) and their postings (any order)."""
        term_numbers = np.asarray(term_numbers, dtype=np.int64)
        order = np.argsort(term_numbers, kind="stable")      # rows stay increasing within a term
        self._terms = terms
        self._starts = np.concatenate([[0], np.cumsum(np.bincount(term_numbers, minlength=len(terms)))])
        self._rows = np.asarray(rows, dtype=np.int32)[order]
        self._frequencies = np.asarray(frequencies, dtype=np.float32)[order]
        self._added: dict[int, tuple[list[int], list[float]]] = {}   # term number -> rows, tfs since
        self._added_count = 0
        self._ids = list(ids)                                  # row -> doc id (dead rows keep theirs)
        self._row_of = {doc_id: row for row, doc_id in enumerate(ids)}
        self._length = np.asarray(lengths, dtype=np.float64)
        self._alive = np.ones(len(ids), dtype=bool)
        self._forget_statistics()

    @property
    def parameters(self) -> str:
        """What decides the scores besides the tokens (part of a saved index's checksum).

            >>> BM25Index().parameters
            'BM25F k1=1.5 b=0.75 description=1.0 keywords=3.0 title=2.0'
        """
        weights = " ".join(f"{field}={weight}" for field, weight in sorted(self.field_weights.items()))
        return f"BM25F k1={self.k1} b={self.b} {weights}"

    def save(self, folder: str | Path, checksum: str) -> None:
        """Write the arrays (.npy) and a JSON sidecar (parameters, checksum, each file's digest) to `folder`.

            >>> bm25 = BM25Index()
            >>> bm25.build({"S1": {"title": ["碳纤维", "预浸料"]}, "S2": {"title": ["海参", "加工"]}})
            >>> import tempfile
            >>> with tempfile.TemporaryDirectory() as folder:
            ...     bm25.save(folder, checksum="…")   # records_checksum((id, fields key) pairs, "bm25", parameters)
            ...     BM25Index.load(folder).search(["海参"], k=5) == bm25.search(["海参"], k=5)
            True

        Edits since the arrays were laid out are folded in first, so the files hold live documents only.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self._added or len(self._row_of) != len(self._ids):
            self._rewrite()
        arrays = {"starts": self._starts, "rows": self._rows, "frequencies": self._frequencies,
                  "lengths": self._length, "terms": _joined(self._terms), "ids": _joined(self._ids)}
        digests = {}
        for name in ARRAY_FILES:
            path = folder / f"bm25-{name}.npy"
            write_atomically(path, lambda temporary: _save_array(temporary, arrays[name]))
            digests[name] = file_sha256(path)
        sidecar = {"format": SIDECAR_FORMAT, "checksum": checksum, "k1": self.k1, "b": self.b,
                   "field_weights": self.field_weights, "sha256": digests}
        text = json.dumps(sidecar, ensure_ascii=False)
        write_atomically(folder / SIDECAR_FILE, lambda path: path.write_text(text, encoding="utf-8"))
        self.checksum = checksum

    @classmethod
    def load(cls, folder: str | Path, rewrite_after: int = REWRITE_AFTER) -> "BM25Index | None":
        """The index saved in `folder`, or None if it is missing, damaged or inconsistent (the caller rebuilds).

            >>> import tempfile
            >>> with tempfile.TemporaryDirectory() as folder:
            ...     BM25Index.load(folder) is None
            True

        The postings are memory-mapped: a restart reads none of them, and only the pages of terms that
        queries use become resident.
        """
        folder = Path(folder)
        try:
            sidecar = json.loads((folder / SIDECAR_FILE).read_text(encoding="utf-8"))
            if sidecar["format"] != SIDECAR_FORMAT:
                return None
            arrays = {}
            for name in ARRAY_FILES:
                path = folder / f"bm25-{name}.npy"
                # The digests tie the files to the sidecar: a crash between writing them, or a stray
                # edit, leaves a set that must not be trusted.
                if file_sha256(path) != sidecar["sha256"][name]:
                    return None
                array = np.load(path, mmap_mode="r" if name in MAPPED_ARRAYS else None, allow_pickle=False)
                # A plain view of the mapping: np.memmap's slices cost ~10 µs each, a query takes hundreds.
                arrays[name] = array.view(np.ndarray)
            loaded = cls(float(sidecar["k1"]), float(sidecar["b"]), sidecar["field_weights"], rewrite_after)
            terms, ids = _split(arrays["terms"]), _split(arrays["ids"])
            starts, rows = np.asarray(arrays["starts"], dtype=np.int64), arrays["rows"]
            if len(starts) != len(terms) + 1 or starts[-1] != len(rows) or len(arrays["frequencies"]) != len(rows) \
                    or len(arrays["lengths"]) != len(ids) or rows.dtype != np.int32:
                return None
            loaded._lay_out_saved(dict(zip(terms, range(len(terms)))), ids, arrays["lengths"], starts, rows,
                                  arrays["frequencies"])
            loaded.checksum = sidecar["checksum"]
            return loaded
        except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
            log.info("cannot load BM25 index from %s: %s", folder, error)
            return None

    def _lay_out_saved(self, terms: dict[str, int], ids: list[str], lengths: np.ndarray, starts: np.ndarray,
                       rows: np.ndarray, frequencies: np.ndarray) -> None:
        """Take arrays already laid out by _lay_out (postings sorted by term) as they are."""
        self._terms, self._starts, self._rows, self._frequencies = terms, starts, rows, frequencies
        self._added, self._added_count = {}, 0
        self._ids = ids
        self._row_of = {doc_id: row for row, doc_id in enumerate(ids)}
        self._length = np.asarray(lengths, dtype=np.float64)
        self._alive = np.ones(len(ids), dtype=bool)
        self._forget_statistics()

    def _forget_statistics(self) -> None:
        self._document_frequency: dict[str, int] = {}
        self._average_length: float | None = None
        self._norms: np.ndarray | None = None
        self._last_query: tuple | None = None   # (distinct terms, their _score_rows), see scores_of

    def __len__(self) -> int:
        return len(self._row_of)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._row_of

    def weighted_terms(self, fields: Fields) -> tuple[dict[str, float], float]:
        """Weighted term frequencies and weighted length of one document.

            >>> BM25Index().weighted_terms({"title": ["钓具"], "keywords": ["钓具", "碳纤维"]})
            ({'钓具': 5.0, '碳纤维': 3.0}, 8.0)
        """
        frequencies: dict[str, float] = defaultdict(float)
        length = 0.0
        for field, tokens in fields.items():
            weight = self.field_weights.get(field, UNLISTED_FIELD_WEIGHT)
            for token in tokens:
                frequencies[token] += weight
            length += weight * len(tokens)
        return {term: tf for term, tf in frequencies.items() if tf > 0}, length

    def build(self, docs: Mapping[str, Fields] | Iterable[tuple[str, Fields]]) -> None:
        """Replace the whole content with `docs` (doc id -> field -> tokens, or (doc id, fields) pairs:
        a generator lets a caller hand over a million documents' tokens without holding them all)."""
        terms: dict[str, int] = {}
        term_numbers, rows, frequencies = array("q"), array("l"), array("d")
        lengths = array("d")
        ids: list[str] = []
        for row, (doc_id, fields) in enumerate(docs.items() if isinstance(docs, Mapping) else docs):
            ids.append(doc_id)
            weighted, length = self.weighted_terms(fields)
            lengths.append(length)
            for term, tf in weighted.items():
                term_numbers.append(terms.setdefault(term, len(terms)))
                rows.append(row)
                frequencies.append(tf)
        self._lay_out(terms, ids, lengths, term_numbers, rows, frequencies)

    def upsert(self, doc_id: str, fields: Fields) -> None:
        """Add a document, or replace the one with the same id."""
        self.remove(doc_id)
        weighted, length = self.weighted_terms(fields)
        row = len(self._ids)
        self._ids.append(doc_id)
        self._row_of[doc_id] = row
        self._length = np.append(self._length, length)
        self._alive = np.append(self._alive, True)
        for term, tf in weighted.items():
            rows, frequencies = self._added.setdefault(self._terms.setdefault(term, len(self._terms)), ([], []))
            rows.append(row)
            frequencies.append(tf)
        self._added_count += len(weighted)
        self._forget_statistics()
        if self._added_count > max(self.rewrite_after, len(self._rows) // 2):
            self._rewrite()

    def remove(self, doc_id: str) -> None:
        """Drop a document; an unknown id is ignored."""
        row = self._row_of.pop(doc_id, None)
        if row is None:
            return
        self._alive[row] = False
        self._forget_statistics()
        if len(self._ids) - len(self._row_of) > max(self.rewrite_after, len(self._row_of)):
            self._rewrite()

    def _rewrite(self) -> None:
        """Lay the live documents and postings out afresh: dead rows and emptied terms go."""
        live = np.flatnonzero(self._alive)
        renumbered = np.full(len(self._ids), -1, dtype=np.int64)
        renumbered[live] = np.arange(len(live))
        terms: dict[str, int] = {}
        term_numbers, rows, frequencies = [], [], []
        for term in list(self._terms):
            term_rows, term_frequencies = self._postings(term)
            if len(term_rows):
                term_numbers.append(np.full(len(term_rows), terms.setdefault(term, len(terms))))
                rows.append(renumbered[term_rows])
                frequencies.append(term_frequencies)
        self._lay_out(terms, [self._ids[row] for row in live], self._length[live],
                      *(np.concatenate(parts) if parts else [] for parts in (term_numbers, rows, frequencies)))

    def _postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the live documents containing `term`, and its weighted frequency in each."""
        number = self._terms.get(term)
        if number is None:
            return np.empty(0, np.int32), np.empty(0, np.float32)
        span = slice(*self._starts[number:number + 2]) if number + 1 < len(self._starts) else slice(0, 0)
        rows, frequencies = self._rows[span], self._frequencies[span]
        if number in self._added:
            added_rows, added_frequencies = self._added[number]
            rows = np.concatenate([rows, np.asarray(added_rows, dtype=np.int32)])
            frequencies = np.concatenate([frequencies, np.asarray(added_frequencies, dtype=np.float32)])
        if len(self._row_of) == len(self._ids):     # nothing removed since the arrays were laid out
            return rows, frequencies
        live = self._alive[rows]
        return rows[live], frequencies[live]

    @property
    def average_length(self) -> float:
        """Mean weighted document length (recomputed after any change)."""
        if self._average_length is None:
            lengths = self._length[self._alive]
            self._average_length = float(lengths.sum() / len(lengths)) if len(lengths) else 0.0
        return self._average_length

    def document_frequency(self, term: str) -> int:
        """Number of documents containing `term` in any field (remembered until the next change)."""
        if term not in self._document_frequency:
            self._document_frequency[term] = len(self._postings(term)[0])
        return self._document_frequency[term]

    def idf(self, term: str) -> float:
        """ln(1 + (N - df + 0.5) / (df + 0.5)): never negative, even for very common terms.

            >>> bm25 = BM25Index()
            >>> bm25.build({"S1": {"title": ["碳纤维", "预浸料"]}, "S2": {"title": ["海参", "加工"]}})
            >>> bm25.idf("碳纤维")
            0.693...
        """
        df = self.document_frequency(term)
        return math.log(1.0 + (len(self) - df + 0.5) / (df + 0.5))

    def _length_norm(self, length):
        """k1 · (1 − b + b · length / average length), for a float or an array of lengths."""
        average = self.average_length
        relative_length = length / average if average > 0 else 1.0
        return self.k1 * (1.0 - self.b + self.b * relative_length)

    def _term_score(self, idf: float, tf, norm):
        """BM25 of one term from its weighted frequency and the document's length norm (floats or arrays)."""
        return idf * tf * (self.k1 + 1.0) / (tf + norm)

    def _score_rows(self, query_tokens: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the documents sharing a term with the query (increasing), and their scores (> 0).

        A term repeated in the query counts once: queries here are whole
        records, whose repetitions say little about what is being asked for.
        """
        terms = tuple(dict.fromkeys(query_tokens))
        last = self._last_query
        if last is not None and last[0] == terms:
            return last[1]
        result = self._score_terms(terms)
        self._last_query = (terms, result)
        return result

    def _score_terms(self, terms: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        if self._norms is None:
            self._norms = self._length_norm(self._length)
        rows, scores, norms = [], [], self._norms
        for term in terms:
            term_rows, frequencies = self._postings(term)
            if len(term_rows):
                self._document_frequency[term] = len(term_rows)
                rows.append(term_rows)
                scores.append(self._term_score(self.idf(term), frequencies.astype(np.float64), norms[term_rows]))
        if not rows:
            return np.empty(0, np.int64), np.empty(0, np.float64)
        # Summed in query-term order per document, as term-by-term Python would.
        totals = np.bincount(np.concatenate(rows), weights=np.concatenate(scores))
        hits = np.flatnonzero(totals > 0)
        return hits, totals[hits]

    def scores(self, query_tokens: Iterable[str]) -> dict[str, float]:
        """BM25 score of every document sharing a term with the query (score > 0 only)."""
        rows, scores = self._score_rows(query_tokens)
        return {self._ids[row]: score for row, score in zip(rows.tolist(), scores.tolist())}

    def scores_of(self, query_tokens: Iterable[str], doc_ids: Iterable[str]) -> dict[str, float]:
        """BM25 score of each given document (0 when it shares no term or is not indexed).

            >>> bm25 = BM25Index()
            >>> bm25.build({"S1": {"title": ["碳纤维", "预浸料"]}, "S2": {"title": ["海参", "加工"]}})
            >>> bm25.scores_of(["碳纤维"], ["S1", "S3"])
            {'S1': 0.990..., 'S3': 0.0}

        The query's scores are remembered from the last search or scores_of with the same query, so
        the ranker pays once for a query's top k and the BM25 of its dense-only candidates.
        """
        rows, scores = self._score_rows(query_tokens)
        found = {}
        for doc_id in doc_ids:
            row = self._row_of.get(doc_id, -1)
            place = int(np.searchsorted(rows, row))
            found[doc_id] = float(scores[place]) if place < len(rows) and rows[place] == row else 0.0
        return found

    def search(self, query_tokens: Iterable[str], k: int) -> list[tuple[str, float]]:
        """The k best (doc id, score), best first; ties broken by doc id for stable output.

            >>> bm25 = BM25Index()
            >>> bm25.build({"S1": {"title": ["碳纤维", "预浸料"]}, "S2": {"title": ["海参", "加工"]}})
            >>> bm25.search(["碳纤维", "预浸料"], k=3)
            [('S1', 1.980...)]
        """
        if k <= 0:
            return []
        rows, scores = self._score_rows(query_tokens)
        if len(rows) > k:  # every document scoring at least the k-th best, so ties are cut by id below
            keep = scores >= np.partition(scores, len(scores) - k)[len(scores) - k]
            rows, scores = rows[keep], scores[keep]
        hits = [(self._ids[row], score) for row, score in zip(rows.tolist(), scores.tolist())]
        return heapq.nsmallest(k, hits, key=lambda item: (-item[1], item[0]))

    def term_contributions(self, query_tokens: Iterable[str], fields: Fields) -> dict[str, float]:
        """Each shared query term's share of the BM25 score of a document given by its fields.

            >>> bm25 = BM25Index()
            >>> bm25.build({"S1": {"title": ["碳纤维", "预浸料"]}, "S2": {"title": ["海参", "加工"]}})
            >>> bm25.term_contributions(["碳纤维", "海参"], {"title": ["碳纤维", "预浸料"]})
            {'碳纤维': 0.990...}

        The document need not be indexed (collection statistics come from the
        index), so proposals can be explained for records being edited.
        """
        frequencies, length = self.weighted_terms(fields)
        return {
            term: self._term_score(self.idf(term), frequencies[term], self._length_norm(length))
            for term in dict.fromkeys(query_tokens)
            if term in frequencies
        }


def _save_array(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as stream:   # np.save given a name would add ".npy" to the temporary one
        np.save(stream, np.ascontiguousarray(array), allow_pickle=False)


def _joined(words: Iterable[str]) -> np.ndarray:
    """Words (terms or ids: never holding a newline) as one UTF-8 byte array, for np.save."""
    return np.frombuffer("\n".join(words).encode("utf-8"), dtype=np.uint8)


def _split(joined: np.ndarray) -> list[str]:
    text = joined.tobytes().decode("utf-8")
    return text.split("\n") if text else []


def shared_terms(query_tokens: Iterable[str], doc_fields: Fields, bm25: BM25Index) -> list[str]:
    """The query terms found in the document, largest BM25 contribution first.

        >>> bm25 = BM25Index()
        >>> bm25.build({"S1": {"title": ["碳纤维", "预浸料"]}, "S2": {"title": ["海参", "加工"]}})
        >>> shared_terms(["海参", "碳纤维", "预浸料"], {"title": ["碳纤维", "预浸料"]}, bm25)
        ['碳纤维', '预浸料']

    Used for the "why this pair" explanation; rarer terms (higher idf) and
    terms in heavier fields come first, ties keep query order.
    """
    contributions = bm25.term_contributions(query_tokens, doc_fields)
    return sorted(contributions, key=lambda term: -contributions[term])
