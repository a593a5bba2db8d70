"""The ground-floor date rules: one rule each, the same answer for ISO text and datetime64 columns."""
from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from transforms.cdisc.dates import (
    derive_on_or_before,
    derive_relative_day,
    derive_study_day,
    dtc_on_or_before,
    partial_date_range,
    study_day,
)

RF = "2018-01-08T09:30"  # first infusion start of subject 01-001 in the example drop


def test_partial_date_range() -> None:
    assert partial_date_range("2018-01-08T09:30") == (date(2018, 1, 8), date(2018, 1, 8))
    assert partial_date_range("2016-02") == (date(2016, 2, 1), date(2016, 2, 29))  # leap year
    assert partial_date_range("2018") == (date(2018, 1, 1), date(2018, 12, 31))
    assert partial_date_range("2018---15") == (date(2018, 1, 1), date(2018, 12, 31))  # ISO 8601: month unknown
    assert partial_date_range("2018-13") is None
    assert partial_date_range("") is None
    assert partial_date_range(None) is None


def test_study_day_is_the_same_rule_for_text_and_dates() -> None:
    # SDTMIG 4.4.4: Day 1 is the reference date, the day before is Day -1; there is no Day 0.
    dtc = pd.Series(["2018-01-07", "2018-01-08T10:00", "2018-01-09", "2018-01", None])
    ref = pd.Series(["2018-01-08T09:30"] * 5)
    assert derive_study_day(dtc, ref).tolist() == [-1, 1, 2, pd.NA, pd.NA]
    adt = pd.to_datetime(pd.Series(["2018-01-07", "2018-01-08", "2018-01-09", None, None]))
    assert derive_relative_day(adt, pd.to_datetime(pd.Series(["2018-01-08"] * 5))).tolist() == [-1, 1, 2, pd.NA, pd.NA]


def test_on_or_before_compares_times_only_when_both_have_one() -> None:
    assert dtc_on_or_before("2018-01-08T09:00", "2018-01-08T09:30") is True
    assert dtc_on_or_before("2018-01-08T10:00", "2018-01-08T09:30") is False
    assert dtc_on_or_before("2018-01-08", "2018-01-08T09:30") is True  # same day, no time: by date
    assert dtc_on_or_before("2018-01", "2018-01-08") is None
    ts = pd.Timestamp
    got = derive_on_or_before(pd.Series([ts("2018-01-08"), ts("2018-01-08"), pd.NaT]),
                              pd.Series([ts("2018-01-08 10:00"), pd.NaT, pd.NaT]),
                              pd.Series([ts("2018-01-08")] * 3), pd.Series([ts("2018-01-08 09:30")] * 3))
    assert got.tolist() == [False, True, pd.NA]


@pytest.mark.parametrize(("dtc", "expected"), [
    ("2018-01-08", 1),             # the date of RFSTDTC is Day 1
    ("2018-01-07", -1),            # the day before is Day -1: there is no Day 0
    ("2018-01-05T07:30", -3),      # screening sample, three days before
    ("2018-01-15T07:30", 8),       # week 1 (Day 8)
    ("2018-01-08T23:59", 1),       # a time part never shifts the day
    ("2018-01-08T06:00", 1),       # ... even before the infusion time
    ("2018-04-01", 84),            # Jan 8 + 83 days: 24 + 28 + 31 + 1 = 84 -> day 84
    ("2017-12-31", -8),
    ("2018-01", None),             # partial dates give no --DY
    ("2018", None),
    (None, None),
])
def test_study_day(dtc, expected):
    assert study_day(dtc, RF) == expected


def test_study_day_without_reference_is_missing():
    assert study_day("2018-01-08", None) is None
    s = derive_study_day(pd.Series(["2018-01-09", "2018-01"]), pd.Series([RF, RF]))
    assert s.tolist() == [2, pd.NA] or (s.iloc[0] == 2 and pd.isna(s.iloc[1]))
    assert str(s.dtype) == "Int64"


def test_the_column_on_or_before_is_the_one_rule_on_every_combination():
    # derive_on_or_before restates is_on_or_before for whole columns: both must agree on every mix of
    # missing dates, missing times, earlier, same and later.
    import itertools
    from datetime import datetime as dt

    from transforms.cdisc.dates import is_on_or_before

    ref_day, ref_moment = dt(2018, 3, 1), dt(2018, 3, 1, 10, 0)
    days = [None, dt(2018, 2, 28), dt(2018, 3, 1), dt(2018, 3, 2)]
    moments = [None, dt(2018, 3, 1, 9, 0), dt(2018, 3, 1, 10, 0), dt(2018, 3, 1, 11, 0)]
    rows = list(itertools.product(days, moments, [None, ref_day], [None, ref_moment]))
    cols = [pd.Series([pd.NaT if r[k] is None else r[k] for r in rows], dtype="datetime64[s]") for k in range(4)]
    got = derive_on_or_before(*cols)
    want = [is_on_or_before(*(None if v is None else v for v in r)) for r in rows]
    assert [None if pd.isna(g) else bool(g) for g in got] == want
