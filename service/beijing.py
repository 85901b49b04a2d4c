"""Times as people here read them: Beijing time (Asia/Shanghai), for the pages and the report.

The store and the API keep ISO 8601 in UTC; only what a person reads is converted. No Flask here,
so the report renderer and the pages share it.
"""
from __future__ import annotations

import datetime as dt

BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


def day(value) -> str:
    """A date as 2021-03-15; a timestamp (stored in UTC) as Beijing time to the minute.

        >>> day("2021-06-18T06:05:09+00:00"), day("2021-06-18"), day(None)
        ('2021-06-18 14:05', '2021-06-18', '—')
    """
    if not value:
        return "—"
    text = str(value)
    if "T" not in text:
        return text[:10]
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text[:16].replace("T", " ")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)  # the store writes UTC
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def beijing_day_start(date_text: str, days: int = 0) -> str:
    """The UTC timestamp, as the store writes them, at which a Beijing day (plus `days`) begins.

        >>> beijing_day_start("2021-06-18"), beijing_day_start("2021-06-18", 1)
        ('2021-06-17T16:00:00+00:00', '2021-06-18T16:00:00+00:00')
    """
    start = dt.datetime.combine(dt.date.fromisoformat(date_text) + dt.timedelta(days=days), dt.time(), BEIJING)
    return start.astimezone(dt.timezone.utc).isoformat()
