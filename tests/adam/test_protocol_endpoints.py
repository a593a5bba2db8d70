"""protocol.md's endpoints and analysis sets, derived with the study's own ADaM configuration.

Each expected value is worked out by hand from protocol.md ("Conventions fixed here", "Endpoints");
the SDTM input is a minimal hand-made release, so the test exercises code and study configuration together.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from transforms.adam.adae import build_adae
from transforms.adam.adsl import build_adsl
from transforms.adam.adtte import build_adtte
from transforms.config.adam import load_adam_config
from transforms.config import load_study
from transforms.publish.sdtm_release import SdtmRelease

STUDY = "NCT03668171"
TS = pd.Timestamp


def _dm(usubjid: str, rfxst: str | None, rfxen: str | None, dth: str | None = None, consent: str = "2018-01-01") -> dict:
    return {
        "STUDYID": STUDY, "USUBJID": f"{STUDY}-{usubjid}", "SUBJID": usubjid, "SITEID": "SITE01", "COUNTRY": "CHN",
        "AGE": 50.0, "AGEU": "YEARS", "SEX": "M", "RACE": "ASIAN", "ETHNIC": "NOT HISPANIC OR LATINO",
        "ARM": "Blinded", "ARMCD": "BLINDED", "ACTARM": "Blinded", "ACTARMCD": "BLINDED",
        "DTHFL": "Y" if dth else None, "DTHDTC": dth, "RFICDTC": consent, "RFSTDTC": rfxst,
        "RFXSTDTC": rfxst, "RFXENDTC": rfxen,
    }


def _write(folder: Path, tables: dict[str, list[dict]]) -> SdtmRelease:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        pd.DataFrame(rows).convert_dtypes().to_parquet(folder / f"{name}.parquet", index=False)
    return SdtmRelease(folder)


def _ds(usubjid: str, decod: str, date: str, cat: str = "PROTOCOL MILESTONE") -> dict:
    return {"STUDYID": STUDY, "USUBJID": f"{STUDY}-{usubjid}", "DSSEQ": 1.0, "DSDECOD": decod, "DSCAT": cat,
            "DSTERM": decod, "DSSTDTC": date}


def _supp(rdomain: str, usubjid: str, qnam: str, qval: str) -> dict:
    return {"STUDYID": STUDY, "RDOMAIN": rdomain, "USUBJID": f"{STUDY}-{usubjid}", "IDVAR": None, "IDVARVAL": None,
            "QNAM": qnam, "QLABEL": qnam, "QVAL": qval, "QORIG": "CRF", "QEVAL": None}


def _ex(usubjid: str, *starts: str) -> list[dict]:
    return [{"STUDYID": STUDY, "USUBJID": f"{STUDY}-{usubjid}", "EXSEQ": float(i + 1), "EXTRT": "BLINDED",
             "EXSTDTC": s, "EXENDTC": s} for i, s in enumerate(starts)]


@pytest.fixture(scope="module")
def study():
    return load_study("nct03668171")


@pytest.fixture(scope="module")
def cfg(study):
    return load_adam_config(study)


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> SdtmRelease:
    """Five randomized subjects, each one protocol case (randomized 2018-01-01 unless said otherwise)."""
    three = ("2018-01-02T09:00", "2018-01-09T09:00", "2018-01-16T09:00")
    subjects = {
        # Transplanted day 22, died day 43: a DTH12 event on day 43 (protocol: "also when a liver
        # transplantation came first"); TFS12 event on day 22.
        "01-001": dict(dth="2018-02-12", lt="2018-01-22", ieyn="Y", ex=three),
        # Died on R + 85 (2018-03-27): not within 84 days; alive on R + 84, so censored at R + 84 (AVAL 85).
        "01-002": dict(dth="2018-03-27", ieyn="Y", ex=three, last_visit="2018-02-26"),
        # Eligibility answered N, no criterion listed, three infusions: not per-protocol.
        "01-003": dict(ieyn="N", ex=three),
        # Eligibility not answered: not per-protocol.
        "01-004": dict(ieyn=None, ex=three),
        # Eligible and three infusions: per-protocol.
        "01-005": dict(ieyn="Y", ex=three),
    }
    dm, ds, supp, ex, pr, sv = [], [], [], [], [], []
    for key, s in subjects.items():
        dm.append(_dm(key, s["ex"][0], s["ex"][-1], s.get("dth")))
        ds.append(_ds(key, "RANDOMIZED", "2018-01-01"))
        if s["ieyn"] is not None:
            supp.append(_supp("DM", key, "IEYN", s["ieyn"]))
        ex += _ex(key, *s["ex"])
        if s.get("lt"):
            pr.append({"STUDYID": STUDY, "USUBJID": f"{STUDY}-{key}", "PRSEQ": 1.0, "PRTRT": "LIVER TRANSPLANTATION",
                       "PRSTDTC": s["lt"]})
        if s.get("last_visit"):
            sv.append({"STUDYID": STUDY, "USUBJID": f"{STUDY}-{key}", "VISITNUM": 6.0, "VISIT": "WEEK 8",
                       "SVSTDTC": s["last_visit"], "SVENDTC": s["last_visit"]})
    return _write(tmp_path_factory.mktemp("sdtm"), {"dm": dm, "ds": ds, "suppdm": supp, "ex": ex, "pr": pr, "sv": sv})


@pytest.fixture(scope="module")
def adsl(release, study, cfg) -> pd.DataFrame:
    return build_adsl(release, study, cfg).set_index("SUBJID", drop=False)


def test_per_protocol_needs_the_eligibility_answer_yes(adsl):
    assert adsl.at["01-005", "PPROTFL"] == "Y"
    assert adsl.at["01-003", "PPROTFL"] == "N"  # I.IEYN = N, no criterion listed
    assert adsl.at["01-004", "PPROTFL"] == "N"  # I.IEYN blank


def test_last_known_alive_of_a_death_is_at_least_the_day_before(adsl):
    # Last eCRF visit 2018-02-26, died 2018-03-27: known alive on 2018-03-26.
    assert adsl.at["01-002", "LSTALVDT"] == TS("2018-03-26")
    # Died 2018-02-12: the day before.
    assert adsl.at["01-001", "LSTALVDT"] == TS("2018-02-11")
    # Alive: the latest date seen (last infusion 2018-01-16).
    assert adsl.at["01-005", "LSTALVDT"] == TS("2018-01-16")


def test_dth12_counts_a_death_after_transplantation(adsl, release, cfg):
    tte = build_adtte(adsl.reset_index(drop=True), cfg, release).set_index(["SUBJID", "PARAMCD"])
    dth = tte.loc[("01-001", "DTH12")]
    # 2018-01-01 -> 2018-02-12 is 42 days; AVAL = 42 + 1 = 43.
    assert (dth["CNSR"], dth["ADT"], dth["AVAL"]) == (0, TS("2018-02-12"), 43)
    tfs = tte.loc[("01-001", "TFS12")]
    assert (tfs["CNSR"], tfs["ADT"], tfs["AVAL"]) == (0, TS("2018-01-22"), 22)


def test_death_on_randomization_plus_85_is_censored_at_day_85(adsl, release, cfg):
    tte = build_adtte(adsl.reset_index(drop=True), cfg, release).set_index(["SUBJID", "PARAMCD"])
    dth = tte.loc[("01-002", "DTH12")]
    # Censored at the earliest of LSTALVDT (2018-03-26 = R + 84) and R + 84: AVAL 85, not the last visit's 57.
    assert (dth["CNSR"], dth["ADT"], dth["AVAL"]) == (1, TS("2018-03-26"), 85)


def test_an_ae_that_ended_before_the_first_infusion_is_not_emergent(tmp_path, study, cfg):
    release = _write(tmp_path / "sdtm", {
        "dm": [_dm("01-010", "2018-01-15T09:00", "2018-01-29T09:00")],
        "ds": [_ds("01-010", "RANDOMIZED", "2018-01-14")],
        "ex": _ex("01-010", "2018-01-15T09:00", "2018-01-22T09:00", "2018-01-29T09:00"),
        "ae": [{"STUDYID": STUDY, "USUBJID": f"{STUDY}-01-010", "AESEQ": 1.0, "AETERM": "HEADACHE",
                "AEDECOD": "Headache", "AEBODSYS": "Nervous system disorders", "AESTDTC": "2018-01",
                "AEENDTC": "2018-01-10", "AESER": "N", "AESEV": "MILD", "AEREL": "NOT RELATED",
                "AEOUT": "RECOVERED/RESOLVED", "AEACN": "DOSE NOT CHANGED"}],
    })
    adsl = build_adsl(release, study, cfg)
    ae = build_adae(release, adsl, cfg).iloc[0]
    # Partial start in the month of the first infusion, ended 2018-01-10, before the first infusion:
    # the start is not raised to the first infusion (first of the month), and it is not emergent.
    assert ae["ASTDT"] == TS("2018-01-01") and ae["ASTDTF"] == "D"
    assert pd.isna(ae["TRTEMFL"]) or ae["TRTEMFL"] != "Y"


def test_a_treatment_start_before_consent_is_held_back(tmp_path, study, cfg):
    release = _write(tmp_path / "sdtm", {
        "dm": [_dm("01-020", "2017-12-20T09:00", "2018-01-03T09:00", consent="2018-01-01")],
        "ds": [_ds("01-020", "RANDOMIZED", "2018-01-01")],
        "ex": _ex("01-020", "2017-12-20T09:00", "2018-01-03T09:00"),
    })
    adsl = build_adsl(release, study, cfg).iloc[0]
    assert pd.isna(adsl["TRTSDT"]) and pd.isna(adsl["TRTSDTM"]) and pd.isna(adsl["TRTEDT"])
    assert adsl["SAFFL"] == "Y"  # two infusions were given, whatever their recorded dates
