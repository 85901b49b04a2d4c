"""The three record kinds of the two lists, their fields and how a raw value becomes a clean one.

One definition serves the importers, the API and the forms: a field's English key, its Chinese
column header, its type, its allowed values and its bounds (the OpenAPI document is generated from
it too).

    >>> demand, problems = clean_record("demands", {"id": "D1", "title": "注塑件缩痕", "description": "良品率低"})
    >>> demand["keywords"], problems
    ([], [])
"""
from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

from .permissions import OWNER_FIELD

INDUSTRY_CLUSTERS = (
    "新一代信息技术",
    "新医药与医疗器械",
    "先进装备与智能制造",
    "碳纤维等复合材料",
    "海洋生物与健康食品",
    "时尚与休闲运动产品",
    "康养旅游",
)
MATURITY_LEVELS = ("实验室阶段", "小试", "中试", "产业化")
DEMAND_STATUSES = ("征集中", "对接中", "已合作", "已关闭")
OPEN_DEMAND_STATUSES = ("征集中", "对接中")
NEW_DEMAND_STATUS = "征集中"  # a demand without a status is still being solicited
KEYWORD_SEPARATORS = re.compile(r"[，,;；、\n]+")
# C0 control characters other than tab and newlines: invisible, and a spreadsheet cannot hold them.
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SURROGATES = re.compile("[\ud800-\udfff]")

# Bounds, in characters: generous beside the lists (titles ≤ 30, descriptions ≤ 170, names ≤ 18),
# small enough that one record cannot flood the pages, the index or a spreadsheet cell.
ID_MAX = 64
TITLE_MAX = 80
DESCRIPTION_MAX = 5000
DESCRIPTION_MIN = 10  # for a record a user posts: fewer characters give the engine nothing to match on
NAME_MAX = 100  # an enterprise, a platform, a contact
LABEL_MAX = 50  # a chain, a district, a cooperation mode, a broker
NOTE_MAX = 500
KEYWORD_MAX, KEYWORDS_MAX = 30, 30  # each term; terms per record
# 1000 亿元: far above any amount on the lists (≤ 600 万元), far below where SQLite's 64-bit
# integers overflow or floats stop holding every whole number.
AMOUNT_MAX_WAN = 10_000_000


@dataclass(frozen=True)
class Field:
    key: str
    header: str  # the Chinese column header used in the institute's spreadsheets
    kind: str = "text"  # text | number | date | keywords
    required: bool = False
    choices: tuple[str, ...] = ()
    default: object = None  # what a blank cell means
    max_length: int | None = None  # characters of a text; of each term for keywords
    max_items: int | None = None  # terms, for keywords
    maximum: float | None = None  # for numbers, which are never negative


DEMAND_FIELDS = (
    Field("id", "需求编号", required=True, max_length=ID_MAX),
    Field("title", "需求名称", required=True, max_length=TITLE_MAX),
    Field("description", "需求概述", required=True, max_length=DESCRIPTION_MAX),
    Field("enterprise", "企业名称", max_length=NAME_MAX),
    Field("industry_cluster", "产业集群", choices=INDUSTRY_CLUSTERS),
    Field("industry_chain", "产业链", max_length=LABEL_MAX),
    Field("region", "所在区市", max_length=LABEL_MAX),
    Field("keywords", "关键词", kind="keywords", max_length=KEYWORD_MAX, max_items=KEYWORDS_MAX),
    Field("budget_wan", "拟投入资金/万元", kind="number", maximum=AMOUNT_MAX_WAN),
    Field("cooperation_mode", "合作方式", max_length=LABEL_MAX),
    Field("deadline", "需求时限", kind="date"),
    Field("contact", "联系人", max_length=NAME_MAX),
    Field("status", "状态", choices=DEMAND_STATUSES, default=NEW_DEMAND_STATUS),
    Field("posted_at", "发布日期", kind="date"),
)

SUPPLY_FIELDS = (
    Field("id", "成果编号", required=True, max_length=ID_MAX),
    Field("title", "成果名称", required=True, max_length=TITLE_MAX),
    Field("description", "成果简介", required=True, max_length=DESCRIPTION_MAX),
    Field("platform", "平台名称", max_length=NAME_MAX),
    Field("industry_cluster", "产业集群", choices=INDUSTRY_CLUSTERS),
    Field("industry_chain", "产业链", max_length=LABEL_MAX),
    Field("maturity", "成熟度", choices=MATURITY_LEVELS),
    Field("ip", "知识产权", max_length=NAME_MAX),
    Field("keywords", "关键词", kind="keywords", max_length=KEYWORD_MAX, max_items=KEYWORDS_MAX),
    Field("cooperation_mode", "合作方式", max_length=LABEL_MAX),
    Field("price_wan", "参考价格/万元", kind="number", maximum=AMOUNT_MAX_WAN),
    Field("contact", "联系人", max_length=NAME_MAX),
    Field("posted_at", "发布日期", kind="date"),
)

