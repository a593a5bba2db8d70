"""LB records from the sites' staged LIS results: linked by MRN, mapped by each site's lab map."""
from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.cdisc.findings import ERROR, WARNING, Finding
from transforms.cdisc.results import is_measured, nrind, parse_number, parse_range, standardize_result
from transforms.config import LabTest, StudyConfig
from transforms.privacy.lab import protect_lab_rows
from transforms.sdtm.context import BuildContext

NOT_DONE = "NOT DONE"  # CT ND (Not Done), the only term of LBSTAT
RESULT_KEYS = ["TEST", "RESULT", "UNIT", "RANGE_LOW", "RANGE_HIGH"]  # what an LB result's qualifiers depend on
QUALIFIERS = ["LBORRES", "LBORRESU", "LBORNRLO", "LBORNRHI", "LBSTRESC", "LBSTRESN", "LBSTRESU", "LBSTNRLO",
              "LBSTNRHI", "LBNRIND"]


def subject_by_mrn(ctx: BuildContext) -> dict[tuple[str, str], str]:
    """(site, MRN) -> SubjectKey, from the eCRF's linking item."""
    link = ctx.study.identifiers.link_item
    rows = ctx.items[(ctx.items["ITEMOID"] == link) & ctx.items["VALID"]]
    rows = rows.sort_values(["SUBJECTKEY", "SRCLINE"])
    out: dict[tuple[str, str], str] = {}
    for site, mrn, subj, src, line in zip(rows["SITEID"], rows["VALUE"], rows["SUBJECTKEY"], rows["SRCFILE"],
                                          rows["SRCLINE"], strict=True):
        key = (site, mrn.strip())
        if key in out and out[key] != subj:
            ctx.findings.add(Finding(ERROR, "EDC-MRN-DUPLICATE", src, f"SubjectKey={subj} (line {line})", link,
                                     f"the same hospital record number is entered for subject {out[key]}; "
                                     "labs link to the first", site=site, subjid=subj))
            continue
        out[key] = subj
    return out


