"""Ranking quality against known answers: the store's own cooperations, or a whole evaluation set.

    >>> rows = evaluate_set("../shared/eval/match-dev")          # doctest: +SKIP
    >>> [row["retriever"] for row in rows]                        # doctest: +SKIP
    ['hybrid', 'dense', 'lexical']

An evaluation set is a folder with the two lists and the answers, in either layout:

    demands.jsonl  supplies.jsonl  truth.jsonl [gaps.jsonl]                       (match-dev)
    demands/*  supplies/*  cooperations/*  [evaluation/gaps*.jsonl]             (data/, the sample)

truth rows are {demand_id, supply_id, grade}: grade 2 solves the demand's core problem, grade 1 is
partly relevant; a cooperation counts as grade 2. The gap truth (demands nothing on the list solves)
is gaps.jsonl when there is one, else every demand without a grade-2 answer.
"""
from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path

from matching.embedders import DEFAULT_EMBEDDER
from matching.evaluate import gap_metrics, ranking_metrics, truth_from_pairs
from matching.ranker import RETRIEVERS

from . import importers, store

SOLVES = 2.0  # the grade that counts for recall and MRR (nDCG uses every grade)
KS = (1, 5, 10)
LIST_SUFFIXES = (".jsonl", ".csv", ".xlsx")


class EvaluationSetError(ValueError):
    """A set folder that cannot be evaluated (missing files, unknown ids)."""


def set_files(folder: str | Path, kind: str) -> list[Path]:
    """The files of one list in a set folder: `kind`.jsonl, or every list file under `kind`/."""
    folder = Path(folder)
    single = folder / f"{kind}.jsonl"
    if single.is_file():
        return [single]
    return sorted(path for path in (folder / kind).glob("*") if path.suffix.lower() in LIST_SUFFIXES)


def read_truth(folder: str | Path) -> dict[str, dict[str, float]]:
    """{demand id: {supply id: grade}} from truth.jsonl, or the set's cooperations (grade 2)."""
    folder = Path(folder)
    paths = [folder / "truth.jsonl"] if (folder / "truth.jsonl").is_file() else set_files(folder, "cooperations")
    return truth_from_rows([row for path in paths for _, row in importers.read_rows(path)])


def truth_from_rows(rows: list[dict]) -> dict[str, dict[str, float]]:
    """{demand id: {supply id: grade}}; a row without a grade (a cooperation) solves the demand.

        >>> truth_from_rows([{"demand_id": "D1", "supply_id": "S1"}, {"demand_id": "D1", "supply_id": "S2", "grade": 1}])
        {'D1': {'S1': 2.0, 'S2': 1.0}}
    """
    return truth_from_pairs([{**row, "grade": row.get("grade") or SOLVES} for row in rows])


def read_gap_truth(folder: str | Path, demand_ids: set[str], truth: dict[str, dict[str, float]]) -> set[str]:
    """Demands known to have no solution on the list."""
    folder = Path(folder)
    files = [folder / "gaps.jsonl"] if (folder / "gaps.jsonl").is_file() else sorted(folder.glob("evaluation/gaps*.jsonl"))
    if files:
        return {str(row["demand_id"]) for path in files for _, row in importers.read_rows(path)}
    return {demand for demand in demand_ids if max(truth.get(demand, {}).values(), default=0) < SOLVES}


def quality(engine, truth: dict[str, dict[str, float]], true_gaps: set[str] | None,
            gap_threshold: float | None = None) -> list[dict]:
    """One row per retriever: R@1/5/10 and MRR on grade-2 answers, graded nDCG@10; the default
    retriever's row also carries the gap list's precision and recall (the engine's gap list: the
    gap model, or a best-score line when gap_threshold is given)."""
    solves = {demand: {supply: grade for supply, grade in answers.items() if grade >= SOLVES}
              for demand, answers in truth.items()}
    solves = {demand: answers for demand, answers in solves.items() if answers}
    rows = []
    for retriever in RETRIEVERS:
        rankings: dict[str, list[str]] = {}
        for proposal in engine.propose_all(max(KS), retriever, demand_ids=sorted(truth)):
            rankings.setdefault(proposal.query_id, []).append(proposal.candidate_id)
        row = {"retriever": retriever, **ranking_metrics(rankings, solves, KS)}
        row["ndcg@10"] = ranking_metrics(rankings, {d: truth[d] for d in solves}, KS)["ndcg@10"]
        rows.append(row)
    if true_gaps is not None:
        flagged = {gap["demand_id"] for gap in engine.gaps(gap_threshold, only_open=False)}
        found = gap_metrics(flagged, true_gaps)
        rows[0].update({"gap_precision": found["precision"], "gap_recall": found["recall"],
                        "gaps_flagged": found["flagged"], "true_gaps": found["true_gaps"]})
    return rows


def evaluate_set(folder: str | Path, embedder: str = DEFAULT_EMBEDDER, work_dir: str | Path | None = None) -> list[dict]:
    """Load a set into a temporary store, index it with `embedder` and measure every retriever."""
    with loaded_set(folder, embedder, work_dir) as (engine, truth, true_gaps):
        return quality(engine, truth, true_gaps)


@contextmanager
def loaded_set(folder: str | Path, embedder=DEFAULT_EMBEDDER, work_dir: str | Path | None = None):
    """(engine, truth, gap truth) over a set loaded into a temporary store, for as long as the block runs;
    `embedder` is a name or a loaded Embedder."""
    from .engine import Engine

    folder = Path(folder)
    if not folder.is_dir():
        raise EvaluationSetError(f"评估集目录不存在：{folder}")
    files = {kind: set_files(folder, kind) for kind in ("demands", "supplies")}
    for kind, paths in files.items():
        if not paths:
            raise EvaluationSetError(f"评估集 {folder} 中没有{importers.KIND_NAMES[kind]}文件（{kind}.jsonl 或 {kind}/）")
    truth = read_truth(folder)
    if not truth:
        raise EvaluationSetError(f"评估集 {folder} 中没有答案（truth.jsonl 或 cooperations/）")
    with tempfile.TemporaryDirectory(dir=work_dir) as scratch:
        db = store.open_db(Path(scratch) / "eval.db")
        try:
            for kind, paths in files.items():
                importers.import_files(db, kind, paths, actor="eval")
            demand_ids, supply_ids = store.ids(db, "demands"), store.ids(db, "supplies")
            unknown = sorted(set(truth) - demand_ids) + sorted({s for a in truth.values() for s in a} - supply_ids)
            if unknown:
                raise EvaluationSetError(f"答案中的编号不在清单上：{'、'.join(unknown[:5])}")
            yield Engine(db, scratch, embedder).load(), truth, read_gap_truth(folder, demand_ids, truth)
        finally:
            db.close()
