"""The admin's imports and re-index pages through the real app: preview, row errors, confirm, progress."""
from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from service import store
from service.progress import Progress

from .record_files import csv_file
from .site_support import CSRF, GOOD_ROWS, log_in, text

pytestmark = pytest.mark.instance("site")


def upload(client, content: bytes, kind: str = "demands", name: str = "需求.csv", csrf: str = CSRF):
    return client.post("/admin/imports", data={"csrf_token": csrf, "kind": kind, "file": (io.BytesIO(content), name)},
                       content_type="multipart/form-data")


def upload_name(page: str) -> str:
    marker = 'name="upload" value="'
    start = page.index(marker) + len(marker)
    return page[start:page.index('"', start)]


def confirm(client, name: str):
    return client.post("/admin/imports/confirm", data={"csrf_token": CSRF, "upload": name}, follow_redirects=True)


def uploads_left(app) -> list[str]:
    return sorted(path.name for path in (Path(app.config["INSTANCE"]) / "uploads").iterdir())


class RecordingProgress(Progress):
    """The real tracker, also keeping each (stage, done, total) it passes through, so a test sees the
    stages a job went through after it is over."""

    def __init__(self):
        super().__init__()
        self.seen: list[tuple] = []

    def start(self, stage: str, total: int = 0) -> None:
        super().start(stage, total)
        self._note()

    def update(self, done: int, total: int) -> None:
        super().update(done, total)
        self._note()

    def advance(self, count: int) -> None:
        super().advance(count)
        self._note()

    def next_stage(self, stage: str) -> None:
        super().next_stage(stage)
        self._note()

    def _note(self) -> None:
        snapshot = self.snapshot()
        self.seen.append((snapshot["stage"], snapshot["done"], snapshot["total"]))


def test_uploading_a_csv_shows_a_preview_and_writes_nothing_yet(client, db):
    log_in(client, db, "admin")
    before = db["demands"].count
    response = upload(client, csv_file(GOOD_ROWS))
    page = text(response)
    assert response.status_code == 200
    assert "共 2 条技术需求，全部通过检查" in page and "海参育苗池水温自动调控" in page and "确认导入 2 条" in page
    assert db["demands"].count == before


def test_a_bad_row_is_shown_in_chinese_with_its_row_and_field_and_nothing_is_written(client, db):
    log_in(client, db, "admin")
    before = db["demands"].count
    rows = [GOOD_ROWS[0], ["D2026-903", "", "没有标题的一行", "某公司", "康养旅游"]]
    response = upload(client, csv_file(rows))
    page = text(response)
    assert response.status_code == 422
    assert "导入被拒绝，数据库未作任何修改" in page
    assert "第 3 行" in page and "需求名称" in page and "确认导入" not in page
    assert db["demands"].count == before and store.get_record(db, "demands", "D2026-901") is None


def test_an_unsupported_file_type_is_named_beside_the_field(client, db):
    log_in(client, db, "admin")
    response = upload(client, b"id,title\n", name="list.txt")
    assert response.status_code == 422 and "不支持的文件类型「.txt」" in text(response)


def test_confirming_writes_audits_and_reindexes_in_the_background(app, client, db):
    log_in(client, db, "admin")
    name = upload_name(text(upload(client, csv_file(GOOD_ROWS))))
    response = confirm(client, name)
    assert "已开始导入技术需求" in text(response) and 'id="reload-progress"' in text(response)
    assert "找不到待确认的上传文件" in text(confirm(client, name))  # a double click queues it once
    assert app.extensions["live_index"].wait(120)
    assert store.get_record(db, "demands", "D2026-902")["title"] == "碳纤维鱼竿节间开裂"
    assert [entry["actor"] for entry in store.audit_entries(db, "demands", "D2026-901")] == ["admin"]
    status = client.get("/admin/progress").get_json()
    assert status["state"] == "idle" and not status["failed"] and status["finished_at"]
    assert status["done"] == status["total"] == db["demands"].count + db["supplies"].count
    assert status["message"] == f"已导入 2 条技术需求，向量化 {status['total']} / {status['total']} 条，推荐已更新"
    assert status["counts"]["demands"] == db["demands"].count
    assert db.execute("select count(*) from proposals where demand_id = 'D2026-901'").fetchone()[0] > 0
    assert uploads_left(app) == []


