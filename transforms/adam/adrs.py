"""ADRS (BDS): a responder endpoint at an analysis visit, one record per criterion plus the overall record."""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.config.adam import AdamConfig, Criterion, Source
from transforms.adam.derive import (
    Y,
    derive_analysis_datetime,
    derive_analysis_flag,
    derive_analysis_window,
    derive_composite_flag,
    derive_criterion_flag,
    derive_post_baseline_flag,
    derive_responder,
)
from transforms.adam.sdtm import select
from transforms.cdisc.dates import derive_relative_day
from transforms.publish.sdtm_release import SdtmRelease


def windowed_findings(df: pd.DataFrame, dtc: str, seq: str, adsl: pd.DataFrame, cfg: AdamConfig) -> pd.DataFrame:
    """SDTM findings placed in the analysis windows, with the chosen record per window flagged (ANL01FL)."""
    rec = df.merge(adsl[["USUBJID", "TRTSDT", "TRTSDTM"]], on="USUBJID", how="inner")
    rec[["ADT", "ADTM"]] = derive_analysis_datetime(rec[dtc])
    rec["ADY"] = derive_relative_day(rec["ADT"], rec["TRTSDT"])
    post = derive_post_baseline_flag(rec)
    win = derive_analysis_window(rec["ADY"].where(post), cfg.windows)
    rec[win.columns] = win
    rec["ANL01FL"] = derive_analysis_flag(rec, ["USUBJID", "AVISITN"], rec["AVISITN"].notna() & post, tiebreak=[seq])
    return rec


def _criterion_records(
    c: Criterion, subjects: pd.DataFrame, sdtm: SdtmRelease, adlb: pd.DataFrame, cfg: AdamConfig
) -> pd.DataFrame:
    """One record per subject for a value criterion: the Week-N value, its date and the criterion flag."""
    src = c.source
    assert src is not None
    visit = cfg.remission.avisit
    if src.domain == "ADLB":
        rec = adlb[(adlb["PARAMCD"] == src.paramcd) & (adlb["ANL01FL"] == Y) & (adlb["AVISIT"] == visit)]
        rec = rec.assign(VALUE=rec["AVAL"], VALUEC=rec["AVALC"], SRCDOM="ADLB", SRCVAR="AVAL", SRCSEQ=rec["ASEQ"])
    else:
        found = select(sdtm.get(src.domain), Source(domain=src.domain, where=src.where))
        d = src.domain
        win = windowed_findings(found[found[src.value].notna()], f"{d}DTC", f"{d}SEQ", subjects, cfg)
        rec = win[(win["ANL01FL"] == Y) & (win["AVISIT"] == visit)]
        num = pd.to_numeric(rec[src.value], errors="coerce")
        rec = rec.assign(
            VALUE=num,
            VALUEC=rec[src.value].astype("string"),
            SRCDOM=d,
            SRCVAR=src.value,
            SRCSEQ=rec[f"{d}SEQ"],
            ANRHI=np.nan,
        )
    rec = subjects[["USUBJID"]].merge(
        rec[["USUBJID", "VALUE", "VALUEC", "ADT", "ADY", "ANRHI", "SRCDOM", "SRCVAR", "SRCSEQ"]],
        on="USUBJID",
        how="left",
    )
    value = rec["VALUEC"] if isinstance(c.threshold, str) else rec["VALUE"]
    reference = rec[c.times_reference] if c.times_reference else None
    rec["CRIT1FL"] = derive_criterion_flag(value, c.op or "==", c.threshold, reference)
    rec["AVAL"], rec["AVALC"] = rec["VALUE"].astype("Float64"), rec["VALUEC"]
    return rec


def derive_alive_not_transplanted(subjects: pd.DataFrame, visit_date: pd.Series, horizon_days: int) -> pd.DataFrame:
    """Alive and not transplanted at the visit (CRIT1FL/AVALC, ADT, SRCDOM/SRCVAR), one row per subject.

    N when death or liver transplantation came on or before the later of randomization + horizon and
    the visit date; Y when neither did and the subject was seen at the visit or known alive to the
    horizon; empty when unknown (lost before the visit).
    """
    rows = []
    for (_, s), visit in zip(subjects.iterrows(), visit_date.tolist(), strict=True):
        horizon = s["RANDDT"] + pd.Timedelta(days=horizon_days) if pd.notna(s["RANDDT"]) else pd.NaT
        end = max(d for d in (horizon, visit) if pd.notna(d)) if pd.notna(horizon) or pd.notna(visit) else pd.NaT
        facts = sorted((s[v], v) for v in ("DTHDT", "LTDT") if pd.notna(s[v]) and pd.notna(end) and s[v] <= end)
        if facts:
            rows.append(("N", facts[0][0], "ADSL", facts[0][1]))
        elif pd.notna(visit):
            rows.append((Y, visit, "ADRS", "ADT"))
        elif pd.notna(s["LSTALVDT"]) and pd.notna(horizon) and s["LSTALVDT"] >= horizon:
            rows.append((Y, s["LSTALVDT"], "ADSL", "LSTALVDT"))
        else:
            rows.append((None, pd.NaT, None, None))
    out = pd.DataFrame(rows, columns=["CRIT1FL", "ADT", "SRCDOM", "SRCVAR"], index=subjects.index)
    out.insert(0, "USUBJID", subjects["USUBJID"])
    out["CRIT1FL"] = out["CRIT1FL"].astype("string")
    out["AVALC"] = out["CRIT1FL"]
    return out


