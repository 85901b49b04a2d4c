"""Spreadsheet cells that carry user text, written so that no spreadsheet runs them.

OWASP's CSV-injection rule: a cell beginning with =, +, -, @, tab or carriage return may be read as a
formula (or a DDE command) when a broker opens the file. Every CSV and workbook the service writes
goes through this module: record exports, the session handout, `propose --format csv` and the
monthly report workbook.

    >>> csv_cell("=1+2"), csv_cell(-5), csv_cell("-"), csv_cell("-3.5"), csv_cell("'=1+2")
    ("'=1+2", -5, '-', '-3.5', "''=1+2")
    >>> from_csv_cell("'=1+2"), from_csv_cell("''=1+2"), from_csv_cell("'abc")
    ('=1+2', "'=1+2", "'abc")
"""
from __future__ import annotations

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A plain number or a run of dashes (the lists' "none" placeholder) starts like a formula but cannot
# compute anything, so it is written as it is: "-" and "-3.5" survive an export unchanged.
INERT = re.compile(r"-+|[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
QUOTE = "'"


def could_run(text: str) -> bool:
    """Would a spreadsheet opening this text read it as a formula?"""
    return text.startswith(FORMULA_STARTS) and not INERT.fullmatch(text)


def csv_cell(value):
    """A value as a CSV cell: text that could run gets a leading single quote; numbers stay numbers.

    Text that already starts with quotes before such a start gets one more, so that from_csv_cell
    gives every value back exactly.
    """
    if isinstance(value, str) and could_run(value.lstrip(QUOTE)):
        return QUOTE + value
    return value


def from_csv_cell(text: str) -> str:
    """Undo csv_cell when reading a CSV back: the service's own exports import unchanged."""
    if text.startswith(QUOTE) and could_run(text.lstrip(QUOTE)):
        return text[1:]
    return text


def text_cell(cell):
    """Keep an openpyxl cell's text as text; returns the cell.

    openpyxl makes "=…" a live formula and "#N/A" an error value: a text cell is always a string,
    and one that could run also gets Excel's quote prefix, so editing it in Excel keeps it text.
    """
    if isinstance(cell.value, str):
        cell.data_type = "s"
        if could_run(cell.value):
            cell.quotePrefix = True
    return cell
