"""ADSL: one record per subject of DM (screen failures included with ITTFL = N)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.adam.adlb import build_meld_analysis
from transforms.config.adam import AdamConfig, LastKnownAlive, PerProtocol
from transforms.adam.derive import (
    Y,
    derive_analysis_datetime,
    derive_baseline_flag,
    to_date,
)
from transforms.adam.sdtm import first_by_subject, latest_seen_date, select, supp_values
from transforms.cdisc.dates import derive_relative_day
from transforms.config import StudyConfig
from transforms.publish.sdtm_release import SdtmRelease


def _flag(mask: pd.Series) -> pd.Series:
    return pd.Series(np.where(mask.fillna(False).astype(bool), "Y", "N"), index=mask.index, dtype="string")


def derive_treatment_variables(armcd: pd.Series, study: StudyConfig, cfg: AdamConfig) -> pd.DataFrame:
    """TRTxxP/TRTxxPN from an arm code: the configured name and number; blinded builds keep the placeholder."""
    names, numbers = [], []
    for code in armcd.tolist():
        if isinstance(code, str) and code in cfg.adsl.treatments:
            t = cfg.adsl.treatments[code]
            names.append(t.name)
            numbers.append(float(t.number))
        elif code == study.blinded.armcd:
            names.append(study.blinded.arm)  # no number: an ordering could hint at the arm
            numbers.append(None)
        else:
            names.append(None)
            numbers.append(None)
    return pd.DataFrame(
        {
            "TRT": pd.Series(names, index=armcd.index, dtype="string"),
            "TRTN": pd.Series(numbers, index=armcd.index, dtype="Float64"),
        }
    )


def derive_age_group(age: pd.Series, cfg: AdamConfig) -> pd.DataFrame:
    """AGEGR1/AGEGR1N from the configured closed age intervals."""
    label = pd.Series(pd.NA, index=age.index, dtype="string")
    number = pd.Series(pd.NA, index=age.index, dtype="Float64")
    for g in cfg.adsl.age_groups:
        inside = (age >= g.lo) & (age <= g.hi)
        inside = inside.fillna(False).astype(bool)
        label[inside] = g.label
        number[inside] = float(g.number)
    return pd.DataFrame({"AGEGR1": label, "AGEGR1N": number})


def build_adsl(sdtm: SdtmRelease, study: StudyConfig, cfg: AdamConfig) -> pd.DataFrame:
    """ADSL from the SDTM release."""
    a = cfg.adsl
    dm = sdtm.get("DM").sort_values("USUBJID", kind="stable").reset_index(drop=True)
    out = dm[
        [
            "STUDYID",
            "USUBJID",
            "SUBJID",
            "SITEID",
            "COUNTRY",
            "AGE",
            "AGEU",
            "SEX",
            "RACE",
            "ETHNIC",
            "ARM",
            "ARMCD",
            "ACTARM",
            "ACTARMCD",
            "DTHFL",
        ]
    ].copy()
    idx = out["USUBJID"]

    def by_subject(series: pd.Series) -> pd.Series:
        return pd.Series(series.reindex(idx).to_numpy(), index=out.index)

    out[["AGEGR1", "AGEGR1N"]] = derive_age_group(out["AGE"], cfg)
    out[a.ethnic_group.adsl["value"]] = by_subject(supp_values(sdtm, a.ethnic_group))

    start = derive_analysis_datetime(dm[a.treatment_start.variable])
    end = derive_analysis_datetime(dm[a.treatment_end.variable])
    out["TRTSDT"], out["TRTSDTM"] = start["ADT"], start["ADTM"]
    out["TRTEDT"], out["TRTEDTM"] = end["ADT"], end["ADTM"]
    out["RFICDT"] = to_date(dm[a.informed_consent.variable])
    out = hold_back_implausible_treatment_dates(out)
    out["TRTDURD"] = derive_relative_day(out["TRTEDT"], out["TRTSDT"])

    ds = sdtm.get("DS")
    rand = first_by_subject(ds, a.randomization, [a.randomization.variable])
    out["RANDDT"] = by_subject(to_date(rand[a.randomization.variable]))
    out["RANDFL"] = _flag(out["RANDDT"].notna())
    out["ITTFL"] = out["RANDFL"]

    trt = derive_treatment_variables(out["ARMCD"], study, cfg)
    out["TRT01P"], out["TRT01PN"] = trt["TRT"].where(out["ITTFL"] == Y), trt["TRTN"].where(out["ITTFL"] == Y)
    act = derive_treatment_variables(out["ACTARMCD"], study, cfg)
    out["TRT01A"], out["TRT01AN"] = act["TRT"], act["TRTN"]

    ex = sdtm.get(a.exposure.domain).sort_values(["USUBJID", a.exposure.variable], kind="stable")
    infusions = a.exposure.adsl["count"]
    out[infusions] = by_subject(ex.groupby("USUBJID").size()).fillna(0).astype("Int64")
    # Planned dose level (the randomization list's DOSELVL, untreated subjects included); a
    # blinded build has none, so it stays empty.
    planned = supp_values(sdtm, a.planned_dose) if not sdtm.get(a.planned_dose.domain).empty else pd.Series()
    out[a.planned_dose.adsl["value"]] = by_subject(pd.to_numeric(planned, errors="coerce")).astype("Float64")
    out["SAFFL"] = _flag(out[infusions] > 0)
    out["PPROTFL"] = derive_per_protocol_flag(sdtm, out, a.per_protocol, out[infusions])

    eos = first_by_subject(ds, a.end_of_study, [a.end_of_study.variable])
    decod = by_subject(eos["DSDECOD"]).astype("string")
    out["EOSDT"] = by_subject(to_date(eos[a.end_of_study.variable]))
    status = pd.Series(pd.NA, index=out.index, dtype="string")
    status[(out["ITTFL"] == Y) & decod.isna()] = "ONGOING"
    status[decod.notna()] = "DISCONTINUED"
    status[(decod == a.end_of_study.completed).fillna(False)] = "COMPLETED"
    out["EOSSTT"] = status
    out["DCSREAS"] = decod.where(out["EOSSTT"] == "DISCONTINUED")

    out["DTHDT"] = to_date(dm[a.death.variable])
    cause = first_by_subject(sdtm.get(a.death_cause.domain), a.death_cause, [])
    out["DTHCAUS"] = by_subject(cause[a.death_cause.variable]).astype("string")

    pr = sdtm.get(a.liver_transplant.domain)
    lt = first_by_subject(pr, a.liver_transplant, [a.liver_transplant.variable])
    lt_date, lt_flag = a.liver_transplant.adsl["date"], a.liver_transplant.adsl["flag"]
    out[lt_date] = by_subject(to_date(lt[a.liver_transplant.variable]))
    out[lt_flag] = _flag(out[lt_date].notna())

    out["LSTALVDT"] = derive_last_known_alive_date(sdtm, out, a.last_known_alive)

    strat = supp_values(sdtm, a.stratum) if a.stratum.qnam else pd.Series(dtype="string")
    out["STRAT1R"] = by_subject(strat).astype("string")
    out["STRAT1D"] = pd.Series(a.stratum.description, index=out.index, dtype="string").where(out["ITTFL"] == Y)

    etiol = first_by_subject(sdtm.get(a.etiology.domain), a.etiology, [f"{a.etiology.domain}SEQ"])
    out[a.etiology.adsl["value"]] = by_subject(etiol[a.etiology.variable]).astype("string")

    # Baseline MELD and the screening-day MELD come from the same derivation as ADLB's MELD records.
    meld = build_meld_analysis(sdtm, out, cfg)
    baseline, screening = a.meld_variables["baseline"], a.meld_variables["screening"]
    out[baseline] = by_subject(meld[meld["ABLFL"] == Y].set_index("USUBJID")["AVAL"]).astype("Float64")
    out[screening] = by_subject(meld[meld["ANL02FL"] == Y].set_index("USUBJID")["AVAL"]).astype("Float64")
    he = derive_baseline_assessment(sdtm.get(a.baseline_he.domain), out, a.baseline_he)
    out[a.baseline_he.adsl["value"]] = by_subject(he["RSORRES"]).astype("string")
    out[a.baseline_he.adsl["number"]] = by_subject(he["RSSTRESN"]).astype("Float64")
    return out


def derive_baseline_assessment(rs: pd.DataFrame, adsl: pd.DataFrame, src) -> pd.DataFrame:
    """The baseline record (ABLFL rule) of one RS test per subject, indexed by USUBJID."""
    rec = select(rs, src).merge(adsl[["USUBJID", "TRTSDT", "TRTSDTM"]], on="USUBJID", how="inner")
    if rec.empty:
        return pd.DataFrame(columns=["RSORRES", "RSSTRESN"])
    rec[["ADT", "ADTM"]] = derive_analysis_datetime(rec["RSDTC"])
    rec["ABLFL"] = derive_baseline_flag(rec, ["USUBJID"], value="RSSTRESC", tiebreak=["RSSEQ"])
    return rec[rec["ABLFL"] == Y].set_index("USUBJID")[["RSORRES", "RSSTRESN"]]


def derive_per_protocol_flag(sdtm: SdtmRelease, adsl: pd.DataFrame, rule: PerProtocol,
                             infusions: pd.Series) -> pd.Series:
    """PPROTFL: ITT, eligibility answered `eligible`, no criterion not met (IE) and all planned infusions given."""
    answer = supp_values(sdtm, rule.eligibility).reindex(adsl["USUBJID"]).to_numpy()
    eligible = pd.Series(answer, index=adsl.index, dtype="string") == rule.eligible
    exception = adsl["USUBJID"].isin(set(sdtm.get("IE")["USUBJID"].astype("string")))
    return _flag((adsl["ITTFL"] == Y) & eligible.fillna(False) & ~exception & (infusions >= rule.infusions))


def derive_last_known_alive_date(sdtm: SdtmRelease, adsl: pd.DataFrame, rule: LastKnownAlive) -> pd.Series:
    """LSTALVDT: latest complete known-alive date; dates on or after death ignored; a death gives at least the day before."""
    contact = to_date(supp_values(sdtm, rule.contact))
    seen = latest_seen_date(sdtm, rule.dates, before=adsl.set_index("USUBJID")["DTHDT"], extra=contact)
    lka = pd.Series(seen.reindex(adsl["USUBJID"]).to_numpy(), index=adsl.index).astype("datetime64[s]")
    if rule.day_before_death:
        day_before = (adsl["DTHDT"] - pd.Timedelta(days=1)).astype("datetime64[s]")
        lka = lka.where(lka.notna() & (day_before.isna() | (lka >= day_before)), day_before)
    return lka.astype("datetime64[s]")


def hold_back_implausible_treatment_dates(adsl: pd.DataFrame) -> pd.DataFrame:
    """TRTSDT/TRTSDTM/TRTEDT/TRTEDTM left empty when the first infusion precedes informed consent.

    Such a start is impossible (the edit checks query it); every baseline, study day and emergence
    derivation keyed on it would be wrong, so they wait for the site's correction.
    """
    impossible = (adsl["TRTSDT"] < adsl["RFICDT"]).fillna(False).astype(bool)
    out = adsl.copy()
    for col in ("TRTSDT", "TRTSDTM", "TRTEDT", "TRTEDTM"):
        out[col] = out[col].mask(impossible)
    return out
