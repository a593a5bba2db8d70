"""SDTM derivations pinned to values worked out by hand from protocol.md and SDTMIG 3.4."""
from __future__ import annotations

import pandas as pd
import pytest

from transforms.sdtm.derive import derive_epoch, derive_lobxfl, derive_seq, derive_usubjid

RF = "2018-01-08T09:30"  # first infusion start of subject 01-001 in the example drop


def test_usubjid():
    assert derive_usubjid("NCT03668171", pd.Series(["01-004"])).tolist() == ["NCT03668171-01-004"]


def test_lobxfl_day1_sample_after_infusion_start_is_not_baseline():
    # protocol.md: baseline = last non-missing value on or before the start of the first infusion
    # (date and time). Day-1 07:30 is before the 09:30 start; Day-1 11:00 is after it.
    df = pd.DataFrame({
        "_SUBJ": ["A"] * 4 + ["B"] * 2,
        "TESTCD": ["BILI"] * 4 + ["BILI"] * 2,
        "DTC": ["2018-01-05T07:30", "2018-01-08T07:30", "2018-01-08T11:00", "2018-01-15T07:30",
                "2018-01-05T07:30", "2018-01-08T10:00"],
        "RES": ["290.7", "280.1", "275.0", "250.1", "100", ""],
        "RFX": [RF] * 4 + [RF] * 2,
    })
    flag = derive_lobxfl(df, ["_SUBJ", "TESTCD"], "DTC", "RES", "RFX")
    assert flag.fillna("").tolist() == ["", "Y", "", "", "Y", ""]


def test_lobxfl_missing_result_is_skipped():
    df = pd.DataFrame({"S": ["A", "A"], "T": ["X", "X"], "DTC": ["2018-01-05", "2018-01-07"],
                       "RES": ["1.0", None], "RFX": [RF, RF]})
    assert derive_lobxfl(df, ["S", "T"], "DTC", "RES", "RFX").fillna("").tolist() == ["Y", ""]


def test_lobxfl_only_on_a_numeric_standard_result():
    # protocol.md: baseline = last non-missing value on or before the first infusion start; ADaM takes it
    # from AVAL (= LBSTRESN). A censored '>855' (LBSTRESN empty) and a haemolysed NOT DONE record
    # (no result at all) drawn later but still before 09:30 are not baseline: the Day -3 value is.
    # A test with no numeric result anywhere (qualitative) is flagged on its text result.
    df = pd.DataFrame({
        "S": ["A", "A", "A", "A", "A"],
        "T": ["BILI", "BILI", "BILI", "BILI", "HBSAG"],
        "DTC": ["2018-01-05T07:30", "2018-01-08T07:00", "2018-01-08T08:00", "2018-01-08T11:00", "2018-01-05T07:30"],
        "STRESC": ["290.7", ">855", None, "250.1", "POSITIVE"],
        "STRESN": [290.7, None, None, 250.1, None],
        "RFX": [RF] * 5,
    })
    df["STRESN"] = df["STRESN"].astype("Float64")
    flag = derive_lobxfl(df, ["S", "T"], "DTC", "STRESC", "RFX", numeric="STRESN")
    assert flag.fillna("").tolist() == ["Y", "", "", "", "Y"]


def test_seq_is_stable_and_per_subject():
    df = pd.DataFrame({"USUBJID": ["B", "A", "A", "B"], "K": ["2", "2", "1", "1"]})
    assert derive_seq(df, ["K"]).tolist() == [2, 2, 1, 1]