def build_adrs(sdtm: SdtmRelease, adsl: pd.DataFrame, adlb: pd.DataFrame, cfg: AdamConfig) -> pd.DataFrame:
    """ADRS: for each ITT subject, every criterion of remission.yaml and the overall responder record."""
    r = cfg.remission
    subjects = adsl[adsl["ITTFL"] == Y].reset_index(drop=True)
    target = next(w for w in cfg.windows if w.avisit == r.avisit)
    records: dict[str, pd.DataFrame] = {}
    for c in r.criteria:
        if c.kind == "value":
            records[c.paramcd] = _criterion_records(c, subjects, sdtm, adlb, cfg)
    # The visit date of the alive criterion: the latest date of the value criteria at the visit.
    dates = pd.concat([rec.set_index("USUBJID")["ADT"] for rec in records.values()], axis=1)
    visit_date = (
        subjects["USUBJID"].map(dates.max(axis=1)) if not dates.empty else pd.Series(pd.NaT, index=subjects.index)
    )
    for c in r.criteria:
        if c.kind == "alive_not_transplanted":
            rec = derive_alive_not_transplanted(subjects, visit_date.astype("datetime64[s]"), r.horizon_days)
            rec["AVAL"] = rec["CRIT1FL"].map({Y: 1.0, "N": 0.0}).astype("Float64")
            records[c.paramcd] = rec
        elif c.kind in ("any_of", "all_of"):
            parts = [records[p].set_index("USUBJID")["CRIT1FL"] for p in c.of]
            flag = derive_composite_flag(parts, "any" if c.kind == "any_of" else "all")
            rec = pd.DataFrame({"USUBJID": flag.index, "CRIT1FL": flag.to_numpy(), "AVALC": flag.to_numpy()})
            rec["AVAL"] = rec["CRIT1FL"].map({Y: 1.0, "N": 0.0}).astype("Float64")
            rec["ADT"] = (
                pd.concat([records[p].set_index("USUBJID")["ADT"] for p in c.of], axis=1).max(axis=1).to_numpy()
            )
            records[c.paramcd] = rec
    overall_parts = [records[c.paramcd].set_index("USUBJID")["CRIT1FL"] for c in r.criteria if c.in_overall]
    overall = derive_responder(overall_parts)
    rows = []
    for n, c in enumerate(r.criteria, start=2):
        rec = records[c.paramcd].copy()
        rec["PARAMCD"], rec["PARAM"], rec["PARAMN"], rec["CRIT1"] = c.paramcd, c.param, float(n), c.crit
        rec["PARCAT1"] = "CRITERION"
        rows.append(rec)
    ov = pd.DataFrame({"USUBJID": overall.index, "AVALC": overall.to_numpy()})
    ov["AVAL"] = ov["AVALC"].map({Y: 1.0, "N": 0.0}).astype("Float64")
    ov["CRIT1FL"] = ov["AVALC"]
    ov["ADT"] = ov["USUBJID"].map(dict(zip(subjects["USUBJID"], visit_date, strict=True)))
    ov["PARAMCD"], ov["PARAM"], ov["PARAMN"], ov["PARCAT1"] = r.paramcd, r.param, float(r.paramn), "OVERALL"
    ov["CRIT1"] = "All criteria met at " + r.avisit + " (a missing criterion is not met)"
    rows.insert(0, ov)
    out = pd.concat(rows, ignore_index=True)
    out["ADT"] = pd.to_datetime(out["ADT"]).astype("datetime64[s]")
    for col in ("ANRHI", "SRCDOM", "SRCVAR", "SRCSEQ", "AVALC"):
        if col not in out:
            out[col] = pd.NA
    out = out.merge(
        adsl[["USUBJID", "STUDYID", "SUBJID", "SITEID", "TRT01P", "TRT01PN", "TRT01A", "TRT01AN", "ITTFL", "TRTSDT"]],
        on="USUBJID",
        how="left",
    )
    out["ADY"] = derive_relative_day(out["ADT"], out["TRTSDT"])
    out["AVISIT"], out["AVISITN"] = r.avisit, float(target.avisitn)
    out = out.rename(columns={"TRT01P": "TRTP", "TRT01PN": "TRTPN", "TRT01A": "TRTA", "TRT01AN": "TRTAN"})
    out = out.sort_values(["USUBJID", "PARAMN"], kind="stable").reset_index(drop=True)
    out["ASEQ"] = out.groupby("USUBJID").cumcount() + 1
    return out
