"""Hybrid ranking of demand–supply pairs, as stages with plain data between them.

    candidates (dense top-n ∪ lexical top-n) → scores (fusion) → filters → explanation

Both directions use the same stages: supplies for a demand (需求找成果) and demands for a
supply (成果找需求).

    >>> matcher = Matcher(tokenizer)                                        # doctest: +SKIP
    >>> matcher.demands.build(demands, demand_vectors, tokenizer)           # doctest: +SKIP
    >>> matcher.supplies.build(supplies, supply_vectors, tokenizer)         # doctest: +SKIP
    >>> matcher.supplies_for(demand, demand_vector, k=5)[0].reasons["shared_terms"]   # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field

import numpy as np

from .index import VectorIndex
from .lexical import BM25Index, shared_terms
from .text import Tokenizer, normalize

RETRIEVERS = ("hybrid", "dense", "lexical")
FILTER_WIDENING = 8  # how much the candidate pool grows while too few candidates pass the filters
EXACT_FILTER_LIMIT = 5_000  # lists up to this size are scored whole when filtered


@dataclass(frozen=True)
class FusionConfig:
    """How the dense and lexical signals combine.

    convex: alpha · dense + (1 − alpha) · lexical, each normalised to [0, 1] by fixed bounds so a score
    means the same thing for every query (the gap threshold and the review zones depend on that).
    rrf: Σ 1 / (rrf_k + rank), for comparison.
    """
    method: str = "convex"
    alpha: float = 0.5
    rrf_k: int = 10
    candidates: int = 50
    cluster_bonus: float = 0.0


@dataclass
class Proposal:
    query_id: str
    candidate_id: str
    rank: int
    score: float
    dense: float
    lexical: float
    reasons: dict = field(default_factory=dict)


SENTENCE_END = re.compile(r"(?<=[。！？；!?;\n])")


def record_text(record: dict) -> str:
    """The text that is embedded for a record: title, keywords, then description."""
    return normalize("".join(record_segments(record)))


def embedded_segments(segments: list[str]) -> list[str]:
    """The normalised text cut where the written segments end: joined, they are exactly the text
    that is embedded, piece for piece with `segments`.

        >>> embedded_segments(["ＰＶＣ管发硬。", "换了增塑剂 "])
        ['pvc管发硬.', '换了增塑剂']
    """
    text = normalize("".join(segments))
    ends = [len(normalize("".join(segments[:count]))) for count in range(1, len(segments))] + [len(text)]
    starts = [0] + ends[:-1]
    return [text[start:end] for start, end in zip(starts, ends)]


def record_segments(record: dict) -> list[str]:
    """The record's text in consecutive pieces, as written: the title, the keywords, then each
    sentence of the description. Joined and normalised they are record_text(record), so one forward
    pass gives the record's vector and each piece's (see E5Onnx.encode_segments).

        >>> record_segments({"title": "海参自溶", "keywords": ["海参", "自溶"], "description": "鲜参化皮。出品率低"})
        ['海参自溶。', '海参、自溶。', '鲜参化皮。', '出品率低']
    """
    keywords = "、".join(record.get("keywords") or [])
    parts = [part for part in (record.get("title") or "", keywords, record.get("description") or "") if part]
    segments = [part + "。" for part in parts[:-1]]
    if parts:
        segments += [piece for piece in SENTENCE_END.split(parts[-1]) if piece]
    return segments


def record_fields(record: dict, tokenizer: Tokenizer) -> dict[str, list[str]]:
    """Tokens per BM25 field."""
    return {
        "title": tokenizer.tokens(record.get("title") or ""),
        "description": tokenizer.tokens(record.get("description") or ""),
        "keywords": [token for keyword in record.get("keywords") or [] for token in tokenizer.tokens(keyword)],
    }


FIELD_NAMES = ("title", "keywords", "description")


def text_digest(record: dict) -> str:
    """A hash of the text the engine indexes (title, keywords, description, as written): what a record's
    vector, tokens and saved index entries are derived from.

        >>> text_digest({"title": "海参", "keywords": ["自溶"]}) == text_digest({"title": "海参自溶"})
        False

    Each piece's length is hashed before the pieces, so no two records' texts share a digest. ~5 µs a
    record (a restart digests every record), where hashing json.dumps took ~20 µs and record_text ~150.
    """
    keywords = list(record.get("keywords") or [])
    pieces = [record.get("title") or "", *keywords, record.get("description") or ""]
    lengths = " ".join(str(len(piece)) for piece in pieces)
    return hashlib.sha256(f"{len(keywords)} {lengths}\n{''.join(pieces)}".encode("utf-8")).hexdigest()


def fields_key(record: dict, tokenizer: Tokenizer) -> str:
    """Cache key of a record's tokens: the tokenizer's version and a hash of the text it would cut."""
    return tokenizer.version + ":" + text_digest(record)


def encode_fields(fields: dict[str, list[str]]) -> str:
    """Tokens per field as one string (tokens never hold whitespace: normalize() folds it, jieba cuts there).

        >>> encode_fields({"title": ["海参", "自溶"], "keywords": [], "description": ["鲜参"]})
        '海参 自溶\\n\\n鲜参'
    """
    return "\n".join(" ".join(fields.get(name, ())) for name in FIELD_NAMES)


def decode_fields(text: str) -> dict[str, list[str]]:
    """encode_fields() undone.

        >>> decode_fields('海参 自溶\\n\\n鲜参')
        {'title': ['海参', '自溶'], 'keywords': [], 'description': ['鲜参']}
    """
    return {name: part.split() for name, part in zip(FIELD_NAMES, text.split("\n"))}


def query_tokens(fields: dict[str, list[str]]) -> list[str]:
    """A record used as a query: its distinct tokens from every field."""
    return list(dict.fromkeys(fields["title"] + fields["keywords"] + fields["description"]))


# Records -> their tokens per BM25 field, in order. The default tokenizes; the service's reads and
# fills the store's token cache (service/engine.py), so a restart does not run jieba again.
FieldsSource = Callable[[list[dict]], list[dict[str, list[str]]]]
BUILD_CHUNK = 10_000  # records whose tokens are held at once while BM25 is built


def tokenized_by(tokenizer: Tokenizer) -> FieldsSource:
    """The FieldsSource that runs the tokenizer on every record it is given."""
    return lambda records: [record_fields(record, tokenizer) for record in records]


# Record ids -> those records by id (a few at a time: the candidates shown, the sample calibrated on).
RecordsReader = Callable[[list[str]], dict[str, dict]]
READ_CHUNK = 500  # records read at once when every record of a list is walked


class StoredRecords(MutableMapping):
    """A list's records by id, read when asked for instead of held: the engine keeps a million ids,
    not a million decoded records (BENCHMARKS.md, "BM25's arrays saved, records read as shown").

        >>> records = StoredRecords(["S1", "S2"], lambda ids: {i: {"id": i, "title": "碳纤维"} for i in ids})
        >>> records["S2"], "S3" in records, len(records)
        ({'id': 'S2', 'title': '碳纤维'}, False, 2)

    Setting a record only notes its id (the reader has it already); iterating walks the ids in the
    order they were given and added, reading READ_CHUNK records at a time for values() and items().
    """

    def __init__(self, ids: Iterable[str], read: RecordsReader):
        self._ids = dict.fromkeys(ids)
        self._read = read

    def __getitem__(self, record_id: str) -> dict:
        if record_id not in self._ids:
            raise KeyError(record_id)
        return self.many([record_id])[0]

    def many(self, record_ids: list[str]) -> list[dict]:
        """The records of `record_ids`, in that order, in one read.

        A record gone from the reader (another server process deleted it; this one applies the change
        within a second) comes back as its id alone, so a ranking under way still completes.
        """
        found = self._read(record_ids)
        return [found.get(record_id) or {"id": record_id} for record_id in record_ids]

    def __setitem__(self, record_id: str, record: dict) -> None:
        self._ids[record_id] = None

    def __delitem__(self, record_id: str) -> None:
        del self._ids[record_id]

    def pop(self, record_id: str, *default):
        """Forget an id without reading its record (Side.remove)."""
        if record_id in self._ids:
            del self._ids[record_id]
            return None
        if default:
            return default[0]
        raise KeyError(record_id)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._ids

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def values(self) -> Iterator[dict]:
        return (record for _, record in self.items())

    def items(self) -> Iterator[tuple[str, dict]]:
        ids = list(self._ids)
        for start in range(0, len(ids), READ_CHUNK):
            chunk = ids[start:start + READ_CHUNK]
            yield from zip(chunk, self.many(chunk))


def chunked_fields(records: Iterable[dict], fields_source: FieldsSource) -> Iterator[tuple[str, dict[str, list[str]]]]:
    """(record id, its tokens per field) for each record, BUILD_CHUNK records' tokens held at a time,
    so BM25Index.build can take a million records' tokens without holding them all."""
    chunk = []
    for record in records:
        chunk.append(record)
        if len(chunk) == BUILD_CHUNK:
            yield from zip((record["id"] for record in chunk), fields_source(chunk))
            chunk = []
    if chunk:
        yield from zip((record["id"] for record in chunk), fields_source(chunk))


