"""`matchmaker eval --set`: a whole evaluation set loaded into a scratch store, indexed and measured."""
from __future__ import annotations

import json

import pytest

from service import evaluation

from .record_files import DATA, write_jsonl, write_set
from .engine_records import DEMANDS, SUPPLIES, TRUE_PAIRS


@pytest.fixture
def tiny_set(tmp_path):
    """The engine test lists in match-dev's layout: five solved demands, D6 with no solution."""
    truth = [{"demand_id": d, "supply_id": s, "grade": 2} for d, s in TRUE_PAIRS.items()]
    return write_set(tmp_path / "tiny", DEMANDS, SUPPLIES, truth + [{"demand_id": "D2", "supply_id": "S4", "grade": 1}])


def test_gap_truth_is_every_demand_without_a_solving_answer_unless_a_file_names_them(tiny_set):
    truth = evaluation.read_truth(tiny_set)
    assert truth["D2"] == {"S3": 2.0, "S4": 1.0}
    assert evaluation.read_gap_truth(tiny_set, {d["id"] for d in DEMANDS}, truth) == {"D6"}
    write_jsonl(tiny_set / "gaps.jsonl", [{"demand_id": "D5"}])
    assert evaluation.read_gap_truth(tiny_set, {d["id"] for d in DEMANDS}, truth) == {"D5"}


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
    assert hybrid["queries"] == 5 and hybrid["recall@1"] == 1.0 and hybrid["mrr"] == 1.0
    # graded nDCG: D2's partly relevant S4 counts for nDCG only
    assert 0 < hybrid["ndcg@10"] <= 1.0
    assert hybrid["true_gaps"] == 1 and hybrid["gap_recall"] == 1.0
    table = invoke("eval", "--set", tiny_set).output
    assert table.splitlines()[0].split()[:2] == ["retriever", "queries"] and "gap_precision" in table


@pytest.mark.parametrize("files,words", [
    ({"demands.jsonl": DEMANDS}, "没有科技成果文件"),
    ({"demands.jsonl": DEMANDS, "supplies.jsonl": SUPPLIES}, "没有答案"),
    ({"demands.jsonl": DEMANDS, "supplies.jsonl": SUPPLIES,
      "truth.jsonl": [{"demand_id": "D1", "supply_id": "S99"}]}, "S99"),
])
def test_a_set_that_cannot_be_evaluated_exits_2_saying_why(invoke, tmp_path, files, words):
    for name, rows in files.items():
        write_jsonl(tmp_path / name, rows)
    result = invoke("eval", "--set", tmp_path)
    assert result.exit_code == 2 and words in result.stderr
