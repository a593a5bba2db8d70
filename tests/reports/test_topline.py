"""The topline: statistics worked out by hand, blinded pages pooled only, self-contained HTML."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pandas as pd
import pytest

from transforms.adam.build import build_adam
from transforms.pipeline.run import run_pipeline
from transforms.config import load_study
from transforms.config.adam import load_adam_config
from transforms.config.reports import load_topline_config
from transforms.reports.topline import Landmark, km_at, landmark, render_topline, write_topline

ADAM = load_adam_config(load_study("nct03668171"))
TOPLINE = load_topline_config(load_study("nct03668171"))


def test_kaplan_meier_at_day_85_by_hand() -> None:
    # 7 subjects: deaths at 5, 10, 12, 85; censored at 30, 85, 85.
    # S = 6/7 x 5/6 x 4/5 (= 4/7 after day 12); at day 85, 3 at risk and 1 death: 4/7 x 2/3 = 8/21.
    t = pd.Series([5, 10, 85, 85, 30, 85, 12]).to_numpy(float)
    e = pd.Series([1, 1, 1, 0, 0, 0, 1]).to_numpy(int)
    p = km_at(t, e, 85)
    assert p.surv == pytest.approx(8 / 21) and p.lo < p.surv < p.hi and (p.n, p.events) == (7, 4)
    assert km_at(t, e, 84).surv == pytest.approx(4 / 7)
    assert km_at(t, e, 1).surv == 1.0


def test_landmark_is_the_day_after_the_horizon() -> None:
    # tte.yaml horizon_days 84 (protocol.md: 12 weeks): a death on randomization + 84 days has AVAL 85;
    # numbers at risk every two weeks (reports/topline.yaml) from day 1: 1, 15, ..., 85.
    study_landmark = landmark(ADAM, TOPLINE)
    assert study_landmark.day == 85
    assert study_landmark.risk_times == (1, 15, 29, 43, 57, 71, 85)
    assert Landmark(90, 14).risk_times == (1, 15, 29, 43, 57, 71, 85, 91)
    assert Landmark(84, 28).risk_times == (1, 29, 57, 85)


def test_topline_parameter_must_be_a_time_to_event_parameter() -> None:
    typo = TOPLINE.model_copy(update={"mortality": TOPLINE.mortality.model_copy(update={"paramcd": "DTH21"})})
    with pytest.raises(ValueError, match="'DTH21' is not a parameter of tte.yaml"):
        landmark(ADAM, typo)


def _frames(arms: list[str]) -> tuple[pd.DataFrame, ...]:
    n = len(arms)
    ids = [f"S{i}" for i in range(n)]
    num = {"Mesenchymal Stem Cells": 1.0, "Placebo": 2.0, "Blinded": None}
    adsl = pd.DataFrame(
        {
            "STUDYID": "X",
            "USUBJID": ids,
            "ITTFL": "Y",
            "SAFFL": "Y",
            "TRT01P": arms,
            "TRT01PN": [num[a] for a in arms],
            "TRT01A": arms,
            "TRT01AN": [num[a] for a in arms],
            "EOSSTT": ["COMPLETED", "DISCONTINUED"] * (n // 2),
            "DCSREAS": [None, "DEATH"] * (n // 2),
            "AGE": 40.0,
            "AGEGR1": "18-49",
            "SEX": "M",
            "ETHGRP": "Han",
            "SITEID": "SITE01",
            "ETIOL": "Chronic hepatitis B",
            "MELDBL": 24.0,
            "MELDSCR": 24.0,
            "STRAT1R": None,
            "HEGRBL": "GRADE 0",
        }
    )
    adtte = pd.DataFrame(
        {
            "USUBJID": ids,
            "PARAMCD": "DTH12",
            "AVAL": [85.0, 20.0] * (n // 2),
            "CNSR": [1, 0] * (n // 2),
            "TRTP": arms,
            "TRTPN": [num[a] for a in arms],
        }
    )
    adrs = pd.DataFrame(
        {
            "USUBJID": ids,
            "PARAMCD": "REM12",
            "PARAMN": 1.0,
            "PARAM": "Remission",
            "PARCAT1": "OVERALL",
            "AVALC": ["Y", "N"] * (n // 2),
            "CRIT1FL": ["Y", "N"] * (n // 2),
            "TRTP": arms,
            "TRTPN": [num[a] for a in arms],
        }
    )
    adae = pd.DataFrame(
        {
            "USUBJID": ids[:2],
            "TRTEMFL": "Y",
            "RELGR1": "RELATED",
            "AESER": "N",
            "ASEV": "MILD",
            "AEOUT": "RECOVERED/RESOLVED",
            "AEDECOD": "Rash",
        }
    )
    return adsl, adtte, adrs, adae


def test_unblinded_page_compares_arms() -> None:
    page = render_topline(*_frames(["Mesenchymal Stem Cells", "Placebo"] * 4), blinded=False, cfg=ADAM, topline=TOPLINE)
    assert "Log-rank" in page and "Risk difference" in page and "Placebo" in page
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 2  # CONSORT and Kaplan-Meier


def test_blinded_page_is_pooled_and_says_so() -> None:
    page = render_topline(*_frames(["Blinded"] * 8), blinded=True, cfg=ADAM, topline=TOPLINE)
    assert "BLINDED BUILD" in page and "All subjects" in page
    for word in ("Log-rank", "Risk difference", "Placebo", "Mesenchymal"):
        assert word not in page


def test_write_topline_on_the_example_release(tmp_path, study, examples) -> None:
    release = run_pipeline(examples, tmp_path / "out", study, now=datetime(2026, 1, 1, tzinfo=UTC)).release
    build_adam(release / "sdtm", tmp_path / "adam", study)
    out = tmp_path / "reports" / "topline.html"
    write_topline(tmp_path / "adam", out, study, blinded=True)
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "BLINDED BUILD" in page
    assert "http://" not in page and "https://" not in page  # self-contained: nothing fetched
    write_topline(tmp_path / "adam", tmp_path / "again.html", study, blinded=True)
    assert (tmp_path / "again.html").read_bytes() == out.read_bytes()
