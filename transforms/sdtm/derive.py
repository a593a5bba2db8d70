"""SDTM derivations: pure functions on pandas objects, one per CDISC concept."""
from __future__ import annotations

import math
import re
from datetime import date, datetime

import pandas as pd

_FULL_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_NUMBER = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*$")
_LIMIT = re.compile(r"^\s*(<=|>=|<|>|≤|≥)\s*(\d+(?:\.\d+)?)\s*$")


def derive_usubjid(studyid: str, subjid: pd.Series) -> pd.Series:
    """USUBJID: the study id and the subject id, joined by a hyphen."""
    return (studyid + "-" + subjid.astype("string")).astype("string")


def dtc_date(dtc: str | None) -> date | None:
    """The calendar date of an ISO 8601 --DTC, or None when the date part is partial or missing."""
    if not isinstance(dtc, str):
        return None
    m = _FULL_DATE.match(dtc)
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def dtc_datetime(dtc: str | None) -> datetime | None:
    """The date-time of an ISO 8601 --DTC that has a time part, else None."""
    if not isinstance(dtc, str) or "T" not in dtc:
        return None
    try:
        return datetime.fromisoformat(dtc)
    except ValueError:
        return None


def study_day(dtc: str | None, rfstdtc: str | None) -> int | None:
    """Study day of one date: Day 1 is the date of RFSTDTC, the day before is Day -1 (no Day 0)."""
    d, r = dtc_date(dtc), dtc_date(rfstdtc)
    if d is None or r is None:
        return None
    delta = (d - r).days
    return delta + 1 if delta >= 0 else delta


def derive_study_day(dtc: pd.Series, rfstdtc: pd.Series) -> pd.Series:
    """--DY for a column of --DTC against each row's RFSTDTC (date part only; partial dates give none)."""
    values = [study_day(a, b) for a, b in zip(dtc.tolist(), rfstdtc.tolist(), strict=True)]
    return pd.Series(values, index=dtc.index, dtype="Int64")


def on_or_before(dtc: str | None, ref: str | None) -> bool | None:
    """Whether dtc is on or before ref: by date-time when both have times, else by date."""
    a, b = dtc_datetime(dtc), dtc_datetime(ref)
    if a is not None and b is not None:
        return a <= b
    da, db = dtc_date(dtc), dtc_date(ref)
    if da is None or db is None:
        return None
    return da <= db


def date_range(dtc: str | None) -> tuple[date, date] | None:
    """First and last calendar day a (possibly partial) ISO 8601 date can be."""
    if not isinstance(dtc, str):
        return None
    full = dtc_date(dtc)
    if full is not None:
        return full, full
    m = re.match(r"^(\d{4})(?:-(\d{2}))?$", dtc)
    if not m:
        return None
    year, month = int(m[1]), int(m[2]) if m[2] else None
    if month is None:
        return date(year, 1, 1), date(year, 12, 31)
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return date(year, month, 1), date.fromordinal(nxt.toordinal() - 1)


def epoch_of(dtc: str | None, rfxstdtc: str | None, rfxendtc: str | None,
             before: str, during: str, after: str) -> str | None:
    """EPOCH of one observation from the subject's first and last exposure.

    A partial date is placed by the days it can be: wholly before the first exposure, wholly after
    the last, or else (it overlaps the treatment period) during treatment.
    """
    span = date_range(dtc)
    if span is None:
        return None
    if not isinstance(rfxstdtc, str):
        return before
    if dtc_date(dtc) is None:
        end = rfxendtc if isinstance(rfxendtc, str) else rfxstdtc
        if span[1] < dtc_date(rfxstdtc):
            return before
        return after if span[0] > dtc_date(end) else during
    a, s = dtc_datetime(dtc), dtc_datetime(rfxstdtc)
    if a is not None and s is not None:
        if a < s:
            return before
    elif dtc_date(dtc) < dtc_date(rfxstdtc):
        return before
    end = rfxendtc if isinstance(rfxendtc, str) else rfxstdtc
    a, e = dtc_datetime(dtc), dtc_datetime(end)
    if a is not None and e is not None:
        return during if a <= e else after
    return during if dtc_date(dtc) <= dtc_date(end) else after


def derive_epoch(dtc: pd.Series, rfxstdtc: pd.Series, rfxendtc: pd.Series,
                 before: str, during: str, after: str) -> pd.Series:
    """EPOCH for a column of --DTC (or --STDTC)."""
    values = [epoch_of(a, s, e, before, during, after)
              for a, s, e in zip(dtc.tolist(), rfxstdtc.tolist(), rfxendtc.tolist(), strict=True)]
    return pd.Series(values, index=dtc.index, dtype="string")


def derive_seq(df: pd.DataFrame, order: list[str]) -> pd.Series:
    """--SEQ: 1..n within USUBJID, following a stable sort on `order`."""
    sorted_idx = df.sort_values(["USUBJID", *order], kind="stable", na_position="last").index
    seq = pd.Series(0, index=df.index, dtype="Int64")
    seq.loc[sorted_idx] = df.loc[sorted_idx].groupby("USUBJID", sort=False).cumcount().to_numpy() + 1
    return seq


def derive_lobxfl(df: pd.DataFrame, by: list[str], dtc: str, result: str, rfxstdtc: str,
                  numeric: str | None = None) -> pd.Series:
    """--LOBXFL: Y on the last non-missing result on or before first exposure, per subject and test.

    `by` is the subject and then the test. With a `numeric` result column (--STRESN), a test that has
    numeric results counts only records with one: a comment or a censored value ('<0.5', '>1000') is no
    baseline value, as in ADaM, whose baseline is the last non-missing AVAL (= --STRESN).
    """
    eligible = df[result].notna() & (df[result].astype("string") != "")
    if numeric is not None and numeric in df:
        has_number = df[numeric].notna()
        numeric_test = has_number.groupby([df[c] for c in by[1:]], dropna=False).transform("any")
        eligible = (eligible & ~numeric_test) | has_number
    eligible &= pd.Series([bool(on_or_before(a, b)) for a, b in zip(df[dtc], df[rfxstdtc], strict=True)],
                          index=df.index)
    flag = pd.Series(pd.NA, index=df.index, dtype="string")
    cand = df[eligible].copy()
    if cand.empty:
        return flag
    cand["_KEY"] = cand[dtc].astype("string")
    last = cand.sort_values([*by, "_KEY"], kind="stable").groupby(by, sort=False).tail(1).index
    flag.loc[last] = "Y"
    return flag


def format_number(x: float) -> str:
    """A number as result text: at most 6 decimals, no trailing zeros."""
    text = f"{x:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def standardize_result(orres: str | None, factor: float) -> tuple[str | None, float | None]:
    """(--STRESC, --STRESN) of a result converted by `factor`; '<x'/'>x' stay text with x converted."""
    if not isinstance(orres, str) or not orres.strip():
        return None, None
    m = _NUMBER.match(orres)
    if m:
        value = round(float(m[1]) * factor, 6)
        return format_number(value), value
    m = _LIMIT.match(orres)
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
    m = _LIMIT.match(stresc) if isinstance(stresc, str) else None
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
    m = re.match(r"^(\d+(?:\.\d+)?)\s*[-~–]\s*(\d+(?:\.\d+)?)$", t)
    if m:
        return float(m[1]), float(m[2])
    m = _LIMIT.match(t)
    if m:
        return (None, float(m[2])) if m[1] in ("<", "<=", "≤") else (float(m[2]), None)
    return None, None