def test_epoch():
    e = derive_epoch(pd.Series(["2018-01-05", "2018-01-08T07:00", "2018-01-08T10:00", "2018-01-22", "2018-01"]),
                     pd.Series([RF] * 5), pd.Series(["2018-01-22T10:15"] * 5),
                     "SCREENING", "TREATMENT", "FOLLOW-UP")
    assert e.fillna("").tolist() == ["SCREENING", "SCREENING", "TREATMENT", "TREATMENT", "TREATMENT"]
    partial = derive_epoch(pd.Series(["2011", "2018-01", "2018-02", "2017-12"]), pd.Series([RF] * 4),
                           pd.Series(["2018-01-22T10:15"] * 4), "SCREENING", "TREATMENT", "FOLLOW-UP")
    # 2011: wholly before; 2018-01 overlaps Jan 8-22; 2018-02 wholly after; 2017-12 wholly before
    assert partial.tolist() == ["SCREENING", "TREATMENT", "FOLLOW-UP", "SCREENING"]
    assert derive_epoch(pd.Series(["2018-03"]), pd.Series([None]), pd.Series([None]),
                        "SCREENING", "TREATMENT", "FOLLOW-UP").tolist() == ["SCREENING"]  # never treated
    after = derive_epoch(pd.Series(["2018-01-23"]), pd.Series([RF]), pd.Series(["2018-01-22T10:15"]),
                         "SCREENING", "TREATMENT", "FOLLOW-UP")
    assert after.tolist() == ["FOLLOW-UP"]


def test_element_spans():
    """SE elements from the reference dates (SDTMIG 3.4 SE; transitions as EPOCH's)."""
    from transforms.sdtm.se import element_spans
    args = ("SCREENING", "TREATMENT", "FOLLOW-UP")
    # three infusions, end of study at Week 12
    assert element_spans("2018-01-05", None, "2018-01-08T09:30", "2018-01-22T10:00", "2018-04-02", *args) == [
        ("SCREENING", "2018-01-05", "2018-01-08T09:30"), ("TREATMENT", "2018-01-08T09:30", "2018-01-22T10:00"),
        ("FOLLOW-UP", "2018-01-22T10:00", "2018-04-02")]
    # stopped after the first infusion: follow-up starts at its end, not at a planned Day 15
    assert element_spans("2018-01-05", None, "2018-01-08T09:30", "2018-01-08T10:15", "2018-02-01", *args)[1:] == [
        ("TREATMENT", "2018-01-08T09:30", "2018-01-08T10:15"), ("FOLLOW-UP", "2018-01-08T10:15", "2018-02-01")]
    # died the day of the last infusion: participation ended in the treatment element
    assert element_spans("2018-01-05", None, "2018-01-08T09:30", "2018-01-15T10:00", "2018-01-15", *args)[-1] == (
        "TREATMENT", "2018-01-08T09:30", "2018-01-15T10:00")
    # never treated: screening only, from the first visit when consent is missing
    assert element_spans(None, "2018-03-10", None, None, None, *args) == [("SCREENING", "2018-03-10", None)]
    assert element_spans(None, None, None, None, None, *args) == []


def test_arm_elements_share_only_what_every_arm_has():
    """A subject with no known arm (screen failure, randomization number not in the list) still has the screening
    and follow-up elements every arm shares; the treatment element differs by arm, so it is UNPLAN (SDTMIG SE)."""
    from transforms.sdtm.se import arm_elements
    ta = pd.DataFrame({"ARMCD": ["MSC", "MSC", "MSC", "PBO", "PBO", "PBO"], "TAETORD": [1, 2, 3, 1, 2, 3],
                       "ETCD": ["SCRN", "MSC", "FU", "SCRN", "PBO", "FU"],
                       "ELEMENT": ["Screening", "Mesenchymal stem cells", "Follow-up", "Screening", "Placebo", "Follow-up"],
                       "EPOCH": ["SCREENING", "TREATMENT", "FOLLOW-UP"] * 2})
    el = arm_elements(ta)
    assert el["PBO"]["TREATMENT"] == ("PBO", "Placebo", 2)
    assert el[None] == {"SCREENING": ("SCRN", "Screening", 1), "FOLLOW-UP": ("FU", "Follow-up", 3)}
