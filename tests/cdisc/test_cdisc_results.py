"""Lab result standardisation and reference-range indicators (SDTMIG 3.4 LB), worked out by hand."""
from __future__ import annotations

import pytest

from transforms.cdisc.results import format_number, nrind, parse_range, standardize_result


@pytest.mark.parametrize(("orres", "factor", "stresc", "stresn"), [
    ("5.5", 17.1, "94.05", 94.05),      # bilirubin 5.5 mg/dL x 17.1 = 94.05 umol/L
    ("0.9", 88.4, "79.56", 79.56),      # creatinine 0.9 mg/dL x 88.4 = 79.56 umol/L
    ("3.1", 10, "31", 31.0),            # albumin 3.1 g/dL = 31 g/L
    ("12.5", 10, "125", 125.0),         # haemoglobin 12.5 g/dL = 125 g/L
    ("4.5", 88.4, "397.8", 397.8),      # creatinine 4.5 mg/dL = 397.8 umol/L
    ("290.7", 1, "290.7", 290.7),
    ("<0.5", 17.1, "<8.55", None),      # a limit stays text (LBSTRESN empty), converted
    (">1000", 1, ">1000", None),
    ("溶血", 1, None, None),            # a comment has no numeric value
    ("", 1, None, None),
])
def test_standardize_result(orres, factor, stresc, stresn):
    assert standardize_result(orres, factor) == (stresc, stresn)


def test_format_number():
    assert format_number(94.05000000000001) == "94.05"
    assert format_number(125.0) == "125"
    assert format_number(0.0) == "0"


@pytest.mark.parametrize(("text", "expected"), [
    ("3.4-20.5", (3.4, 20.5)), ("0-6.8", (0.0, 6.8)), ("<7", (None, 7.0)), ("", (None, None)),
])
def test_parse_range(text, expected):
    assert parse_range(text) == expected


@pytest.mark.parametrize(("stresn", "stresc", "lo", "hi", "expected"), [
    (290.7, "290.7", 3.4, 20.5, "HIGH"),
    (2.0, "2", 3.4, 20.5, "LOW"),
    (20.5, "20.5", 3.4, 20.5, "NORMAL"),   # the limit itself is within range
    (None, "<0.2", 3.42, 20.52, "LOW"),     # <0.2 is certainly below 3.42
    (None, "<5", 3.42, 20.52, None),        # <5 may be normal or low
    (None, ">1000", 9, 50, "HIGH"),
    (None, "HEMOLYZED", 9, 50, None),
    (5.0, "5", None, None, None),
])
def test_nrind(stresn, stresc, lo, hi, expected):
    assert nrind(stresn, stresc, lo, hi) == expected
