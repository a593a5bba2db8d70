"""Layer 2 checks GX cannot express on one table: across datasets and across variables with partial dates."""
from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.cdisc.dates import derive_study_day
from transforms.cdisc.findings import Finding
from transforms.quality.sdtm_data import SdtmData

SUBJECT_DOMAINS_SKIP = {"DM", "TA", "TE", "TV", "TI", "TS"}


def _common_precision(a: str, b: str) -> tuple[str, str]:
    n = min(len(a), len(b), 10)
    return a[:n], b[:n]


def _after(dtc: str, ref: str) -> bool:
    a, b = _common_precision(dtc, ref)
    return a > b


def _after_each(dtc: pd.Series, ref: pd.Series) -> np.ndarray:
    """`_after` of each pair of dates (both present), in one pass over the columns (a row mask)."""
    return np.array([_after(a, b) for a, b in zip(dtc.tolist(), ref.tolist(), strict=True)], dtype=bool)


def check_usubjid_in_dm(data: SdtmData) -> list[Finding]:
    """Every USUBJID of every dataset is a subject of DM."""
    known = set(data.get("DM")["USUBJID"]) if data.has("DM") else set()
    out = []
    for d in data.domains():
        df = data.get(d)
        if d in SUBJECT_DOMAINS_SKIP or "USUBJID" not in df:
            continue
        for _, row in df[~df["USUBJID"].isin(known)].iterrows():
            out.append(data.finding(d, row, rule="SDTM-USUBJID-DM", field="USUBJID", value=row["USUBJID"],
                                    message="The subject of this record is not in DM."))
    return out


def check_end_not_before_start(data: SdtmData) -> list[Finding]:
    """--ENDTC is not before --STDTC (compared at the precision both have)."""
    out = []
    for d in data.domains():
        df = data.get(d)
        st, en = f"{d}STDTC", f"{d}ENDTC"
        if st not in df or en not in df:
            continue
        both = df[df[st].notna() & df[en].notna()]
        for _, row in both[_after_each(both[st], both[en])].iterrows():
            out.append(data.finding(d, row, rule="SDTM-END-BEFORE-START", field=en, value=row[en],
                                    message=f"The end date {row[en]} is before the start date {row[st]}."))
    return out


def check_not_after_death(data: SdtmData) -> list[Finding]:
    """No observation dated after the subject's death (disposition and death details excepted)."""
    dm = data.get("DM")
    if dm.empty or "DTHDTC" not in dm:
        return []
    death = {u: d for u, d in zip(dm["USUBJID"], dm["DTHDTC"], strict=True) if isinstance(d, str)}
    out = []
    for d in data.domains():
        if d in SUBJECT_DOMAINS_SKIP | {"DS", "DD", "SV"} or d.startswith("SUPP"):
            continue
        df = data.get(d)
        cols = [c for c in (f"{d}DTC", f"{d}STDTC") if c in df]
        for col in cols:
            sub = df[df["USUBJID"].isin(death) & df[col].notna()]
            for _, row in sub[_after_each(sub[col], sub["USUBJID"].map(death))].iterrows():
                out.append(data.finding(d, row, rule="SDTM-AFTER-DEATH", field=col, value=row[col],
                                        message=f"Dated after the subject's death ({death[row['USUBJID']]})."))
    return out


