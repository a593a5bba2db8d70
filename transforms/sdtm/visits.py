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
    sub["_IS_DATE"] = pd.MultiIndex.from_arrays([sub["EVENTOID"].astype(object), sub["ITEMOID"].astype(object)]).isin(
        list(date_items)) if len(date_items) else False
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
    dates = pd.concat([rows["SVSTDTC"].fillna(""), rows["SVENDTC"].fillna("")])
    known = pd.MultiIndex.from_arrays([pd.concat([rows["SUBJECTKEY"], rows["SUBJECTKEY"]]).astype(object),
                                       dates.astype(object)])
    # A sample without a date is on no visit date (the eCRF side holds "" for a missing one).
    on_visit = lab_dates["LABDATE"].notna().to_numpy() & pd.MultiIndex.from_arrays(
        [lab_dates["SUBJECTKEY"].astype(object), lab_dates["LABDATE"].astype(object)]).isin(known)
    extra = lab_dates[~on_visit]
    extra = extra.drop_duplicates(["SUBJECTKEY", "LABDATE"]).assign(
        EVENTOID="", EVENTREPEAT="", SVSTDTC=extra["LABDATE"] if len(extra) else pd.Series(dtype="string"),
        SVENDTC=extra["LABDATE"] if len(extra) else pd.Series(dtype="string"),
        _SRCFILE="", _SRCREC="laboratory sample date")
    rows = pd.concat([rows, extra], ignore_index=True)
    rows["VISITNUM"] = [planned[e].visitnum if e in planned else None for e in rows["EVENTOID"]]
    rows["VISIT"] = [planned[e].visit if e in planned else None for e in rows["EVENTOID"]]
    rows["VISITDY"] = [planned[e].visitdy if e in planned else None for e in rows["EVENTOID"]]
    rows["SVUPDES"] = None
    rows = rows[rows["SUBJECTKEY"].notna()]
    result = rows.sort_values(["SUBJECTKEY", "SVSTDTC", "VISITNUM", "EVENTREPEAT"], na_position="last",
                              kind="stable").reset_index(drop=True)
    _number_unscheduled(result, unscheduled_name)
    result["VISITNUM"] = result["VISITNUM"].astype("Float64")
    result["VISITDY"] = result["VISITDY"].astype("Int64")
    return result[VISIT_COLUMNS].reset_index(drop=True)


def _number_unscheduled(rows: pd.DataFrame, unscheduled_name: str) -> None:
    """Number in place the visits without VISITNUM of rows sorted by subject and date.

    Each subject's k-th unscheduled visit after a scheduled one is that visit's number + 0.01 k; a
    scheduled visit numbered below an earlier one (out of order) neither restarts k nor is the base.
    """
    num = pd.to_numeric(rows["VISITNUM"], errors="coerce").astype("float64")
    subject = rows["SUBJECTKEY"]
    scheduled = num.notna()
    # The highest number seen so far in the subject, before this row (0 at the subject's start).
    running = num.fillna(0.0).clip(lower=0.0).groupby(subject, sort=False).cummax()
    before = running.groupby(subject, sort=False).shift(1).fillna(0.0)
    restarts = scheduled & (num >= before)
    block = restarts.astype("int64").groupby(subject, sort=False).cumsum()
    unscheduled = ~scheduled
    k = unscheduled.astype("int64").groupby([subject, block], sort=False).cumsum()
    value = (before + 0.01 * k)[unscheduled]
    rounded = value.map({v: round(v, 2) for v in pd.unique(value)})
    rows.loc[unscheduled, "VISITNUM"] = rounded
    rows.loc[unscheduled, "VISIT"] = rounded.map({v: f"{unscheduled_name} {v:.2f}" for v in pd.unique(rounded)})
    of_event = rows.loc[unscheduled, "EVENTOID"].fillna("") != ""
    rows.loc[unscheduled, "SVUPDES"] = of_event.map({True: "Unscheduled visit",
                                                     False: "Laboratory sample outside a visit"})


def _event_visits(visits: pd.DataFrame) -> pd.DataFrame:
    """SUBJECTKEY, EVENTOID, EVENTREPEAT -> VISITNUM, VISIT (one row per event instance, the last one wins)."""
    keys = ["SUBJECTKEY", "EVENTOID", "EVENTREPEAT"]
    v = visits[visits["EVENTOID"] != ""]
    return v.drop_duplicates(keys, keep="last")[[*keys, "VISITNUM", "VISIT"]]


def _date_visits(visits: pd.DataFrame) -> pd.DataFrame:
    """SUBJECTKEY, DATE -> VISITNUM, VISIT: the visit on that date (its start or end), a scheduled one first."""
    ordered = visits.sort_values(["SUBJECTKEY", "VISITNUM"], kind="stable").reset_index(drop=True)
    ends = [ordered[["SUBJECTKEY", c, "VISITNUM", "VISIT"]].rename(columns={c: "DATE"}).assign(_POS=ordered.index)
            for c in ("SVSTDTC", "SVENDTC")]
    both = pd.concat(ends, ignore_index=True).sort_values("_POS", kind="stable")
    both = both[both["DATE"].notna()]
    return both.drop_duplicates(["SUBJECTKEY", "DATE"], keep="first").drop(columns="_POS")


def derive_visit(df: pd.DataFrame, domain: str, visits: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """VISITNUM and VISIT of each record: its eCRF event, or for a record of no event (a lab sample) its date."""
    keys = ["SUBJECTKEY", "EVENTOID", "EVENTREPEAT"]
    records = pd.DataFrame({k: df[f"_{k}"].astype(object).to_numpy() for k in keys})
    events = _event_visits(visits)
    hit = records.merge(events.astype({k: object for k in keys}), how="left", on=keys, indicator=True)
    visitnum = hit["VISITNUM"].astype("Float64")
    visit = hit["VISIT"].astype("string")
    found = hit.pop("_merge") == "both"
    dtc_col = next((c for c in (f"{domain}DTC", f"{domain}STDTC") if c in df), None)
    if dtc_col:
        # Only records that come from no eCRF visit (laboratory samples) are placed by date.
        dtc = df[dtc_col]
        is_text = dtc.notna() if isinstance(dtc.dtype, pd.StringDtype) else dtc.map(lambda v: isinstance(v, str))
        by_date = (~found).to_numpy() & (records["EVENTOID"] == "").to_numpy() & is_text.to_numpy()
        dtc = dtc.astype(object)
        if by_date.any():
            wanted = pd.DataFrame({"SUBJECTKEY": records["SUBJECTKEY"].to_numpy()[by_date],
                                   "DATE": dtc.to_numpy()[by_date]})
            wanted["DATE"] = wanted["DATE"].str.slice(0, 10)
            dates = _date_visits(visits).astype({"SUBJECTKEY": object, "DATE": object})
            on_date = wanted.merge(dates, how="left", on=["SUBJECTKEY", "DATE"])
            visitnum[by_date] = on_date["VISITNUM"].astype("Float64").to_numpy()
            visit[by_date] = on_date["VISIT"].astype("string").to_numpy()
    return visitnum, visit
