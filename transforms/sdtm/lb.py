"""LB records from the sites' staged LIS results: linked by MRN, mapped by each site's lab map."""
from __future__ import annotations

import pandas as pd

from transforms.privacy.lab import protect_lab_rows
from transforms.quality.findings import ERROR, WARNING, Finding
from transforms.sdtm.context import BuildContext
from transforms.sdtm.derive import _LIMIT, _NUMBER, nrind, parse_range, standardize_result


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
    link = subject_by_mrn(ctx)
    labs = labs.copy()
    labs["SUBJ"] = [link.get((site, m.strip() if isinstance(m, str) else "")) for m in labs["MRN"]]
    labs = protect_lab_rows(labs, study.study_id, ctx.scrubber, site, ctx.findings)  # privacy: SPECID, RESULT
    orphans = labs[labs["SUBJ"].isna()]
    for (src, spec), grp in orphans.groupby(["SRCFILE", "SPECID"], sort=True):
        ctx.findings.add(Finding(ERROR, "LIS-ORPHAN", src, f"line {int(grp['SRCLINE'].min())}, specimen {spec}",
                                 "patient id", f"{len(grp)} result(s) of specimen {spec} match no subject of {site}",
                                 site=site, domain="LB"))
    labs = labs[labs["SUBJ"].notna()].drop(columns=["MRN"])  # the MRN stops here
    rows = []
    for r in labs.itertuples(index=False):
        t = tests[r.TEST]
        record = f"line {r.SRCLINE}, specimen {r.SPECID}"
        unit = study.unit_aliases.get(r.UNIT, r.UNIT) or None
        unit_ok = (unit or None) == t.local_unit
        if not unit_ok:
            ctx.findings.add(Finding(ERROR, "LIS-UNIT", r.SRCFILE, record, "unit",
                                     f"unit for {t.lbtestcd} is not the expected {t.local_unit or '(none)'}; "
                                     "result kept unconverted", value=r.UNIT, site=site, subjid=r.SUBJ, domain="LB"))
        stresc, stresn = standardize_result(r.RESULT, t.factor) if unit_ok else (None, None)
        if stresc is None and not (_NUMBER.match(r.RESULT) or _LIMIT.match(r.RESULT)):
            stresc = study.lab_result_text.get(r.RESULT)
            if stresc is None:
                stresc = r.RESULT
                ctx.findings.add(Finding(WARNING, "LIS-RESULT-TEXT", r.SRCFILE, record, "result",
                                         "result is neither a number nor a known comment", value=r.RESULT,
                                         site=site, subjid=r.SUBJ, domain="LB"))
        lo = _num(r.RANGE_LOW) if unit_ok else None
        # A range printed as an upper limit only ("<7") has no low end.
        hi = _num(r.RANGE_HIGH) if unit_ok else None
        if unit_ok and hi is None:
            hi = parse_range(r.RANGE_HIGH)[1]
        is_result = bool(_NUMBER.match(r.RESULT) or _LIMIT.match(r.RESULT))
        if not is_result:
            lo = hi = None  # a comment (haemolysed, see note) is no result: no range beside it
        stnrlo = round(lo * t.factor, 6) if lo is not None else None
        stnrhi = round(hi * t.factor, 6) if hi is not None else None
        rows.append({
            "_SUBJECTKEY": r.SUBJ, "_SITEID": site, "_EVENTOID": "", "_EVENTREPEAT": "", "_RECORD": "LAB",
            "_SRCFILE": r.SRCFILE, "_SRCREC": record,
            "LBTESTCD": t.lbtestcd, "LBTEST": t.lbtest, "LBCAT": t.lbcat, "LBSPEC": t.lbspec, "LBREFID": r.SPECID,
            "LBORRES": r.RESULT, "LBORRESU": unit, "LBORNRLO": (r.RANGE_LOW or None) if is_result else None,
            "LBORNRHI": (r.RANGE_HIGH or None) if is_result else None,
            "LBSTRESC": stresc, "LBSTRESN": stresn, "LBSTRESU": t.lbstresu if unit_ok else None,
            "LBSTNRLO": stnrlo, "LBSTNRHI": stnrhi, "LBNRIND": nrind(stresn, stresc, stnrlo, stnrhi),
            "LBDTC": r.COLLDTC,
        })
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    for c in ("LBSTRESN", "LBSTNRLO", "LBSTNRHI"):
        df[c] = df[c].astype("Float64")
    return df


def _num(text: str | None) -> float | None:
    if not isinstance(text, str):
        return None
    m = _NUMBER.match(text)
    return float(m[1]) if m else None

