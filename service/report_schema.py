"""The JSON Schema of a monthly report (service/reports.py builds the report; the API documents and
the tests validate it against this), derived from the figures' definitions so the two cannot drift.

    >>> REPORT_SCHEMA["properties"]["current"]["required"][:2]
    ['new_demands', 'open_demands']
"""
from __future__ import annotations

from .reports import ACTIVITY_KEYS, ACTIVITY_NAMES, DIMENSIONS, FIGURE_KEYS, FIGURES, TREND_MONTHS


def _figure_schema(unit: str) -> dict:
    if unit == "count":
        return {"type": ["integer", "null"], "minimum": 0}
    if unit == "rate":
        return {"type": ["number", "null"], "minimum": 0}
    return {"type": ["number", "null"]}


FIGURES_SCHEMA = {"type": "object", "required": list(FIGURE_KEYS), "additionalProperties": False,
                  "properties": {f.key: {**_figure_schema(f.unit), "description": f.name} for f in FIGURES}}
CHANGE_SCHEMA = {"type": "object", "required": list(FIGURE_KEYS), "additionalProperties": False,
                 "properties": {key: {"type": ["number", "null"]} for key in FIGURE_KEYS}}
# Any YYYY-MM, not MONTH_IN_RANGE: a report's trend and previous month reach a year before its own.
MONTH_SCHEMA = {"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])$"}
DATE_SCHEMA = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
WINDOW_SCHEMA = {"type": "object", "required": ["start", "end"],
                 "properties": {"start": DATE_SCHEMA, "end": DATE_SCHEMA}}
COUNTS_SCHEMA = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
BLOCK = {"current": FIGURES_SCHEMA, "previous": FIGURES_SCHEMA, "change": CHANGE_SCHEMA, "ytd": FIGURES_SCHEMA}

REPORT_SCHEMA = {
    "title": "两清单月度匹配报告", "type": "object",
    "required": ["month", "generated_at", "windows", "definitions", *BLOCK, "trend", "breakdowns", "heatmap",
                 "platforms", "gaps", "activities"],
    "properties": {
        "month": MONTH_SCHEMA,
        "generated_at": {"type": "string"},
        "windows": {"type": "object", "required": ["month", "previous", "ytd"],
                    "properties": {"month": WINDOW_SCHEMA, "previous": WINDOW_SCHEMA, "ytd": WINDOW_SCHEMA}},
        "definitions": {"type": "array", "items": {
            "type": "object", "required": ["key", "name", "unit", "definition"],
            "properties": {"key": {"enum": list(FIGURE_KEYS)}, "name": {"type": "string"},
                           "unit": {"enum": ["count", "rate", "days", "amount"]}, "definition": {"type": "string"}}}},
        **BLOCK,
        "trend": {"type": "array", "minItems": TREND_MONTHS, "maxItems": TREND_MONTHS, "items": {
            "type": "object", "required": ["month", "figures", "ytd_match_rate"],
            "properties": {"month": MONTH_SCHEMA, "figures": FIGURES_SCHEMA,
                           "ytd_match_rate": {"type": ["number", "null"], "minimum": 0}}}},
        "breakdowns": {"type": "object", "required": list(DIMENSIONS), "additionalProperties": False,
                       "properties": {dimension: {"type": "object", "required": ["name", "groups"], "properties": {
                           "name": {"type": "string"},
                           "groups": {"type": "array", "items": {
                               "type": "object", "required": ["key", *BLOCK, "trend", "gaps"],
                               "properties": {"key": {"type": "string"}, **BLOCK,
                                              "gaps": {"type": ["integer", "null"], "minimum": 0},
                                              "trend": {"type": "array", "items": {
                                                  "type": "object", "required": ["month", "figures"],
                                                  "properties": {"month": MONTH_SCHEMA,
                                                                 "figures": FIGURES_SCHEMA}}}}}}}}
                                      for dimension in DIMENSIONS}},
        "heatmap": {"type": "object", "required": ["rows", "columns", "cells"], "properties": {
            "rows": {"type": "array", "items": {"type": "string"}},
            "columns": {"type": "array", "items": {"type": "string"}},
            "cells": {"type": "array", "items": {"type": "array", "items": {
                "type": "object", "required": ["new_demands", "matched_demands", "match_rate"],
                "properties": {"new_demands": {"type": "integer"}, "matched_demands": {"type": "integer"},
                               "match_rate": {"type": ["number", "null"]}}}}}}},
        "platforms": {"type": "array", "items": {
            "type": "object",
            "required": ["platform", "supplies_listed", "new_supplies", "proposals", "recommended", "cooperations",
                         "amount_wan", "demands_served", "precision"],
            "properties": {"platform": {"type": "string"}, "supplies_listed": {"type": "integer"},
                           "new_supplies": {"type": "integer"}, "proposals": {"type": "integer"},
                           "recommended": {"type": "integer"}, "cooperations": {"type": "integer"},
                           "amount_wan": {"type": "number"}, "demands_served": {"type": "integer"},
                           "precision": {"type": ["number", "null"]}}}},
        "activities": {"type": "object", "required": [*ACTIVITY_KEYS, "sessions"], "properties": {
            **{key: {"type": "integer", "minimum": 0, "description": ACTIVITY_NAMES[key]} for key in ACTIVITY_KEYS},
            "sessions": {"type": "array", "items": {
                "type": "object", "required": ["title", "held_on", "pair_count", "cooperation_count"],
                "properties": {"title": {"type": ["string", "null"]}, "held_on": {"type": ["string", "null"]},
                               "pair_count": {"type": "integer"}, "cooperation_count": {"type": "integer"}}}}}},
        "gaps": {"type": "object", "required": ["available", "threshold", "items", "by_cluster", "by_region"],
                 "properties": {
                     "available": {"type": "boolean"}, "threshold": {"type": ["number", "null"]},
                     "items": {"type": "array", "items": {
                         "type": "object", "required": ["demand_id", "title", "industry_cluster", "region", "best_score"],
                         "properties": {"demand_id": {"type": "string"}, "title": {"type": "string"},
                                        "industry_cluster": {"type": "string"}, "region": {"type": "string"},
                                        "best_score": {"type": "number"},
                                        "best_supply_id": {"type": ["string", "null"]}}}},
                     "by_cluster": COUNTS_SCHEMA, "by_region": COUNTS_SCHEMA}},
    },
}