COOPERATION_FIELDS = (
    Field("demand_id", "需求编号", required=True, max_length=ID_MAX),
    Field("supply_id", "成果编号", required=True, max_length=ID_MAX),
    Field("confirmed_at", "确认日期", kind="date"),
    Field("mode", "合作方式", max_length=LABEL_MAX),
    Field("amount_wan", "合同金额/万元", kind="number", maximum=AMOUNT_MAX_WAN),
    Field("broker", "技术经纪人", max_length=LABEL_MAX),
    Field("note", "备注", max_length=NOTE_MAX),
)

FIELDS = {"demands": DEMAND_FIELDS, "supplies": SUPPLY_FIELDS, "cooperations": COOPERATION_FIELDS}
# What anyone shown a demand or a supply may read of it. Every other key (contact, budget or price,
# and any column an import brought along) is confidential until the owner agrees to be introduced:
# a field is public only by being named here (workflow.redacted applies this everywhere).
PUBLIC_FIELDS = {
    "demands": ("id", "title", "description", "enterprise", "industry_cluster", "industry_chain", "region",
                "keywords", "cooperation_mode", "deadline", "status", "posted_at"),
    "supplies": ("id", "title", "description", "platform", "industry_cluster", "industry_chain", "maturity", "ip",
                 "keywords", "cooperation_mode", "posted_at"),
}
KIND_NAMES = {"demands": "技术需求", "supplies": "科技成果", "cooperations": "合作"}
ID_PREFIXES = {"demands": "D", "supplies": "S"}
# What a JSON value of each field kind must be: the API checks types, files and forms carry text.
JSON_TYPES = {"text": (str,), "date": (str,), "number": (int, float), "keywords": (str, list)}
TYPE_NAMES = {"text": "文本", "date": "日期文本（如 2021-03-15）", "number": "数字",
              "keywords": "文本列表，或以顿号、逗号分隔的文本"}


def field_keys(kind: str) -> list[str]:
    """The English keys of a record kind, in column order."""
    return [field.key for field in FIELDS[kind]]


def header_to_key(kind: str) -> dict[str, str]:
    """Map both the English keys and the Chinese headers to the English key."""
    mapping = {}
    for field in FIELDS[kind]:
        mapping[field.key] = field.key
        mapping[field.header] = field.key
    return mapping


def is_open_demand(demand: dict) -> bool:
    """Is a demand still looking for a supply? A blank status counts as newly posted.

    >>> is_open_demand({"status": None}), is_open_demand({"status": "已合作"})
    (True, False)
    """
    return (demand.get("status") or NEW_DEMAND_STATUS) in OPEN_DEMAND_STATUSES


def id_prefix(kind: str, posted_at: str | None = None) -> str:
    """Records are numbered per year of posting, the lists' style: D2021-001, S2021-130.

    >>> id_prefix("demands", "2021-03-15")
    'D2021-'
    """
    return f"{ID_PREFIXES[kind]}{(posted_at or dt.date.today().isoformat())[:4]}-"


def clean_record(kind: str, raw: dict, typed: bool = False, new: bool = False) -> tuple[dict, list[tuple[str, str]]]:
    """Turn one raw row into a clean record; return it with a list of (field, problem) pairs.

    Unknown keys are kept as they are (the lists carry columns we don't model yet).
    typed=True: the row is a JSON body, so each value must already have its field's type ("title": 123
    is a mistake, not "123"); a spreadsheet's cells are converted. new=True: a record being posted may
    leave out its id (absent or None, not ""), and the store numbers it when it saves it (store.save_record).
    """
    aliases = header_to_key(kind)
    record: dict = {}
    extra: dict = {}
    broken = [(SURROGATES.sub("\ufffd", str(name)), problem) for name, value in raw.items()
              if (problem := _unstorable(name) or _unstorable(value))]
    if broken:
        return {}, broken
    for name, value in raw.items():
        name = str(name).strip() if name is not None else ""
        if not name:
            continue
        if name in aliases:
            record[aliases[name]] = value
        else:
            extra[name] = value
    problems: list[tuple[str, str]] = []
    clean: dict = {}
    for field in FIELDS[kind]:
        value = record.get(field.key)
        if new and field.key == "id" and value is None:
            clean["id"] = None
            continue
        wrong_type = _wrong_type(field, value) if typed else None
        value, problem = (None, wrong_type) if wrong_type else _clean_value(field, value)
        if problem:
            problems.append((field.key, problem))
        clean[field.key] = value
    clean.update({name: _plain(value) for name, value in extra.items() if not _is_blank(value)})
    return clean, problems


def clean_posted_record(kind: str, raw: dict, typed: bool = False, new: bool = False
                        ) -> tuple[dict, list[tuple[str, str]]]:
    """clean_record for a demand or supply a user posts or edits (a form, the API): it also needs its
    owner's name and a description long enough to match on. A file's rows need only the fields' rules.

    >>> clean_posted_record("demands", {"title": "缩痕", "description": "良品率低"}, new=True)[1]
    [('description', '请用至少 10 个字说明具体情况，便于匹配'), ('enterprise', '请填写企业名称')]
    """
    record, problems = clean_record(kind, raw, typed=typed, new=new)
    if not record:  # nothing could be read: the problems say why
        return record, problems
    named = {key for key, _ in problems}
    if record.get("description") and len(record["description"]) < DESCRIPTION_MIN and "description" not in named:
        problems.append(("description", f"请用至少 {DESCRIPTION_MIN} 个字说明具体情况，便于匹配"))
    owner = next(field for field in FIELDS[kind] if field.key == OWNER_FIELD[kind])
    if not record.get(owner.key) and owner.key not in named:
        problems.append((owner.key, f"请填写{owner.header}"))
    return record, problems


