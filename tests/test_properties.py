"""Property-based tests (hypothesis): the importers and the text normaliser against inputs nobody wrote by hand.

- Any JSONL or CSV content either imports, and then the store holds exactly what the file said,
  or is refused whole with ImportRejected naming the row and field — never another exception and
  never a partial write.
- Whatever the importers' own writer produces (JSONL, CSV, XLSX) imports back unchanged.
- normalize() never raises and is idempotent; the tokenizer never raises.
"""
from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from matching.text import default_tokenizer, normalize
from service import importers, store
from service.records import FIELDS, INDUSTRY_CLUSTERS

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HEADERS = {kind: [field.header for field in fields] for kind, fields in FIELDS.items()}
KEYS = {kind: [field.key for field in fields] for kind, fields in FIELDS.items()}

# Text as it arrives from spreadsheets and scripts: any code point, lone surrogates included.
any_text = st.text(max_size=30)
some_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)
cell = st.one_of(any_text, st.integers(-10**30, 10**30), st.floats(allow_nan=True, allow_infinity=True),
                 st.booleans(), st.none(), st.lists(any_text, max_size=3), st.just("2021-03-15"),
                 st.sampled_from(INDUSTRY_CLUSTERS), st.dictionaries(any_text, any_text, max_size=2))


def raw_record(kind: str):
    """A dict with any subset of the kind's keys (English or Chinese), plus unknown keys, holding any values."""
    names = st.sampled_from(KEYS[kind] + HEADERS[kind] + ["备注", "extra_note"])
    return st.dictionaries(st.one_of(names, any_text), cell, max_size=8)


def fresh_db(folder: Path):
    return store.open_db(folder / "matchmaker.db")


def state(db) -> tuple:
    """Every row the import could have touched."""
    return tuple(tuple(sorted(map(repr, db[table].rows))) for table in ("demands", "supplies", "cooperations",
                                                                          "audit_log"))


def import_and_check(kind: str, path: Path, db) -> list[dict] | None:
    """Import the file; on refusal check nothing was written and every problem names its place."""
    before = state(db)
    try:
        importers.import_files(db, kind, [path], actor="hypothesis")
    except importers.ImportRejected as rejected:
        assert rejected.problems
        for problem in rejected.problems:
            assert problem.message and path.name in str(problem)
            assert problem.row is not None or problem.field is None
        assert state(db) == before, "a refused file wrote something"
        return None
    return importers.read_records(path, kind)


@SETTINGS
@given(rows=st.lists(st.one_of(raw_record("demands").map(lambda row: json.dumps(row, ensure_ascii=False)),
                                raw_record("demands").map(json.dumps), any_text), max_size=6))
def test_any_jsonl_file_imports_exactly_or_is_refused_whole(rows):
    with tempfile.TemporaryDirectory() as folder:
        try:
            content = "\n".join(rows).encode("utf-8")
        except UnicodeEncodeError:
            content = "\n".join(rows).encode("utf-8", "surrogatepass")
        path = Path(folder) / "demands.jsonl"
        path.write_bytes(content)
        db = fresh_db(Path(folder))
        records = import_and_check("demands", path, db)
        if records is not None:
            stored = {record["id"]: record for record in store.list_records(db, "demands", limit=1000)}
            assert set(stored) == {record["id"] for record in records}
            for record in records:  # the last row with an id wins
                assert {k: stored[record["id"]][k] for k in KEYS["demands"]} == {k: record[k] for k in KEYS["demands"]}
                json.dumps(stored[record["id"]], allow_nan=False)  # the API can send it as strict JSON
        db.close()


@pytest.mark.parametrize("line", [
    '{"id": "D1", "title": "t", "description": "d", "备注": NaN}',
    '{"id": "D1", "title": "t", "description": "d", "x": [1, Infinity]}',
    '{"id": "D1", "title": "t", "description": "d", "budget_wan": -Infinity}',
    '{"id": "D1", "title": "\\ud800", "description": "d"}',
    '{"id": "D1", "title": "t", "description": "d", "\\udc00": "x"}',
])
def test_values_the_store_or_strict_json_cannot_hold_are_refused_by_field(tmp_path, line):
    path = tmp_path / "demands.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    db = fresh_db(tmp_path)
    assert import_and_check("demands", path, db) is None
    db.close()


@SETTINGS
@given(header=st.lists(st.one_of(st.sampled_from(HEADERS["supplies"] + KEYS["supplies"]), any_text), max_size=6),
       rows=st.lists(st.lists(any_text, max_size=7), max_size=5))
def test_any_csv_file_imports_exactly_or_is_refused_whole(header, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "supplies.csv"
        path.write_bytes(buffer.getvalue().encode("utf-8", "surrogatepass"))
        db = fresh_db(Path(folder))
        records = import_and_check("supplies", path, db)
        if records is not None:
            assert store.count_records(db, "supplies") == len({record["id"] for record in records})
        db.close()


@SETTINGS
@given(content=st.binary(max_size=200), suffix=st.sampled_from(importers.FORMATS))
def test_any_bytes_in_any_format_import_or_are_refused_whole(content, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"cooperations{suffix}"
        path.write_bytes(content)
        db = fresh_db(Path(folder))
        import_and_check("cooperations", path, db)
        db.close()


def valid_demand():
    return st.fixed_dictionaries({
        "id": some_text.map(lambda text: "D" + text.strip()),
        "title": some_text, "description": some_text,
    }, optional={
        "enterprise": some_text, "industry_cluster": st.sampled_from(INDUSTRY_CLUSTERS),
        "keywords": st.lists(some_text.filter(lambda t: not any(c in t for c in "，,;；、\n\r")), max_size=3),
        "budget_wan": st.one_of(st.integers(0, 10**6), st.floats(0, 1e6, allow_nan=False).map(lambda x: round(x, 2))),
        "posted_at": st.dates().map(lambda day: day.isoformat()),
        "contact": some_text,
    })


@SETTINGS
@given(records=st.lists(valid_demand(), min_size=1, max_size=4, unique_by=lambda record: record["id"].strip()),
       suffix=st.sampled_from(importers.FORMATS))
def test_what_the_exporter_writes_imports_back_unchanged(records, suffix):
    cleaned = []
    for record in records:
        clean, problems = importers.clean_record("demands", record)
        assume(not problems)
        cleaned.append(clean)
    assume(len({record["id"] for record in cleaned}) == len(cleaned))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"demands{suffix}"
        importers.write_records(cleaned, path, "demands")
        db = fresh_db(Path(folder))
        assert importers.import_files(db, "demands", [path]) == len(cleaned)
        for record in cleaned:
            stored = store.get_record(db, "demands", record["id"])
            assert {key: stored[key] for key in KEYS["demands"]} == {key: record[key] for key in KEYS["demands"]}
        db.close()


# --- the text normaliser ------------------------------------------------------------------------

@settings(max_examples=500, deadline=None)
@given(st.text())
def test_normalize_never_raises_and_is_idempotent(text):
    once = normalize(text)
    assert normalize(once) == once


@pytest.mark.parametrize("text", ["İstanbul", "ǅ", "ﬃ", "\u0345", "ß", "Ω", "\u1e9e", "Ａ\u200bＢ", "¨a", "〜"])
def test_normalize_is_idempotent_on_known_tricky_letters(text):
    assert normalize(normalize(text)) == normalize(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_the_tokenizer_never_raises_and_returns_normalised_tokens(text):
    tokens = default_tokenizer().tokens(text)
    assert all(isinstance(token, str) and token and token == token.strip() for token in tokens)