class Side:
    """One list (demands or supplies) indexed for search: vectors, BM25 and the attributes filters need.

    Token lists are not kept (at 1M records they were a third of the memory): BM25 holds its own
    postings, and the few records an explanation shows get theirs from `fields_source`. Records are
    a dict given to build(), or a StoredRecords that reads the few a ranking shows (attach()).
    """

    def __init__(self, name: str, dim: int, spec: str = "Flat"):
        self.name = name
        self.records: MutableMapping[str, dict] = {}
        self.fields_source: FieldsSource | None = None
        self.vectors = VectorIndex(dim, spec)
        self.bm25 = BM25Index()
        self.calibration = Calibration()  # how queries from the other list score against this one

    def build(self, records: list[dict], vectors: np.ndarray | VectorIndex, tokenizer: Tokenizer,
              fields_source: FieldsSource | None = None) -> None:
        """Index the records; `vectors` is their matrix, or a VectorIndex already built (or loaded) over
        them. Tokens come from `fields_source` (default: the tokenizer), BUILD_CHUNK records at a time."""
        fields_source = fields_source or tokenized_by(tokenizer)
        if not isinstance(vectors, VectorIndex):
            index = VectorIndex(self.vectors.dim, self.vectors.requested_spec)
            index.build([record["id"] for record in records], vectors)
            vectors = index
        bm25 = BM25Index(self.bm25.k1, self.bm25.b, self.bm25.field_weights, self.bm25.rewrite_after)
        bm25.build(chunked_fields(records, fields_source))
        self.attach({record["id"]: record for record in records}, vectors, bm25, fields_source)

    def attach(self, records: MutableMapping[str, dict], vectors: VectorIndex, bm25: BM25Index,
               fields_source: FieldsSource) -> None:
        """Index from parts already built or loaded over the same records (the engine's restart)."""
        self.records, self.vectors, self.bm25, self.fields_source = records, vectors, bm25, fields_source

    def records_of(self, record_ids: list[str]) -> list[dict]:
        """Indexed records, in one read when they are stored ones."""
        if isinstance(self.records, StoredRecords):
            return self.records.many(record_ids)
        return [self.records[record_id] for record_id in record_ids]

    def fields_of(self, record_ids: list[str]) -> list[dict[str, list[str]]]:
        """Tokens per BM25 field of indexed records (for explanations and calibration)."""
        return self.fields_source(self.records_of(record_ids))

    def upsert(self, record: dict, vector: np.ndarray, tokenizer: Tokenizer) -> None:
        if self.fields_source is None:
            self.fields_source = tokenized_by(tokenizer)
        self.records[record["id"]] = record
        self.vectors.upsert([record["id"]], vector.reshape(1, -1))
        self.bm25.upsert(record["id"], self.fields_source([record])[0])

    def remove(self, record_id: str) -> None:
        self.records.pop(record_id, None)
        self.vectors.remove([record_id])
        self.bm25.remove(record_id)

    def __len__(self) -> int:
        return len(self.records)


