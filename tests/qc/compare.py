"""Record-by-record comparison of a release's ADaM with the independent QC derivation (double programming).

Keys are source-based, never the production's own sequence numbers: subjects by SUBJID, lab records by
the LIS file and line they came from (the release's lineage), MELD records by subject and time, AEs by
the eCRF repeat key. Each disagreement is one row: dataset, key, variable, production value, QC value.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

WINDOWS = {"Baseline", "Week 1", "Week 2", "Week 4", "Week 8", "Week 12"}
REM12_CRITERIA = {"R12ALIVE": "ALIVE_NOT_LT", "R12SYMP": "SYMIMPR", "R12HE": "HE_RESOLVED",
                  "R12BILI": "BILI_LT_5ULN", "R12COAG": "COAG"}


def _norm(v: object) -> object:
    """One spelling for missing, dates and numbers, so values compare as a reviewer reads them."""
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(v).isoformat()
    if hasattr(v, "isoformat"):
        return pd.Timestamp(v).isoformat()
    if isinstance(v, (int, float, np.integer, np.floating)):
        return round(float(v), 6)
    return str(v)


def _diff(dataset: str, prod: pd.DataFrame, qc: pd.DataFrame, keys: list[str], pairs: dict[str, str]) -> list[dict]:
    merged = prod.merge(qc, on=keys, how="outer", suffixes=("_P", "_Q"), indicator=True)
    out = []
    for _, r in merged.iterrows():
        key = " ".join(str(r[k]) for k in keys)
        if r["_merge"] != "both":
            out.append({"dataset": dataset, "key": key, "variable": "(record)",
                        "production": "present" if r["_merge"] == "left_only" else "absent",
                        "qc": "present" if r["_merge"] == "right_only" else "absent"})
            continue
        for pv, qv in pairs.items():
            a = _norm(r[f"{pv}_P"] if f"{pv}_P" in r else r[pv])
            b = _norm(r[f"{qv}_Q"] if f"{qv}_Q" in r else r[qv])
            if a != b:
                out.append({"dataset": dataset, "key": key, "variable": pv, "production": a, "qc": b})
    return out


def _yn(s: pd.Series) -> pd.Series:
    return s.astype("object").where(s.notna(), None)


def compare_adsl(adam: Path, qc: dict[str, pd.DataFrame]) -> list[dict]:
    """Populations, reference dates, LSTALVDT and MELD baseline/screening per subject."""
    p = pd.read_parquet(adam / "adsl.parquet")
    cols = ["RANDFL", "ITTFL", "SAFFL", "PPROTFL", "RANDDT", "TRTSDTM", "TRTSDT", "LSTALVDT", "DTHDT", "LTDT",
            "MELDBL", "MELDSCR"]
    prod = p[["SUBJID", *cols]].copy()
    q = qc["adsl"][["SUBJID", *cols]].copy()
    for c in ("RANDDT", "TRTSDT", "LSTALVDT", "DTHDT", "LTDT", "TRTSDTM"):
        prod[c], q[c] = pd.to_datetime(prod[c]), pd.to_datetime(q[c])
    return _diff("ADSL", prod, q, ["SUBJID"], {c: c for c in cols})


def compare_adtte(adam: Path, qc: dict[str, pd.DataFrame]) -> list[dict]:
    """DTH12 and TFS12: start, analysis date, AVAL and CNSR."""
    p = pd.read_parquet(adam / "adtte.parquet")[["SUBJID", "PARAMCD", "STARTDT", "ADT", "AVAL", "CNSR"]]
    q = qc["adtte"][["SUBJID", "PARAMCD", "STARTDT", "ADT", "AVAL", "CNSR"]].copy()
    for c in ("STARTDT", "ADT"):
        p[c], q[c] = pd.to_datetime(p[c]), pd.to_datetime(q[c])
    return _diff("ADTTE", p, q, ["SUBJID", "PARAMCD"], {c: c for c in ("STARTDT", "ADT", "AVAL", "CNSR")})


def compare_adrs(adam: Path, qc: dict[str, pd.DataFrame]) -> list[dict]:
    """REM12 and each of its criteria (Y, N or missing)."""
    p = pd.read_parquet(adam / "adrs.parquet")
    p = p[p["PARAMCD"].isin(["REM12", *REM12_CRITERIA])]
    value = p["AVALC"].where(p["PARAMCD"] == "REM12", p.get("CRIT1FL"))
    wide = pd.DataFrame({"SUBJID": p["SUBJID"], "PARAMCD": p["PARAMCD"], "V": value}).pivot(
        index="SUBJID", columns="PARAMCD", values="V").reset_index()
    q = qc["adrs"].copy()
    pairs = {"REM12": "REM12", **{k: v for k, v in REM12_CRITERIA.items()}}
    wide = wide.rename(columns={k: f"{k}" for k in pairs})
    q = q.rename(columns={v: f"{k}" for k, v in REM12_CRITERIA.items()})
    return _diff("ADRS", wide[["SUBJID", *pairs]], q[["SUBJID", *pairs]], ["SUBJID"], {k: k for k in pairs})


def _lb_source(release: Path) -> pd.DataFrame:
    lin = pd.read_parquet(release / "lineage" / "lb.parquet")
    line = lin["SRCRECORD"].str.extract(r"line (\d+)", expand=False).astype("Int64")
    return pd.DataFrame({"USUBJID": lin["USUBJID"], "LBSEQ": lin["LBSEQ"].astype("float"),
                         "SRCFILE": lin["SRCFILE"], "SRCLINE": line})


def compare_adlb(release: Path, qc: dict[str, pd.DataFrame]) -> list[dict]:
    """Lab records by LIS file and line (AVAL, ADY, ABLFL, AVISIT, ANL01FL); MELD by subject and time."""
    p = pd.read_parquet(release / "adam" / "adlb.parquet")
    q = qc["adlb"].copy()
    q["SRCLINE"] = q["SRCLINE"].astype("Int64")
    p["AVISIT"] = p["AVISIT"].where(p["AVISIT"].isin(WINDOWS))
    cols = ["AVAL", "ADY", "ABLFL", "AVISIT", "ANL01FL"]
    keys = ["SUBJID", "PARAMCD", "SRCFILE", "SRCLINE"]
    lab = p[p["PARAMCD"] != "MELD"].merge(_lb_source(release), left_on=["USUBJID", "LBSEQ"],
                                          right_on=["USUBJID", "LBSEQ"], how="left")
    lab = lab[[*keys, *cols]]
    qlab = q[q["PARAMCD"] != "MELD"][[*keys, *cols]]
    # Records with no numeric value on either side carry no analysis value (a comment, a censored
    # "<x", a cancellation): the production keeps them as records without AVAL, the QC keeps some and
    # drops cancellations. Every record with a value on either side must match exactly.
    valued = pd.concat([lab.loc[lab["AVAL"].notna(), keys], qlab.loc[qlab["AVAL"].notna(), keys]]).drop_duplicates()
    lab = lab.merge(valued, on=keys, how="inner")
    qlab = qlab.merge(valued, on=keys, how="inner")
    out = _diff("ADLB", lab, qlab, keys, {c: c for c in cols})
    meld = p[p["PARAMCD"] == "MELD"][["SUBJID", "ADTM", *cols]].copy()
    qmeld = q[q["PARAMCD"] == "MELD"][["SUBJID", "ADTM", *cols]].copy()
    meld["ADTM"], qmeld["ADTM"] = pd.to_datetime(meld["ADTM"]), pd.to_datetime(qmeld["ADTM"])
    out += _diff("ADLB-MELD", meld, qmeld, ["SUBJID", "ADTM"], {c: c for c in cols})
    return out


_AE_REPEAT = re.compile(r"IG\.AE\[(\d+)\]")


def compare_adae(release: Path, qc: dict[str, pd.DataFrame]) -> list[dict]:
    """AEs by eCRF repeat key: ASTDT, AENDT, TRTEMFL."""
    p = pd.read_parquet(release / "adam" / "adae.parquet")
    lin = pd.read_parquet(release / "lineage" / "ae.parquet")
    lin["AEREPEAT"] = lin["SRCRECORD"].str.extract(_AE_REPEAT, expand=False).astype("Int64")
    p = p.merge(lin[["USUBJID", "AESEQ", "AEREPEAT"]].assign(AESEQ=lin["AESEQ"].astype(float)),
                on=["USUBJID", "AESEQ"], how="left")
    p = p[["SUBJID", "AEREPEAT", "ASTDT", "AENDT", "TRTEMFL"]].copy()
    p["TRTEMFL"] = p["TRTEMFL"].fillna("N").where(p["SUBJID"].isin(
        pd.read_parquet(release / "adam" / "adsl.parquet").query("TRTSDT == TRTSDT")["SUBJID"]))
    q = qc["adae"][["SUBJID", "AEREPEAT", "ASTDT", "AENDT", "TRTEMFL"]].copy()
    q["AEREPEAT"] = q["AEREPEAT"].astype("Int64")
    for c in ("ASTDT", "AENDT"):
        p[c], q[c] = pd.to_datetime(p[c]), pd.to_datetime(q[c])
    return _diff("ADAE", p, q, ["SUBJID", "AEREPEAT"], {c: c for c in ("ASTDT", "AENDT", "TRTEMFL")})


def compare_release(release: Path, qc: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every disagreement between a release and the QC derivation of the same drop."""
    adam = release / "adam"
    rows = [*compare_adsl(adam, qc), *compare_adtte(adam, qc), *compare_adrs(adam, qc),
            *compare_adlb(release, qc), *compare_adae(release, qc)]
    return pd.DataFrame(rows, columns=["dataset", "key", "variable", "production", "qc"])
