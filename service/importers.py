"""JSONL / CSV / XLSX in and out, one path for all three formats, with row-level error reports.

A file with any bad row is rejected whole: every problem is collected first, and only a file set
without problems reaches the store, in one transaction.

    >>> records = read_records("data/demands/demands-2021.jsonl", "demands")   # doctest: +SKIP
    >>> write_records(records, "demands.xlsx", "demands")                       # doctest: +SKIP
"""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import openpyxl
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from . import json_input, store
from .cells import csv_cell, from_csv_cell, text_cell
from .records import FIELDS, KIND_NAMES, clean_record

FORMATS = (".jsonl", ".csv", ".xlsx")


@dataclass(frozen=True)
class RowProblem:
    file: str
    row: int | None  # as a person counts: JSONL line number, or spreadsheet row with the header as row 1
    field: str | None
    message: str

    def __str__(self) -> str:
        where = Path(self.file).name
        if self.row is not None:
            where += f" 第 {self.row} 行"
        if self.field:
            where += f" 字段 {self.field}"
        return f"{where}：{self.message}"


class ImportRejected(Exception):
    """The file set was refused; `problems` lists every bad row."""

    def __init__(self, problems: list[RowProblem]):
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


# --- reading --------------------------------------------------------------------------------

def read_rows(path: str | Path) -> list[tuple[int, dict]]:
    """Raw rows of a file as (row number, dict); raises ImportRejected when the file is unreadable."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ImportRejected([RowProblem(str(path), None, None,
                                         f"不支持的文件格式「{suffix or '无后缀'}」，请使用 .jsonl、.csv 或 .xlsx")])
    if not path.is_file():
        raise ImportRejected([RowProblem(str(path), None, None, "文件不存在")])
    if suffix == ".jsonl":
        return _read_jsonl(path)
    if suffix == ".csv":
        return _read_csv(path)
    return _read_xlsx(path)


def _read_jsonl(path: Path) -> list[tuple[int, dict]]:
    rows, problems = [], []
    text = _decode(path)
    # Only "\n" ends a line: str.splitlines() also splits at U+2028 and \x1c, which json.dumps leaves raw
    # inside strings, so a file we wrote ourselves would come back broken.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json_input.loads(line)
        except json.JSONDecodeError as error:
            problems.append(RowProblem(str(path), number, None, f"不是有效的 JSON（{error.msg}）"))
            continue
        except json_input.TooDeep as error:
            problems.append(RowProblem(str(path), number, None, str(error)))
            continue
        if not isinstance(value, dict):
            problems.append(RowProblem(str(path), number, None, "每行应为一个 JSON 对象"))
            continue
        rows.append((number, value))
    if problems:
        raise ImportRejected(problems)
    return rows


def _read_csv(path: Path) -> list[tuple[int, dict]]:
    reader = csv.reader(io.StringIO(_decode(path), newline=""))
    header = next(reader, None)
    if not header:
        raise ImportRejected([RowProblem(str(path), 1, None, "缺少表头行")])
    header = [from_csv_cell(name.strip()) for name in header]
    rows = []
    for number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header):]):
            raise ImportRejected([RowProblem(str(path), number, None, "该行的列数多于表头")])
        rows.append((number, dict(zip(header, map(from_csv_cell, cells)))))
    return rows


def _decode(path: Path) -> str:
    """UTF-8 (with or without BOM), else GB18030 as Excel in China writes CSV."""
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportRejected([RowProblem(str(path), None, None, "无法识别文件编码，请保存为 UTF-8 或 GB18030（GBK）")])


def _read_xlsx(path: Path) -> list[tuple[int, dict]]:
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise ImportRejected([RowProblem(str(path), None, None, f"无法读取 Excel 文件（{type(error).__name__}）")])
    try:
        sheet = workbook.worksheets[0]
        values = sheet.iter_rows(values_only=True)
        header = next(values, None)
        if not header or not any(cell is not None for cell in header):
            raise ImportRejected([RowProblem(str(path), 1, None, "缺少表头行")])
        header = [str(cell).strip() if cell is not None else "" for cell in header]
        rows = []
        for number, cells in enumerate(values, start=2):
            if all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells):
                continue
            rows.append((number, dict(zip(header, cells))))
        return rows
    finally:
        workbook.close()


def read_records(paths, kind: str, known_ids: dict[str, set[str]] | None = None) -> list[dict]:
    """Clean records from one or more files; raises ImportRejected listing every bad row.

    `known_ids` ({"demands": ids, "supplies": ids}) lets cooperations be checked against the store.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    records, problems, seen = [], [], {}
    for path in paths:
        try:
            rows = read_rows(path)
        except ImportRejected as rejected:
            problems += rejected.problems
            continue
        for number, raw in rows:
            record, row_problems = clean_record(kind, raw)
            problems += [RowProblem(str(path), number, field, message) for field, message in row_problems]
            key = _identity(kind, record)
            if None not in key:
                if key in seen:
                    problems.append(RowProblem(str(path), number, _id_field(kind),
                                               f"编号重复（与{seen[key]}相同）"))
                else:
                    seen[key] = f" {Path(path).name} 第 {number} 行"
            if kind == "cooperations" and known_ids is not None:
                problems += _missing_references(str(path), number, record, known_ids)
            records.append(record)
    if problems:
        raise ImportRejected(problems)
    return records


