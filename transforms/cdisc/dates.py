"""ISO 8601 dates as SDTM and ADaM use them: complete and partial dates, study day, on or before a reference.

Each rule is written once here. SDTM works on --DTC text, ADaM on datetime64 columns (NaT when
unknown); the column functions for either type call the same rule.
"""
from __future__ import annotations

import calendar
import re
from datetime import date, datetime

import numpy as np
import pandas as pd

_FULL_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
# A date known to the year or to the month: YYYY, YYYY-MM, or a longer value whose day or month is
# missing ("2018---15": ISO 8601's hyphen for an unknown month).
_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-|$)")


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


def partial_date_range(dtc: str | None) -> tuple[date, date] | None:
    """First and last calendar day a (possibly partial) ISO 8601 date can be; None without a year."""
    full = dtc_date(dtc)
    if full is not None:
        return full, full
    m = _PARTIAL_DATE.match(dtc) if isinstance(dtc, str) else None
    if not m:
        return None
    year, month = int(m[1]), int(m[2]) if m[2] else None
    if month is None:
        return date(year, 1, 1), date(year, 12, 31)
    if not 1 <= month <= 12:
        return None
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


# --- study day ----------------------------------------------------------------------------------


def study_day_of_offset(days_after: int) -> int:
    """Study day of a date `days_after` days after the reference: the reference is Day 1, the day before Day -1 (no Day 0)."""
    return days_after + 1 if days_after >= 0 else days_after


def study_days_of_offsets(days_after: pd.Series) -> pd.Series:
    """study_day_of_offset of a whole column of day offsets (Int64; missing stays missing)."""
    after = days_after.astype("Int64")
    return after + (after >= 0).astype("Int64")


def study_day(dtc: str | None, rfstdtc: str | None) -> int | None:
    """Study day of one --DTC against RFSTDTC (date part only; a partial date has none)."""
    d, r = dtc_date(dtc), dtc_date(rfstdtc)
    if d is None or r is None:
        return None
    return study_day_of_offset((d - r).days)


def dtc_ordinals(dtc: pd.Series) -> np.ndarray:
    """`dtc_date` of a column as proleptic ordinals (NaN where the date is partial or missing).

    Each distinct value is parsed once: a column repeats its dates (RFSTDTC on every row of a subject).
    """
    codes, uniques = pd.factorize(dtc, use_na_sentinel=True)
    ordinals = np.array([np.nan if (d := dtc_date(u)) is None else d.toordinal() for u in uniques], dtype=float)
    out = np.full(len(codes), np.nan)
    known = codes >= 0
    out[known] = ordinals[codes[known]]
    return out


def derive_study_day(dtc: pd.Series, rfstdtc: pd.Series) -> pd.Series:
    """--DY for a column of --DTC text against each row's RFSTDTC (`study_day` of each row, whole columns at once)."""
    return study_days_of_offsets(pd.Series(dtc_ordinals(dtc) - dtc_ordinals(rfstdtc), index=dtc.index))


def derive_relative_day(adt: pd.Series, refdt: pd.Series) -> pd.Series:
    """ADaM --DY for datetime64 columns (ADT against a reference date such as TRTSDT): the study-day rule."""
    # An empty column arrives as object dtype; datetime64 keeps the subtraction defined.
    delta = (pd.to_datetime(adt).astype("datetime64[s]") - pd.to_datetime(refdt).astype("datetime64[s]")).dt.days
    return study_days_of_offsets(pd.Series(delta.to_numpy(), index=adt.index))


# --- on or before a reference -------------------------------------------------------------------


def is_on_or_before(day: date | None, moment: datetime | None, ref_day: date | None,
                    ref_moment: datetime | None) -> bool | None:
    """Whether a date (and time) is on or before a reference: by date-time when both have a time, else by date."""
    if moment is not None and ref_moment is not None:
        return moment <= ref_moment
    if day is None or ref_day is None:
        return None
    return day <= ref_day


def dtc_on_or_before(dtc: str | None, ref: str | None) -> bool | None:
    """is_on_or_before for two ISO 8601 --DTC values."""
    return is_on_or_before(dtc_date(dtc), dtc_datetime(dtc), dtc_date(ref), dtc_datetime(ref))


def derive_on_or_before(adt: pd.Series, adtm: pd.Series, ref_dt: pd.Series, ref_dtm: pd.Series) -> pd.Series:
    """is_on_or_before for datetime64 columns (ADT/ADTM against e.g. TRTSDT/TRTSDTM); unknown dates give NA."""
    day, moment, ref_day, ref_moment = (pd.to_datetime(c).to_numpy() for c in (adt, adtm, ref_dt, ref_dtm))
    out = np.full(len(day), None, dtype=object)
    by_date = pd.notna(day) & pd.notna(ref_day)
    out[by_date] = (day[by_date] <= ref_day[by_date])
    by_time = pd.notna(moment) & pd.notna(ref_moment)
    out[by_time] = (moment[by_time] <= ref_moment[by_time])
    return pd.Series(out, index=adt.index, dtype="boolean")
