"""The lists' sorting and export, the audit log's pages and filters, and Beijing time on the pages."""
from __future__ import annotations

import csv
import io
import re

import openpyxl
import pytest

from service import store

from .records import HIT, HUALIAN
from .site_support import log_in, text

pytestmark = pytest.mark.instance("site")


def titles_on_page(body: str) -> list[str]:
    return re.findall(r'class="row-title" href="[^"]+">([^<]+)</a>', body)


def workbook_rows(response) -> list[dict]:
    sheet = openpyxl.load_workbook(io.BytesIO(response.get_data())).active
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], row)) for row in rows[1:]]


def csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def add_demands(db, count: int) -> None:
    """More demands than one page holds, copies of the seed's first with their own ids and titles."""
    model = store.get_record(db, "demands", "D2021-102")
    store.upsert_records(db, "demands", [
        {**{key: value for key, value in model.items() if key not in store.BOOKKEEPING},
         "id": f"D2099-{number:03d}", "title": f"复制需求{number:03d}", "posted_at": f"2021-0{1 + number % 9}-15"}
        for number in range(count)])


def test_clicking_a_header_sorts_the_list_and_clicking_again_reverses_it(client, db):
    add_demands(db, 30)
    log_in(client, db, "broker")
    everything = sorted(record["title"] for record in store.list_records(db, "demands"))
    ascending = client.get("/demands?sort=title")
    assert titles_on_page(text(ascending)) == everything[:20]
    # The header of the sorted column now links to the reverse order and says which way it sorts.
    assert re.search(r'aria-sort="ascending">\s*<a class="sort" href="/demands\?sort=-title">需求名称 ▲', text(ascending))
    descending = client.get("/demands?sort=-title&page=2")
    assert titles_on_page(text(descending)) == list(reversed(everything))[20:40]
    # The pager keeps the order; an unknown column falls back to newest first.
    assert "sort=-title" in re.search(r'<nav class="pager".*?</nav>', text(descending), re.S).group(0)
    newest = [record["title"] for record in store.list_records(db, "demands", limit=20)]
    assert titles_on_page(text(client.get("/demands?sort=password_hash"))) == newest


def test_export_gives_the_filtered_sorted_view_of_every_page_as_xlsx_and_csv(client, db):
    log_in(client, db, "broker")
    cluster = store.list_records(db, "demands", limit=1)[0]["industry_cluster"]
    expected = sorted((r for r in store.list_records(db, "demands", where={"industry_cluster": cluster})),
                      key=lambda record: (record["title"], record["id"]), reverse=True)
    page = text(client.get(f"/demands?industry_cluster={cluster}&sort=-title"))
    link = re.search(r'href="(/demands/export\.xlsx\?[^"]+)"', page).group(1).replace("&amp;", "&")
    response = client.get(link)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in response.headers["Content-Disposition"]
    rows = workbook_rows(response)
    assert [row["需求编号"] for row in rows] == \
        [record["id"] for record in expected]
    assert {row["产业集群"] for row in rows} == {cluster}
    as_csv = csv_rows(client.get(link.replace("export.xlsx", "export.csv")))
    assert [row["需求名称"] for row in as_csv] == [record["title"] for record in expected]
    assert client.get("/demands/export.pdf").status_code == 404


def test_exported_cells_that_look_like_formulas_stay_text(client, db):
    record = store.get_record(db, "demands", "D2021-102")
    store.save_record(db, "demands", {**record, "title": "=HYPERLINK(\"http://x\")注塑件缩痕"}, "test")
    log_in(client, db, "broker")
    as_csv = client.get("/demands/export.csv?q=注塑件缩痕").get_data().decode("utf-8-sig")
    assert "'=HYPERLINK" in as_csv
    rows = workbook_rows(client.get("/demands/export.xlsx?q=注塑件缩痕"))
    assert rows[0]["需求名称"].startswith("=HYPERLINK")  # a string cell, not a formula


def test_a_platform_exports_only_its_own_supplies_and_no_demands(client, db):
    other = next(record for record in store.list_records(db, "supplies") if record["platform"] != HIT)
    store.save_record(db, "supplies", {**other, "联系电话": "13800000000"}, "test")
    log_in(client, db, "platform")
    rows = workbook_rows(client.get("/supplies/export.xlsx"))
    assert rows and {row["平台名称"] for row in rows} == {HIT}
    assert "13800000000" not in client.get("/supplies/export.csv").get_data().decode("utf-8-sig")
    assert client.get("/demands/export.xlsx").status_code == 403
    log_in(client, db, "broker")  # brokers see every field
    assert "13800000000" in client.get("/supplies/export.csv").get_data().decode("utf-8-sig")