def test_the_write_is_reported_batch_by_batch_before_the_embedding(app, client, db):
    """1,100 supplies are written in three batches (500, 500, 100); the bar shows each, then embeds."""
    log_in(client, db, "admin")
    rows = [[f"S2026-{number:04d}", "海水淡化膜组件抗污染涂层", "一种降低反渗透膜有机污染的涂层，清洗周期延长一倍。",
             "海洋生物与健康食品研究中心"] for number in range(1_100)]
    page = text(upload(client, csv_file(rows, headers=["成果编号", "成果名称", "成果简介", "平台名称"]),
                       kind="supplies", name="成果.csv"))
    live = app.extensions["live_index"]
    live.progress = RecordingProgress()
    before = db["supplies"].count
    assert "已开始导入科技成果" in text(confirm(client, upload_name(page)))
    assert live.wait(300)
    writing = [(done, total) for stage, done, total in live.progress.seen if stage == "写入"]
    assert writing == [(0, 0), (0, 1_100), (500, 1_100), (1_000, 1_100), (1_100, 1_100)]
    stages = [stage for stage, _, _ in live.progress.seen]
    assert stages.index("向量化") > max(i for i, stage in enumerate(stages) if stage == "写入")
    assert stages[-1] == "生成推荐"
    status = client.get("/admin/progress").get_json()
    assert (status["state"], status["failed"]) == ("idle", False)
    assert status["message"].startswith("已导入 1100 条科技成果，向量化 ")
    assert status["counts"]["supplies"] == db["supplies"].count == before + 1_100
    assert uploads_left(app) == []


def test_a_write_refused_in_the_worker_writes_nothing_removes_the_upload_and_says_why(app, client, db):
    """The store changed between preview and confirm: a cooperation's demand was deleted meanwhile."""
    log_in(client, db, "admin")
    store.upsert_records(db, "demands", [{"id": "D2026-960", "title": "无人艇自主靠泊",
                                          "description": "港内无人艇需要自主靠泊。"}])
    known = db.execute("select d.id, s.id from demands d, supplies s where d.id != 'D2026-960' and not exists "
                       "(select 1 from cooperations c where c.demand_id = d.id and c.supply_id = s.id) limit 1").fetchone()
    rows = [[known[0], known[1], "技术服务"], ["D2026-960", known[1], "技术开发"]]
    page = text(upload(client, csv_file(rows, headers=["需求编号", "成果编号", "合作方式"]),
                       kind="cooperations", name="合作.csv"))
    assert "确认导入 2 条" in page
    store.delete_record(db, "demands", "D2026-960", actor="admin")
    before, audited = db["cooperations"].count, store.count_audit_entries(db, "cooperations")
    confirm(client, upload_name(page))
    live = app.extensions["live_index"]
    assert live.wait(60)
    assert db["cooperations"].count == before and store.count_audit_entries(db, "cooperations") == audited
    assert uploads_left(app) == []
    status = client.get("/admin/progress").get_json()
    assert (status["state"], status["failed"]) == ("idle", True) and status["finished_at"]
    assert status["message"] == ("导入被拒绝，数据库未作任何修改："
                                 "第 3 行 需求编号：技术需求「D2026-960」不存在，请先导入")

    name = upload_name(text(upload(client, csv_file(rows[:1], headers=["需求编号", "成果编号", "合作方式"]),
                                   kind="cooperations", name="合作.csv")))
    confirm(client, name)  # the worker lived through the refusal and takes the next job
    assert live.wait(60)
    assert db["cooperations"].count == before + 1
    assert client.get("/admin/progress").get_json()["message"] == "已导入 1 条合作"


def test_confirm_refuses_a_name_outside_the_uploads_folder(client, db):
    log_in(client, db, "admin")
    response = client.post("/admin/imports/confirm", data={"csrf_token": CSRF, "upload": "../matchmaker.db"},
                           follow_redirects=True)
    assert "找不到待确认的上传文件" in text(response)


