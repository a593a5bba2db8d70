"""ADaM derivations: pure functions on pandas objects, one per concept, configured by the caller.

Dates travel as pandas datetime64 columns: ``*DT`` at midnight, ``*DTM`` with the collected time
(NaT when the source had no time, so comparisons fall back to the date, never to a guessed time).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

from transforms.cdisc.columns import per_distinct
from transforms.cdisc.dates import derive_on_or_before, dtc_date, dtc_datetime, partial_date_range
from transforms.cdisc.results import nrind
from transforms.config.adam import DateSource, MeldSpec, Window

Y = "Y"


def is_y(flag: pd.Series) -> pd.Series:
    """A plain boolean mask of flag == 'Y' (empty counts as not Y, never as unknown)."""
    return flag.eq(Y).fillna(False).astype(bool)


# --- dates ------------------------------------------------------------------------------------


def derive_analysis_datetime(dtc: pd.Series) -> pd.DataFrame:
    """ADT and ADTM from ISO 8601 --DTC: ADTM only when a time was collected; partial dates give none."""
    dates = per_distinct(lambda v: _datetime64(dtc_date(v)), dtc)
    times = per_distinct(lambda v: _datetime64(dtc_datetime(v) if dtc_date(v) is not None else None), dtc)
    return pd.DataFrame({"ADT": dates.astype("datetime64[s]"), "ADTM": times.astype("datetime64[s]")}, index=dtc.index)


def _datetime64(value: date | datetime | None) -> np.datetime64:
    return np.datetime64("NaT", "s") if value is None else np.datetime64(value, "s")


def to_date(dtc: pd.Series) -> pd.Series:
    """A datetime64 date column (midnight) from ISO 8601 text; partial or missing give NaT."""
    return derive_analysis_datetime(dtc)["ADT"]


# --- baseline and change ----------------------------------------------------------------------


def derive_baseline_flag(
    df: pd.DataFrame,
    by: Sequence[str],
    value: str = "AVAL",
    ref_dt: str = "TRTSDT",
    ref_dtm: str = "TRTSDTM",
    tiebreak: Sequence[str] = (),
) -> pd.Series:
    """ABLFL: Y on the last non-missing value on or before the reference start (date and time), per `by`."""
    eligible = df[value].notna() & derive_on_or_before(df["ADT"], df["ADTM"], df[ref_dt], df[ref_dtm]).fillna(False)
    flag = pd.Series(pd.NA, index=df.index, dtype="string")
    cand = df.loc[eligible, [*by, "ADT", "ADTM", *tiebreak]]
    if cand.empty:
        return flag
    # A date-only record sorts before a timed one of the same day, as SDTM --LOBXFL orders --DTC text.
    order = cand.sort_values([*by, "ADT", "ADTM", *tiebreak], kind="stable", na_position="first")
    flag.loc[order.groupby(list(by), sort=False).tail(1).index] = Y
    return flag


def derive_baseline(df: pd.DataFrame, by: Sequence[str], source: str, flag: str = "ABLFL") -> pd.Series:
    """The value of `source` on the group's baseline record, repeated on every record of the group."""
    base = df.loc[is_y(df[flag]), [*by, source]].drop_duplicates(subset=list(by), keep="last")
    keyed = df[list(by)].merge(base, on=list(by), how="left")
    return pd.Series(keyed[source].to_numpy(), index=df.index, dtype=df[source].dtype)


def derive_post_baseline_flag(df: pd.DataFrame, ref_dt: str = "TRTSDT", ref_dtm: str = "TRTSDTM") -> pd.Series:
    """True for records after the reference start (a Day 1 record without a time is not after it)."""
    before = derive_on_or_before(df["ADT"], df["ADTM"], df[ref_dt], df[ref_dtm])
    return (~before).fillna(False).astype(bool)


