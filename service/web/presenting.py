"""How values look on the pages: highlighted shared terms, pages of a list, dates and amounts.

    >>> str(highlight("刀具磨损<监测>", ["刀具"]))
    '<mark>刀具</mark>磨损&lt;监测&gt;'
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from markupsafe import Markup, escape

ACTION_NAMES = {
    "import": "导入", "create": "新建", "update": "修改", "delete": "删除", "recommend": "推荐",
    "recommended": "推荐", "reject": "否决", "rejected": "否决", "unsure": "待定", "undo": "撤销",
    "confirm": "确认合作", "confirmed": "确认合作", "decline": "婉拒", "declined": "婉拒",
    "decide": "审核决定", "introduce": "同意引荐", "generate": "生成推荐",
    "disable": "停用账号", "enable": "启用账号", "reset_password": "重置密码", "change_password": "修改密码",
    "issue_token": "签发令牌", "revoke": "吊销令牌与会话",
    "reindex": "重建索引",
}
ENTITY_NAMES = {"demands": "技术需求", "supplies": "科技成果", "cooperations": "合作", "proposals": "推荐对",
                "users": "账号", "sessions": "专题对接会", "session_pairs": "议程配对", "visits": "走访",
                "index": "检索索引"}
PAGE_SIZE = 20


def highlight(text: str | None, terms) -> Markup:
    """The text HTML-escaped, with every occurrence of a shared term wrapped in <mark>."""
    text = text or ""
    terms = sorted({term for term in terms or [] if term and term.strip()}, key=len, reverse=True)
    if not terms:
        return escape(text)
    # Adjacent terms make one mark: 热敏 + 打印头 reads as 热敏打印头, not two patches.
    pattern = re.compile("(?:" + "|".join(re.escape(term) for term in terms) + ")+", re.IGNORECASE)
    pieces, position = [], 0
    for match in pattern.finditer(text):
        pieces.append(escape(text[position:match.start()]))
        pieces.append(Markup("<mark>%s</mark>") % match.group(0))
        position = match.end()
    pieces.append(escape(text[position:]))
    return Markup("").join(pieces)


def amount(value) -> str:
    """万元 amounts as the lists write them: 30, 12.5; blank stays a dash."""
    if value is None or value == "":
        return "—"
    number = float(value)
    return f"{int(number)} 万元" if number.is_integer() else f"{number:g} 万元"


# China has kept UTC+8 without daylight saving since 1991: a fixed offset needs no tz database.
def plain(value, limit: int = 60) -> str:
    """A stored value as one short line: lists joined with 、, long text cut with an ellipsis."""
    if value is None or value == "":
        return "空"
    if isinstance(value, (list, tuple)):
        value = "、".join(str(item) for item in value)
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


@dataclass
class Page:
    """One page of a list: which rows, and the numbers the pager needs."""
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def window(self) -> list[int | None]:
        """Page numbers to show, with None for a gap: 1 … 4 5 6 … 12."""
        shown = sorted({1, self.pages, *range(max(1, self.number - 2), min(self.pages, self.number + 2) + 1)})
        window: list[int | None] = []
        for number in shown:
            if window and number - (window[-1] or 0) > 1:
                window.append(None)
            window.append(number)
        return window


def page_of(requested: str | None, total: int, size: int = PAGE_SIZE) -> Page:
    """The requested page number, clamped to the pages that exist."""
    try:
        number = int(requested or 1)
    except ValueError:
        number = 1
    pages = max(1, math.ceil(total / size))
    return Page(min(max(1, number), pages), size, total)