@dataclass(frozen=True)
class Calibration:
    """Fixed bounds that turn raw signals into [0, 1] the same way for every query.

    Dense: cosine mapped linearly between a typical unrelated pair (floor) and a near-duplicate
    (ceiling). Lexical: BM25 saturated as s / (s + midpoint), where midpoint is the typical best
    BM25 score on this list, so 0.5 means "as lexically close as a usual best match". Both scales
    depend on the model and the lists, so they are measured on the lists (see calibrate()).
    """
    dense_floor: float = 0.75
    dense_ceiling: float = 0.92
    lexical_midpoint: float = 10.0

    def dense(self, cosine: float) -> float:
        return float(np.clip((cosine - self.dense_floor) / (self.dense_ceiling - self.dense_floor), 0.0, 1.0))

    def lexical(self, bm25: float) -> float:
        return bm25 / (bm25 + self.lexical_midpoint) if bm25 > 0 else 0.0


def calibrate(queries: Side, target: Side, query_vectors: np.ndarray, target_vectors: np.ndarray,
              sample: int = 1000, seed: int = 0) -> Calibration:
    """Measure the signals' scales for queries from one list against the other.

    Dense floor = median cosine of random pairs, ceiling = their top 0.1%; lexical midpoint =
    median of each sampled query's best BM25 score. (A ceiling at the 99th percentile of each
    query's best cosine, which clips far fewer strong pairs at 1.0, ranked worse on both the
    sample and match-dev: BENCHMARKS.md.)
    """
    if len(query_vectors) == 0 or len(target_vectors) == 0:
        return Calibration()
    rng = np.random.default_rng(seed)
    rows = rng.permutation(len(query_vectors))[:sample]
    cosines = (query_vectors[rows] @ target_vectors[rng.permutation(len(target_vectors))[:sample]].T).ravel()
    floor, ceiling = float(np.median(cosines)), float(np.quantile(cosines, 0.999))
    if ceiling - floor < 0.02:
        floor, ceiling = Calibration.dense_floor, Calibration.dense_ceiling
    query_ids = list(queries.records)
    sampled = queries.fields_of([query_ids[row] for row in rows])
    best = [target.bm25.search(query_tokens(fields), 1) for fields in sampled]
    best = [hits[0][1] for hits in best if hits]
    midpoint = float(np.median(best)) if best else Calibration.lexical_midpoint
    return Calibration(dense_floor=floor, dense_ceiling=ceiling, lexical_midpoint=midpoint)