def lab_records(ctx: BuildContext, site: str, labs: pd.DataFrame) -> pd.DataFrame:
    """Pre-SDTM LB rows of one site, with lineage; orphan rows are reported by specimen, not MRN."""
    study = ctx.study
    tests = study.lab_tests(site)
    status = study.sites[site].lab.status
    cancelled = set(status.cancelled) if status else set()
    link = subject_by_mrn(ctx)
    labs = labs.copy()
    of_site = {mrn: subj for (s, mrn), subj in link.items() if s == site}
    labs["SUBJ"] = labs["MRN"].str.strip().fillna("").map(of_site).to_numpy(dtype=object)
    labs = protect_lab_rows(labs, study.study_id, ctx.scrubber, site, ctx.findings)  # privacy: SPECID, RESULT
    orphans = labs[labs["SUBJ"].isna()]
    for (src, spec), grp in orphans.groupby(["SRCFILE", "SPECID"], sort=True):
        # One query per specimen, however many files sent its results (a re-send, a correction):
        # the key names the specimen, not the file; each file's rows keep their own finding.
        ctx.findings.add(Finding(ERROR, "LIS-ORPHAN", src, f"line {int(grp['SRCLINE'].min())}, specimen {spec}",
                                 "patient id", f"{len(grp)} result(s) of specimen {spec} match no subject of {site}",
                                 site=site, domain="LB", key=f"specimen {spec}"))
    labs = labs[labs["SUBJ"].notna()].drop(columns=["MRN"])  # the MRN stops here
    check_reused_specimens(ctx, site, labs)
    if labs.empty:
        return pd.DataFrame()
    labs = labs.reset_index(drop=True)
    if not labs["TEST"].isin(list(tests)).all():
        # ingest keeps only the lab map's tests (the others are RAW-LIS-UNKNOWN-TEST findings): a broken step
        raise RuntimeError(f"staged {site} LIS rows hold a test the lab map does not: staging is out of step")
    q = labs[RESULT_KEYS].merge(result_qualifiers(study, tests, labs[RESULT_KEYS]), how="left", on=RESULT_KEYS)
    is_cancelled = labs["STATUS"].isin(list(cancelled)).to_numpy()
    reason = q["_REASON"].to_numpy(dtype=object, copy=True)
    reason[is_cancelled] = study.lab_cancelled_reason
    # SDTMIG 3.4 LB: a test not done has no result, no unit and no range; the reason says why.
    not_done = is_cancelled | pd.notna(reason)
    record = ("line " + labs["SRCLINE"].astype(str) + ", specimen " + labs["SPECID"].astype(str)
              ).to_numpy(dtype=object)
    report_result_findings(ctx, site, labs[~not_done], q[~not_done], record[~not_done])
    per_test = {name: labs["TEST"].map({k: getattr(t, name) for k, t in tests.items()}).to_numpy(dtype=object)
                for name in ("lbtestcd", "lbtest", "lbcat", "lbspec")}
    n = len(labs)
    columns = {
        "_SUBJECTKEY": labs["SUBJ"].to_numpy(dtype=object), "_SITEID": [site] * n, "_EVENTOID": [""] * n,
        "_EVENTREPEAT": [""] * n, "_RECORD": ["LAB"] * n, "_SRCFILE": labs["SRCFILE"].to_numpy(dtype=object),
        "_SRCREC": record, "LBTESTCD": per_test["lbtestcd"], "LBTEST": per_test["lbtest"],
        "LBCAT": per_test["lbcat"], "LBSPEC": per_test["lbspec"], "LBREFID": labs["SPECID"].to_numpy(dtype=object),
    }
    for c in QUALIFIERS:
        values = q[c].to_numpy(dtype=object, copy=True)
        values[not_done] = None
        columns[c] = values
    columns["LBSTAT"] = pd.Series(NOT_DONE, index=labs.index).where(not_done).to_numpy(dtype=object)
    columns["LBREASND"] = pd.Series(reason).where(not_done).to_numpy(dtype=object)
    columns["LBDTC"] = labs["COLLDTC"].to_numpy(dtype=object)
    # Typed as the row dicts were: text columns str, all-null columns object.
    df = pd.DataFrame({c: np.asarray(v, dtype=object) for c, v in columns.items()}).infer_objects()
    for c in ("LBSTRESN", "LBSTNRLO", "LBSTNRHI"):
        df[c] = df[c].astype("Float64")
    return df


def derive_reason_not_done(study: StudyConfig, result: str, cancelled: bool) -> str | None:
    """LBREASND of a row that is no result: cancelled by the laboratory, or a known comment (haemolysed)."""
    if cancelled:
        return study.lab_cancelled_reason
    if is_measured(result):
        return None
    return study.lab_result_text.get(result.strip())


def result_qualifiers(study: StudyConfig, tests: dict[str, LabTest], results: pd.DataFrame) -> pd.DataFrame:
    """RESULT_KEYS plus the qualifiers of LB, _UNIT_OK, _IS_RESULT and _REASON (of a result no measurement).

    Each distinct (test, result, unit, range) is worked out once: LIS results repeat across thousands of rows.
    """
    distinct = results.drop_duplicates().reset_index(drop=True)
    rows = [lab_result(study, tests[t], r, u, lo, hi) for t, r, u, lo, hi in
            zip(*(distinct[k] for k in RESULT_KEYS), strict=True)]
    return pd.concat([distinct, pd.DataFrame(rows, columns=[*QUALIFIERS, "_UNIT_OK", "_IS_RESULT", "_REASON"],
                                             dtype=object)], axis=1)


