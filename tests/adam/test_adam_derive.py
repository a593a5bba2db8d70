"""ADaM derivations against values worked out by hand (protocol.md's holdout cases first)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from transforms.adam.derive import (
    derive_analysis_datetime,
    derive_analysis_flag,
    derive_analysis_window,
    derive_baseline,
    derive_baseline_flag,
    derive_change_from_baseline,
    derive_composite_flag,
    derive_criterion_flag,
    derive_imputed_date,
    derive_meld_parameter,
    derive_post_baseline_flag,
    derive_range_indicator,
    derive_responder,
    derive_time_to_event,
    derive_treatment_emergent_flag,
    impute_partial_date,
    meld_score,
    round_half_up,
)
from transforms.cdisc.dates import derive_relative_day
from transforms.config.adam import DateSource, MeldSpec, Window

TS = pd.Timestamp
PROTOCOL_MELD = MeldSpec(
    coef_creatinine=0.957,
    coef_bilirubin=0.378,
    coef_inr=1.120,
    intercept=0.643,
    floor=1.0,
    creatinine_cap=4.0,
    scale=10,
    round_decimals=1,
    score_cap=40,
)
WINDOWS = [
    Window(1, "Week 1", 8, 2, 11),
    Window(2, "Week 2", 15, 12, 21),
    Window(4, "Week 4", 29, 22, 42),
    Window(8, "Week 8", 57, 43, 70),
    Window(12, "Week 12", 85, 71, 98),
]


def _records(dtcs: list[str], values: list[float | None], trtsdtc: str) -> pd.DataFrame:
    df = pd.DataFrame(
        {"USUBJID": "S1", "PARAMCD": "BILI", "AVAL": pd.array(values, dtype="Float64"), "SEQ": range(1, len(dtcs) + 1)}
    )
    df[["ADT", "ADTM"]] = derive_analysis_datetime(pd.Series(dtcs))
    ref = derive_analysis_datetime(pd.Series([trtsdtc] * len(dtcs)))
    df["TRTSDT"], df["TRTSDTM"] = ref["ADT"], ref["ADTM"]
    return df


# --- baseline ---------------------------------------------------------------------------------


def test_day1_sample_after_infusion_start_is_not_baseline() -> None:
    # Infusion starts 2018-01-10 10:00; the 11:00 sample of the same day is after it: the screening
    # sample (2018-01-05) stays the last value on or before the start.
    df = _records(["2018-01-05T08:00", "2018-01-10T11:00"], [100.0, 120.0], "2018-01-10T10:00")
    assert derive_baseline_flag(df, ["USUBJID", "PARAMCD"], tiebreak=["SEQ"]).tolist() == ["Y", pd.NA]


def test_day1_sample_before_infusion_start_is_baseline() -> None:
    df = _records(
        ["2018-01-05T08:00", "2018-01-10T09:00", "2018-01-10T11:00"], [100.0, 110.0, 120.0], "2018-01-10T10:00"
    )
    assert derive_baseline_flag(df, ["USUBJID", "PARAMCD"], tiebreak=["SEQ"]).tolist() == [pd.NA, "Y", pd.NA]


def test_sample_at_the_infusion_minute_is_baseline_and_missing_value_is_skipped() -> None:
    # "on or before": 10:00 = 10:00 qualifies; the later empty result does not.
    df = _records(["2018-01-10T10:00", "2018-01-10T10:00"], [110.0, None], "2018-01-10T10:00")
    assert derive_baseline_flag(df, ["USUBJID", "PARAMCD"], tiebreak=["SEQ"]).tolist() == ["Y", pd.NA]


def test_date_without_time_on_day1_counts_as_on_that_day() -> None:
    df = _records(["2018-01-05", "2018-01-10"], [100.0, 110.0], "2018-01-10T10:00")
    assert derive_baseline_flag(df, ["USUBJID", "PARAMCD"], tiebreak=["SEQ"]).tolist() == [pd.NA, "Y"]


def test_base_change_and_percent_change() -> None:
    # Baseline 110 (Day 1, 09:00); Day 8 value 99: CHG = 99 - 110 = -11, PCHG = -11 / 110 x 100 = -10.
    df = _records(
        ["2018-01-05T08:00", "2018-01-10T09:00", "2018-01-17T08:00"], [100.0, 110.0, 99.0], "2018-01-10T10:00"
    )
    df["ABLFL"] = derive_baseline_flag(df, ["USUBJID", "PARAMCD"], tiebreak=["SEQ"])
    df["BASE"] = derive_baseline(df, ["USUBJID", "PARAMCD"], "AVAL")
    post = derive_post_baseline_flag(df)
    out = derive_change_from_baseline(df["AVAL"], df["BASE"], post)
    assert df["BASE"].tolist() == [110.0, 110.0, 110.0]
    assert post.tolist() == [False, False, True]
    assert out["CHG"].tolist() == [pd.NA, pd.NA, -11.0]
    assert out["PCHG"].tolist() == [pd.NA, pd.NA, pytest.approx(-10.0)]


def test_percent_change_is_empty_when_baseline_is_zero() -> None:
    out = derive_change_from_baseline(pd.Series([3.0]), pd.Series([0.0]), pd.Series([True]))
    assert out["CHG"].tolist() == [3.0] and out["PCHG"].isna().all()


def test_relative_day_has_no_day_zero() -> None:
    adt = pd.Series([TS("2018-01-09"), TS("2018-01-10"), TS("2018-01-11"), pd.NaT])
    ref = pd.Series([TS("2018-01-10")] * 4)
    assert derive_relative_day(adt, ref).tolist() == [-1, 1, 2, pd.NA]


def test_range_indicator_at_the_limits() -> None:
    # The limits themselves are normal (LBNRIND convention); one step beyond is LOW/HIGH.
    got = derive_range_indicator(pd.Series([21.0, 21.1, 3.4, 3.3, None]), pd.Series([3.4] * 5), pd.Series([21.0] * 5))
    assert got.tolist() == ["NORMAL", "HIGH", "NORMAL", "LOW", pd.NA]


# --- windows ----------------------------------------------------------------------------------


def test_windows_boundaries() -> None:
    ady = pd.Series([1, 2, 11, 12, 21, 22, 42, 43, 70, 71, 98, 99], dtype="Int64")
    got = derive_analysis_window(ady, WINDOWS)
    assert got["AVISIT"].tolist() == [
        pd.NA,
        "Week 1",
        "Week 1",
        "Week 2",
        "Week 2",
        "Week 4",
        "Week 4",
        "Week 8",
        "Week 8",
        "Week 12",
        "Week 12",
        pd.NA,
    ]
    assert got["AWTDIFF"].tolist() == [pd.NA, 6, 3, 3, 6, 7, 13, 14, 13, 14, 13, pd.NA]


def test_closest_to_target_wins_and_earlier_on_tie() -> None:
    # Week 1 target 8: days 6 and 10 are both 2 away -> day 6 (earlier); day 9 (1 away) beats both.
    def chosen(days: list[int]) -> list[int]:
        df = pd.DataFrame(
            {
                "USUBJID": "S1",
                "PARAMCD": "BILI",
                "ADY": pd.array(days, dtype="Int64"),
                "ADTM": pd.NaT,
                "SEQ": range(len(days)),
            }
        )
        df[derive_analysis_window(df["ADY"], WINDOWS).columns] = derive_analysis_window(df["ADY"], WINDOWS)
        flag = derive_analysis_flag(df, ["USUBJID", "PARAMCD", "AVISITN"], df["AVISITN"].notna(), tiebreak=["SEQ"])
        return df.loc[flag == "Y", "ADY"].tolist()

    assert chosen([10, 6]) == [6]
    assert chosen([10, 6, 9]) == [9]
    assert chosen([10, 6, 16, 14]) == [6, 14]  # Week 2 target 15: 14 and 16 tie -> 14


def test_same_day_tie_goes_to_the_earlier_sample() -> None:
    df = pd.DataFrame(
        {
            "USUBJID": "S1",
            "PARAMCD": "BILI",
            "ADY": pd.array([8, 8], dtype="Int64"),
            "ADTM": [TS("2018-01-17T15:00"), TS("2018-01-17T07:00")],
            "SEQ": [1, 2],
        }
    )
    df[derive_analysis_window(df["ADY"], WINDOWS).columns] = derive_analysis_window(df["ADY"], WINDOWS)
    flag = derive_analysis_flag(df, ["USUBJID", "PARAMCD", "AVISITN"], df["AVISITN"].notna(), tiebreak=["SEQ"])
    assert flag.tolist() == [pd.NA, "Y"]


def test_overlapping_windows_are_rejected() -> None:
    with pytest.raises(ValueError):
        derive_analysis_window(pd.Series([5]), [Window(1, "A", 8, 2, 11), Window(2, "B", 15, 11, 21)])


# --- MELD -------------------------------------------------------------------------------------


def test_meld_creatinine_above_4_uses_4() -> None:
    # creatinine 4.5 -> 4.0, bilirubin 10, INR 2.0 mg/dL:
    # 0.957 ln 4 = 1.326684; 0.378 ln 10 = 0.870377; 1.120 ln 2 = 0.776325; + 0.643 = 3.616386 -> 3.6 -> 36.
    # (Uncapped, 0.957 ln 4.5 = 1.439402 would give 3.729104 -> 37.)
    assert meld_score(4.5, 10.0, 2.0, PROTOCOL_MELD) == 36
    assert meld_score(4.0, 10.0, 2.0, PROTOCOL_MELD) == 36


def test_meld_protocol_example_and_rounding() -> None:
    # protocol.md: MELD(i) = 2.2897 gives 23: MELD(i) rounded half-up to 0.1 (2.3), then x 10.
    assert round_half_up(2.2897, 1) * 10 == 23
    assert round_half_up(2.25, 1) == 2.3 and round_half_up(2.35, 1) == 2.4  # half-up, not banker's
    # creatinine 2.0, bilirubin 5.0, INR 1.5: 0.663342 + 0.608368 + 0.454121 + 0.643 = 2.368831 -> 2.4 -> 24
    assert meld_score(2.0, 5.0, 1.5, PROTOCOL_MELD) == 24


def test_meld_floors_and_cap() -> None:
    # every value below 1.0 counts as 1.0: ln 1 = 0, MELD(i) = 0.643 -> 0.6 -> 6
    assert meld_score(0.6, 0.5, 0.9, PROTOCOL_MELD) == 6
    # creatinine 4, bilirubin 50, INR 5: 1.326684 + 1.478745 + 1.802571 + 0.643 = 5.251 -> 53 -> capped 40
    assert meld_score(4.0, 50.0, 5.0, PROTOCOL_MELD) == 40


def test_meld_parameter_takes_the_latest_result_of_each_test_that_day_in_mg_dl() -> None:
    # protocol.md: same-day samples, the latest result of each test that day; for baseline the latest
    # at or before the start of the first infusion (here 2018-01-10 08:00).
    # Day 1: a pre-infusion draw (06:30) and a post-infusion draw (11:00): the day's MELD uses 11:00,
    # and a second, pre-infusion MELD uses 06:30 (the baseline candidate).
    # Day 8: creatinine at 07:00, bilirubin and INR at 09:00 -> one MELD of the day, time 09:00.
    # umol/L -> mg/dL: creatinine / 88.4, bilirubin / 17.1.
    rows = [
        ("2018-01-10T06:30", "CREAT", 397.8),
        ("2018-01-10T06:30", "BILI", 171.0),
        ("2018-01-10T06:30", "INR", 2.0),
        ("2018-01-10T11:00", "CREAT", 176.8),
        ("2018-01-10T11:00", "BILI", 85.5),
        ("2018-01-10T11:00", "INR", 1.5),
        ("2018-01-17T07:00", "CREAT", 88.4),
        ("2018-01-17T09:00", "BILI", 17.1),
        ("2018-01-17T09:00", "INR", 1.0),
        ("2018-01-24T07:00", "CREAT", 88.4),
        ("2018-01-24T07:00", "BILI", 17.1),  # no INR that day: no MELD
    ]
    df = pd.DataFrame(rows, columns=["DTC", "PARAMCD", "AVAL"])
    df[["ADT", "ADTM"]] = derive_analysis_datetime(df["DTC"])
    df["USUBJID"], df["VISIT"], df["VISITNUM"], df["LBSEQ"] = "S1", "V", 1.0, range(len(df))
    args = (
        df,
        {"creatinine": "CREAT", "bilirubin": "BILI", "inr": "INR"},
        {"creatinine": 88.4, "bilirubin": 17.1, "inr": 1.0},
        PROTOCOL_MELD,
    )
    out = derive_meld_parameter(*args, reference=pd.Series({"S1": TS("2018-01-10T08:00")}))
    # 06:30: creatinine 4.5 -> capped 4.0, bilirubin 10, INR 2: 1.326684 + 0.870377 + 0.776317 + 0.643
    # = 3.616 -> 36. 11:00: 2.0/5.0/1.5 -> 24 (above). Day 8: all 1.0 -> 6.
    assert out["AVAL"].tolist() == [36, 24, 6]
    assert out["ADTM"].tolist() == [TS("2018-01-10T06:30"), TS("2018-01-10T11:00"), TS("2018-01-17T09:00")]
    assert out["CREATININE"].tolist() == pytest.approx([4.5, 2.0, 1.0])
    # Without a first infusion (never treated), one MELD per day only.
    assert derive_meld_parameter(*args)["AVAL"].tolist() == [24, 6]
    # An infusion starting after the day's last sample: the day's MELD is already pre-infusion.
    late = derive_meld_parameter(*args, reference=pd.Series({"S1": TS("2018-01-10T12:00")}))
    assert late["AVAL"].tolist() == [24, 6]


# --- time to event ----------------------------------------------------------------------------

DEATH = DateSource("DTHDT", "DEATH", "ADSL", "DTHDT")
TRANSPLANT = DateSource(
    "LTDT", "LIVER TRANSPLANTATION", "PR", "PRSTDTC", censor_date_description="LIVER TRANSPLANTATION"
)
ALIVE = DateSource("LSTALVDT", "LAST KNOWN ALIVE", "ADSL", "LSTALVDT", censor_date_description="DATE LAST KNOWN ALIVE")
HORIZON = DateSource(
    "RANDDT", "END OF 12-WEEK FOLLOW-UP", "ADSL", "RANDDT", censor_date_description="RANDOMIZATION + 84 DAYS"
)


def _tte(rows: list[dict], param: str) -> pd.DataFrame:
    """DTH12 / TFS12 as protocol.md defines them (Endpoints 1)."""
    subjects = pd.DataFrame(rows)
    for col in ("RANDDT", "DTHDT", "LTDT", "LSTALVDT"):
        subjects[col] = pd.to_datetime(
            subjects[col] if col in subjects else pd.Series(pd.NaT, index=subjects.index)
        ).astype("datetime64[s]")
    if param == "DTH12":  # death is the event; transplantation is one of the censoring dates
        return derive_time_to_event(subjects, "RANDDT", [DEATH], [], [ALIVE, TRANSPLANT], 84, HORIZON)
    return derive_time_to_event(subjects, "RANDDT", [DEATH, TRANSPLANT], [], [ALIVE], 84, HORIZON)


def test_death_on_randomization_plus_84_is_an_event_and_plus_85_is_not() -> None:
    # Randomized 2018-01-01; + 84 days = 2018-03-26 (31 Jan + 28 Feb + 25 Mar days).
    out = _tte(
        [
            {"USUBJID": "A", "RANDDT": "2018-01-01", "DTHDT": "2018-03-26", "LSTALVDT": "2018-03-25"},
            {"USUBJID": "B", "RANDDT": "2018-01-01", "DTHDT": "2018-03-27", "LSTALVDT": "2018-03-20"},
            {"USUBJID": "C", "RANDDT": "2018-01-01", "DTHDT": "2018-03-27", "LSTALVDT": "2018-03-26"},
        ],
        "DTH12",
    ).set_index("USUBJID")
    assert (out.at["A", "CNSR"], out.at["A", "ADT"], out.at["A", "AVAL"]) == (0, TS("2018-03-26"), 85)
    # Not an event: censored at the earliest of last known alive (2018-03-20 = day 79) and R + 84.
    assert (out.at["B", "CNSR"], out.at["B", "ADT"], out.at["B", "AVAL"]) == (1, TS("2018-03-20"), 79)
    assert out.at["B", "CNSDTDSC"] == "DATE LAST KNOWN ALIVE"
    assert (out.at["C", "CNSR"], out.at["C", "AVAL"]) == (1, 85)


def test_death_after_transplantation_is_a_dth12_event_and_transplantation_a_tfs12_event() -> None:
    # protocol.md: "event = death within 84 days (also when a liver transplantation came first)".
    # Randomized 2018-01-01, transplanted 2018-02-01 (day 32), died 2018-02-20 (day 51).
    row = {
        "USUBJID": "T",
        "RANDDT": "2018-01-01",
        "LTDT": "2018-02-01",
        "DTHDT": "2018-02-20",
        "LSTALVDT": "2018-02-19",
    }
    dth = _tte([row], "DTH12").iloc[0]
    tfs = _tte([row], "TFS12").iloc[0]
    assert (dth["CNSR"], dth["ADT"], dth["AVAL"], dth["EVNTDESC"]) == (0, TS("2018-02-20"), 51, "DEATH")
    assert (tfs["CNSR"], tfs["ADT"], tfs["AVAL"], tfs["EVNTDESC"]) == (0, TS("2018-02-01"), 32, "LIVER TRANSPLANTATION")
    assert (tfs["SRCDOM"], tfs["SRCVAR"]) == ("PR", "PRSTDTC")


def test_transplanted_survivor_is_censored_at_the_transplantation() -> None:
    # Transplanted on day 22 (2018-01-22), alive to day 84 and beyond: censored at the earliest of
    # last known alive, transplantation and R + 84, i.e. the transplantation (AVAL 22).
    row = {"USUBJID": "S", "RANDDT": "2018-01-01", "LTDT": "2018-01-22", "LSTALVDT": "2018-04-10"}
    dth = _tte([row], "DTH12").iloc[0]
    assert (dth["CNSR"], dth["ADT"], dth["AVAL"], dth["CNSDTDSC"]) == (1, TS("2018-01-22"), 22, "LIVER TRANSPLANTATION")
    assert (dth["SRCDOM"], dth["SRCVAR"]) == ("PR", "PRSTDTC")


def test_a_terminating_fact_ends_follow_up_before_a_later_event() -> None:
    # The generic mechanism (a study may declare a fact that ends follow-up); not used by NCT03668171.
    subjects = pd.DataFrame({"USUBJID": ["T"], "RANDDT": [TS("2018-01-01")], "LTDT": [TS("2018-02-01")],
                             "DTHDT": [TS("2018-02-20")], "LSTALVDT": [TS("2018-02-19")]})
    out = derive_time_to_event(subjects, "RANDDT", [DEATH], [TRANSPLANT], [ALIVE], 84, HORIZON).iloc[0]
    assert (out["CNSR"], out["ADT"], out["AVAL"]) == (1, TS("2018-02-01"), 32)


def test_death_on_the_transplant_day_is_a_death() -> None:
    row = {
        "USUBJID": "T",
        "RANDDT": "2018-01-01",
        "LTDT": "2018-02-01",
        "DTHDT": "2018-02-01",
        "LSTALVDT": "2018-01-31",
    }
    out = _tte([row], "DTH12").iloc[0]
    assert (out["CNSR"], out["EVNTDESC"], out["AVAL"]) == (0, "DEATH", 32)


def test_alive_at_12_weeks_is_censored_at_randomization_plus_84() -> None:
    out = _tte([{"USUBJID": "C", "RANDDT": "2018-01-01", "LSTALVDT": "2018-04-10"}], "DTH12").iloc[0]
    assert (out["CNSR"], out["ADT"], out["AVAL"], out["SRCVAR"]) == (1, TS("2018-03-26"), 85, "RANDDT")


def test_latest_censor_rule_and_start_fallback() -> None:
    # admiral's convention (censoring at the last censoring date), no horizon: the reference comparison uses it.
    subjects = pd.DataFrame(
        {
            "USUBJID": ["A", "B"],
            "RANDDT": [TS("2018-01-01")] * 2,
            "LSTALVDT": [TS("2018-02-01"), pd.NaT],
            "DTHDT": [pd.NaT, pd.NaT],
        }
    )
    rand = DateSource("RANDDT", "Randomization", "ADSL", "RANDDT")
    out = derive_time_to_event(subjects, "RANDDT", [DEATH], [], [ALIVE, rand], None, None, "latest")
    assert out["AVAL"].tolist() == [32, 1] and out["SRCVAR"].tolist() == ["LSTALVDT", "RANDDT"]


# --- responder criteria -----------------------------------------------------------------------


def test_bilirubin_at_exactly_5_uln_is_not_below_5_uln() -> None:
    # ULN 21 umol/L: 5 x ULN = 105. 105 is not < 105; 104.9 is.
    flags = derive_criterion_flag(pd.Series([105.0, 104.9, None]), "<", 5, reference=pd.Series([21.0, 21.0, 21.0]))
    assert flags.tolist() == ["N", "Y", pd.NA]


def test_pta_or_inr_and_missing_is_non_responder() -> None:
    pta = derive_criterion_flag(pd.Series([40.0, 41.0, None, 30.0]), ">", 40)  # 40 is not > 40
    inr = derive_criterion_flag(pd.Series([1.6, None, 1.59, None]), "<", 1.6)  # 1.6 is not < 1.6
    coag = derive_composite_flag([pta, inr], "any")
    assert pta.tolist() == ["N", "Y", pd.NA, "N"] and inr.tolist() == ["N", pd.NA, "Y", pd.NA]
    assert coag.tolist() == ["N", "Y", "Y", pd.NA]
    symp = derive_criterion_flag(pd.Series(["Y", "Y", "Y", "Y"]), "==", "Y")
    assert derive_responder([symp, coag]).tolist() == ["N", "Y", "Y", "N"]  # missing counts as not met


# --- adverse events ---------------------------------------------------------------------------


def test_partial_start_date_imputation() -> None:
    trt = date(2018, 1, 15)
    assert impute_partial_date("2018-01", "first", floor=trt) == (trt, "D")  # the infusion month: TRTSDT
    assert impute_partial_date("2018-02", "first", floor=trt) == (date(2018, 2, 1), "D")
    assert impute_partial_date("2017", "first", floor=trt) == (date(2017, 1, 1), "M")
    assert impute_partial_date("2018", "first", floor=trt) == (trt, "M")
    assert impute_partial_date("2018-01-03", "first", floor=trt) == (date(2018, 1, 3), None)
    assert impute_partial_date(None, "first", floor=trt) == (None, None)


def test_partial_start_in_the_dosing_month_of_an_ae_that_ended_before_dosing() -> None:
    # First infusion 2018-01-15; an AE starting "2018-01" that ended 2018-01-10 cannot have started on
    # the 15th: TRTSDT is not used and the first of the month is taken (start <= end, not emergent).
    trt = date(2018, 1, 15)
    assert impute_partial_date("2018-01", "first", floor=trt, ceiling=date(2018, 1, 10)) == (date(2018, 1, 1), "D")
    # An end on or after the first dose leaves the usual rule.
    assert impute_partial_date("2018-01", "first", floor=trt, ceiling=date(2018, 1, 20)) == (trt, "D")
    assert impute_partial_date("2018-01", "first", floor=trt, ceiling=trt) == (trt, "D")
    start = derive_imputed_date(pd.Series(["2018-01"]), "first", pd.Series([TS("2018-01-15")]),
                                ceiling=pd.Series([TS("2018-01-10")]))["DT"]
    got = derive_treatment_emergent_flag(start, pd.Series([TS("2018-01-10")]), pd.Series([TS("2018-01-15")]))
    assert start.tolist() == [TS("2018-01-01")] and got.isna().all()


def test_partial_end_date_imputation() -> None:
    assert impute_partial_date("2018-02", "last") == (date(2018, 2, 28), "D")
    assert impute_partial_date("2016-02", "last") == (date(2016, 2, 29), "D")  # leap year
    assert impute_partial_date("2018", "last") == (date(2018, 12, 31), "M")
    assert impute_partial_date("2018-02", "last", ceiling=date(2018, 2, 10)) == (date(2018, 2, 10), "D")  # died


def test_treatment_emergent_flag() -> None:
    trt = TS("2018-01-15")
    start = pd.Series([TS("2018-01-15"), TS("2018-01-14"), pd.NaT, pd.NaT, TS("2018-03-30")])
    end = pd.Series([pd.NaT, TS("2018-01-20"), TS("2018-01-20"), TS("2018-01-10"), pd.NaT])
    got = derive_treatment_emergent_flag(start, end, pd.Series([trt] * 5), pd.Series([TS("2018-01-29")] * 5))
    assert got.tolist() == ["Y", pd.NA, "Y", pd.NA, "Y"]
    # With admiral's 30-day window after the last dose (29 Jan + 30 = 28 Feb), 30 Mar is not emergent.
    windowed = derive_treatment_emergent_flag(start, end, pd.Series([trt] * 5), pd.Series([TS("2018-01-29")] * 5), 30)
    assert windowed.tolist() == ["Y", pd.NA, "Y", pd.NA, pd.NA]
    untreated = derive_treatment_emergent_flag(start, end, pd.Series([pd.NaT] * 5))
    assert untreated.isna().all()


def test_imputed_date_column() -> None:
    out = derive_imputed_date(pd.Series(["2018-01", "2018-01-20", None]), "first", pd.Series([TS("2018-01-15")] * 3))
    assert out["DT"].tolist()[:2] == [TS("2018-01-15"), TS("2018-01-20")] and pd.isna(out["DT"].iloc[2])
    assert out["DTF"].tolist() == ["D", pd.NA, pd.NA]


def test_meld_parameter_with_a_day_that_lacks_bilirubin():
    """A day with only creatinine and INR gives no MELD and no error; a complete draw still does."""
    from transforms.adam.derive import derive_meld_parameter

    spec = MeldSpec(0.957, 0.378, 1.120, 0.643, 1.0, 4.0, 10, 1, 40)
    rows = pd.DataFrame({
        "USUBJID": ["S1"] * 5, "PARAMCD": ["CREAT", "BILI", "INR", "CREAT", "INR"],
        "AVAL": [88.4, 17.1, 4.3502, 88.4, 2.0],
        "ADT": pd.to_datetime(["2018-01-05"] * 3 + ["2018-01-09"] * 2),
        "ADTM": pd.to_datetime(["2018-01-05 07:30"] * 3 + [None, None]),
        "VISIT": ["SCREENING"] * 3 + ["WEEK 1"] * 2, "VISITNUM": [1.0] * 3 + [3.0] * 2, "LBSEQ": [1, 2, 3, 4, 5],
    })
    out = derive_meld_parameter(rows, {"creatinine": "CREAT", "bilirubin": "BILI", "inr": "INR"},
                                {"creatinine": 88.4, "bilirubin": 17.1, "inr": 1.0}, spec)
    # protocol.md's example: MELD(i) 2.2897 gives 23; the 9 January day has no bilirubin
    assert out["AVAL"].tolist() == [23.0]
