"""SDTM derivations: pure functions on pandas objects, one per CDISC concept."""
from __future__ import annotations

import pandas as pd

from transforms.cdisc.columns import per_distinct
from transforms.cdisc.dates import dtc_date, dtc_on_or_before, partial_date_range
from transforms.cdisc.results import standardize_result


def derive_studyid(index: pd.Index, study_id: str) -> pd.Series:
    """STUDYID: the study's identifier (study.yaml) on every record."""
    return pd.Series(study_id, index=index, dtype="string")


def derive_domain(index: pd.Index, domain: str) -> pd.Series:
    """DOMAIN: the two-letter code of the dataset on every record."""
    return pd.Series(domain, index=index, dtype="string")


def derive_usubjid(studyid: str, subjid: pd.Series) -> pd.Series:
    """USUBJID: the study id and the subject id, joined by a hyphen."""
    return (studyid + "-" + subjid.astype("string")).astype("string")


def epoch_of(dtc: str | None, rfxstdtc: str | None, rfxendtc: str | None,
             before: str, during: str, after: str) -> str | None:
    """EPOCH of one observation from the subject's first and last exposure.

    A partial date is placed by the days it can be: wholly before the first exposure, wholly after
    the last, or else (it overlaps the treatment period) during treatment.
    """
    span = partial_date_range(dtc)
    if span is None:
        return None
    if not isinstance(rfxstdtc, str):
        return before
    end = rfxendtc if isinstance(rfxendtc, str) else rfxstdtc
    if dtc_date(dtc) is None:
        if span[1] < dtc_date(rfxstdtc):
            return before
        return after if span[0] > dtc_date(end) else during
    if not dtc_on_or_before(rfxstdtc, dtc):  # strictly before the first exposure
        return before
    return during if dtc_on_or_before(dtc, end) else after


def derive_epoch(dtc: pd.Series, rfxstdtc: pd.Series, rfxendtc: pd.Series,
                 before: str, during: str, after: str) -> pd.Series:
    """EPOCH for a column of --DTC (or --STDTC)."""
    values = per_distinct(lambda a, s, e: epoch_of(a, s, e, before, during, after), dtc, rfxstdtc, rfxendtc)
    return pd.Series(values, index=dtc.index, dtype="string")


def derive_seq(df: pd.DataFrame, order: list[str]) -> pd.Series:
    """--SEQ: 1..n within USUBJID, following a stable sort on `order`."""
    sorted_idx = df.sort_values(["USUBJID", *order], kind="stable", na_position="last").index
    seq = pd.Series(0, index=df.index, dtype="Int64")
    seq.loc[sorted_idx] = df.loc[sorted_idx].groupby("USUBJID", sort=False).cumcount().to_numpy() + 1
    return seq


def derive_lobxfl(df: pd.DataFrame, by: list[str], dtc: str, result: str, rfxstdtc: str,
                  numeric: str | None = None) -> pd.Series:
    """--LOBXFL: Y on the last non-missing result on or before first exposure, per subject and test.

    `by` is the subject and then the test. With a `numeric` result column (--STRESN), a test that has
    numeric results counts only records with one: a comment or a censored value ('<0.5', '>1000') is no
    baseline value, as in ADaM, whose baseline is the last non-missing AVAL (= --STRESN).
    """
    eligible = df[result].notna() & (df[result].astype("string") != "")
    if numeric is not None and numeric in df:
        has_number = df[numeric].notna()
        numeric_test = has_number.groupby([df[c] for c in by[1:]], dropna=False).transform("any")
        eligible = (eligible & ~numeric_test) | has_number
    eligible &= pd.Series(per_distinct(lambda a, b: bool(dtc_on_or_before(a, b)), df[dtc], df[rfxstdtc]),
                          index=df.index, dtype=bool)
    flag = pd.Series(pd.NA, index=df.index, dtype="string")
    cand = df[eligible].copy()
    if cand.empty:
        return flag
    cand["_KEY"] = cand[dtc].astype("string")
    last = cand.sort_values([*by, "_KEY"], kind="stable").groupby(by, sort=False).tail(1).index
    flag.loc[last] = "Y"
    return flag


def derive_standard_result(domain: str, df: pd.DataFrame) -> None:
    """--STRESC/--STRESN/--STRESU of a findings domain reported in its standard unit: the original result."""
    if f"{domain}ORRES" not in df:
        return
    orres = df[f"{domain}ORRES"]
    stresc = per_distinct(lambda o: (standardize_result(o, 1.0)[0] or o) if isinstance(o, str) else o, orres)
    stresn = per_distinct(lambda o: standardize_result(o, 1.0)[1] if isinstance(o, str) else None, orres)
    df[f"{domain}STRESC"] = pd.Series(stresc, index=df.index, dtype="string")
    df[f"{domain}STRESN"] = pd.Series(stresn, index=df.index, dtype="Float64")
    df[f"{domain}STRESU"] = df.get(f"{domain}ORRESU")
