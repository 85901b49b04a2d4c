"""The matching engine kept in step with the store.

The store is the source of truth; vectors (in the embedding cache), the FAISS indexes (in the
instance folder) and BM25 are derived from it and rebuilt when their checksum no longer matches.

    >>> engine = Engine(db, "instance")                       # doctest: +SKIP
    >>> engine.propose_for_demand("D2021-001", k=5)[0].candidate_id   # doctest: +SKIP
"""
from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from matching.embedders import DEFAULT_EMBEDDER, Embedder, embed_cached, load_embedder, segment_vectors
from matching.gaps import DEPTH as GAP_DEPTH
from matching.gaps import gap_signals, load_gap_model
from matching.index import SIDECAR_FILE as index_sidecar
from matching.index import VectorIndex, choose_spec
from matching.indicators import NameVectors, check_records
from matching.lexical import SIDECAR_FILE as bm25_sidecar
from matching.lexical import BM25Index
from matching.ranker import (EXACT_FILTER_LIMIT, FieldsSource, FusionConfig, Matcher, Proposal, Side, StoredRecords,
                             best_sentence_pair, chunked_fields, decode_fields, embedded_segments, encode_fields,
                             fields_key, query_tokens, record_fields, record_segments, record_text, text_digest)
from matching.saved import choices_checksum, records_checksum, records_fingerprint, saved_checksum
from matching.text import Tokenizer, default_tokenizer

from . import learned_ranking, store
from .records import is_open_demand

# Chosen by bench/quality.py: 5-fold cross-validation over match-dev's demands, with the sample as a
# floor (R@5 ≥ 0.97, MRR ≥ 0.95); every fold chose 0.8 (BENCHMARKS.md, "Matching quality v2").
DEFAULT_FUSION = FusionConfig(method="convex", alpha=0.8)
# One score scale for the review queue (BENCHMARKS.md, "Matching quality v2"): from REVIEW_LOWER a
# pair is worth a broker's look, from REVIEW_UPPER it is a strong proposal. The zone edges keep the
# share of proposals in each zone that 0.65 / 0.45 gave with the previous engine on the sample (14%
# strong, 26% to review). Gaps are not a line on this scale: the gap model decides (gaps()).
REVIEW_UPPER, REVIEW_LOWER = 0.80, 0.65
# Every record is embedded once, with the "query: " prefix on both sides: the lists are matched
# symmetrically (either can be the query), and that is how the model was measured on zh-STS.
EMBEDDING_KIND = "query"
PROGRESS_CHUNK = 32  # records embedded between two progress reports
RANKED_LIMIT = 2048  # remembered rankings; all are dropped when full or when the matcher changes


SIDES = ("demands", "supplies")
# Lists up to this size keep their records in memory (filtered rankings score a whole list that small,
# matching.ranker.EXACT_FILTER_LIMIT); larger ones read the few records a ranking shows from the store.
HELD_RECORDS_LIMIT = EXACT_FILTER_LIMIT


def vectors_checksum(records: Iterable[dict], model_id: str, spec: str) -> str:
    """What a saved FAISS index of these records must have been built from (VectorIndex.checksum)."""
    return records_checksum(((record["id"], text_digest(record)) for record in records), model_id, spec)


def _noting_digests(records: Iterable[dict], noted: list) -> Iterator[dict]:
    """The records, each one's (id, text digest) appended to `noted` as it passes."""
    for record in records:
        noted.append((record["id"], text_digest(record)))
        yield record


class StoredVectors:
    """One side's record vectors by row (the side's record order), read from the embedding cache only for
    the rows asked for: calibrate() samples a thousand, and a warm restart reads no other vector."""

    def __init__(self, engine: "Engine", side: Side):
        self.engine, self.side, self.ids = engine, side, list(side.records)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, rows) -> np.ndarray:
        return self.engine.embed(self.side.records_of([self.ids[row] for row in np.atleast_1d(rows).tolist()]))


def load_settings(instance_dir: Path) -> dict:
    """The engine choices an instance was indexed with (embedder, index spec)."""
    path = Path(instance_dir) / "engine.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def save_settings(instance_dir: Path, settings: dict) -> None:
    path = Path(instance_dir) / "engine.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, ensure_ascii=False, indent=2), encoding="utf-8")


