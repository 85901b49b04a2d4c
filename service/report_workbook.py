"""The monthly report as an Excel workbook: Chinese headers, native charts, A4 page setup.

Drawn from the report dict of service/reports.py (which defines every figure), sheet by sheet:

    >>> write_workbook(monthly_report(db, "2021-12"), "report-2021-12.xlsx")   # doctest: +SKIP
"""
from __future__ import annotations

from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.formatting.rule import ColorScaleRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from .beijing import day
from .cells import text_cell
from .reports import ACTIVITY_NAMES, DIMENSIONS, FIGURES, UNITS, year_and_month

HEADER_FILL = PatternFill("solid", fgColor="E6F0F7")
HEADER_FONT = Font(bold=True, color="0A4568")
TITLE_FONT = Font(bold=True, size=14)
THIN = Side(style="thin", color="DFE5EC")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
NUMBER_FORMATS = {"rate": "0.0%", "amount": "#,##0.##", "days": "0.#", "count": "#,##0"}
BREAKDOWN_SHEETS = {"cluster": "按产业集群", "platform": "按平台", "region": "按区市"}


def write_workbook(report: dict, path) -> object:
    """Write the workbook (summary, trend, one sheet per breakdown, heat map, platform view, gaps,
    definitions) to a path or a binary file object; returns what it was given."""
    book = Workbook()
    _summary(book.active, report)
    _trend(book.create_sheet("月度趋势"), report)
    for dimension in DIMENSIONS:
        _breakdown(book.create_sheet(BREAKDOWN_SHEETS[dimension]), report, dimension)
    _heatmap(book.create_sheet("集群×区市"), report)
    _platforms(book.create_sheet("平台绩效"), report)
    _gaps(book.create_sheet("缺口清单"), report)
    _definitions(book.create_sheet("指标口径"), report)
    for sheet in book.worksheets:
        _a4(sheet)
    book.save(path)
    return path


# --- sheet helpers ----------------------------------------------------------------------------

def _a4(sheet, landscape: bool = True) -> None:
    """A4, landscape, every column on one page wide; the header row repeats on each page."""
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = "landscape" if landscape else "portrait"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_options.horizontalCentered = True
    sheet.page_margins.left = sheet.page_margins.right = 0.4
    sheet.page_margins.top = sheet.page_margins.bottom = 0.5


def _title(sheet, text: str, note: str | None = None) -> int:
    """A title (and a note) on top; returns the first free row."""
    sheet.cell(row=1, column=1, value=text).font = TITLE_FONT
    if note:
        sheet.cell(row=2, column=1, value=note).font = Font(color="5D6B7A", size=9)
    return 4


def _header(sheet, row: int, names: list[str]) -> None:
    for column, name in enumerate(names, start=1):
        cell = text_cell(sheet.cell(row=row, column=column, value=name))  # district names head the heat map
        cell.fill, cell.font, cell.border = HEADER_FILL, HEADER_FONT, BORDER
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    sheet.print_title_rows = f"{row}:{row}"


def _put(sheet, row: int, column: int, value, unit: str | None = None):
    """One table cell; user text (titles, platform and district names) stays text, never a formula."""
    cell = text_cell(sheet.cell(row=row, column=column, value=value))
    cell.border = BORDER
    if unit:
        cell.number_format = NUMBER_FORMATS[unit]
    return cell


def _widths(sheet, widths: dict[int, float]) -> None:
    for column, width in widths.items():
        sheet.column_dimensions[get_column_letter(column)].width = width


# --- the sheets --------------------------------------------------------------------------------

def _summary(sheet, report: dict) -> None:
    sheet.title = "概要"
    windows = report["windows"]
    row = _title(sheet, f"两清单月度匹配报告 · {year_and_month(report)}",
                 f"本月 {windows['month']['start']}–{windows['month']['end']}；本年累计 {windows['ytd']['start']}–"
                 f"{windows['ytd']['end']}；生成于 {day(report['generated_at'])}（北京时间）")
    _header(sheet, row, ["指标", "本月", "上月", "环比变化", "本年累计", "口径"])
    for figure in FIGURES:
        row += 1
        _put(sheet, row, 1, figure.name).font = Font(bold=True)
        for column, block in enumerate(("current", "previous", "change", "ytd"), start=2):
            _put(sheet, row, column, report[block][figure.key], figure.unit)
        _put(sheet, row, 6, figure.definition).alignment = Alignment(wrap_text=True, vertical="top")
    row += 2
    sheet.cell(row=row, column=1, value="专题对接与双走进（本月）").font = Font(bold=True)
    for key, name in ACTIVITY_NAMES.items():
        row += 1
        _put(sheet, row, 1, name)
        _put(sheet, row, 2, report["activities"][key], "count")
    _widths(sheet, {1: 26, 2: 12, 3: 12, 4: 12, 5: 12, 6: 70})