class Matcher:
    """Both lists indexed, and the stages that rank one against the other."""

    def __init__(self, tokenizer: Tokenizer, dim: int, fusion: FusionConfig = FusionConfig(),
                 spec: str = "Flat"):
        self.tokenizer = tokenizer
        self.fusion = fusion
        self.demands = Side("demands", dim, spec)
        self.supplies = Side("supplies", dim, spec)

    def calibrate(self, demand_vectors: np.ndarray, supply_vectors: np.ndarray) -> None:
        """Measure each direction's score scales (call after both sides are built)."""
        self.supplies.calibration = calibrate(self.demands, self.supplies, demand_vectors, supply_vectors)
        self.demands.calibration = calibrate(self.supplies, self.demands, supply_vectors, demand_vectors)

    def supplies_for(self, demand: dict, vector: np.ndarray, k: int = 5, retriever: str = "hybrid",
                     filters: dict | None = None) -> list[Proposal]:
        """需求找成果: the best supplies for one demand."""
        return self.rank(demand, vector, self.supplies, k, retriever, filters)

    def demands_for(self, supply: dict, vector: np.ndarray, k: int = 5, retriever: str = "hybrid",
                    filters: dict | None = None) -> list[Proposal]:
        """成果找需求: the best demands for one supply."""
        return self.rank(supply, vector, self.demands, k, retriever, filters)

    def rank(self, query: dict, vector: np.ndarray, target: Side, k: int, retriever: str = "hybrid",
             filters: dict | None = None) -> list[Proposal]:
        if retriever not in RETRIEVERS:
            raise ValueError(f"未知的检索方式「{retriever}」，可选：{'、'.join(RETRIEVERS)}")
        fields = record_fields(query, self.tokenizer)
        tokens = query_tokens(fields)
        # With filters, a list of up to EXACT_FILTER_LIMIT records is scored whole, so the k best
        # passing records are exact. On a larger list the pool widens until k candidates pass or it
        # holds the whole list: a few wider searches, not scoring every record (the k best of the
        # pool, as unfiltered ranking is).
        pool = len(target) if filters and len(target) <= EXACT_FILTER_LIMIT else self.fusion.candidates
        while True:
            dense = dense_candidates(target, vector, pool) if retriever != "lexical" else {}
            lexical = lexical_candidates(target, tokens, pool) if retriever != "dense" else {}
            scored = self.score(query, vector, target, dense, lexical, tokens, retriever)
            if filters:
                candidates = target.records_of([candidate_id for candidate_id, *_ in scored])
                scored = [item for item, candidate in zip(scored, candidates) if passes(candidate, filters)]
            if not filters or len(scored) >= k or pool >= len(target):
                break
            pool *= FILTER_WIDENING
        proposals = []
        query_text = record_text(query)  # once for every candidate's reasons
        shown = scored[:k]
        shown_records = target.records_of([candidate_id for candidate_id, *_ in shown]) if shown else []
        shown_fields = target.fields_source(shown_records) if shown else []
        for rank, ((candidate_id, score, dense_score, lexical_score), candidate, candidate_fields) in \
                enumerate(zip(shown, shown_records, shown_fields), start=1):
            cosine = float(target.vectors.vector(candidate_id) @ vector.ravel())
            reasons = explain(query, query_text, candidate, tokens, candidate_fields,
                              target.bm25, dense_score, lexical_score, self.tokenizer, cosine)
            proposals.append(Proposal(query["id"], candidate_id, rank, round(score, 4),
                                      round(dense_score, 4), round(lexical_score, 4), reasons))
        return proposals

    def score(self, query: dict, vector: np.ndarray, target: Side, dense: dict[str, float],
              lexical: dict[str, float], tokens: list[str], retriever: str) -> list[tuple[str, float, float, float]]:
        """(candidate, fused score, dense signal, lexical signal), best first."""
        calibration = target.calibration
        candidates = set(dense) | set(lexical)
        if retriever == "hybrid":
            # A candidate found by one retriever only still gets its true score from the other.
            for candidate in candidates - set(dense):
                dense[candidate] = float(target.vectors.vector(candidate) @ vector.ravel())
            lexical.update(target.bm25.scores_of(tokens, candidates - set(lexical)))
        signals = {
            candidate: (calibration.dense(dense[candidate]) if candidate in dense else 0.0,
                        calibration.lexical(lexical.get(candidate, 0.0)))
            for candidate in candidates
        }
        fused = fuse(signals, retriever, self.fusion)
        if self.fusion.cluster_bonus and query.get("industry_cluster"):
            for candidate, record in zip(list(fused), target.records_of(list(fused))):
                if query.get("industry_cluster") == record.get("industry_cluster"):
                    fused[candidate] += self.fusion.cluster_bonus
        ordered = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
        return [(candidate, score, *signals[candidate]) for candidate, score in ordered]


