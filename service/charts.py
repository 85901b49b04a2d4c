"""Charts drawn on the server as SVG: no script (the pages' CSP forbids inline script), no network.

Text uses the Noto Sans CJK SC font that the fonts-noto-cjk package installs, so Chinese labels render
in any browser on the machine and in the printed page. Colours are presentation attributes, not
style attributes, for the same CSP.

    >>> svg = bar_chart("按产业集群", [("新一代信息技术", 12), ("康养旅游", 3)])
    >>> svg.startswith("<svg")
    True
"""
from __future__ import annotations

from markupsafe import Markup, escape

FONT = "'Noto Sans CJK SC', 'Noto Sans SC', 'Source Han Sans SC', 'Microsoft YaHei', 'PingFang SC', sans-serif"
INK, MUTED, GRID = "#1d2733", "#5d6b7a", "#dfe5ec"
SERIES_COLOURS = ("#0f5c8c", "#1e7f4f", "#9a6200", "#b3261e")


def _svg(width: int, height: int, title: str, body: list[str], kind: str) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" font-family="{FONT}" '
        f'font-size="12" fill="{INK}" aria-label="{escape(title)}"><title>{escape(title)}</title>'
        + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = 12, colour: str = INK,
          weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{colour}" '
            f'font-weight="{weight}">{escape(text)}</text>')


def _percent(value: float) -> str:
    share = round(value * 100, 6)
    return f"{share:.0f}%" if share == round(share) else f"{share:.1f}%"


def _nice_top(value: float, rate: bool) -> float:
    """A round upper bound for an axis: 1.0 for rates up to 100%, else the next 1/2/5 × 10ⁿ."""
    if rate and value <= 1:
        return max(0.2, min(1.0, (int(value * 5) + 1) / 5))
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return value