def derive_change_from_baseline(aval: pd.Series, base: pd.Series, post: pd.Series) -> pd.DataFrame:
    """CHG = AVAL - BASE and PCHG = 100 x CHG / BASE on post-baseline records (PCHG empty when BASE is 0)."""
    chg = (aval - base).where(post)
    pchg = (100.0 * chg / base).where(post & (base != 0))
    return pd.DataFrame({"CHG": chg.astype("Float64"), "PCHG": pchg.astype("Float64")}, index=aval.index)


def derive_range_indicator(aval: pd.Series, lo: pd.Series, hi: pd.Series, avalc: pd.Series | None = None) -> pd.Series:
    """ANRIND (LOW/NORMAL/HIGH) against the analysis range; '<x'/'>x' results only when certain."""
    text = avalc if avalc is not None else pd.Series(None, index=aval.index, dtype=object)
    values = per_distinct(lambda a, c, lo_, hi_: nrind(_float_or_none(a), c if isinstance(c, str) else None,
                                                        _float_or_none(lo_), _float_or_none(hi_)), aval, text, lo, hi)
    return pd.Series(values, index=aval.index, dtype="string")


def _float_or_none(x: object) -> float | None:
    if x is None or x is pd.NA:
        return None
    f = float(x)  # type: ignore[arg-type]
    return None if math.isnan(f) else f


# --- analysis windows ---------------------------------------------------------------------------


def derive_analysis_window(ady: pd.Series, windows: Sequence[Window], unit: str = "DAYS") -> pd.DataFrame:
    """AVISIT/AVISITN and AWTARGET/AWLO/AWHI/AWTDIFF/AWU of the window holding each ADY (none outside)."""
    ordered = sorted(windows, key=lambda w: w.lo)
    for a, b in zip(ordered, ordered[1:], strict=False):
        if b.lo <= a.hi:
            raise ValueError(f"analysis windows {a.avisit} and {b.avisit} overlap")
    out = pd.DataFrame(index=ady.index, columns=["AVISIT", "AVISITN", "AWTARGET", "AWLO", "AWHI", "AWTDIFF", "AWU"])
    out = out.astype(
        {
            "AVISIT": "string",
            "AVISITN": "Float64",
            "AWTARGET": "Int64",
            "AWLO": "Int64",
            "AWHI": "Int64",
            "AWTDIFF": "Int64",
            "AWU": "string",
        }
    )
    for w in ordered:
        inside = ady.notna() & (ady >= w.lo) & (ady <= w.hi)
        inside = inside.fillna(False).astype(bool)
        out.loc[inside, ["AVISIT", "AWU"]] = [w.avisit, unit]
        out.loc[inside, "AVISITN"] = w.avisitn
        out.loc[inside, "AWTARGET"] = w.target
        out.loc[inside, "AWLO"] = w.lo
        out.loc[inside, "AWHI"] = w.hi
        out.loc[inside, "AWTDIFF"] = (ady[inside] - w.target).abs()
    return out


def derive_analysis_flag(
    df: pd.DataFrame, by: Sequence[str], eligible: pd.Series, tiebreak: Sequence[str] = ()
) -> pd.Series:
    """ANLzzFL: per `by` (subject, parameter, window) the eligible record closest to target, earlier on a tie."""
    flag = pd.Series(pd.NA, index=df.index, dtype="string")
    cand = df.loc[eligible.fillna(False).astype(bool), [*by, "AWTDIFF", "ADY", "ADTM", *tiebreak]]
    if cand.empty:
        return flag
    order = cand.sort_values([*by, "AWTDIFF", "ADY", "ADTM", *tiebreak], kind="stable", na_position="last")
    flag.loc[order.groupby(list(by), sort=False).head(1).index] = Y
    return flag


# --- MELD -------------------------------------------------------------------------------------


def round_half_up(x: float, decimals: int) -> float:
    """Round half away from zero at `decimals`, on the decimal text of x (no binary-float surprises)."""
    q = Decimal(1).scaleb(-decimals)
    return float(Decimal(repr(x)).quantize(q, rounding=ROUND_HALF_UP))


