"""Laboratory results as written: a number, a limit ('<0.5', '>1000'), a reference range; --STRESC/N and --NRIND."""
from __future__ import annotations

import math
import re

NUMBER = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*$")
LIMIT = re.compile(r"^\s*(<=|>=|<|>|≤|≥)\s*(\d+(?:\.\d+)?)\s*$")
_RANGE = re.compile(r"^(\d+(?:\.\d+)?)\s*[-~–]\s*(\d+(?:\.\d+)?)$")


def parse_number(text: str | None) -> float | None:
    """The value of a result written as a plain number, else None (a limit or a comment is no number)."""
    m = NUMBER.match(text) if isinstance(text, str) else None
    return float(m[1]) if m else None


def is_measured(text: str) -> bool:
    """Whether a result is a measurement: a number or a limit ('<0.5'), not a comment."""
    return bool(NUMBER.match(text) or LIMIT.match(text))


def format_number(x: float) -> str:
    """A number as result text: at most 6 decimals, no trailing zeros."""
    text = f"{x:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def standardize_result(orres: str | None, factor: float) -> tuple[str | None, float | None]:
    """(--STRESC, --STRESN) of a result converted by `factor`; '<x'/'>x' stay text with x converted."""
    if not isinstance(orres, str) or not orres.strip():
        return None, None
    m = NUMBER.match(orres)
    if m:
        value = round(float(m[1]) * factor, 6)
        return format_number(value), value
    m = LIMIT.match(orres)
    if m:
        op = {"≤": "<=", "≥": ">="}.get(m[1], m[1])
        return f"{op}{format_number(round(float(m[2]) * factor, 6))}", None
    return None, None


def nrind(stresn: float | None, stresc: str | None, lo: float | None, hi: float | None) -> str | None:
    """LOW/HIGH/NORMAL against a reference range; a '<x'/'>x' result only when it is certain."""
    has_lo = lo is not None and not math.isnan(lo)
    has_hi = hi is not None and not math.isnan(hi)
    if not (has_lo or has_hi):
        return None
    if stresn is not None and not math.isnan(stresn):
        if has_lo and stresn < lo:
            return "LOW"
        if has_hi and stresn > hi:
            return "HIGH"
        return "NORMAL"
    m = LIMIT.match(stresc) if isinstance(stresc, str) else None
    if m:
        x = float(m[2])
        if m[1].startswith("<") and has_lo and x <= lo:
            return "LOW"
        if m[1].startswith(">") and has_hi and x >= hi:
            return "HIGH"
    return None


def parse_range(text: str | None) -> tuple[float | None, float | None]:
    """(low, high) of a reference range written `low-high`, `<high` or `>low`."""
    if not isinstance(text, str) or not text.strip():
        return None, None
    t = text.strip()
    m = _RANGE.match(t)
    if m:
        return float(m[1]), float(m[2])
    m = LIMIT.match(t)
    if m:
        return (None, float(m[2])) if m[1] in ("<", "<=", "≤") else (float(m[2]), None)
    return None, None