def dense_candidates(target: Side, vector: np.ndarray, n: int) -> dict[str, float]:
    """Candidate generation, dense: the n nearest records by cosine."""
    return dict(target.vectors.search(vector.reshape(1, -1), n)[0])


def lexical_candidates(target: Side, tokens: list[str], n: int) -> dict[str, float]:
    """Candidate generation, lexical: the n best records by BM25."""
    return dict(target.bm25.search(tokens, n))


def fuse(signals: dict[str, tuple[float, float]], retriever: str, fusion: FusionConfig) -> dict[str, float]:
    """Combine (dense, lexical) per candidate into one score."""
    if retriever == "dense":
        return {candidate: dense for candidate, (dense, _) in signals.items()}
    if retriever == "lexical":
        return {candidate: lexical for candidate, (_, lexical) in signals.items()}
    if fusion.method == "rrf":
        by_dense = sorted(signals, key=lambda c: -signals[c][0])
        by_lexical = sorted(signals, key=lambda c: -signals[c][1])
        scores = {candidate: 0.0 for candidate in signals}
        for ranking in (by_dense, by_lexical):
            for position, candidate in enumerate(ranking, start=1):
                scores[candidate] += 1.0 / (fusion.rrf_k + position)
        return scores
    return {candidate: fusion.alpha * dense + (1 - fusion.alpha) * lexical
            for candidate, (dense, lexical) in signals.items()}