def test_an_enterprise_exports_only_its_own_demands(client, db):
    log_in(client, db, "enterprise")
    rows = csv_rows(client.get("/demands/export.csv"))
    assert rows and {row["企业名称"] for row in rows} == {HUALIAN}


# --- the audit log -------------------------------------------------------------------------------

def audit_rows(body: str) -> list[str]:
    return re.findall(r'<td class="nowrap" data-label="操作人">([^<]*)</td>', body)


def test_the_audit_log_pages_through_every_entry_not_only_the_latest(client, db):
    with store.transaction(db):
        for number in range(120):
            store.audit(db, f"经纪人{number % 3}", "update", "demands", "D2021-102", {"title": "旧"}, {"title": str(number)})
    total = store.count_audit_entries(db)
    log_in(client, db, "broker")
    first = text(client.get("/audit"))
    assert f"共 {total} 条" in first and len(audit_rows(first)) == 50
    last_page = -(-total // 50)
    last = text(client.get(f"/audit?page={last_page}"))
    assert len(audit_rows(last)) == total - 50 * (last_page - 1)
    # The oldest entries (the seed's import) are on the last page.
    actions = lambda body: set(re.findall(r'data-label="操作">([^<]*)</td>', body))  # noqa: E731
    assert "导入" in actions(last) and actions(first) == {"修改"}


def test_the_audit_log_filters_by_user_record_action_and_date(client, db):
    with store.transaction(db):
        store.audit(db, "张经纪", "update", "demands", "D2021-102", {"title": "旧名称"}, {"title": "新名称"})
        store.audit(db, "张经纪", "update", "demands", "D2021-103", {"title": "甲"}, {"title": "乙"})
        store.audit(db, "李经纪", "update", "demands", "D2021-102", {"region": "环翠区"}, {"region": "文登区"})
    log_in(client, db, "broker")
    by_user = text(client.get("/audit?actor=张经纪"))
    assert audit_rows(by_user) == ["张经纪", "张经纪"] and "共 2 条" in by_user
    by_record = text(client.get("/audit?actor=张经纪&entity=demands&entity_id=D2021-102"))
    assert audit_rows(by_record) == ["张经纪"] and "新名称" in by_record
    assert "共 3 条" in text(client.get("/audit?action=update&entity=demands"))
    assert "共 0 条" in text(client.get("/audit?action=update&from=2000-01-01&to=2000-12-31"))
    assert "共 3 条" in text(client.get("/audit?action=update&from=2000-01-01&to=2099-12-31"))
    refused = text(client.get("/audit?from=昨天"))
    assert "请输入日期，如 2021-06-18" in refused


def test_audit_dates_are_beijing_days(client, db):
    # 2021-06-17 17:30 UTC is 2021-06-18 01:30 in Beijing: it belongs to the 18th.
    db["audit_log"].insert({"at": "2021-06-17T17:30:00+00:00", "actor": "夜班经纪", "action": "update",
                            "entity": "demands", "entity_id": "D2021-102", "before": None, "after": None})
    log_in(client, db, "broker")
    on_18th = text(client.get("/audit?from=2021-06-18&to=2021-06-18"))
    assert audit_rows(on_18th) == ["夜班经纪"]
    assert "2021-06-18 01:30" in on_18th
    assert audit_rows(text(client.get("/audit?from=2021-06-17&to=2021-06-17"))) == []


def test_audit_changes_read_in_chinese(client, db):
    with store.transaction(db):
        store.audit(db, "张经纪", "recommend", "proposals", "7",
                    {"status": "proposed", "decided_at": None},
                    {"status": "recommended", "decided_at": "2021-06-18T06:05:00+00:00"})
        store.audit(db, "张经纪", "update", "demands", "D2021-102", {"budget_wan": 10}, {"budget_wan": 20})
    log_in(client, db, "broker")
    body = text(client.get("/audit?actor=张经纪"))
    assert "状态：<del>待审核</del> → <ins>已推荐</ins>" in body
    assert "审核时间：<del>空</del> → <ins>2021-06-18 14:05</ins>" in body
    assert "拟投入资金/万元：<del>10</del> → <ins>20</ins>" in body
    assert "status" not in re.sub(r"<[^>]+>", "", body.split("<tbody>")[1])


# --- Beijing time ---------------------------------------------------------------------------------

def test_a_stored_utc_time_is_shown_as_beijing_time(client, db):
    record = store.get_record(db, "demands", "D2021-102")
    db["audit_log"].insert({"at": "2021-06-18T06:05:09+00:00", "actor": "张经纪", "action": "update",
                            "entity": "demands", "entity_id": "D2021-102",
                            "before": '{"title": "旧名称"}', "after": '{"title": "%s"}' % record["title"]})
    log_in(client, db, "broker")
    assert "2021-06-18 14:05" in text(client.get("/audit?actor=张经纪"))
    page = text(client.get("/demands/D2021-102"))  # the record's own history
    assert "2021-06-18 14:05" in page and "2021-06-18 06:05" not in page
    # A date without a time stays a date.
    assert f'data-label="发布日期">{record["posted_at"][:10]}<' in text(client.get("/demands"))
    # What the API answers is the stored value: ISO 8601 with its offset.
    assert store.audit_entries(db, "demands", "D2021-102", limit=1)[0]["at"] == "2021-06-18T06:05:09+00:00"


# --- cooperations -----------------------------------------------------------------------------------

def test_cooperations_sort_by_amount_and_export_what_the_page_lists(client, db):
    store.upsert_cooperations(db, [
        {"demand_id": "D2021-102", "supply_id": "S2021-202", "confirmed_at": "2021-03-01", "amount_wan": 80,
         "mode": "委托开发", "broker": "张经纪"},
        {"demand_id": "D2021-103", "supply_id": "S2021-201", "confirmed_at": "2021-04-01", "amount_wan": 5,
         "mode": "技术服务", "broker": "李经纪"}])
    everything = store.list_cooperations(db)
    ascending = sorted(everything, key=lambda row: (row["amount_wan"] or 0, row["id"]))
    log_in(client, db, "broker")
    page = text(client.get("/cooperations?sort=amount_wan"))
    shown = re.findall(r'data-label="技术需求">\s*<a class="row-title" href="[^"]+">([^<]+)</a>', page)
    assert shown == [row["demand_title"] for row in ascending]
    assert 'aria-sort="ascending">' in page and "金额 ▲" in page
    rows = workbook_rows(client.get("/cooperations/export.xlsx?sort=-amount_wan"))
    assert [row["合同金额/万元"] for row in rows] == sorted((row["amount_wan"] for row in everything), reverse=True)
    assert [(row["需求编号"], row["成果编号"]) for row in rows][0] == ("D2021-102", "S2021-202")
    assert set(rows[0]) >= {"确认日期", "合作方式", "技术经纪人", "需求名称", "企业名称", "成果名称", "平台名称"}


def test_a_platform_exports_only_its_own_cooperations(client, db):
    log_in(client, db, "platform")
    rows = csv_rows(client.get("/cooperations/export.csv"))
    mine = store.list_cooperations(db, {"platform": HIT})
    assert sorted(row["需求编号"] for row in rows) == sorted(row["demand_id"] for row in mine)
    assert rows and all(row["平台名称"] == HIT for row in rows)


# --- gaps ---------------------------------------------------------------------------------------------

def gap_titles(body: str) -> list[str]:
    return re.findall(r'data-label="技术需求">\s*<a class="row-title" href="[^"]+">([^<]+)</a>', body)


def test_gaps_sort_by_a_column_and_export_the_sorted_list(client, db):
    log_in(client, db, "broker")
    weakest_first = text(client.get("/gaps?threshold=1"))
    titles = gap_titles(weakest_first)
    assert len(titles) >= 2
    assert gap_titles(text(client.get("/gaps?threshold=1&sort=title"))) == sorted(titles)
    by_title = text(client.get("/gaps?threshold=1&sort=-title"))
    assert gap_titles(by_title) == sorted(titles, reverse=True)
    scores = lambda body: [float(score) for score in re.findall(r'data-label="最佳匹配分">([^<]+)<', body)]  # noqa: E731
    assert scores(weakest_first) == sorted(scores(weakest_first))
    assert scores(text(client.get("/gaps?threshold=1&sort=-best_score"))) == sorted(scores(weakest_first), reverse=True)
    link = re.search(r'href="(/gaps/export\.xlsx\?[^"]+)"', by_title).group(1).replace("&amp;", "&")
    rows = workbook_rows(client.get(link))
    assert [row["需求名称"] for row in rows] == sorted(titles, reverse=True)
    assert {"需求编号", "联系人", "最佳匹配分", "最接近的成果"} <= set(rows[0])
    assert client.get("/gaps/export.csv?threshold=1").status_code == 200
    log_in(client, db, "platform")
    assert client.get("/gaps/export.csv?threshold=1").status_code == 403


def test_exports_ask_for_a_login_like_their_pages(client, db):
    log_in(client, db, None)
    for url in ("/demands/export.xlsx", "/supplies/export.csv", "/cooperations/export.xlsx", "/gaps/export.csv"):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login"), url
    log_in(client, db, "enterprise")
    assert client.get("/supplies/export.xlsx").status_code == 403
