"""Subject visits: eCRF events and lab-only sample dates, numbered as SDTM VISITNUM/VISIT."""
from __future__ import annotations

import pandas as pd

from transforms.config import StudyConfig

VISIT_COLUMNS = ["SUBJECTKEY", "SITEID", "EVENTOID", "EVENTREPEAT", "LABDATE", "VISITNUM", "VISIT", "VISITDY",
                 "SVSTDTC", "SVENDTC", "SVUPDES", "_SRCFILE", "_SRCREC"]


def edc_visit_dates(items: pd.DataFrame, study: StudyConfig) -> pd.DataFrame:
    """One row per eCRF event instance with its start and end date (from the visit's date items)."""
    planned = {v.event_oid: v for v in study.visits}
    date_items = {(v.event_oid, i) for v in study.visits for i in v.date_items}
    sub = items[items["VALID"] & items["EVENTOID"].isin(planned)].copy()
    keys = ["SUBJECTKEY", "SITEID", "EVENTOID", "EVENTREPEAT"]
    sub["_IS_DATE"] = [(e, i) in date_items for e, i in zip(sub["EVENTOID"], sub["ITEMOID"], strict=True)]
    dated = sub[sub["_IS_DATE"]].copy()
    dated["_DATE"] = dated["VALUE"].str.slice(0, 10)
    dated = dated[dated["_DATE"].str.fullmatch(r"\d{4}-\d{2}-\d{2}")]
    spans = dated.groupby(keys).agg(SVSTDTC=("_DATE", "min"), SVENDTC=("_DATE", "max"))
    lineage = sub.groupby(keys).agg(_SRCFILE=("SRCFILE", "first"), _LINE=("SRCLINE", "min"))
    out = lineage.join(spans).reset_index()
    out["_SRCREC"] = ("SubjectKey=" + out["SUBJECTKEY"] + " " + out["EVENTOID"] + "[" + out["EVENTREPEAT"]
                      + "] (line " + out["_LINE"].astype("string") + ")")
    return out.drop(columns="_LINE")


def number_visits(edc: pd.DataFrame, lab_dates: pd.DataFrame, study: StudyConfig) -> pd.DataFrame:
    """VISITNUM/VISIT for every visit; unscheduled ones get the previous visit's number + 0.01 k.

    `lab_dates` has SUBJECTKEY, SITEID, LABDATE: a sample date on no eCRF visit date becomes an
    unscheduled visit of its own, so that every VISITNUM in LB exists in SV.
    """
    planned = {v.event_oid: v for v in study.visits}
    unscheduled_name = next((v.visit for v in study.visits if v.visitnum is None), "UNSCHEDULED")
    rows = edc.copy()
    rows["LABDATE"] = pd.NA
    known = set(zip(rows["SUBJECTKEY"], rows["SVSTDTC"].fillna(""), strict=True)) | set(
        zip(rows["SUBJECTKEY"], rows["SVENDTC"].fillna(""), strict=True))
    extra = lab_dates[[(s, d) not in known for s, d in zip(lab_dates["SUBJECTKEY"], lab_dates["LABDATE"], strict=True)]]
    extra = extra.drop_duplicates(["SUBJECTKEY", "LABDATE"]).assign(
        EVENTOID="", EVENTREPEAT="", SVSTDTC=extra["LABDATE"] if len(extra) else pd.Series(dtype="string"),
        SVENDTC=extra["LABDATE"] if len(extra) else pd.Series(dtype="string"),
        _SRCFILE="", _SRCREC="laboratory sample date")
    rows = pd.concat([rows, extra], ignore_index=True)
    rows["VISITNUM"] = [planned[e].visitnum if e in planned else None for e in rows["EVENTOID"]]
    rows["VISIT"] = [planned[e].visit if e in planned else None for e in rows["EVENTOID"]]
    rows["VISITDY"] = [planned[e].visitdy if e in planned else None for e in rows["EVENTOID"]]
    rows["SVUPDES"] = None
    out = []
    for _, subj in rows.groupby("SUBJECTKEY", sort=True):
        subj = subj.sort_values(["SVSTDTC", "VISITNUM", "EVENTREPEAT"], na_position="last", kind="stable")
        current, k = 0.0, 0
        for idx, r in subj.iterrows():
            if pd.notna(r["VISITNUM"]):
                if r["VISITNUM"] >= current:
                    current, k = r["VISITNUM"], 0
                continue
            k += 1
            num = round(current + 0.01 * k, 2)
            subj.at[idx, "VISITNUM"] = num
            subj.at[idx, "VISIT"] = f"{unscheduled_name} {num:.2f}"
            subj.at[idx, "SVUPDES"] = ("Unscheduled visit" if r["EVENTOID"] else "Laboratory sample outside a visit")
        out.append(subj)
    result = pd.concat(out, ignore_index=True) if out else rows
    result["VISITNUM"] = result["VISITNUM"].astype("Float64")
    result["VISITDY"] = result["VISITDY"].astype("Int64")
    return result[VISIT_COLUMNS].reset_index(drop=True)


def visit_of_event(visits: pd.DataFrame) -> dict[tuple[str, str, str], tuple[float, str]]:
    """(subject, event, repeat) -> (VISITNUM, VISIT)."""
    v = visits[visits["EVENTOID"] != ""]
    return {(s, e, r): (n, name) for s, e, r, n, name in
            zip(v["SUBJECTKEY"], v["EVENTOID"], v["EVENTREPEAT"], v["VISITNUM"], v["VISIT"], strict=True)}


def visit_of_date(visits: pd.DataFrame) -> dict[tuple[str, str], tuple[float, str]]:
    """(subject, date) -> (VISITNUM, VISIT): the visit on that date, a scheduled one first."""
    lookup: dict[tuple[str, str], tuple[float, str]] = {}
    ordered = visits.sort_values(["SUBJECTKEY", "VISITNUM"], kind="stable")
    for s, st, en, n, name in zip(ordered["SUBJECTKEY"], ordered["SVSTDTC"], ordered["SVENDTC"],
                                  ordered["VISITNUM"], ordered["VISIT"], strict=True):
        for d in {st, en}:
            if isinstance(d, str):
                lookup.setdefault((s, d), (n, name))
    return lookup


def derive_visit(df: pd.DataFrame, domain: str, visits: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """VISITNUM and VISIT of each record: its eCRF event, or for a record of no event (a lab sample) its date."""
    by_event, by_date = visit_of_event(visits), visit_of_date(visits)
    dtc_col = next((c for c in (f"{domain}DTC", f"{domain}STDTC") if c in df), None)
    found = []
    for i in df.index:
        hit = by_event.get((df.at[i, "_SUBJECTKEY"], df.at[i, "_EVENTOID"], df.at[i, "_EVENTREPEAT"]))
        # Only records that come from no eCRF visit (laboratory samples) are placed by date.
        if hit is None and not df.at[i, "_EVENTOID"] and dtc_col and isinstance(df.at[i, dtc_col], str):
            hit = by_date.get((df.at[i, "_SUBJECTKEY"], df.at[i, dtc_col][:10]))
        found.append(hit or (None, None))
    return (pd.Series([f[0] for f in found], dtype="Float64"), pd.Series([f[1] for f in found], dtype="string"))