def _trend(sheet, report: dict) -> None:
    row = _title(sheet, "近 12 个月趋势", "每月按当月统计；最后一列为截至当月的本年累计匹配率。")
    header_row = row
    _header(sheet, row, ["月份", *(figure.name for figure in FIGURES), "本年累计匹配率"])
    for point in report["trend"]:
        row += 1
        _put(sheet, row, 1, point["month"])
        for column, figure in enumerate(FIGURES, start=2):
            _put(sheet, row, column, point["figures"][figure.key], figure.unit)
        _put(sheet, row, len(FIGURES) + 2, point["ytd_match_rate"], "rate")
    _widths(sheet, {1: 10, **{column: 11 for column in range(2, len(FIGURES) + 3)}})
    months = Reference(sheet, min_col=1, min_row=header_row + 1, max_row=row)
    rate_column = 2 + [figure.key for figure in FIGURES].index("match_rate")
    line = LineChart()
    line.title, line.y_axis.title, line.y_axis.number_format = "匹配率趋势", "匹配率", "0%"
    for column in (rate_column, len(FIGURES) + 2):
        line.add_data(Reference(sheet, min_col=column, min_row=header_row, max_row=row), titles_from_data=True)
    line.set_categories(months)
    line.height, line.width = 8, 18
    sheet.add_chart(line, f"A{row + 3}")
    bars = BarChart()
    bars.title, bars.y_axis.title = "每月确认合作", "项"
    cooperation_column = 2 + [figure.key for figure in FIGURES].index("cooperations")
    bars.add_data(Reference(sheet, min_col=cooperation_column, min_row=header_row, max_row=row), titles_from_data=True)
    bars.set_categories(months)
    bars.height, bars.width = 8, 18
    sheet.add_chart(bars, f"J{row + 3}")


BREAKDOWN_KEYS = ("new_demands", "open_demands", "new_supplies", "proposals_generated", "proposals_reviewed",
                  "recommended", "rejected", "cooperations", "amount_wan", "matched_demands", "match_rate",
                  "precision", "days_to_recommendation", "days_to_cooperation")


def _breakdown(sheet, report: dict, dimension: str) -> None:
    """Three tables (this month, month-on-month change, year to date), the 12-month cooperations, a chart."""
    breakdown = report["breakdowns"][dimension]
    groups = breakdown["groups"]
    name = breakdown["name"]
    row = _title(sheet, f"按{name}", "“—”表示该指标对此分组没有意义；环比变化中比率为小数（0.05 即 5 个百分点）。")
    names = [next(figure.name for figure in FIGURES if figure.key == key) for key in BREAKDOWN_KEYS]
    ytd_header = None
    for block, caption in (("ytd", "本年累计"), ("current", "本月"), ("change", "环比变化")):
        sheet.cell(row=row, column=1, value=caption).font = Font(bold=True)
        row += 1
        if block == "ytd":
            ytd_header = row
        _header(sheet, row, [name, *names, *(["缺口"] if dimension != "platform" else [])])
        for group in groups:
            row += 1
            _put(sheet, row, 1, group["key"])
            for column, key in enumerate(BREAKDOWN_KEYS, start=2):
                unit = "rate" if UNITS[key] == "rate" else None if block == "change" else UNITS[key]
                _put(sheet, row, column, group[block][key], unit)
            if dimension != "platform":
                _put(sheet, row, len(BREAKDOWN_KEYS) + 2, group["gaps"])
        row += 2
    sheet.cell(row=row, column=1, value="近 12 个月确认合作").font = Font(bold=True)
    row += 1
    months = [point["month"] for point in groups[0]["trend"]] if groups else []
    _header(sheet, row, [name, *months])
    for group in groups:
        row += 1
        _put(sheet, row, 1, group["key"])
        for column, point in enumerate(group["trend"], start=2):
            _put(sheet, row, column, point["figures"]["cooperations"], "count")
    _widths(sheet, {1: 30 if dimension == "platform" else 20,
                    **{column: 10 for column in range(2, len(BREAKDOWN_KEYS) + 3)}})
    if groups:
        chart = BarChart()
        chart.type = "bar"
        chart.title = f"本年累计确认合作 · 按{name}"
        cooperation_column = 2 + BREAKDOWN_KEYS.index("cooperations")
        chart.add_data(Reference(sheet, min_col=cooperation_column, min_row=ytd_header,
                                 max_row=ytd_header + len(groups)), titles_from_data=True)
        chart.set_categories(Reference(sheet, min_col=1, min_row=ytd_header + 1, max_row=ytd_header + len(groups)))
        chart.height, chart.width = max(7, 0.55 * len(groups)), 16
        chart.legend = None
        sheet.add_chart(chart, f"A{row + 3}")