def meld_score(creatinine_mgdl: float, bilirubin_mgdl: float, inr: float, spec: MeldSpec) -> float:
    """MELD = min(cap, scale x round_half_up(MELD(i), d)); values below the floor count as the floor."""
    cr = min(max(creatinine_mgdl, spec.floor), spec.creatinine_cap)
    bili = max(bilirubin_mgdl, spec.floor)
    ratio = max(inr, spec.floor)
    meld_i = (
        spec.coef_creatinine * math.log(cr)
        + spec.coef_bilirubin * math.log(bili)
        + spec.coef_inr * math.log(ratio)
        + spec.intercept
    )
    # OPTN convention, and protocol.md's example (MELD(i) 2.2897 -> 23): round MELD(i) to 0.1, then x10.
    score = round_half_up(round_half_up(meld_i, spec.round_decimals) * spec.scale, 6)
    return min(score, spec.score_cap)


def derive_meld_parameter(
    records: pd.DataFrame,
    components: dict[str, str],
    to_mgdl: dict[str, float],
    spec: MeldSpec,
    seq: str = "LBSEQ",
    reference: pd.Series | None = None,
) -> pd.DataFrame:
    """MELD records: one per subject and day from the latest result of each input that day.

    protocol.md: creatinine, bilirubin and INR of samples drawn the same day, the latest result of
    each test that day; for baseline, the latest at or before the start of the first infusion. So when
    `reference` (first infusion start by USUBJID) falls on a day whose latest inputs include a later
    sample, that day gets a second, pre-infusion MELD from the results at or before the start.
    `components` maps the roles creatinine/bilirubin/inr to PARAMCDs; `to_mgdl` divides each standard
    value into the formula's unit. ADTM is the latest time among the inputs. Returns USUBJID, ADT,
    ADTM, AVAL, VISIT, VISITNUM and the three inputs in mg/dL.
    """
    for role in ("creatinine", "bilirubin", "inr"):
        if role not in components:
            raise KeyError(f"MELD needs a '{role}' component (configured: {sorted(components)})")
    role_of = {v: k for k, v in components.items()}
    cols = ["USUBJID", "ADT", "ADTM", "AVAL", "VISIT", "VISITNUM", "CREATININE", "BILIRUBIN", "INR"]
    comp = records[records["PARAMCD"].isin(list(role_of)) & records["AVAL"].notna()].copy()
    if comp.empty:
        return pd.DataFrame(columns=cols)
    comp["ROLE"] = comp["PARAMCD"].map(role_of)
    comp["MGDL"] = comp["AVAL"].astype(float) / comp["ROLE"].map(lambda r: float(to_mgdl.get(r, 1.0)))
    comp = comp.sort_values(["USUBJID", "ADT", "ADTM", seq], kind="stable", na_position="first")
    days = _meld_inputs_by_day(comp)
    if reference is not None and len(days):
        start = pd.Series(pd.to_datetime(reference.reindex(comp["USUBJID"]).to_numpy()), index=comp.index)
        on_start_day = comp["ADT"] == start.dt.normalize()
        pre = comp[on_start_day & (comp["ADTM"].isna() | (comp["ADTM"] <= start))]
        pre_days = _meld_inputs_by_day(pre)
        day_start = pd.Series(pd.to_datetime(reference.reindex(days["USUBJID"]).to_numpy()), index=days.index)
        # The day's own MELD is already pre-infusion when none of its inputs is later than the start.
        post_start = (days["ADTM_"] > day_start).fillna(False)
        needed = days.loc[post_start, ["USUBJID", "ADT"]]
        pre_days = pre_days.merge(needed, on=["USUBJID", "ADT"], how="inner")
        days = pd.concat([days, pre_days], ignore_index=True)
    if days.empty:
        return pd.DataFrame(columns=cols)
    days["AVAL"] = [
        meld_score(c, b, i, spec) for c, b, i in zip(days["creatinine"], days["bilirubin"], days["inr"], strict=True)
    ]
    out = days.rename(columns={"ADTM_": "ADTM", "creatinine": "CREATININE", "bilirubin": "BILIRUBIN", "inr": "INR"})
    out["ADTM"] = pd.to_datetime(out["ADTM"]).astype("datetime64[s]")
    out["ADT"] = pd.to_datetime(out["ADT"]).astype("datetime64[s]")
    out = out[cols].sort_values(["USUBJID", "ADT", "ADTM"], kind="stable", na_position="first")
    return out.reset_index(drop=True)


