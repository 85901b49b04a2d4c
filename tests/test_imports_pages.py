"""The admin's imports and re-index pages through the real app: preview, row errors, confirm, progress."""
from __future__ import annotations

import csv
import io
import time

import pytest

from service import store

from .site_support import CSRF, app, client, db, log_in, text  # noqa: F401 (fixtures)

HEADERS = ["需求编号", "需求名称", "需求概述", "企业名称", "产业集群"]
GOOD_ROWS = [
    ["D2026-901", "海参育苗池水温自动调控", "育苗车间冬季水温波动大，幼参成活率低，希望有低成本的自动控温与报警方案。",
     "威海海旭水产有限公司", "海洋生物与健康食品"],
    ["D2026-902", "碳纤维鱼竿节间开裂", "高模量碳纤维鱼竿在节间接口处易开裂，希望改进铺层和接口补强工艺。",
     "威海光威渔具有限公司", "碳纤维等复合材料"],
]


def csv_file(rows: list[list[str]], headers=HEADERS) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def upload(client, content: bytes, kind: str = "demands", name: str = "需求.csv", csrf: str = CSRF):
    return client.post("/admin/imports", data={"csrf_token": csrf, "kind": kind, "file": (io.BytesIO(content), name)},
                       content_type="multipart/form-data")


def upload_name(page: str) -> str:
    marker = 'name="upload" value="'
    start = page.index(marker) + len(marker)
    return page[start:page.index('"', start)]


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
    response = client.post("/admin/imports/confirm", data={"csrf_token": CSRF, "upload": name}, follow_redirects=True)
    assert "已导入 2 条技术需求" in text(response)
    assert store.get_record(db, "demands", "D2026-902")["title"] == "碳纤维鱼竿节间开裂"
    assert [entry["actor"] for entry in store.audit_entries(db, "demands", "D2026-901")] == ["admin"]
    assert app.extensions["live_index"].wait(120)
    status = client.get("/admin/progress").get_json()
    assert status["state"] == "idle" and status["finished_at"] and status["done"] == status["total"]
    assert status["counts"]["demands"] == db["demands"].count
    assert db.execute("select count(*) from proposals where demand_id = 'D2026-901'").fetchone()[0] > 0
    again = client.post("/admin/imports/confirm", data={"csrf_token": CSRF, "upload": name}, follow_redirects=True)
    assert "找不到待确认的上传文件" in text(again)


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
    done = client.post("/admin/imports/confirm", data={"csrf_token": CSRF, "upload": upload_name(page)},
                       follow_redirects=True)
    assert "已导入 1 条" in text(done) and db["cooperations"].count == before + 1
    assert app.extensions["live_index"].status()["state"] == "idle"