def _identity(kind: str, record: dict) -> tuple:
    if kind == "cooperations":
        return record.get("demand_id"), record.get("supply_id")
    return (record.get("id"),)


def _id_field(kind: str) -> str:
    return "demand_id" if kind == "cooperations" else "id"


def _missing_references(path: str, number: int, record: dict, known_ids: dict[str, set[str]]) -> list[RowProblem]:
    problems = []
    for field, kind in (("demand_id", "demands"), ("supply_id", "supplies")):
        value = record.get(field)
        if value is not None and value not in known_ids[kind]:
            problems.append(RowProblem(path, number, field, f"{KIND_NAMES[kind]}「{value}」不存在，请先导入"))
    return problems


def import_files(db, kind: str, paths, actor: str = "system", progress=None) -> int:
    """Validate every file, then write all records in one transaction; returns how many were written."""
    return save_records(db, kind, read_records(paths, kind, reference_ids(db, kind)), actor, progress)


def headed_problems(kind: str, rejected: ImportRejected) -> list[dict]:
    """Each bad row with its field under the spreadsheet's Chinese header, for a page ("—" where unknown)."""
    headers = {field.key: field.header for field in FIELDS.get(kind, ())}
    return [{"row": problem.row if problem.row is not None else "—",
             "field": headers.get(problem.field, problem.field or "—"), "message": problem.message}
            for problem in rejected.problems]


def rejection_message(kind: str, rejected: ImportRejected) -> str:
    """One Chinese sentence naming every bad row, for a flash or a status line.

        导入被拒绝，数据库未作任何修改：第 3 行 需求名称：必填
    """
    return "导入被拒绝，数据库未作任何修改：" + "；".join(
        f"第 {problem['row']} 行 {problem['field']}：{problem['message']}" for problem in headed_problems(kind, rejected))


def reference_ids(db, kind: str) -> dict[str, set[str]] | None:
    """The ids that cooperations may point at; other kinds reference nothing."""
    if kind != "cooperations":
        return None
    return {"demands": store.ids(db, "demands"), "supplies": store.ids(db, "supplies")}


def save_records(db, kind: str, records: list[dict], actor: str = "system", progress=None) -> int:
    if kind == "cooperations":
        return store.upsert_cooperations(db, records, actor=actor, progress=progress)
    return store.upsert_records(db, kind, records, actor=actor, progress=progress)


# --- writing --------------------------------------------------------------------------------

def write_records(records: list[dict], path: str | Path, kind: str, headers: str | None = None) -> int:
    """Write records as .jsonl, .csv or .xlsx by suffix, atomically (a temp file renamed into place).

    JSONL uses the English keys; CSV and XLSX the Chinese headers unless headers="keys".
    CSV is UTF-8 with a BOM so that Excel opens the Chinese text correctly. Text that a spreadsheet
    would run as a formula is written as text (service/cells.py); the CSV reader undoes the escape.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"不支持的文件格式「{suffix or '无后缀'}」，请使用 .jsonl、.csv 或 .xlsx")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=suffix)
    os.close(handle)
    try:
        if suffix == ".jsonl":
            with open(temporary, "w", encoding="utf-8") as out:
                for record in records:
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            columns, titles = _columns(records, kind, headers)
            table = [[_cell(record.get(column)) for column in columns] for record in records]
            if suffix == ".csv":
                with open(temporary, "w", encoding="utf-8-sig", newline="") as out:
                    writer = csv.writer(out)
                    writer.writerow(map(csv_cell, titles))
                    writer.writerows(map(csv_cell, row) for row in table)
            else:
                _write_xlsx(temporary, KIND_NAMES.get(kind, kind), titles, table)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return len(records)


def _columns(records: list[dict], kind: str, headers: str | None) -> tuple[list[str], list[str]]:
    fields = FIELDS.get(kind, ())
    columns = [field.key for field in fields]
    titles = [field.key if headers == "keys" else field.header for field in fields]
    for record in records:
        for key in record:
            if key not in columns:
                columns.append(key)
                titles.append(key)
    return columns, titles


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, list):
        return "、".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def _write_xlsx(path: str, sheet_title: str, titles: list[str], table: list[list]) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = sheet_title
    sheet.append(titles)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in table:
        sheet.append(row)
    for row in sheet.iter_rows():
        for cell in row:
            text_cell(cell)
    sheet.freeze_panes = "A2"
    for index, title in enumerate(titles, start=1):
        longest = max([len(str(title))] + [len(str(row[index - 1])) for row in table[:200]])
        sheet.column_dimensions[get_column_letter(index)].width = min(60, max(10, longest * 1.6))
    workbook.save(path)
