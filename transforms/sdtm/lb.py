"""LB records from the sites' staged LIS results: linked by MRN, mapped by each site's lab map."""
from __future__ import annotations

import pandas as pd

from transforms.cdisc.findings import ERROR, WARNING, Finding
from transforms.cdisc.results import is_measured, nrind, parse_number, parse_range, standardize_result
from transforms.config import LabTest, StudyConfig
from transforms.privacy.lab import protect_lab_rows
from transforms.sdtm.context import BuildContext

NOT_DONE = "NOT DONE"  # CT ND (Not Done), the only term of LBSTAT


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
    labs["SUBJ"] = [link.get((site, m.strip() if isinstance(m, str) else "")) for m in labs["MRN"]]
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
    rows = [lab_record(ctx, site, tests[r.TEST], r, r.STATUS in cancelled) for r in labs.itertuples(index=False)]
    df = pd.DataFrame(rows)
    if df.empty:
        return df
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


def lab_record(ctx: BuildContext, site: str, t: LabTest, r, cancelled: bool) -> dict:
    """One LB record from one current LIS row: a result in original and standard units, or NOT DONE."""
    record = f"line {r.SRCLINE}, specimen {r.SPECID}"
    row = {
        "_SUBJECTKEY": r.SUBJ, "_SITEID": site, "_EVENTOID": "", "_EVENTREPEAT": "", "_RECORD": "LAB",
        "_SRCFILE": r.SRCFILE, "_SRCREC": record,
        "LBTESTCD": t.lbtestcd, "LBTEST": t.lbtest, "LBCAT": t.lbcat, "LBSPEC": t.lbspec, "LBREFID": r.SPECID,
        "LBORRES": None, "LBORRESU": None, "LBORNRLO": None, "LBORNRHI": None, "LBSTRESC": None,
        "LBSTRESN": None, "LBSTRESU": None, "LBSTNRLO": None, "LBSTNRHI": None, "LBNRIND": None,
        "LBSTAT": None, "LBREASND": None, "LBDTC": r.COLLDTC,
    }
    reason = derive_reason_not_done(ctx.study, r.RESULT if isinstance(r.RESULT, str) else "", cancelled)
    if cancelled or reason is not None:
        # SDTMIG 3.4 LB: a test not done has no result, no unit and no range; the reason says why.
        return row | {"LBSTAT": NOT_DONE, "LBREASND": reason}
    return row | lab_result(ctx, site, t, r, record)


def lab_result(ctx: BuildContext, site: str, t: LabTest, r, record: str) -> dict:
    """The result qualifiers of one LIS result: as reported, in standard units, and against the lab's range."""
    study = ctx.study
    unit = study.unit_aliases.get(r.UNIT, r.UNIT) or None
    unit_ok = (unit or None) == t.local_unit
    if not unit_ok:
        ctx.findings.add(Finding(ERROR, "LIS-UNIT", r.SRCFILE, record, "unit",
                                 f"unit for {t.lbtestcd} is not the expected {t.local_unit or '(none)'}; "
                                 "result kept unconverted", value=r.UNIT, site=site, subjid=r.SUBJ, domain="LB"))
    stresc, stresn = standardize_result(r.RESULT, t.factor) if unit_ok else (None, None)
    is_result = is_measured(r.RESULT)
    if not is_result:
        # Neither a number, a limit nor a known comment: kept as text until the site says what it is.
        stresc = r.RESULT
        ctx.findings.add(Finding(WARNING, "LIS-RESULT-TEXT", r.SRCFILE, record, "result",
                                 "result is neither a number nor a known comment", value=r.RESULT,
                                 site=site, subjid=r.SUBJ, domain="LB"))
    lo = parse_number(r.RANGE_LOW) if unit_ok and is_result else None
    # A range printed as an upper limit only ("<7") has no low end.
    hi = parse_number(r.RANGE_HIGH) if unit_ok and is_result else None
    if unit_ok and is_result and hi is None:
        hi = parse_range(r.RANGE_HIGH)[1]
    stnrlo = round(lo * t.factor, 6) if lo is not None else None
    stnrhi = round(hi * t.factor, 6) if hi is not None else None
    return {
        "LBORRES": r.RESULT, "LBORRESU": unit, "LBORNRLO": (r.RANGE_LOW or None) if is_result else None,
        "LBORNRHI": (r.RANGE_HIGH or None) if is_result else None,
        "LBSTRESC": stresc, "LBSTRESN": stresn, "LBSTRESU": t.lbstresu if unit_ok else None,
        "LBSTNRLO": stnrlo, "LBSTNRHI": stnrhi, "LBNRIND": nrind(stresn, stresc, stnrlo, stnrhi),
    }


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

