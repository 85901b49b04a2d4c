"""Gap detection: does anything on the supply list solve this demand (揭榜挂帅 candidates)?

Two stages with plain data between them: the demand's ranked list is read as signals (gap_signals),
then a logistic model turns the signals into a gap probability (GapModel). A threshold on the best
score alone cannot tell a demand whose best candidates are near-misses (same object, another
problem) from one whose best candidate solves it; the shape of the list, the best sentence pair
and whether the best supply prefers another demand say more (BENCHMARKS.md, "Gap detection").

    >>> found = matcher.supplies_for(demand, vector, DEPTH)                 # doctest: +SKIP
    >>> signals = gap_signals(matcher, demand, vector, found, sentence_rows)  # doctest: +SKIP
    >>> load_gap_model().probability(signals) >= load_gap_model().cut     # doctest: +SKIP
    True

The model is trained without match-dev by bench/gap_signal.py --write (leave the truth out on the
sample and on the training cases) and shipped as resources/gap_model.json.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from .ranker import Matcher, Proposal, record_segments

MODEL_PATH = Path(__file__).resolve().parent / "resources" / "gap_model.json"
DEPTH = 10  # candidates read per demand
SENTENCE_DEPTH = 3  # candidates whose sentences are compared with the demand's
STRONG = 0.65  # a candidate from this fused score on is worth a broker's look (the engine's REVIEW_LOWER)
SIGNALS = ("best", "cos1", "cos_max", "dense1", "lex1", "lex_max", "margin", "spread", "z", "above", "agree",
           "pair1", "pair_max", "cover1", "cover_max", "covermin1", "recip", "rev_margin", "csls", "density")


def gap_signals(matcher: Matcher, demand: dict, vector: np.ndarray, found: list[Proposal],
                sentence_rows: Callable[[dict], np.ndarray], hubness: dict | None = None) -> dict[str, float]:
    """What the demand's ranked list says: `found` is its top DEPTH supplies (matcher.supplies_for).

    sentence_rows(record) gives one unit vector per record_segments() piece; hubness caches each
    supply's mean cosine to its nearest demands between calls.
    """
    hubness = {} if hubness is None else hubness
    if not found:
        return dict.fromkeys(SIGNALS, 0.0)
    scores = np.array([proposal.score for proposal in found])
    cosines = np.array([proposal.reasons["cosine"] for proposal in found])
    top = found[0]
    supply = matcher.supplies.records[top.candidate_id]
    supply_vector = matcher.supplies.vectors.vector(top.candidate_id)
    # Reciprocity: a near-miss is often another demand's better match.
    reverse = matcher.demands_for(supply, supply_vector, 2)
    rival = next((p.score for p in reverse if p.candidate_id != demand.get("id")), 0.0)
    own = next((p.score for p in reverse if p.candidate_id == demand.get("id")), None)
    if top.candidate_id not in hubness:
        nearest = matcher.demands.vectors.search(supply_vector.reshape(1, -1), DEPTH)[0]
        hubness[top.candidate_id] = float(np.mean([cosine for _, cosine in nearest])) if nearest else 0.0
    demand_rows = problem_rows(demand, sentence_rows(demand))
    pairs = [coverage(demand_rows, problem_rows(record, sentence_rows(record)))
             for record in (matcher.supplies.records[p.candidate_id] for p in found[:SENTENCE_DEPTH])]
    neighbours = [cosine for other, cosine in matcher.demands.vectors.search(vector.reshape(1, -1), 6)[0]
                  if other != demand.get("id")][:5]
    return {
        "best": float(scores[0]),
        "cos1": float(cosines[0]),
        "cos_max": float(cosines.max()),
        "dense1": float(top.dense),
        "lex1": float(top.lexical),
        "lex_max": float(max(p.lexical for p in found)),
        "margin": float(scores[0] - scores[1]) if len(scores) > 1 else float(scores[0]),
        "spread": float(scores[0] - scores[1:].mean()) if len(scores) > 1 else float(scores[0]),
        "z": float((scores[0] - scores.mean()) / (scores.std() + 1e-6)),
        "above": float((scores >= STRONG).sum()),
        "agree": float(max(found, key=lambda p: p.dense).candidate_id == max(found, key=lambda p: p.lexical).candidate_id),
        "pair1": pairs[0][0],
        "pair_max": max(pair[0] for pair in pairs),
        "cover1": pairs[0][1],
        "cover_max": max(pair[1] for pair in pairs),
        "covermin1": pairs[0][2],
        "recip": float(own is not None and own >= rival),
        "rev_margin": float(top.score - rival),
        "csls": float(2 * cosines[0] - hubness[top.candidate_id] - cosines.mean()),
        "density": float(np.mean(neighbours)) if neighbours else 0.0,
    }


def problem_rows(record: dict, rows: np.ndarray) -> np.ndarray:
    """The description's sentences (what a problem or an effect is said in): not the title, not the
    keyword list, not fragments of three characters or fewer; all rows when nothing is left."""
    segments = record_segments(record)
    if len(rows) != len(segments):
        return rows
    keywords = "、".join(record.get("keywords") or []) + "。"
    keep = [number for number, segment in enumerate(segments)
            if number > 0 and segment != keywords and len(segment.strip()) > 3]
    return rows[keep] if keep else rows


def coverage(query_rows: np.ndarray, candidate_rows: np.ndarray) -> tuple[float, float, float]:
    """(best sentence pair, mean and least over the query's sentences of its best cosine with the
    candidate's): does the candidate answer every sentence of the demand, or one?

        >>> coverage(np.eye(2), np.array([[1.0, 0.0]]))
        (1.0, 0.5, 0.0)
    """
    if not len(query_rows) or not len(candidate_rows):
        return 0.0, 0.0, 0.0
    best = (query_rows @ candidate_rows.T).max(axis=1)
    return float(best.max()), float(best.mean()), float(best.min())


@dataclass(frozen=True)
class GapModel:
    """Logistic regression over standardised signals; a demand is a gap from `cut` on."""
    signals: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    cut: float
    trained: str = ""

    def probability(self, signals: dict[str, float]) -> float:
        x = (np.array([signals[name] for name in self.signals]) - np.array(self.mean)) / np.array(self.scale)
        return float(1.0 / (1.0 + np.exp(-(x @ np.array(self.weights) + self.bias))))

    def is_gap(self, signals: dict[str, float]) -> bool:
        return self.probability(signals) >= self.cut

    def save(self, path: str | Path) -> None:
        lines = [f" {json.dumps(name)}: {json.dumps(getattr(self, name), ensure_ascii=False)}"
                 for name in self.__dataclass_fields__]
        Path(path).write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")


@lru_cache(maxsize=4)
def load_gap_model(path: str | Path = MODEL_PATH) -> GapModel:
    """The shipped model (resources/gap_model.json), read once."""
    fields = json.loads(Path(path).read_text(encoding="utf-8"))
    return GapModel(**{name: tuple(value) if isinstance(value, list) else value for name, value in fields.items()})
