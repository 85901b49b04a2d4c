"""Records as the files users import: JSON Lines and CSV written from test data, and the shipped samples."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"

DEMAND_HEADERS = ["需求编号", "需求名称", "需求概述", "企业名称", "产业集群"]


def jsonl(rows: list[dict]) -> str:
    """One JSON object a line, Chinese kept as it is."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text(jsonl(rows), encoding="utf-8")
    return path


def csv_file(rows: list[list[str]], headers=DEMAND_HEADERS) -> bytes:
    """A CSV upload as a spreadsheet saves it: UTF-8 with a byte order mark, the headers first."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def sample_files(kind: str) -> list[Path]:
    return sorted((DATA / kind).glob("*.jsonl"))


def sample_records(kind: str, ids: tuple[str, ...]) -> list[dict]:
    """The shipped sample's records with these ids."""
    rows = [json.loads(line) for path in sample_files(kind) for line in path.read_text(encoding="utf-8").splitlines()]
    return [row for row in rows if row["id"] in ids]


def write_set(folder: Path, demands: list[dict], supplies: list[dict], truth: list[dict]) -> Path:
    """An evaluation set in match-dev's layout (demands, supplies, truth as JSON Lines) in a new folder."""
    folder.mkdir()
    write_jsonl(folder / "demands.jsonl", demands)
    write_jsonl(folder / "supplies.jsonl", supplies)
    write_jsonl(folder / "truth.jsonl", truth)
    return folder