def _meld_inputs_by_day(comp: pd.DataFrame) -> pd.DataFrame:
    """Per subject and day with all three roles: the latest value of each (mg/dL), their latest time, the visit."""
    roles = ["creatinine", "bilirubin", "inr"]
    keys = ["USUBJID", "ADT"]
    empty = pd.DataFrame(columns=[*keys, *roles, "ADTM_", "VISIT", "VISITNUM"])
    if comp.empty:
        return empty
    last = comp.assign(_T=comp["ADTM"]).groupby([*keys, "ROLE"], sort=True).tail(1).set_index([*keys, "ROLE"])
    wide = last[["MGDL", "_T", "VISIT", "VISITNUM"]].unstack("ROLE")
    if wide.empty:
        return empty
    wide = wide[wide["MGDL"].reindex(columns=roles).notna().all(axis=1)]
    if wide.empty:  # no day has all three values (e.g. only creatinine and INR drawn that day)
        return empty
    out = wide["MGDL"].reindex(columns=roles).copy()
    times = wide["_T"].reindex(columns=roles)
    out["ADTM_"] = times.max(axis=1).where(times.notna().all(axis=1))
    out["VISIT"], out["VISITNUM"] = wide["VISIT"]["bilirubin"], wide["VISITNUM"]["bilirubin"]
    return out.reset_index()


# --- time to event ----------------------------------------------------------------------------


def derive_time_to_event(
    subjects: pd.DataFrame,
    start: str,
    events: Sequence[DateSource],
    terminating: Sequence[DateSource],
    censors: Sequence[DateSource],
    horizon_days: int | None,
    horizon: DateSource | None = None,
    censor_rule: str = "earliest",
) -> pd.DataFrame:
    """ADT/AVAL/CNSR/EVNTDESC/CNSDTDSC/SRC* per subject.

    Event: the earliest event date within the horizon (start + horizon_days), unless a terminating
    fact (e.g. liver transplantation for mortality) came strictly before it. Otherwise the subject
    is censored at the earliest (or latest, `censor_rule`) of the terminating facts within the
    horizon, the censoring sources and the horizon itself; ties go to the first source listed.
    AVAL = ADT - start + 1 (days); CNSR 0 = event, 1 = censored.
    """
    rows = []
    for _, s in subjects.iterrows():
        st = s[start]
        if pd.isna(st):
            continue
        end = st + pd.Timedelta(days=horizon_days) if horizon_days is not None else None

        def hits(
            sources: Sequence[DateSource], within: bool, subject: pd.Series = s, end: pd.Timestamp | None = end
        ) -> list[tuple[pd.Timestamp, int, DateSource]]:
            out = []
            for i, src in enumerate(sources):
                d = subject.get(src.column)
                if d is None or pd.isna(d) or (within and end is not None and d > end):
                    continue
                out.append((d, i, src))
            return out

        ev = min(hits(events, True), default=None, key=lambda t: (t[0], t[1]))
        term = hits(terminating, True)
        first_term = min(term, default=None, key=lambda t: (t[0], t[1]))
        if ev is not None and (first_term is None or ev[0] <= first_term[0]):
            d, _, src = ev
            rows.append(_tte_row(s, st, d, 0, src, None))
            continue
        cands = [(d, i, src) for d, i, src in term]
        cands += [(d, len(terminating) + i, src) for d, i, src in hits(censors, False)]
        if end is not None and horizon is not None:
            cands.append((end, len(terminating) + len(censors), horizon))
        if not cands:
            rows.append(_tte_row(s, st, st, 1, DateSource(start, "START DATE", "ADSL", start), "START DATE"))
            continue
        pick = (min if censor_rule == "earliest" else max)(
            cands, key=lambda t: (t[0], -t[1] if censor_rule == "latest" else t[1])
        )
        d, _, src = pick
        rows.append(_tte_row(s, st, max(d, st), 1, src, src.censor_date_description or src.description))
    cols = ["USUBJID", "STARTDT", "ADT", "AVAL", "CNSR", "EVNTDESC", "CNSDTDSC", "SRCDOM", "SRCVAR", "SRCSEQ"]
    out = pd.DataFrame(rows, columns=cols)
    return out.astype({"AVAL": "Float64", "CNSR": "Int64", "SRCSEQ": "Float64"})


