"""The CLI as a user types it: init, import, export, exit codes and messages."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from service import store

from .record_files import sample_files, write_jsonl
from .records import COOPERATIONS, DEMAND, DEMANDS, SUPPLIES


def test_init_creates_the_database(invoke, db_path):
    result = invoke("init")
    assert result.exit_code == 0 and db_path.exists()


def test_import_reports_counts_and_export_writes_each_format(invoke, tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [DEMAND, {**DEMAND, "id": "D-002"}])
    result = invoke("import", "demands", path)
    assert result.exit_code == 0 and "已导入 2 条技术需求" in result.output
    for suffix in ("jsonl", "csv", "xlsx"):
        result = invoke("export", "demands", "-o", tmp_path / f"out.{suffix}")
        assert result.exit_code == 0 and (tmp_path / f"out.{suffix}").stat().st_size > 0


def test_bad_file_exits_2_names_row_and_field_and_changes_nothing(invoke, tmp_path, db_path):
    invoke("import", "demands", write_jsonl(tmp_path / "good.jsonl", [DEMAND]))
    before = store.export_records(store.open_db(db_path), "demands")
    bad = write_jsonl(tmp_path / "bad.jsonl", [{**DEMAND, "title": "新"}, {**DEMAND, "id": "D-9", "budget_wan": "很多"}])
    result = invoke("import", "demands", bad)
    assert result.exit_code == 2
    assert "第 2 行" in result.stderr and "budget_wan" in result.stderr
    assert store.export_records(store.open_db(db_path), "demands") == before


def test_unsupported_export_suffix_exits_2(invoke, tmp_path):
    result = invoke("export", "demands", "-o", tmp_path / "out.pdf")
    assert result.exit_code == 2 and "不支持的文件格式" in result.stderr


def test_db_defaults_to_the_environment_variable(runner, tmp_path, monkeypatch):
    from service.cli import cli
    monkeypatch.setenv("MATCHMAKER_DB", str(tmp_path / "env.db"))
    assert runner.invoke(cli, ["init"]).exit_code == 0
    assert (tmp_path / "env.db").exists()


def test_the_installed_command_runs_as_a_real_process(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [DEMAND])
    env = {**os.environ, "MATCHMAKER_DB": str(tmp_path / "p.db")}
    command = [sys.executable, "-m", "service.cli"]
    done = subprocess.run([*command, "import", "demands", str(path)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([*command, "import", "supplies", str(tmp_path / "missing.jsonl")], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 2 and "文件不存在" in done.stderr


@pytest.mark.skipif(not sample_files("demands"), reason="sample data not present")
def test_sample_lists_import_with_the_documented_counts(invoke, tmp_path):
    expected = {"demands": 227, "supplies": 359, "cooperations": 73}
    for kind, count in expected.items():
        result = invoke("import", kind, *sample_files(kind))
        assert result.exit_code == 0, result.output
        assert f"已导入 {count} 条" in result.output
    for kind in expected:
        first = tmp_path / f"{kind}.jsonl"
        invoke("export", kind, "-o", first)
        original = first.read_text(encoding="utf-8")
        for suffix in ("csv", "xlsx"):
            invoke("export", kind, "-o", tmp_path / f"{kind}.{suffix}")
            assert invoke("import", kind, tmp_path / f"{kind}.{suffix}").exit_code == 0
            invoke("export", kind, "-o", first)
            assert first.read_text(encoding="utf-8") == original


def test_an_eval_truth_file_nested_too_deep_exits_2(invoke, tmp_path):
    truth = tmp_path / "truth.jsonl"
    truth.write_text('{"demand_id": "D1", "supply_id": ' + "[" * 1000 + "]" * 1000 + "}\n", encoding="utf-8")
    result = invoke("eval", "--truth", truth)
    assert result.exit_code == 2 and "嵌套层数过多" in result.output


def test_the_demo_dates_proposals_when_their_records_were_posted(runner, tmp_path):
    from service import reports
    from service.cli import cli

    data = tmp_path / "data"
    for kind, rows in (("demands", DEMANDS), ("supplies", SUPPLIES), ("cooperations", COOPERATIONS)):
        (data / kind).mkdir(parents=True)
        write_jsonl(data / kind / f"{kind}-2021.jsonl", rows)
    demo_db = tmp_path / "demo" / "matchmaker.db"
    result = runner.invoke(cli, ["demo", "--data", str(data), "--db", str(demo_db), "--no-serve"],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    db = store.open_db(demo_db)
    posted = {kind: {row["id"]: row["posted_at"] for row in db[kind].rows} for kind in ("demands", "supplies")}
    proposals = list(db["proposals"].rows)
    assert proposals
    for proposal in proposals:
        later = max(posted["demands"][proposal["demand_id"]], posted["supplies"][proposal["supply_id"]])
        assert proposal["generated_at"].startswith(later)
    month = max(proposal["generated_at"][:7] for proposal in proposals)
    report = reports.monthly_report(db, month)
    assert month.startswith("2021") and report["current"]["proposals_generated"] > 0