class Engine:
    """Both lists embedded and indexed, answering proposals in both directions; thread-safe."""

    def __init__(self, db, instance_dir: str | Path, embedder: str | Embedder = DEFAULT_EMBEDDER,
                 fusion: FusionConfig = DEFAULT_FUSION, spec: str | None = None):
        self.db = db
        self.instance_dir = Path(instance_dir)
        self.embedder = load_embedder(embedder) if isinstance(embedder, str) else embedder
        self.indicator_names = NameVectors(self.embedder)  # indicator names compared by this embedder
        if spec:
            VectorIndex(self.embedder.dim, spec)  # an unknown spec fails here, before anything is built or saved
        self.cache = store.EmbeddingCache(db)
        self.token_cache = store.TokenCache(db)
        self.fusion = fusion
        self.spec = spec
        self._lock = threading.RLock()
        self.matcher: Matcher | None = None
        self.rebuilt: dict[str, bool] = {}           # side -> whether its FAISS index was rebuilt at load
        self.lexical_rebuilt: dict[str, bool] = {}   # side -> whether its BM25 arrays were rebuilt at load
        # What the indexes hold beyond the saved files: the store as of change `loaded_change`, plus the
        # records refresh() applied since, (kind, id) -> the text digest indexed (None: removed). save().
        self.loaded_change = 0
        self.edited: dict[tuple[str, str], str | None] = {}
        self.held_records_limit = HELD_RECORDS_LIMIT
        # Rankings and gap lists already computed against the current matcher (see propose_for_record).
        self._ranked: dict[tuple, list] = {}
        self.learned: learned_ranking.LearnedRanking | None = None  # the adopted learned re-ranking, if any

    # --- building --------------------------------------------------------------------------

    def load(self, progress=None) -> "Engine":
        """Load or rebuild each side's FAISS index and BM25 arrays, calibrate the scores.

        A side whose saved files match its records (ids and text digests, with the model and FAISS spec,
        or the tokenizer version and BM25's parameters) is read from them: a restart then reads each
        record's text to fingerprint it, and no vector, token list or whole record of every record.
        Otherwise what does not match is rebuilt, embedding and tokenising only what the caches lack;
        progress(done, total) is called as records are embedded (the slow part of a cold start).
        """
        with self._lock:
            change = store.last_change(self.db)   # read before the records: a later write counts as an edit
            tokenizer = default_tokenizer()
            matcher = Matcher(tokenizer, self.embedder.dim, self.fusion)
            counts = {name: store.count_records(self.db, name) for name in SIDES}
            vectors, done = {}, 0
            for name in SIDES:
                vectors[name] = self._load_side(getattr(matcher, name), tokenizer, progress, done, sum(counts.values()))
                done += counts[name]
            matcher.calibrate(vectors["demands"], vectors["supplies"])
            self.matcher = matcher
            self.learned = learned_ranking.adopted_ranking(self.db, matcher)
            self._ranked.clear()
            self.loaded_change, self.edited = change, {}
            return self

    def use_learned(self, learned: "learned_ranking.LearnedRanking | None") -> None:
        """Rank with a newly adopted learned re-ranking (None: the untrained ranking) from now on."""
        with self._lock:
            self.learned = learned
            self._ranked.clear()

    def ensure_current(self) -> Matcher:
        """The matcher, loaded on first use. Writes reach it through refresh() (the app's worker)
        or a new load() (the CLI, an import, a re-index request)."""
        with self._lock:
            if self.matcher is None:
                self.load()
            return self.matcher

    def embed(self, records: list[dict], progress=None, done: int = 0, total: int = 0) -> np.ndarray:
        """Record vectors (cached); the same pass caches each sentence's vector for quoting."""
        texts = [record_text(record) for record in records]
        segments = [embedded_segments(record_segments(record)) for record in records]
        if progress is None:
            return embed_cached(self.embedder, texts, EMBEDDING_KIND, self.cache, segments)
        chunks = []
        for start in range(0, len(texts), PROGRESS_CHUNK):
            end = start + PROGRESS_CHUNK
            chunks.append(embed_cached(self.embedder, texts[start:end], EMBEDDING_KIND, self.cache, segments[start:end]))
            progress(done + min(end, len(texts)), total)
        return np.concatenate(chunks) if chunks else np.empty((0, self.embedder.dim), dtype=np.float32)

    def _load_side(self, side: Side, tokenizer: Tokenizer, progress, done: int, total: int):
        """Attach one side's indexes, loaded when their checksums match the store and rebuilt when not.

        Returns the side's vectors for calibration: the matrix when they were all read to rebuild the
        FAISS index, else a StoredVectors that reads only the rows calibrate() samples.
        """
        folder = self.instance_dir / "index" / side.name
        ids, digests = [], []
        for record in store.record_texts(self.db, side.name):
            ids.append(record["id"])
            digests.append(text_digest(record))
        count, spec = len(ids), self.spec or choose_spec(len(ids))
        fingerprint = records_fingerprint(zip(ids, digests))   # both checksums' costly part, once
        del ids, digests
        index = VectorIndex.load(folder)
        self.rebuilt[side.name] = index is None or index.checksum != choices_checksum(
            fingerprint, self.embedder.model_id, spec)
        bm25 = BM25Index.load(folder)
        self.lexical_rebuilt[side.name] = bm25 is None or bm25.checksum != choices_checksum(
            fingerprint, tokenizer.version, bm25.parameters)
        vectors = None
        if self.rebuilt[side.name]:
            records = store.list_records(self.db, side.name, order="id")
            vectors = self.embed(records, progress, done, total)
            index = VectorIndex(self.embedder.dim, spec)
            index.build([record["id"] for record in records], vectors)
            index.save(folder, vectors_checksum(records, self.embedder.model_id, spec))
            del records
        elif progress is not None:
            progress(done + count, total)
        fields_source = self.cached_fields(tokenizer)
        if self.lexical_rebuilt[side.name]:
            bm25, built_from = BM25Index(), []   # (id, digest) of the records as read for the build
            bm25.build(chunked_fields(_noting_digests(store.record_texts(self.db, side.name), built_from),
                                      fields_source))
            bm25.save(folder, records_checksum(built_from, tokenizer.version, bm25.parameters))
        records = self._records(side.name, index.ids)   # the index's own id strings, not another million
        side.attach(records, index, bm25, fields_source)
        return vectors if vectors is not None else StoredVectors(self, side)

    def _records(self, kind: str, ids: list[str]):
        """A list's records by id: held when few (filters then score a whole list), else read as needed."""
        if len(ids) <= self.held_records_limit:
            return {record["id"]: record for record in store.list_records(self.db, kind, order="id")}
        return StoredRecords(ids, lambda record_ids: store.records_by_id(self.db, kind, record_ids))

    def cached_fields(self, tokenizer: Tokenizer) -> FieldsSource:
        """Records' tokens from the store's token cache; the records it lacks are tokenised and cached.

        A restart reads every record's tokens from there instead of running jieba (~1 ms a record);
        an explanation reads the few records it shows (the engine holds no token lists).
        """
        def fields(records: list[dict]) -> list[dict[str, list[str]]]:
            keys = [fields_key(record, tokenizer) for record in records]
            found = self.token_cache.get_many(list(dict.fromkeys(keys)))
            fresh = {key: encode_fields(record_fields(record, tokenizer))
                     for key, record in zip(keys, records) if key not in found}
            if fresh:
                self.token_cache.put_many(fresh)
                found.update(fresh)
            return [decode_fields(found[key]) for key in keys]
        return fields

    # --- live updates -----------------------------------------------------------------------

    def refresh(self, kind: str, record_id: str) -> None:
        """Make one created, edited or deleted record matchable now, without a rebuild."""
        with self._lock:
            record = store.get_record(self.db, kind, record_id)
            vector = self.embed([record])[0] if record else None
            if self.matcher is None:
                self.load()
                return
            side = getattr(self.matcher, kind)
            self._ranked.clear()
            if record is None:
                side.remove(record_id)
            else:
                side.upsert(record, vector, self.matcher.tokenizer)
            self.edited[(kind, record_id)] = text_digest(record) if record else None

    def save(self, db) -> bool:
        """Write the edited sides' FAISS indexes and BM25 arrays with the checksums load() expects, so the
        next start loads them instead of rebuilding; False (nothing written) when the store is ahead of
        the indexes (an edit not applied yet), or when they changed meanwhile: try again later.

        `db` is the caller's own connection: the store is read, in one snapshot, without the engine's
        lock (at 1M records that read takes seconds); the lock is held only while the files are written.
        """
        with self._lock:
            matcher, edited, since = self.matcher, dict(self.edited), self.loaded_change
        if matcher is None or not edited:
            return True
        with store.snapshot(db):
            newest = store.last_change(db)
            changes = store.changes_since(db, since)
            if changes and changes[0]["seq"] > since + 1:
                return False   # pruned past us: the next load reads the store afresh
            changes = [change for change in changes if change["kind"] in SIDES]   # not a learned ranking's
            if any(change["record_id"] is None for change in changes):
                return False   # an import: its reload is queued or under way
            for kind, record_id in {(change["kind"], change["record_id"]) for change in changes} | edited.keys():
                record = store.get_record(db, kind, record_id)
                if edited.get((kind, record_id), "") != (text_digest(record) if record else None):
                    return False
            counts, fingerprints = {}, {}
            for kind in {kind for kind, _ in edited}:
                pairs = [(record["id"], text_digest(record)) for record in store.record_texts(db, kind)]
                counts[kind], fingerprints[kind] = len(pairs), records_fingerprint(pairs)
        with self._lock:
            sides = {kind: getattr(matcher, kind) for kind in fingerprints}
            if self.matcher is not matcher or self.edited != edited or any(
                    not counts[kind] == len(side.vectors) == len(side.bm25) for kind, side in sides.items()):
                return False
            for kind, fingerprint in fingerprints.items():
                side, folder = sides[kind], self.instance_dir / "index" / kind
                for saved, sidecar, checksum in (
                        (side.vectors, index_sidecar, choices_checksum(fingerprint, self.embedder.model_id,
                                                                       side.vectors.requested_spec)),
                        (side.bm25, bm25_sidecar, choices_checksum(fingerprint, matcher.tokenizer.version,
                                                                   side.bm25.parameters))):
                    if saved_checksum(folder / sidecar) != checksum:  # else another process saved these records
                        saved.save(folder, checksum)
            self.loaded_change, self.edited = newest, {}
            return True

    def forget(self) -> None:
        """Drop the remembered rankings and gap lists (another process changed the store)."""
        with self._lock:
            self._ranked.clear()

    # --- proposals --------------------------------------------------------------------------

    def propose_for_demand(self, demand_id: str, k: int = 5, retriever: str = "hybrid",
                           filters: dict | None = None) -> list[Proposal]:
        return self._propose("demands", demand_id, k, retriever, filters)

    def propose_for_supply(self, supply_id: str, k: int = 5, retriever: str = "hybrid",
                           filters: dict | None = None) -> list[Proposal]:
        return self._propose("supplies", supply_id, k, retriever, filters)

    def _propose(self, kind: str, record_id: str, k: int, retriever: str, filters: dict | None) -> list[Proposal]:
        with self._lock:
            record = store.get_record(self.db, kind, record_id)
        if record is None:
            raise KeyError(record_id)
        return self.propose_for_record(kind, record, k, retriever, filters)

    def propose_for_record(self, kind: str, record: dict, k: int = 5, retriever: str = "hybrid",
                           filters: dict | None = None) -> list[Proposal]:
        """Proposals for a record that need not be stored yet (a draft being typed).

        Ranking is deterministic, so the same record asked again before the matcher changes gets the
        remembered answer: a broker paging through proposals costs a lookup, not a FAISS + BM25 run.
        The answer holds ids and scores only (who may see what is decided by the caller, per request).
        """
        key = (kind, json.dumps(record, sort_keys=True, ensure_ascii=False, default=str), k, retriever,
               json.dumps(filters or {}, sort_keys=True, ensure_ascii=False))
        with self._lock:  # one connection writes the embedding cache: one thread at a time
            if key not in self._ranked:
                if len(self._ranked) >= RANKED_LIMIT:
                    self._ranked.clear()
                vector = self.embed([record])[0]
                self._ranked[key] = self._rank(kind, record, vector, k, retriever, filters)
            return list(self._ranked[key])

    def _rank(self, kind: str, record: dict, vector: np.ndarray, k: int, retriever: str = "hybrid",
              filters: dict | None = None) -> list[Proposal]:
        """The matcher's top k, quoted; re-ordered by the adopted learned ranking when there is one (the
        hybrid retriever only: the single signals stay as they are, for comparison)."""
        matcher = self.ensure_current()
        rank = matcher.supplies_for if kind == "demands" else matcher.demands_for
        target = matcher.supplies if kind == "demands" else matcher.demands
        if self.learned is None or retriever != "hybrid":
            return self.quote(record, rank(record, vector, k, retriever, filters), target)
        pool = self.quote(record, rank(record, vector, learned_ranking.pool_size(k), retriever, filters), target)
        return self.learned.rerank(kind, record, vector, pool, matcher)[:k]

    def pair_proposals(self, demand: dict, vector: np.ndarray, supply_ids: list[str]) -> list[Proposal]:
        """The hybrid signals and quoted reasons of given pairs of one demand, wherever they rank
        (learning needs every decided pair, not only the top k)."""
        with self._lock:
            matcher = self.ensure_current()
            target = matcher.supplies
            cosines = {supply_id: float(target.vectors.vector(supply_id) @ vector.ravel())
                       for supply_id in supply_ids if supply_id in target.records}
            tokens = query_tokens(record_fields(demand, matcher.tokenizer))
            scored = matcher.score(demand, vector, target, dict(cosines), {}, tokens, "hybrid")
            found = [Proposal(demand["id"], candidate, 0, round(score, 4), round(dense, 4), round(lexical, 4),
                              {"cosine": round(cosines[candidate], 4), "lexical": round(lexical, 4)})
                     for candidate, score, dense, lexical in scored]
            return self.quote(demand, found, target)

    def propose_all(self, k: int = 5, retriever: str = "hybrid", min_score: float = 0.0,
                    demand_ids: list[str] | None = None) -> list[Proposal]:
        """Top-k supplies for every open demand (or the given ones)."""
        with self._lock:
            matcher = self.ensure_current()
            if demand_ids is None:
                demand_ids = [record_id for record_id, record in matcher.demands.records.items()
                              if is_open_demand(record)]
            records = [matcher.demands.records[record_id] for record_id in demand_ids]
            vectors = self.embed(records)
            proposals = []
            for record, vector in zip(records, vectors):
                proposals += [proposal for proposal in self._rank("demands", record, vector, k, retriever)
                              if proposal.score >= min_score]
            return proposals

    def quote(self, query: dict, proposals: list[Proposal], target: Side) -> list[Proposal]:
        """Add the best-matching sentence pair to each proposal's reasons ("sentence_pair": the
        demand's words, the supply's words, their cosine), from the sentence vectors cached when
        the records were embedded; and the demand's figures checked against the supply's
        ("indicators": matching.indicators.check_records). Scores are left as they are."""
        if not proposals:
            return proposals
        candidates = [target.records[proposal.candidate_id] for proposal in proposals]
        rows = segment_vectors(self.embedder, [embedded_segments(record_segments(r)) for r in [query, *candidates]],
                               self.cache)
        demand_side = "demand" if target.name == "supplies" else "supply"
        other_side = "supply" if demand_side == "demand" else "demand"
        for proposal, candidate, candidate_rows in zip(proposals, candidates, rows[1:]):
            pair = best_sentence_pair(query, rows[0], candidate, candidate_rows)
            if pair:
                proposal.reasons["sentence_pair"] = {demand_side: pair["query"], other_side: pair["candidate"],
                                                     "similarity": pair["similarity"]}
            demand, supply = (query, candidate) if demand_side == "demand" else (candidate, query)
            proposal.reasons["indicators"] = check_records(demand, supply, self.indicator_names)
        return proposals

    def gaps(self, threshold: float | None = None, only_open: bool = True) -> list[dict]:
        """Demands nothing on the supply list solves, weakest best score first (揭榜挂帅 candidates).

        The gap model decides (matching.gaps: the ranked list's signals → a gap probability, a gap
        from the model's cut on); a threshold is a broker's own line instead: best score below it.
        Every row carries both (best_score, gap_probability). Remembered like rankings until the
        matcher changes: the list ranks every open demand and the gap page and the report both ask.
        """
        key = ("gaps", threshold, only_open)
        with self._lock:
            if key not in self._ranked:
                self._ranked[key] = self._find_gaps(threshold, only_open)
            return [dict(gap) for gap in self._ranked[key]]

    def _find_gaps(self, threshold: float | None, only_open: bool) -> list[dict]:
        matcher = self.ensure_current()
        model = load_gap_model()
        records = [record for record in matcher.demands.records.values()
                   if not only_open or is_open_demand(record)]
        vectors = self.embed(records)
        hubness: dict = {}
        found = []
        for record, vector in zip(records, vectors):
            ranked = matcher.supplies_for(record, vector, GAP_DEPTH)
            best_score = ranked[0].score if ranked else 0.0
            probability = model.probability(gap_signals(matcher, record, vector, ranked, self.sentence_rows, hubness))
            if (probability >= model.cut) if threshold is None else (best_score < threshold):
                found.append({"demand_id": record["id"], "title": record["title"],
                              "industry_cluster": record.get("industry_cluster"),
                              "best_score": best_score, "gap_probability": round(probability, 4),
                              "best_supply_id": ranked[0].candidate_id if ranked else None})
        return sorted(found, key=lambda gap: (gap["best_score"], gap["demand_id"]))

    def sentence_rows(self, record: dict) -> np.ndarray:
        """One unit vector per record_segments() piece, from the embedding cache."""
        return segment_vectors(self.embedder, [embedded_segments(record_segments(record))], self.cache)[0]