def _tte_row(s: pd.Series, st: pd.Timestamp, d: pd.Timestamp, cnsr: int, src: DateSource, cnsdtdsc: str | None) -> dict:
    seq = s.get(src.srcseq) if src.srcseq else None
    return {
        "USUBJID": s["USUBJID"],
        "STARTDT": st,
        "ADT": d,
        "AVAL": float((d - st).days + 1),
        "CNSR": cnsr,
        "EVNTDESC": src.description,
        "CNSDTDSC": cnsdtdsc,
        "SRCDOM": src.srcdom,
        "SRCVAR": src.srcvar,
        "SRCSEQ": None if seq is None or pd.isna(seq) else float(seq),
    }


# Alias with the name the design uses for the concept; the rule lives in derive_time_to_event.
derive_censoring = derive_time_to_event


# --- responder criteria -----------------------------------------------------------------------

_OPS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal, "==": np.equal}


def derive_criterion_flag(
    value: pd.Series, op: str, threshold: float | str, reference: pd.Series | None = None
) -> pd.Series:
    """CRITyFL: Y when `value op threshold` (x `reference`, e.g. 5 x ULN) holds, N when not, empty when unknown."""
    if isinstance(threshold, str):
        if op != "==":
            raise ValueError(f"text criteria compare with '==', not {op!r}")
        res = value.astype("string") == threshold
        known = value.notna()
    else:
        limit = (
            threshold * reference.astype("Float64")
            if reference is not None
            else pd.Series(threshold, index=value.index, dtype="Float64")
        )
        v = value.astype("Float64")
        known = v.notna() & limit.notna()
        res = pd.Series(
            _OPS[op](v.fillna(0).to_numpy(dtype=float), limit.fillna(0).to_numpy(dtype=float)), index=value.index
        )
    out = pd.Series(np.where(res.fillna(False).astype(bool), "Y", "N"), index=value.index, dtype="string")
    return out.where(known.fillna(False).astype(bool))


def derive_composite_flag(flags: Sequence[pd.Series], how: str) -> pd.Series:
    """all: Y when every flag is Y, N when any is N, else empty; any: Y when any is Y, N when all are N, else empty."""
    frame = pd.concat(list(flags), axis=1)
    is_y = (frame == Y).fillna(False)
    is_n = (frame == "N").fillna(False)
    if how == "all":
        yes, no = is_y.all(axis=1), is_n.any(axis=1)
    elif how == "any":
        yes, no = is_y.any(axis=1), is_n.all(axis=1)
    else:
        raise ValueError(f"composite rule must be 'all' or 'any', not {how!r}")
    out = pd.Series(pd.NA, index=frame.index, dtype="string")
    out[no] = "N"
    out[yes] = Y
    return out


def derive_responder(flags: Sequence[pd.Series]) -> pd.Series:
    """Responder (Y/N): every criterion met; a missing criterion counts as not met (non-responder)."""
    return derive_composite_flag(flags, "all").fillna("N")


# --- adverse events ---------------------------------------------------------------------------


