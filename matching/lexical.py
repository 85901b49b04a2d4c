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
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

Fields = Mapping[str, Sequence[str]]

DEFAULT_FIELD_WEIGHTS = {"title": 2.0, "description": 1.0, "keywords": 3.0}
# Fields without a configured weight count like a description.
UNLISTED_FIELD_WEIGHT = 1.0


class BM25Index:
    """Inverted index (term -> {doc id: weighted tf}) scored with BM25.

        >>> bm25 = BM25Index(k1=1.2, b=0.75, field_weights={"title": 2.0, "description": 1.0})
        >>> bm25.upsert("D1", {"title": ["钓具"], "description": ["碳纤维", "钓竿"]})
        >>> bm25.scores(["钓竿"])
        {'D1': 0.28...}

    Scoring a query touches only the posting lists of its terms.
    """

    def __init__(
        self, k1: float = 1.5, b: float = 0.75, field_weights: Mapping[str, float] | None = None
    ) -> None:
        self.k1 = k1
        self.b = b
        self.field_weights = dict(DEFAULT_FIELD_WEIGHTS if field_weights is None else field_weights)
        self._postings: dict[str, dict[str, float]] = {}
        # The forward index lets remove() find exactly the postings to undo.
        self._doc_terms: dict[str, dict[str, float]] = {}
        self._doc_length: dict[str, float] = {}
        self._average_length: float | None = None

    def __len__(self) -> int:
        return len(self._doc_length)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._doc_length

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

    def build(self, docs: Mapping[str, Fields]) -> None:
        """Replace the whole content with `docs` (doc id -> field -> tokens)."""
        self._postings, self._doc_terms, self._doc_length = {}, {}, {}
        self._average_length = None
        for doc_id, fields in docs.items():
            self._add(doc_id, fields)

    def upsert(self, doc_id: str, fields: Fields) -> None:
        """Add a document, or replace the one with the same id."""
        self.remove(doc_id)
        self._add(doc_id, fields)

    def _add(self, doc_id: str, fields: Fields) -> None:
        frequencies, length = self.weighted_terms(fields)
        for term, tf in frequencies.items():
            self._postings.setdefault(term, {})[doc_id] = tf
        self._doc_terms[doc_id] = frequencies
        self._doc_length[doc_id] = length
        self._average_length = None

    def remove(self, doc_id: str) -> None:
        """Drop a document; an unknown id is ignored."""
        frequencies = self._doc_terms.pop(doc_id, None)
        if frequencies is None:
            return
        for term in frequencies:
            postings = self._postings[term]
            del postings[doc_id]
            if not postings:
                del self._postings[term]
        del self._doc_length[doc_id]
        self._average_length = None

    @property
    def average_length(self) -> float:
        """Mean weighted document length (recomputed exactly after any change)."""
        if self._average_length is None:
            lengths = self._doc_length.values()
            self._average_length = math.fsum(lengths) / len(lengths) if lengths else 0.0
        return self._average_length

    def document_frequency(self, term: str) -> int:
        """Number of documents containing `term` in any field."""
        return len(self._postings.get(term, ()))

    def idf(self, term: str) -> float:
        """ln(1 + (N - df + 0.5) / (df + 0.5)): never negative, even for very common terms.

            >>> bm25.idf("碳纤维")
            0.693...
        """
        df = self.document_frequency(term)
        return math.log(1.0 + (len(self) - df + 0.5) / (df + 0.5))

    def _term_score(self, idf: float, tf: float, length: float) -> float:
        average = self.average_length
        relative_length = length / average if average > 0 else 1.0
        norm = self.k1 * (1.0 - self.b + self.b * relative_length)
        return idf * tf * (self.k1 + 1.0) / (tf + norm)

    def scores(self, query_tokens: Iterable[str]) -> dict[str, float]:
        """BM25 score of every document sharing a term with the query (score > 0 only).

        A term repeated in the query counts once: queries here are whole
        records, whose repetitions say little about what is being asked for.
        """
        totals: dict[str, float] = defaultdict(float)
        for term in dict.fromkeys(query_tokens):
            postings = self._postings.get(term)
            if not postings:
                continue
            idf = self.idf(term)
            for doc_id, tf in postings.items():
                totals[doc_id] += self._term_score(idf, tf, self._doc_length[doc_id])
        return {doc_id: score for doc_id, score in totals.items() if score > 0}

    def search(self, query_tokens: Iterable[str], k: int) -> list[tuple[str, float]]:
        """The k best (doc id, score), best first; ties broken by doc id for stable output.

            >>> bm25.search(["碳纤维", "预浸料"], k=3)
            [('S1', 2.281...)]
        """
        if k <= 0:
            return []
        return heapq.nsmallest(k, self.scores(query_tokens).items(), key=lambda item: (-item[1], item[0]))

    def term_contributions(self, query_tokens: Iterable[str], fields: Fields) -> dict[str, float]:
        """Each shared query term's share of the BM25 score of a document given by its fields.

            >>> bm25.term_contributions(["碳纤维", "海参"], {"title": ["碳纤维", "预浸料"]})
            {'碳纤维': 1.129...}

        The document need not be indexed (collection statistics come from the
        index), so proposals can be explained for records being edited.
        """
        frequencies, length = self.weighted_terms(fields)
        return {
            term: self._term_score(self.idf(term), frequencies[term], length)
            for term in dict.fromkeys(query_tokens)
            if term in frequencies
        }


def shared_terms(query_tokens: Iterable[str], doc_fields: Fields, bm25: BM25Index) -> list[str]:
    """The query terms found in the document, largest BM25 contribution first.

        >>> shared_terms(["海参", "碳纤维", "预浸料"], {"title": ["碳纤维", "预浸料"]}, bm25)
        ['碳纤维', '预浸料']

    Used for the "why this pair" explanation; rarer terms (higher idf) and
    terms in heavier fields come first, ties keep query order.
    """
    contributions = bm25.term_contributions(query_tokens, doc_fields)
    return sorted(contributions, key=lambda term: -contributions[term])
