"""ADAE (OCCDS): adverse events with imputed analysis dates, treatment emergence and groupings."""

from __future__ import annotations

import pandas as pd

from transforms.config.adam import AdamConfig
from transforms.adam.derive import (
    derive_grouping,
    derive_imputed_date,
    derive_treatment_emergent_flag,
    to_date,
)
from transforms.cdisc.dates import derive_relative_day
from transforms.publish.sdtm_release import SdtmRelease


def build_adae(sdtm: SdtmRelease, adsl: pd.DataFrame, cfg: AdamConfig) -> pd.DataFrame:
    """ADAE from SDTM AE and ADSL."""
    c = cfg.adae
    ae = sdtm.get("AE")
    keep = [
        "USUBJID",
        "AESEQ",
        "AETERM",
        "AEDECOD",
        "AEBODSYS",
        "AESTDTC",
        "AEENDTC",
        "AESER",
        "AESEV",
        "AEREL",
        "AEOUT",
        "AEACN",
    ]
    subj = [
        "USUBJID",
        "STUDYID",
        "SUBJID",
        "SITEID",
        "AGE",
        "SEX",
        "RACE",
        "TRT01P",
        "TRT01PN",
        "TRT01A",
        "TRT01AN",
        "SAFFL",
        "TRTSDT",
        "TRTEDT",
        *c.end_ceiling,
    ]
    out = ae[keep].merge(adsl[list(dict.fromkeys(subj))], on="USUBJID", how="inner")
    ceiling = out[c.end_ceiling].min(axis=1) if c.end_ceiling else None
    end = derive_imputed_date(out["AEENDTC"], c.end_imputation, ceiling)
    # Only a complete end date is known to precede the first dose (an imputed one is a guess).
    start = derive_imputed_date(out["AESTDTC"], c.start_imputation, out["TRTSDT"], ceiling=to_date(out["AEENDTC"]))
    out["ASTDT"], out["ASTDTF"] = start["DT"], start["DTF"]
    out["AENDT"], out["AENDTF"] = end["DT"], end["DTF"]
    out["ASTDY"] = derive_relative_day(out["ASTDT"], out["TRTSDT"])
    out["AENDY"] = derive_relative_day(out["AENDT"], out["TRTSDT"])
    out["TRTEMFL"] = derive_treatment_emergent_flag(
        out["ASTDT"], out["AENDT"], out["TRTSDT"], out["TRTEDT"], c.treatment_emergent_end_window_days
    )
    # PREFL: started before the first infusion (by date); empty for subjects never treated.
    out["PREFL"] = pd.Series((out["ASTDT"] < out["TRTSDT"]).map({True: "Y"}), index=out.index, dtype="string")
    out["ASEV"] = out["AESEV"].astype("string")
    out["ASEVN"] = out["AESEV"].map(c.severity).astype("Float64")
    out["RELGR1"] = derive_grouping(out["AEREL"], c.relationship_groups)
    out["RELGR1N"] = out["RELGR1"].map(c.relationship_group_numbers).astype("Float64")
    out["TRTA"], out["TRTAN"] = out["TRT01A"], out["TRT01AN"]
    out = out.sort_values(["USUBJID", "ASTDT", "AESEQ"], kind="stable", na_position="first").reset_index(drop=True)
    out["ASEQ"] = out.groupby("USUBJID").cumcount() + 1
    return out