def check_lab_after_participation(data: SdtmData) -> list[Finding]:
    """LB-AFTER-RFPENDTC: a specimen collected after the subject's end of participation (DM.RFPENDTC).

    One finding per subject and draw (specimen, collection time). A sample after death is already
    SDTM-AFTER-DEATH; it is not asked about twice.
    """
    dm, lb = data.get("DM"), data.get("LB")
    if dm.empty or lb.empty or "RFPENDTC" not in dm or "LBDTC" not in lb:
        return []
    end = {u: e for u, e in zip(dm["USUBJID"], dm["RFPENDTC"], strict=True) if isinstance(e, str)}
    death = dict(zip(dm["USUBJID"], dm["DTHDTC"], strict=True)) if "DTHDTC" in dm else {}
    sub = lb[lb["USUBJID"].isin(end) & lb["LBDTC"].notna()]
    sub = sub.sort_values(["USUBJID", "LBDTC", "LBSEQ"], kind="stable")
    # Which draws to ask about depends on subject and date only: keep their rows before grouping.
    dth = sub["USUBJID"].map(death)
    after_death = np.array([isinstance(t, str) and _after(d, t) for d, t in zip(sub["LBDTC"].tolist(), dth.tolist(),
                                                                                  strict=True)], dtype=bool)
    sub = sub[_after_each(sub["LBDTC"], sub["USUBJID"].map(end)) & ~after_death]
    out = []
    for (usubjid, spec, dtc), grp in sub.groupby(["USUBJID", "LBREFID", "LBDTC"], sort=True, dropna=False):
        row = grp.iloc[0]
        out.append(data.finding("LB", row, rule="LB-AFTER-RFPENDTC", field="LBDTC", value=dtc,
                                message=f"Specimen {spec} was collected on {dtc}, after the subject's end of "
                                f"participation ({end[usubjid]}); {len(grp)} result(s). Please explain or correct "
                                "the date."))
    return out


def check_one_unit_per_test(data: SdtmData) -> list[Finding]:
    """One standard unit per LBTESTCD (and per VSTESTCD)."""
    out = []
    for d in ("LB", "VS"):
        df = data.get(d)
        if df.empty:
            continue
        units = df.dropna(subset=[f"{d}STRESU"]).groupby(f"{d}TESTCD")[f"{d}STRESU"].unique()
        for test, values in units.items():
            if len(values) > 1:
                row = df[(df[f"{d}TESTCD"] == test)].iloc[0]
                out.append(data.finding(d, row, rule="SDTM-ONE-UNIT", field=f"{d}STRESU", value=", ".join(sorted(values)),
                                        message=f"{test} has more than one standard unit."))
    return out


def check_study_day(data: SdtmData) -> list[Finding]:
    """--DY agrees with --DTC and DM.RFSTDTC (and is never 0)."""
    dm = data.get("DM")
    if dm.empty:
        return []
    rf = dict(zip(dm["USUBJID"], dm["RFSTDTC"], strict=True))
    out = []
    for d in data.domains():
        df = data.get(d)
        for suffix, dy in (("DTC", "DY"), ("STDTC", "STDY"), ("ENDTC", "ENDY")):
            dtc, dyc = f"{d}{suffix}", f"{d}{dy}"
            if dtc not in df or dyc not in df:
                continue
            expected = derive_study_day(df[dtc], df["USUBJID"].map(rf))
            bad = df[(expected.fillna(-99999) != df[dyc].fillna(-99999))]
            for _, row in bad.iterrows():
                out.append(data.finding(d, row, rule="SDTM-STUDY-DAY", field=dyc, value=str(row[dyc]),
                                        message=f"{dyc} does not agree with {dtc} and RFSTDTC."))
    return out


def check_treatment_after_consent(data: SdtmData) -> list[Finding]:
    """The first study treatment (RFXSTDTC) is not before informed consent (RFICDTC); ADaM holds such starts back."""
    dm = data.get("DM")
    if dm.empty or "RFXSTDTC" not in dm or "RFICDTC" not in dm:
        return []
    out = []
    for _, row in dm[dm["RFXSTDTC"].notna() & dm["RFICDTC"].notna()].iterrows():
        start, consent = _common_precision(row["RFXSTDTC"], row["RFICDTC"])
        if start < consent:
            out.append(data.finding("DM", row, rule="SDTM-TREATMENT-BEFORE-CONSENT", field="RFXSTDTC",
                                    value=row["RFXSTDTC"], message=f"The first infusion ({row['RFXSTDTC']}) is "
                                    f"before informed consent ({row['RFICDTC']}); the analysis leaves the "
                                    "subject's treatment dates empty until this is corrected."))
    return out


def run_sdtm_checks(data: SdtmData) -> list[Finding]:
    """All cross-dataset SDTM checks."""
    return [*check_usubjid_in_dm(data), *check_end_not_before_start(data), *check_not_after_death(data),
            *check_lab_after_participation(data), *check_one_unit_per_test(data), *check_study_day(data),
            *check_treatment_after_consent(data)]


