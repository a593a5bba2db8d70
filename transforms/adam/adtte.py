"""ADTTE (BDS time-to-event): the parameters of tte.yaml for the ITT population."""

from __future__ import annotations

import pandas as pd

from transforms.adam.sdtm import first_by_subject
from transforms.publish.sdtm_release import SdtmRelease
from transforms.config.adam import AdamConfig, DateSource
from transforms.adam.derive import Y, derive_time_to_event


def build_adtte(adsl: pd.DataFrame, cfg: AdamConfig, sdtm: SdtmRelease | None = None) -> pd.DataFrame:
    """One record per ITT subject and time-to-event parameter."""
    t = cfg.tte
    subjects = adsl[adsl["ITTFL"] == Y].copy()
    if sdtm is not None:
        # SRCSEQ of a transplantation: the PR record's --SEQ (ADSL keeps only the date).
        lt = cfg.adsl.liver_transplant
        rec = first_by_subject(sdtm.get(lt.domain), lt, [lt.variable or ""])
        subjects["LTSEQ"] = subjects["USUBJID"].map(rec[f"{lt.domain}SEQ"]) if f"{lt.domain}SEQ" in rec else None
    horizon = (
        DateSource(
            t.start, t.horizon.description, t.horizon.srcdom, t.horizon.srcvar, None, t.horizon.censor_date_description
        )
        if t.horizon
        else None
    )
    parts = []
    for p in t.parameters:
        rec = derive_time_to_event(
            subjects, t.start, p.events, p.terminating, p.censors, t.horizon_days, horizon, t.censor_rule
        )
        rec["PARAMCD"], rec["PARAM"], rec["PARAMN"] = p.paramcd, p.param, float(p.paramn)
        parts.append(rec)
    cols = [
        "USUBJID",
        "STUDYID",
        "SUBJID",
        "SITEID",
        "TRT01P",
        "TRT01PN",
        "TRT01A",
        "TRT01AN",
        "ITTFL",
        "SAFFL",
        "STRAT1R",
    ]
    out = pd.concat(parts, ignore_index=True).merge(adsl[cols], on="USUBJID", how="left")
    out = out.rename(columns={"TRT01P": "TRTP", "TRT01PN": "TRTPN", "TRT01A": "TRTA", "TRT01AN": "TRTAN"})
    out = out.sort_values(["USUBJID", "PARAMN"], kind="stable").reset_index(drop=True)
    out["ASEQ"] = out.groupby("USUBJID").cumcount() + 1
    return out