@pytest.mark.parametrize("role", ["enterprise", "platform", "broker"])
def test_only_the_admin_reaches_imports_reindex_and_progress(client, db, role):
    log_in(client, db, role)
    for url in ("/admin/imports", "/admin/index", "/admin/progress"):
        assert client.get(url).status_code == 403
    assert upload(client, csv_file(GOOD_ROWS)).status_code == 403
    assert client.post("/admin/index", data={"csrf_token": CSRF}).status_code == 403
    log_in(client, db, None)
    assert client.get("/admin/imports").status_code == 302


def test_the_index_page_shows_the_embedders_precision_and_why(app, client, db):
    log_in(client, db, "admin")
    body = text(client.get("/admin/index"))
    system = app.extensions["live_index"].describe_embedder()
    assert "向量模型与计算精度" in body
    assert f'<dd id="embed-precision">{system["precision"]}</dd>' in body
    assert system["chosen_by"] in body and system["cpu"] in body


def test_a_post_without_the_csrf_token_is_refused(client, db):
    log_in(client, db, "admin")
    assert upload(client, csv_file(GOOD_ROWS), csrf="wrong").status_code == 400
    assert client.post("/admin/index").status_code == 400


def test_the_status_endpoint_reports_progress_while_a_reload_embeds(app, client, db):
    """New records are not in the embedding cache: the reload takes long enough to be watched."""
    log_in(client, db, "admin")
    fresh = [{"id": f"D2026-{number:03d}", "title": f"第{number}号工位的视觉检测系统误报率偏高",
              "description": f"产线第{number}号工位采用工业相机检测表面划痕，反光件误报率约{number % 17 + 3}%，"
                             f"希望改进光源与算法，把误报率降到百分之一以下，节拍不低于每分钟{number % 40 + 20}件。"}
             for number in range(200)]
    store.upsert_records(db, "demands", fresh)
    response = client.post("/admin/index", data={"csrf_token": CSRF}, follow_redirects=True)
    assert "已开始重建索引" in text(response)
    seen, deadline = [], time.monotonic() + 300
    while time.monotonic() < deadline:
        status = client.get("/admin/progress").get_json()
        seen.append(status)
        if status["state"] == "idle":
            break
        time.sleep(0.05)
    embedding = [s for s in seen if s["state"] == "running" and s["stage"] == "向量化" and 0 < s["done"] < s["total"]]
    assert embedding, f"no progress seen while embedding: {seen[:3]} … {seen[-3:]}"
    assert all(s["total"] == db["demands"].count + db["supplies"].count for s in embedding)
    assert any(s["rate"] and s["seconds_left"] is not None for s in embedding)
    dones = [s["done"] for s in embedding]
    assert dones == sorted(dones)
    assert seen[-1]["state"] == "idle" and seen[-1]["done"] == seen[-1]["total"]
    assert [e["action"] for e in store.audit_entries(db, "index", "all")] == ["reindex"]


def test_an_xlsx_of_cooperations_is_previewed_and_written_without_a_reload(app, client, db, tmp_path):
    from service import importers
    log_in(client, db, "admin")
    known = db.execute("select d.id, s.id from demands d, supplies s "
                       "where not exists (select 1 from cooperations c where c.demand_id = d.id and c.supply_id = s.id) "
                       "limit 1").fetchone()
    path = tmp_path / "合作.xlsx"
    importers.write_records([{"demand_id": known[0], "supply_id": known[1], "mode": "技术服务",
                              "confirmed_at": "2026-11-30"}], path, "cooperations")
    page = text(upload(client, path.read_bytes(), kind="cooperations", name="合作.xlsx"))
    assert "共 1 条" in page and known[0] in page and "确认导入 1 条" in page
    before = db["cooperations"].count
    live = app.extensions["live_index"]
    live.progress = RecordingProgress()
    assert "已开始导入合作" in text(confirm(client, upload_name(page)))
    assert live.wait(60)
    assert db["cooperations"].count == before + 1
    assert {stage for stage, _, _ in live.progress.seen} == {"写入"}  # no embedding after cooperations
    status = live.status()
    assert (status["state"], status["failed"], status["message"]) == ("idle", False, "已导入 1 条合作")