def _clean_value(field: Field, value) -> tuple[object, str | None]:
    if _is_blank(value):
        if field.required:
            return None, f"必填字段「{field.header}」为空"
        return ([] if field.kind == "keywords" else field.default), None
    if field.kind == "number":
        return _clean_number(field, value)
    if field.kind == "date":
        return _clean_date(field, value)
    if field.kind == "keywords":
        return _clean_keywords(field, value)
    if isinstance(value, (dict, list)):
        return None, f"「{field.header}」应为文本"
    text = _plain_text(value)
    if not text:  # only control characters: as blank as an empty cell
        return _clean_value(field, None)
    if field.choices and text not in field.choices:
        return None, f"「{field.header}」的取值「{text}」不在允许范围内（{'、'.join(field.choices)}）"
    if field.max_length and len(text) > field.max_length:
        return None, f"「{field.header}」请控制在 {field.max_length} 字以内（现为 {len(text)} 字）"
    return text, None


def _wrong_type(field: Field, value) -> str | None:
    """Why a JSON value cannot be this field's (None when it can); a blank stays blank."""
    if _is_blank(value):
        return None
    if isinstance(value, bool) or not isinstance(value, JSON_TYPES[field.kind]):
        return f"「{field.header}」应为{TYPE_NAMES[field.kind]}"
    if isinstance(value, list) and not all(isinstance(term, str) for term in value):
        return f"「{field.header}」中的每一项应为文本"
    return None


def _clean_number(field: Field, value) -> tuple[object, str | None]:
    if isinstance(value, bool):
        return None, f"「{field.header}」应为数字"
    try:
        number = float(str(value).replace(",", "").strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond any float
        return None, f"「{field.header}」应为数字，而不是「{value}」"
    if math.isnan(number) or math.isinf(number) or number < 0:
        return None, f"「{field.header}」应为非负数，而不是「{value}」"
    if field.maximum is not None and number > field.maximum:
        return None, f"「{field.header}」不能超过 {field.maximum:,}，而不是「{value}」"
    return (int(number) if number.is_integer() else number), None


def _clean_date(field: Field, value) -> tuple[object, str | None]:
    if isinstance(value, dt.datetime):
        return value.date().isoformat(), None
    if isinstance(value, dt.date):
        return value.isoformat(), None
    text = str(value).strip()
    match = re.fullmatch(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?", text)
    if match:
        try:
            return dt.date(*(int(part) for part in match.groups())).isoformat(), None
        except ValueError:
            pass
    return None, f"「{field.header}」应为日期（如 2021-03-15），而不是「{text}」"


def _clean_keywords(field: Field, value) -> tuple[object, str | None]:
    if isinstance(value, str):
        parts = KEYWORD_SEPARATORS.split(value)
    elif isinstance(value, (list, tuple)):
        parts = value
    else:
        return None, f"「{field.header}」应为列表或以顿号、逗号分隔的文本"
    keywords = []
    for part in parts:
        if isinstance(part, (dict, list)):
            return None, f"「{field.header}」中的每一项应为文本"
        term = _plain_text(part)
        if field.max_length and len(term) > field.max_length:
            return None, f"「{field.header}」每一项请控制在 {field.max_length} 字以内（有一项为 {len(term)} 字）"
        if term and term not in keywords:
            keywords.append(term)
    if field.max_items and len(keywords) > field.max_items:
        return None, f"「{field.header}」最多 {field.max_items} 项（现为 {len(keywords)} 项）"
    return keywords, None


def _is_blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _unstorable(value) -> str | None:
    """Why a raw value cannot be kept at all, or None.

    Half of a UTF-16 pair cannot be stored as UTF-8, and NaN or Infinity (JSON Lines allow them)
    would make the API's JSON invalid: say which field rather than fail on save or on output.
    """
    if isinstance(value, str) and SURROGATES.search(value):
        return "含有无效字符（不成对的 UTF-16 代理码位），请检查文件编码"
    if isinstance(value, float) and not math.isfinite(value):
        return f"不是有效的数值（{value}）"
    if isinstance(value, (list, tuple)):
        return next((problem for item in value if (problem := _unstorable(item))), None)
    if isinstance(value, dict):
        return next((problem for key, item in value.items() if (problem := _unstorable(key) or _unstorable(item))),
                    None)
    return None


def _plain_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    # One line ending: a spreadsheet (XML) reads a lone \r back as \n, and forms post \r\n.
    return CONTROL_CHARACTERS.sub("", str(value)).replace("\r\n", "\n").replace("\r", "\n").strip()


def _plain(value):
    """Keep unknown values JSON-friendly (Excel hands us datetimes)."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return CONTROL_CHARACTERS.sub("", value)
    return value
