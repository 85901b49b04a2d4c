"""JSON from outside (API request bodies, JSON Lines files), parsed with a limit on nesting.

json.loads recurses once per level: about a thousand nested brackets raise RecursionError, and a few
hundred that do parse overflow the stack later, when the record is checked or stored. Nothing the
service accepts nests more than a few levels, so anything deeper than MAX_DEPTH is refused by name.

    >>> loads('{"keywords": ["注塑"]}')
    {'keywords': ['注塑']}
    >>> depth({"a": [1, {"b": 2}]})
    3
"""
from __future__ import annotations

import json

MAX_DEPTH = 32


class TooDeep(ValueError):
    """JSON nested deeper than MAX_DEPTH; the message is Chinese, for the user."""

    def __init__(self):
        super().__init__(f"JSON 嵌套层数过多（最多 {MAX_DEPTH} 层），请检查数据结构")


def loads(data: str | bytes):
    """json.loads that raises TooDeep instead of RecursionError, and for anything nested past MAX_DEPTH."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise TooDeep() from None
    if depth(value) > MAX_DEPTH:
        raise TooDeep()
    return value


def depth(value) -> int:
    """How deeply arrays and objects nest: 0 for a scalar, 1 for [1, 2]; counted without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, level + 1) for child in children)
    return deepest
