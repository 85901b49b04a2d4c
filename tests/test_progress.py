"""Progress of long work: plain lines when the output is a log, figures the admin pages poll."""
from __future__ import annotations

import re

from service.progress import LineReporter, Progress, duration

from .record_files import write_jsonl

LINE = re.compile(r"^向量化 [\d,]+/[\d,]+（\d+%），(每秒 [\d.]+ 条|速度未知)，(预计还需|用时) .+$")


class Clock:
    """Seconds that a test moves forward by hand."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_index_prints_plain_progress_lines_when_the_output_is_not_a_terminal(invoke, tmp_path):
    demands = [{"id": f"D{number:03d}", "title": f"第{number}号产线的焊缝视觉检测",
                "description": f"第{number}号产线焊缝需要在线视觉检测，节拍每分钟{number % 30 + 10}件。"}
               for number in range(100)]
    supplies = [{"id": f"S{number:03d}", "title": f"第{number}代焊缝检测算法",
                 "description": f"基于深度学习的焊缝缺陷检测算法，第{number}代，漏检率低于{number % 5 + 1}%。"}
                for number in range(60)]
    assert invoke("import", "demands", write_jsonl(tmp_path / "d.jsonl", demands)).exit_code == 0
    assert invoke("import", "supplies", write_jsonl(tmp_path / "s.jsonl", supplies)).exit_code == 0
    result = invoke("index")  # CliRunner's output is not a terminal
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("向量化")]
    assert all(LINE.match(line) for line in lines), lines
    assert 5 <= len(lines) <= 12  # about one every 10%, not one per chunk of 32
    assert lines[-1].startswith("向量化 160/160（100%）") and "用时" in lines[-1]
    assert "预计还需" in lines[0]
    assert "已索引 100 条技术需求、60 条科技成果" in result.stdout


def test_a_line_every_ten_percent_and_every_ten_seconds_whichever_comes_first():
    clock, lines = Clock(), []
    report = LineReporter("向量化", lines.append, clock=clock)
    for done in range(32, 1001, 32):  # fast: the 10% steps decide
        clock.now += 0.1
        report(done, 100_000)
    assert lines == []
    clock.now += 10
    report(1_032, 100_000)  # slow: 10 s without a line prints one anyway
    assert lines == ["向量化 1,032/100,000（1%），每秒 78.8 条，预计还需 20 分 56 秒"]
    report(10_000, 100_000)
    assert len(lines) == 2 and "（10%）" in lines[1]
    report(100_000, 100_000)
    assert lines[-1].startswith("向量化 100,000/100,000（100%）") and "用时 13 秒" in lines[-1]


def test_progress_snapshot_has_counts_rate_and_time_left():
    clock = Clock()
    progress = Progress(clock=clock)
    progress.start("向量化")
    clock.now = 4.0
    progress.update(100, 500)
    snapshot = progress.snapshot()
    assert (snapshot["stage"], snapshot["done"], snapshot["total"]) == ("向量化", 100, 500)
    assert (snapshot["percent"], snapshot["rate"], snapshot["seconds_left"]) == (20.0, 25.0, 16)
    progress.finish()
    assert progress.snapshot()["stage"] is None and progress.snapshot()["finished_at"]


def test_durations_read_in_chinese():
    assert [duration(s) for s in (None, 45, 185, 7620)] == ["未知", "45 秒", "3 分 05 秒", "2 小时 07 分"]


def test_a_large_import_prints_plain_write_lines_when_the_output_is_not_a_terminal(invoke, tmp_path):
    demands = [{"id": f"D{number:05d}", "title": f"第{number}号需求", "description": "一条用于测试写入进度的需求。"}
               for number in range(2_400)]
    result = invoke("import", "demands", write_jsonl(tmp_path / "d.jsonl", demands))
    assert result.exit_code == 0
    lines = result.stderr.splitlines()
    assert [line.split("（")[0] for line in lines] == ["写入 500/2,400", "写入 1,000/2,400", "写入 1,500/2,400",
                                                      "写入 2,000/2,400", "写入 2,400/2,400"]
    assert "已导入 2400 条技术需求" in result.stdout


def test_a_failed_reload_is_reported_as_failed_not_finished(tmp_path):
    from service import store
    from service.worker import LiveIndex
    db = store.open_db(tmp_path / "m.db")
    store.ensure_schema(db)
    db.close()
    live = LiveIndex(tmp_path / "m.db", tmp_path, embedder="no-such-model")
    live.reload_later()
    assert live.wait(30)
    status = live.status()
    assert (status["state"], status["failed"]) == ("idle", True) and status["finished_at"]
    live.close()


def test_a_write_advances_by_batches_and_the_outcome_stays_until_the_next_job():
    clock = Clock()
    progress = Progress(clock)
    progress.start("写入")
    progress.update(0, 1_100)
    for batch in (500, 500, 100):
        clock.now += 1.0
        progress.advance(batch)
    written = progress.snapshot()
    assert (written["stage"], written["done"], written["total"], written["percent"]) == ("写入", 1_100, 1_100, 100.0)
    assert written["rate"] == 366.7  # records a second over the three seconds the batches took
    progress.finish(message="已导入 1100 条科技成果")
    assert (progress.snapshot()["stage"], progress.snapshot()["message"]) == (None, "已导入 1100 条科技成果")
    progress.start("向量化")
    assert progress.snapshot()["message"] is None