def lab_result(study: StudyConfig, t: LabTest, result, unit_text, range_low, range_high) -> dict:
    """The result qualifiers of one LIS result: as reported, in standard units, and against the lab's range."""
    reason = derive_reason_not_done(study, result if isinstance(result, str) else "", False)
    unit = study.unit_aliases.get(unit_text, unit_text) or None
    unit_ok = (unit or None) == t.local_unit
    is_result = isinstance(result, str) and is_measured(result)
    stresc, stresn = standardize_result(result, t.factor) if unit_ok else (None, None)
    if not is_result:
        # Neither a number, a limit nor a known comment: kept as text until the site says what it is.
        stresc = result
    lo = parse_number(range_low) if unit_ok and is_result else None
    # A range printed as an upper limit only ("<7") has no low end.
    hi = parse_number(range_high) if unit_ok and is_result else None
    if unit_ok and is_result and hi is None:
        hi = parse_range(range_high)[1]
    stnrlo = round(lo * t.factor, 6) if lo is not None else None
    stnrhi = round(hi * t.factor, 6) if hi is not None else None
    return {
        "LBORRES": result, "LBORRESU": unit, "LBORNRLO": (range_low or None) if is_result else None,
        "LBORNRHI": (range_high or None) if is_result else None,
        "LBSTRESC": stresc, "LBSTRESN": stresn, "LBSTRESU": t.lbstresu if unit_ok else None,
        "LBSTNRLO": stnrlo, "LBSTNRHI": stnrhi, "LBNRIND": nrind(stresn, stresc, stnrlo, stnrhi),
        "_UNIT_OK": unit_ok, "_IS_RESULT": is_result, "_REASON": reason,
    }


def report_result_findings(ctx: BuildContext, site: str, labs: pd.DataFrame, q: pd.DataFrame, record) -> None:
    """LIS-UNIT and LIS-RESULT-TEXT of the results (rows not done excluded); only rows that raise one are visited."""
    tests = ctx.study.lab_tests(site)
    unit_ok, is_result = q["_UNIT_OK"].to_numpy(dtype=bool), q["_IS_RESULT"].to_numpy(dtype=bool)
    for i in (~unit_ok | ~is_result).nonzero()[0]:
        r, t = labs.iloc[i], tests[labs["TEST"].iloc[i]]
        if not unit_ok[i]:
            ctx.findings.add(Finding(ERROR, "LIS-UNIT", r["SRCFILE"], record[i], "unit",
                                     f"unit for {t.lbtestcd} is not the expected {t.local_unit or '(none)'}; "
                                     "result kept unconverted", value=r["UNIT"], site=site, subjid=r["SUBJ"],
                                     domain="LB"))
        if not is_result[i]:
            ctx.findings.add(Finding(WARNING, "LIS-RESULT-TEXT", r["SRCFILE"], record[i], "result",
                                     "result is neither a number nor a known comment", value=r["RESULT"],
                                     site=site, subjid=r["SUBJ"], domain="LB"))


def check_reused_specimens(ctx: BuildContext, site: str, labs: pd.DataFrame) -> None:
    """LIS-SPECIMEN-REUSED: one specimen number on draws of different collection times (or subjects).

    lis-export.md: only the same specimen, test and draw re-sent is a correction. Another collection
    time is another draw: both are kept, and the site is asked about the number.
    """
    order = ["SPECID", "COLLDTC", "SRCFILE", "SRCLINE"]
    draws = labs.sort_values(order, kind="stable").groupby(["SPECID", "COLLDTC", "SUBJ"], sort=False).head(1)
    # Only a number on two or more draws is a finding: the Python loop sees those few specimens only.
    draws = draws[draws.duplicated("SPECID", keep=False)]
    for spec, grp in draws.groupby("SPECID", sort=True):
        first = grp.iloc[0]
        for r in grp.iloc[1:].itertuples(index=False):
            whose = "" if r.SUBJ == first["SUBJ"] else f" of subject {first['SUBJ']}"
            ctx.findings.add(Finding(
                ERROR, "LIS-SPECIMEN-REUSED", r.SRCFILE, f"line {r.SRCLINE}, specimen {spec}", "specimen number",
                f"specimen {spec} collected {r.COLLDTC} carries the number of the draw{whose} collected "
                f"{first['COLLDTC']} ({first['SRCFILE']} line {first['SRCLINE']}); both are kept as separate "
                "draws: please confirm the specimen number", site=site, subjid=r.SUBJ, domain="LB",
                key=f"specimen {spec} collected {r.COLLDTC}"))  # stable when a correction re-sends the draw

