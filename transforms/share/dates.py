"""Per-participant date shifting: one secret offset per participant, partial ISO 8601 dates kept partial.

A partial date has no day to shift. It is completed to the middle of the period it names (the 15th of
its month, 1 July of its year), shifted, and cut back to its own precision. Trade-off: an interval
between a partial date and another date of the same participant stays right only to that precision
(a year-month may land one month off the true shifted month); full dates and date-times keep every
interval exactly. The middle of the period is chosen because it makes that error smallest on average.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re

# YYYY, YYYY-MM, YYYY-MM-DD and YYYY-MM-DDThh[:mm[:ss[.f]]] (SDTMIG 3.4 4.4: no other partial forms are produced).
_ISO = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(T\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?)?)?)?$")


def subject_offset(secret: bytes, usubjid: str, min_days: int, max_days: int) -> int:
    """A participant's date offset in days: HMAC-SHA256(secret, original USUBJID) mapped into [min_days, max_days]."""
    digest = hmac.new(secret, b"date-offset\x00" + usubjid.encode("utf-8"), hashlib.sha256).digest()
    return min_days + int.from_bytes(digest[:8], "big") % (max_days - min_days + 1)


def shift_iso(value: str, days: int) -> str:
    """An ISO 8601 date or date-time shifted by `days`, with the precision (and the time of day) it had."""
    m = _ISO.match(value.strip())
    if not m:
        raise ValueError("not an ISO 8601 date of a form the sharing rules know")
    year, month, day, time = m.groups()
    if month is None:
        return (dt.date(int(year), 7, 1) + dt.timedelta(days=days)).strftime("%Y")
    if day is None:
        return (dt.date(int(year), int(month), 15) + dt.timedelta(days=days)).strftime("%Y-%m")
    return (dt.date(int(year), int(month), int(day)) + dt.timedelta(days=days)).isoformat() + (time or "")


def shift_value(value: object, days: int) -> object:
    """Any date-like value shifted: ISO 8601 text, a date, a date-time, or a numeric day count (SAS date)."""
    if value is None:
        return None
    if isinstance(value, str):
        return shift_iso(value, days) if value.strip() else value
    if isinstance(value, (dt.date, dt.datetime)):
        return value + dt.timedelta(days=days)
    if isinstance(value, (int, float)):
        return value + days
    raise ValueError(f"a {type(value).__name__} is not a date the sharing rules can shift")
