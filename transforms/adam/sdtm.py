"""Selecting ADaM sources from an SDTM release: `where`/`exclude` records, SUPP-- values, latest dates."""

from __future__ import annotations


import pandas as pd

from transforms.config.adam import Source
from transforms.adam.derive import to_date
from transforms.publish.sdtm_release import SdtmRelease


def select(df: pd.DataFrame, src: Source) -> pd.DataFrame:
    """The records of a source: `where` equalities, minus `exclude` values."""
    mask = pd.Series(True, index=df.index)
    for var, value in src.where.items():
        mask &= df[var].astype("string") == value
    for var, values in src.exclude.items():
        mask &= ~df[var].astype("string").isin(values)
    return df[mask.fillna(False).astype(bool)]


def supp_values(sdtm: SdtmRelease, src: Source) -> pd.Series:
    """QVAL of one QNAM of a SUPP-- dataset, by USUBJID (first record per subject)."""
    supp = sdtm.get(src.domain)
    hit = supp[supp["QNAM"] == src.qnam].sort_values(["USUBJID", "IDVARVAL"], kind="stable", na_position="first")
    return hit.drop_duplicates("USUBJID").set_index("USUBJID")["QVAL"].astype("string")


def first_by_subject(df: pd.DataFrame, src: Source, order: list[str]) -> pd.DataFrame:
    """The first selected record per subject in `order` (a stable, documented choice when several exist)."""
    rec = select(df, src).sort_values(["USUBJID", *order], kind="stable", na_position="last")
    return rec.drop_duplicates("USUBJID").set_index("USUBJID")


def latest_seen_date(
    sdtm: SdtmRelease, refs: list[str], before: pd.Series | None = None, extra: pd.Series | None = None
) -> pd.Series:
    """Per subject, the latest complete date among DOMAIN.VARIABLE references (partial dates ignored).

    `extra` adds dates by USUBJID; `before` (by USUBJID) drops dates on or after a subject's limit.
    """
    parts = []
    if extra is not None and not extra.empty:
        parts.append(pd.DataFrame({"USUBJID": extra.index.astype("string"), "D": extra.astype("datetime64[s]").to_numpy()}))
    for ref in refs:
        domain, var = ref.split(".")
        df = sdtm.get(domain)
        if df.empty or var not in df:
            continue
        parts.append(pd.DataFrame({"USUBJID": df["USUBJID"].astype("string"), "D": to_date(df[var]).astype("datetime64[s]")}))
    if not parts:
        return pd.Series(dtype="datetime64[s]")
    allp = pd.concat(parts, ignore_index=True).dropna()
    if before is not None:
        limit = pd.Series(before.astype("datetime64[s]").reindex(allp["USUBJID"]).to_numpy(), index=allp.index)
        allp = allp[limit.isna() | (allp["D"] < limit)]
    return allp.groupby("USUBJID")["D"].max()
