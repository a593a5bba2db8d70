"""ADLB (BDS): one parameter per LB test in SI units plus the derived MELD score."""

from __future__ import annotations

import pandas as pd

from transforms.config.adam import AdamConfig
from transforms.adam.derive import (
    Y,
    derive_analysis_datetime,
    derive_analysis_flag,
    derive_analysis_window,
    derive_baseline,
    derive_baseline_flag,
    derive_change_from_baseline,
    derive_meld_parameter,
    derive_post_baseline_flag,
    derive_range_indicator,
    is_y,
)
from transforms.cdisc.dates import derive_relative_day
from transforms.publish.sdtm_release import SdtmRelease

BASELINE_VISIT = ("Baseline", 0.0)


def lab_records(lb: pd.DataFrame, cfg: AdamConfig) -> pd.DataFrame:
    """LB records as analysis records: PARAMCD/PARAM from the study's parameter table, AVAL in SI units."""
    params = {p.lbtestcd: p for p in cfg.lab_parameters}
    unknown = sorted(set(lb["LBTESTCD"].dropna()) - set(params))
    if unknown:
        raise ValueError(f"LB tests without an ADLB parameter in adam/lab_parameters.csv: {unknown}")
    out = lb[["USUBJID", "LBSEQ", "LBTESTCD", "LBREFID", "LBSTRESU", "VISITNUM", "VISIT", "LBDTC"]].copy()
    out["PARAMCD"] = lb["LBTESTCD"].map({t: p.paramcd for t, p in params.items()}).astype("string")
    out["PARAM"] = lb["LBTESTCD"].map({t: p.param for t, p in params.items()}).astype("string")
    out["PARAMN"] = lb["LBTESTCD"].map({t: float(p.paramn) for t, p in params.items()}).astype("Float64")
    out["PARCAT1"] = lb["LBTESTCD"].map({t: p.parcat1 for t, p in params.items()}).astype("string")
    out["AVAL"] = lb["LBSTRESN"].astype("Float64")
    out["AVALC"] = lb["LBSTRESC"].astype("string")
    out["ANRLO"] = lb["LBSTNRLO"].astype("Float64")
    out["ANRHI"] = lb["LBSTNRHI"].astype("Float64")
    out[["ADT", "ADTM"]] = derive_analysis_datetime(lb["LBDTC"])
    return out


def meld_records(lab: pd.DataFrame, cfg: AdamConfig, first_dose: pd.Series | None = None) -> pd.DataFrame:
    """The derived MELD parameter (meld.yaml) per day, plus the pre-infusion MELD of the first-infusion day."""
    m = cfg.meld
    usable = pd.Series(False, index=lab.index)
    for comp in m.components.values():
        # A component in another unit than the formula's conversion expects is not used (never guessed).
        usable |= (lab["PARAMCD"] == comp.paramcd) & (lab["LBSTRESU"] == comp.unit)
    meld = derive_meld_parameter(
        lab[usable],
        {k: c.paramcd for k, c in m.components.items()},
        {k: c.per_mgdl for k, c in m.components.items()},
        m.spec(),
        reference=first_dose,
    )
    meld = meld.drop(columns=["CREATININE", "BILIRUBIN", "INR"])
    meld["PARAMCD"], meld["PARAM"], meld["PARAMN"], meld["PARCAT1"] = m.paramcd, m.param, float(m.paramn), m.parcat1
    meld["AVAL"] = meld["AVAL"].astype("Float64")
    return meld


def build_lab_analysis(sdtm: SdtmRelease, adsl: pd.DataFrame, cfg: AdamConfig) -> pd.DataFrame:
    """Lab analysis records (every LB parameter and MELD) with baseline, change, windows, flags and ranges."""
    lab = lab_records(sdtm.get("LB"), cfg)
    meld = meld_records(lab, cfg, adsl.set_index("USUBJID")["TRTSDTM"])
    return analyse_lab_records(pd.concat([lab, meld], ignore_index=True), adsl, cfg)


def build_meld_analysis(sdtm: SdtmRelease, adsl: pd.DataFrame, cfg: AdamConfig) -> pd.DataFrame:
    """The MELD analysis records alone, flagged as in ADLB (ABLFL, ANL02FL): what ADSL's MELDBL/MELDSCR read.

    Every flag is derived per subject and parameter, so the MELD records come out as they do in ADLB
    without analysing the other lab parameters.
    """
    lab = lab_records(sdtm.get("LB"), cfg)
    meld = meld_records(lab, cfg, adsl.set_index("USUBJID")["TRTSDTM"])
    # Concatenated to no lab record: the columns and types of ADLB's records, without its other parameters.
    return analyse_lab_records(pd.concat([lab.iloc[:0], meld], ignore_index=True), adsl, cfg)