def _heatmap(sheet, report: dict) -> None:
    heat = report["heatmap"]
    row = _title(sheet, "本年累计匹配率 · 产业集群 × 所在区市", "单元格为匹配率，颜色越深越高；下表为 达成合作的需求/新增需求。")
    _header(sheet, row, ["产业集群", *heat["columns"]])
    top = row + 1
    for cluster, cells in zip(heat["rows"], heat["cells"]):
        row += 1
        _put(sheet, row, 1, cluster)
        for column, cell in enumerate(cells, start=2):
            _put(sheet, row, column, cell["match_rate"], "rate")
    if heat["rows"] and heat["columns"]:
        area = f"B{top}:{get_column_letter(len(heat['columns']) + 1)}{row}"
        sheet.conditional_formatting.add(area, ColorScaleRule(start_type="min", start_color="ECF4FA",
                                                              end_type="max", end_color="0F5C8C"))
    row += 2
    _header(sheet, row, ["产业集群", *heat["columns"]])
    for cluster, cells in zip(heat["rows"], heat["cells"]):
        row += 1
        _put(sheet, row, 1, cluster)
        for column, cell in enumerate(cells, start=2):
            _put(sheet, row, column, f"{cell['matched_demands']}/{cell['new_demands']}").alignment = \
                Alignment(horizontal="center")
    _widths(sheet, {1: 20, **{column: 14 for column in range(2, len(heat["columns"]) + 2)}})


PLATFORM_COLUMNS = (("platform", "平台", None), ("supplies_listed", "在库成果", "count"),
                    ("new_supplies", "本年新增成果", "count"), ("proposals", "生成推荐", "count"),
                    ("recommended", "已推荐", "count"), ("cooperations", "确认合作", "count"),
                    ("demands_served", "服务需求", "count"), ("amount_wan", "合同金额（万元）", "amount"),
                    ("precision", "推荐精确率", "rate"))


def _platforms(sheet, report: dict) -> None:
    row = _title(sheet, "平台绩效（年度评估，本年累计）", "按确认合作、合同金额排序。")
    header_row = row
    _header(sheet, row, [caption for _, caption, _ in PLATFORM_COLUMNS])
    for platform in report["platforms"]:
        row += 1
        for column, (key, _, unit) in enumerate(PLATFORM_COLUMNS, start=1):
            _put(sheet, row, column, platform[key], unit)
    _widths(sheet, {1: 34, **{column: 12 for column in range(2, len(PLATFORM_COLUMNS) + 1)}})
    if report["platforms"]:
        chart = BarChart()
        chart.type = "bar"
        chart.title = "合同金额（万元）· 按平台"
        amount_column = 1 + [key for key, _, _ in PLATFORM_COLUMNS].index("amount_wan")
        chart.add_data(Reference(sheet, min_col=amount_column, min_row=header_row, max_row=row), titles_from_data=True)
        chart.set_categories(Reference(sheet, min_col=1, min_row=header_row + 1, max_row=row))
        chart.height, chart.width = max(7, 0.5 * len(report["platforms"])), 16
        chart.legend = None
        sheet.add_chart(chart, f"K{header_row}")


def _gaps(sheet, report: dict) -> None:
    gaps = report["gaps"]
    if not gaps["available"]:
        _title(sheet, "缺口清单（揭榜挂帅候选）", "本报告未计算缺口清单（生成时没有可用的匹配引擎索引）。")
        return
    rule = "缺口模型判定的" if gaps["threshold"] is None else f"最佳匹配分低于 {gaps['threshold']:.2f} 的"
    row = _title(sheet, "缺口清单（揭榜挂帅候选）", f"{rule}开放需求，按报告生成时的清单计算。")
    _header(sheet, row, ["需求编号", "需求名称", "产业集群", "所在区市", "最佳匹配分", "最接近的成果"])
    for gap in gaps["items"]:
        row += 1
        for column, key in enumerate(("demand_id", "title", "industry_cluster", "region", "best_score",
                                      "best_supply_id"), start=1):
            cell = _put(sheet, row, column, gap.get(key))
            if key == "best_score":
                cell.number_format = "0.00"
    _widths(sheet, {1: 12, 2: 48, 3: 20, 4: 20, 5: 12, 6: 14})


def _definitions(sheet, report: dict) -> None:
    row = _title(sheet, "指标口径")
    _header(sheet, row, ["指标", "键名", "口径"])
    for definition in report["definitions"]:
        row += 1
        _put(sheet, row, 1, definition["name"])
        _put(sheet, row, 2, definition["key"])
        _put(sheet, row, 3, definition["definition"]).alignment = Alignment(wrap_text=True, vertical="top")
    _widths(sheet, {1: 26, 2: 24, 3: 90})