def line_chart(title: str, labels: list[str], series: list[tuple[str, list[float | None]]],
               rate: bool = True, width: int = 720, height: int = 280) -> Markup:
    """Lines over labelled points (months); a None value breaks the line."""
    left, right, top, bottom = 52, 16, 36, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [value for _, points in series for value in points if value is not None]
    ceiling = _nice_top(max(values, default=0), rate)
    step_x = plot_w / max(1, len(labels) - 1)
    body = [_text(left, 18, title, size=14, weight="bold")]
    for tick in range(5):
        value = ceiling * tick / 4
        y = top + plot_h - plot_h * tick / 4
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(_text(left - 6, y + 4, _percent(value) if rate else f"{value:g}", "end", 11, MUTED))
    for index, label in enumerate(labels):
        x = left + step_x * index
        body.append(_text(x, height - bottom + 18, label, "middle", 11, MUTED))
    for number, (name, points) in enumerate(series):
        colour = SERIES_COLOURS[number % len(SERIES_COLOURS)]
        segments, current = [], []
        for index, value in enumerate(points):
            if value is None:
                if current:
                    segments.append(current)
                current = []
                continue
            current.append((left + step_x * index, top + plot_h - plot_h * min(value, ceiling) / ceiling))
        if current:
            segments.append(current)
        for segment in segments:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in segment)
            body.append(f'<polyline class="series" points="{path}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
            body += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>' for x, y in segment]
        legend_x = width - right - 96 * (len(series) - number)
        body.append(f'<rect x="{legend_x}" y="10" width="14" height="4" fill="{colour}"/>')
        body.append(_text(legend_x + 20, 16, name, size=12))
    return _svg(width, height, title, body, "line")


def bar_chart(title: str, bars: list[tuple[str, float | None]], rate: bool = False, width: int = 720,
              bar_height: int = 22, label_width: int = 230) -> Markup:
    """Horizontal bars, one per labelled group (long Chinese names fit on the left)."""
    top, gap, right = 34, 6, 70
    height = top + len(bars) * (bar_height + gap) + 12
    plot_w = width - label_width - right
    ceiling = _nice_top(max((value or 0 for _, value in bars), default=0), rate)
    body = [_text(0, 18, title, size=14, weight="bold")]
    for index, (label, value) in enumerate(bars):
        y = top + index * (bar_height + gap)
        body.append(_text(label_width - 8, y + bar_height * 0.7, label, "end", 12))
        length = plot_w * (value or 0) / ceiling if ceiling else 0
        body.append(f'<rect class="bar" x="{label_width}" y="{y}" width="{max(length, 1):.1f}" height="{bar_height}" '
                    f'rx="3" fill="{SERIES_COLOURS[0]}"/>')
        shown = "—" if value is None else (_percent(value) if rate else f"{value:,.10g}")
        body.append(_text(label_width + max(length, 1) + 6, y + bar_height * 0.7, shown, size=12, colour=MUTED))
    return _svg(width, height, title, body, "bar")


def _heat_colour(value: float | None, ceiling: float) -> str:
    """White to the site's sea blue; grey where there is nothing to rate."""
    if value is None:
        return "#f1f3f5"
    share = 0 if ceiling <= 0 else min(value / ceiling, 1)
    low, high = (236, 244, 250), (15, 92, 140)
    return "#" + "".join(f"{round(a + (b - a) * share):02x}" for a, b in zip(low, high))


def heat_map(title: str, rows: list[str], columns: list[str], cells: list[list[dict]],
             cell_width: int = 78, cell_height: int = 40, label_width: int = 150) -> Markup:
    """Cluster × district: colour is the match rate, the text says matched / posted."""
    top = 64
    width = label_width + cell_width * len(columns) + 8
    height = top + cell_height * len(rows) + 28
    rates = [cell["match_rate"] for row in cells for cell in row if cell["match_rate"] is not None]
    ceiling = max(rates, default=0) or 1
    body = [_text(0, 18, title, size=14, weight="bold")]
    for index, column in enumerate(columns):
        x = label_width + cell_width * index + cell_width / 2
        lines = [column] if len(column) <= 6 else [column[:5], column[5:11]]
        for number, line in enumerate(lines):
            body.append(_text(x, top - 10 - 13 * (len(lines) - 1 - number), line, "middle", 11, MUTED))
    for row_index, (row_name, row) in enumerate(zip(rows, cells)):
        y = top + cell_height * row_index
        body.append(_text(label_width - 8, y + cell_height * 0.6, row_name, "end", 12))
        for column_index, cell in enumerate(row):
            x = label_width + cell_width * column_index
            fill = _heat_colour(cell["match_rate"], ceiling)
            dark = cell["match_rate"] is not None and cell["match_rate"] / ceiling > 0.55
            body.append(f'<rect class="cell" x="{x + 1}" y="{y + 1}" width="{cell_width - 2}" height="{cell_height - 2}" '
                        f'fill="{fill}"><title>{escape(row_name)} × {escape(columns[column_index])}</title></rect>')
            if cell["new_demands"]:
                label = _percent(cell["match_rate"]) if cell["match_rate"] is not None else "—"
                colour = "#ffffff" if dark else INK
                body.append(_text(x + cell_width / 2, y + 17, label, "middle", 12, colour, "bold"))
                body.append(_text(x + cell_width / 2, y + 32, f"{cell['matched_demands']}/{cell['new_demands']}",
                                  "middle", 10, colour))
    body.append(_text(label_width, height - 8, "颜色越深匹配率越高；格内为 达成合作的需求/新增需求（本年累计）", size=11,
                      colour=MUTED))
    return _svg(width, height, title, body, "heatmap")


def sparkline(values: list[float | None], width: int = 96, height: int = 22) -> Markup:
    """A tiny trend of twelve monthly values for a table cell."""
    numbers = [value or 0 for value in values]
    ceiling = max(numbers, default=0) or 1
    step = (width - 4) / max(1, len(numbers) - 1)
    points = " ".join(f"{2 + step * index:.1f},{height - 3 - (height - 6) * value / ceiling:.1f}"
                      for index, value in enumerate(numbers))
    return Markup(f'<svg xmlns="http://www.w3.org/2000/svg" class="sparkline" viewBox="0 0 {width} {height}" '
                  f'width="{width}" height="{height}" aria-hidden="true"><polyline points="{points}" fill="none" '
                  f'stroke="{SERIES_COLOURS[0]}" stroke-width="1.6"/></svg>')


def report_charts(report: dict) -> dict[str, Markup]:
    """The report page's four charts: match-rate trend, bars by cluster and by platform, the heat map."""
    labels = [point["month"][2:] for point in report["trend"]]
    clusters = report["breakdowns"]["cluster"]["groups"]
    return {
        "trend": line_chart("匹配率：近 12 个月", labels, [
            ("当月", [point["figures"]["match_rate"] for point in report["trend"]]),
            ("本年累计", [point["ytd_match_rate"] for point in report["trend"]])]),
        "clusters": bar_chart("本年累计匹配率 · 按产业集群", [(group["key"], group["ytd"]["match_rate"])
                                                   for group in clusters], rate=True),
        "platforms": bar_chart("本年累计确认合作 · 按平台", [(row["platform"], row["cooperations"])
                                                  for row in report["platforms"]]),
        "heatmap": heat_map("本年累计匹配率 · 产业集群 × 所在区市", report["heatmap"]["rows"],
                            report["heatmap"]["columns"], report["heatmap"]["cells"]),
    }