def analyse_lab_records(lab: pd.DataFrame, adsl: pd.DataFrame, cfg: AdamConfig) -> pd.DataFrame:
    """Analysis variables of lab records: ADY, baseline and change, windows, ANL01FL/ANL02FL, range indicators."""
    lab = lab.merge(adsl[["USUBJID", "TRTSDT", "TRTSDTM"]], on="USUBJID", how="inner")
    # A stable within-subject order for ties (MELD rows follow their source records).
    lab["_ORDER"] = lab["LBSEQ"].astype("Float64").fillna(1e9)
    by = ["USUBJID", "PARAMCD"]
    lab["ADY"] = derive_relative_day(lab["ADT"], lab["TRTSDT"])
    lab["ABLFL"] = derive_baseline_flag(lab, by, tiebreak=["_ORDER"])
    lab["ANRIND"] = derive_range_indicator(lab["AVAL"], lab["ANRLO"], lab["ANRHI"], lab["AVALC"])
    lab["BASE"] = derive_baseline(lab, by, "AVAL")
    lab["BNRIND"] = derive_baseline(lab, by, "ANRIND")
    post = derive_post_baseline_flag(lab)
    lab[["CHG", "PCHG"]] = derive_change_from_baseline(lab["AVAL"], lab["BASE"], post)
    win = derive_analysis_window(lab["ADY"].where(post), cfg.windows)
    lab[win.columns] = win
    is_base = is_y(lab["ABLFL"])
    lab.loc[is_base, "AVISIT"] = BASELINE_VISIT[0]
    lab.loc[is_base, "AVISITN"] = BASELINE_VISIT[1]
    chosen = derive_analysis_flag(
        lab, [*by, "AVISITN"], lab["AVISITN"].notna() & lab["AVAL"].notna() & post, tiebreak=["_ORDER"]
    )
    lab["ANL01FL"] = chosen.mask(is_base, Y)
    lab["ANL02FL"] = derive_screening_flag(lab, cfg)
    lab["DTYPE"] = pd.Series(pd.NA, index=lab.index, dtype="string")
    return lab


def derive_screening_flag(lab: pd.DataFrame, cfg: AdamConfig) -> pd.Series:
    """ANL02FL: the screening-day MELD (the last MELD of the screening visit), for the stratum check."""
    meld = lab[lab["PARAMCD"].eq(cfg.meld.paramcd).fillna(False) & is_screening_visit(lab["VISIT"], cfg) & lab["AVAL"].notna()]
    flag = pd.Series(pd.NA, index=lab.index, dtype="string")
    last = meld.sort_values(["USUBJID", "ADT", "ADTM"], kind="stable", na_position="first").groupby("USUBJID").tail(1)
    flag.loc[last.index] = Y
    return flag


def is_screening_visit(visit: pd.Series, cfg: AdamConfig) -> pd.Series:
    """Records of the screening visit (adam.yaml `screening_visit`, by VISIT): the analysis and the edit checks alike."""
    return visit.eq(cfg.adsl.screening_visit).fillna(False).astype(bool)


def build_adlb(sdtm: SdtmRelease, adsl: pd.DataFrame, cfg: AdamConfig) -> pd.DataFrame:
    """ADLB: the lab analysis records with subject and treatment variables from ADSL, ASEQ in key order."""
    lab = build_lab_analysis(sdtm, adsl, cfg)
    subj = adsl[["USUBJID", "STUDYID", "SUBJID", "SITEID", "TRT01P", "TRT01PN", "TRT01A", "TRT01AN", "ITTFL", "SAFFL"]]
    lab = lab.merge(
        subj.rename(columns={"TRT01P": "TRTP", "TRT01PN": "TRTPN", "TRT01A": "TRTA", "TRT01AN": "TRTAN"}),
        on="USUBJID",
        how="left",
    )
    return with_aseq(lab, ["PARAMN", "ADT", "ADTM", "_ORDER"])


def with_aseq(df: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """ASEQ: 1..n per subject in the dataset's key order."""
    df = df.sort_values(["USUBJID", *order], kind="stable", na_position="first").reset_index(drop=True)
    df["ASEQ"] = df.groupby("USUBJID").cumcount() + 1
    return df