def passes(record: dict, filters: dict | None) -> bool:
    """Optional filters on cluster, region, maturity and cooperation mode; empty values don't filter."""
    for name, wanted in (filters or {}).items():
        if wanted and record.get(name) != wanted:
            return False
    return True


def explain(query: dict, query_text: str, candidate: dict, tokens: list[str], candidate_fields: dict[str, list[str]],
            bm25: BM25Index, dense: float, lexical: float, tokenizer: Tokenizer, cosine: float) -> dict:
    """Why this pair: the shared key terms worth reading (Tokenizer.reason_terms), whether cluster and
    cooperation mode agree, each signal, and the raw cosine (the calibrated dense signal is 1.0 for
    every pair above the lists' ceiling; the cosine still tells strong pairs apart)."""
    terms = tokenizer.reason_terms(shared_terms(tokens, candidate_fields, bm25), query_text, record_text(candidate))
    return {
        "shared_terms": terms,
        "same_cluster": _agree(query.get("industry_cluster"), candidate.get("industry_cluster")),
        "same_mode": _agree(query.get("cooperation_mode"), candidate.get("cooperation_mode")),
        "dense": round(dense, 4),
        "lexical": round(lexical, 4),
        "cosine": round(cosine, 4),
    }


QUOTE_LIMIT = 80  # characters of a quoted sentence shown before it is cut with "…"


def best_sentence_pair(query: dict, query_vectors: np.ndarray, candidate: dict,
                       candidate_vectors: np.ndarray) -> dict | None:
    """The query's and the candidate's sentences that match best, quoted as written, with their cosine.

    Vectors are one row per record_segments() piece; the keywords piece is a list, not words
    anyone wrote as a sentence, so it is never quoted.

        >>> best_sentence_pair(demand, demand_rows, supply, supply_rows)      # doctest: +SKIP
        {'query': '鲜参运到车间就开始化皮', 'candidate': '抑制体壁内源蛋白酶活性，防止自溶', 'similarity': 0.61}
    """
    query_segments, candidate_segments = record_segments(query), record_segments(candidate)
    rows, columns = _quotable(query, query_segments), _quotable(candidate, candidate_segments)
    if not rows or not columns or len(query_vectors) != len(query_segments) \
            or len(candidate_vectors) != len(candidate_segments):
        return None
    similarity = query_vectors[rows] @ candidate_vectors[columns].T
    row, column = np.unravel_index(int(similarity.argmax()), similarity.shape)
    return {"query": _quote(query_segments[rows[row]]), "candidate": _quote(candidate_segments[columns[column]]),
            "similarity": round(float(similarity[row, column]), 4)}


def _quotable(record: dict, segments: list[str]) -> list[int]:
    keywords = "、".join(record.get("keywords") or []) + "。"
    return [number for number, segment in enumerate(segments)
            if segment != keywords and segment.strip(" 。！？；!?;\n")]


def _quote(segment: str) -> str:
    text = segment.strip().rstrip("。！？；!?;，,、")
    return text if len(text) <= QUOTE_LIMIT else text[:QUOTE_LIMIT - 1] + "…"


def _agree(left, right) -> bool | None:
    """None when either side doesn't say."""
    if not left or not right:
        return None
    return left == right
