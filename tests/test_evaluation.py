"""`matchmaker eval --set`: a whole evaluation set loaded into a scratch store, indexed and measured."""
from __future__ import annotations

import json

import pytest

from service import evaluation

from .record_files import DATA, write_jsonl, write_set
from .records import DEMANDS, SUPPLIES, TRUE_PAIRS, UNSOLVED


@pytest.fixture
def tiny_set(tmp_path):
    """The test lists in match-dev's layout: nine solved demands, one with no solution; the carbon-fibre
    forming process is partly relevant to the fishing rod."""
    truth = [{"demand_id": d, "supply_id": s, "grade": 2} for d, s in TRUE_PAIRS.items()]
    partly = {"demand_id": "D2021-107", "supply_id": "S2021-203", "grade": 1}
    return write_set(tmp_path / "tiny", DEMANDS, SUPPLIES, truth + [partly])


def test_gap_truth_is_every_demand_without_a_solving_answer_unless_a_file_names_them(tiny_set):
    truth = evaluation.read_truth(tiny_set)
    assert truth["D2021-107"] == {"S2021-208": 2.0, "S2021-203": 1.0}
    assert evaluation.read_gap_truth(tiny_set, {d["id"] for d in DEMANDS}, truth) == {UNSOLVED}
    write_jsonl(tiny_set / "gaps.jsonl", [{"demand_id": "D2021-108"}])
    assert evaluation.read_gap_truth(tiny_set, {d["id"] for d in DEMANDS}, truth) == {"D2021-108"}


def test_the_sample_folder_is_a_set_too_its_cooperations_solve_their_demands():
    truth = evaluation.read_truth(DATA)
    assert sum(len(answers) for answers in truth.values()) == 73 and len(truth) == 64
    assert all(grade == 2.0 for answers in truth.values() for grade in answers.values())
    assert len(evaluation.read_gap_truth(DATA, set(), truth)) == 30


def test_eval_set_prints_every_retriever_and_the_gap_figures(invoke, tiny_set):
    result = invoke("eval", "--set", tiny_set, "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row["retriever"] for row in rows] == ["hybrid", "dense", "lexical"]
    hybrid = rows[0]
    assert hybrid["queries"] == len(TRUE_PAIRS) and hybrid["recall@1"] == 1.0 and hybrid["mrr"] == 1.0
    # graded nDCG: the fishing rod's partly relevant forming process counts for nDCG only
    assert 0 < hybrid["ndcg@10"] <= 1.0
    assert hybrid["true_gaps"] == 1 and hybrid["gap_recall"] == 1.0
    table = invoke("eval", "--set", tiny_set).output
    assert table.splitlines()[0].split()[:2] == ["retriever", "queries"] and "gap_precision" in table


@pytest.mark.parametrize("files,words", [
    ({"demands.jsonl": DEMANDS}, "没有科技成果文件"),
    ({"demands.jsonl": DEMANDS, "supplies.jsonl": SUPPLIES}, "没有答案"),
    ({"demands.jsonl": DEMANDS, "supplies.jsonl": SUPPLIES,
      "truth.jsonl": [{"demand_id": "D2021-101", "supply_id": "S99"}]}, "S99"),
])
def test_a_set_that_cannot_be_evaluated_exits_2_saying_why(invoke, tmp_path, files, words):
    for name, rows in files.items():
        write_jsonl(tmp_path / name, rows)
    result = invoke("eval", "--set", tmp_path)
    assert result.exit_code == 2 and words in result.stderr