def impute_partial_date(
    dtc: str | None, mode: str, floor: date | None = None, ceiling: date | None = None
) -> tuple[date | None, str | None]:
    """(date, ADaM imputation flag D/M/Y) of a possibly partial ISO 8601 date.

    mode 'first' takes the first possible day, raised to `floor` (e.g. TRTSDT) when the floor lies
    within the possible range, unless a known `ceiling` (the event's complete end date) is before the
    floor: an event that ended before the first dose did not start on it. Mode 'last' takes the last
    possible day, lowered to `ceiling` (e.g. death or end of study) when that lies within the range.
    A missing year is not imputed.
    """
    span = partial_date_range(dtc)
    if span is None:
        return None, None
    lo, hi = span
    if lo == hi:
        return lo, None
    flag = "D" if lo.month == hi.month else "M"  # known to the month: the day is imputed, else the month
    if mode == "first":
        ended_before_floor = ceiling is not None and floor is not None and ceiling < floor
        return (floor if floor is not None and lo <= floor <= hi and not ended_before_floor else lo), flag
    if mode == "last":
        return (ceiling if ceiling is not None and lo <= ceiling <= hi else hi), flag
    raise ValueError(f"imputation mode must be 'first' or 'last', not {mode!r}")


def derive_imputed_date(
    dtc: pd.Series, mode: str, bound: pd.Series | None = None, ceiling: pd.Series | None = None
) -> pd.DataFrame:
    """Column version of impute_partial_date: returns DT (datetime64) and DTF (imputation flag).

    `bound` is the floor in mode 'first' and the ceiling in mode 'last'; `ceiling` caps mode 'first'.
    """
    n = len(dtc)
    bounds = bound.tolist() if bound is not None else [None] * n
    caps = ceiling.tolist() if ceiling is not None else [None] * n
    pairs = [
        impute_partial_date(v, mode, _as_date(b), _as_date(c))
        if mode == "first"
        else impute_partial_date(v, mode, None, _as_date(b))
        for v, b, c in zip(dtc.tolist(), bounds, caps, strict=True)
    ]
    return pd.DataFrame(
        {
            "DT": pd.to_datetime(pd.Series([p[0] for p in pairs], index=dtc.index, dtype=object)).astype(
                "datetime64[s]"
            ),
            "DTF": pd.Series([p[1] for p in pairs], index=dtc.index, dtype="string"),
        },
        index=dtc.index,
    )


def _as_date(x: object) -> date | None:
    if x is None or x is pd.NaT or (isinstance(x, float) and math.isnan(x)):
        return None
    if isinstance(x, pd.Timestamp):
        return x.date()
    return x if isinstance(x, date) else None


def derive_treatment_emergent_flag(
    astdt: pd.Series,
    aendt: pd.Series,
    trtsdt: pd.Series,
    trtedt: pd.Series | None = None,
    end_window_days: int | None = None,
) -> pd.Series:
    """TRTEMFL: Y when the event starts on or after the first dose (and, if a window is set, by last dose + window).

    An event with no start date is counted as treatment-emergent unless it ended before the first
    dose (the conservative reading). No first dose: empty.
    """
    on_or_after = astdt >= trtsdt
    if end_window_days is not None and trtedt is not None:
        on_or_after &= astdt <= trtedt + pd.Timedelta(days=end_window_days)
    unknown_start = astdt.isna() & (aendt.isna() | (aendt >= trtsdt))
    te = (on_or_after.fillna(False) | unknown_start.fillna(False)) & trtsdt.notna()
    return pd.Series(np.where(te, Y, None), index=astdt.index, dtype="string")


def derive_grouping(values: pd.Series, groups: dict[str, Sequence[str]]) -> pd.Series:
    """A pooled grouping of coded values (e.g. AEREL -> RELGR1); values in no group stay empty."""
    lookup = {v: g for g, members in groups.items() for v in members}
    return values.map(lambda v: lookup.get(v) if isinstance(v, str) else None).astype("string")
