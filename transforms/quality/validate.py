"""Layers 1 and 2: the committed GX suites run on raw staged tables and on SDTM datasets."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from transforms.cdisc.findings import Finding
from transforms.config import StudyConfig
from transforms.ingest.edc import edc_record
from transforms.privacy.lab import protect_lab_rows
from transforms.privacy.scrub import Scrubber
from transforms.quality.added_columns import message_of
from transforms.quality.gx_runner import findings_from, load_suite, validate
from transforms.quality.sdtm_data import SdtmData, record_key
from transforms.standards.metadata import dataset_meta

EDC_INDEX = ["SUBJECTKEY", "SITEID", "EVENTOID", "EVENTREPEAT", "FORMOID", "FORMREPEAT", "IGOID", "IGREPEAT",
             "ITEMOID", "VALUE", "SRCFILE", "SRCLINE"]
LAB_INDEX = ["SPECID", "TEST", "SRCFILE", "SRCLINE", "COLLDTM", "REPORTDTM", "RESULT", "UNIT", "STATUS"]


def _applicable(suite: dict, columns: set[str]) -> dict:
    """The suite without value checks on columns the dataset does not have (Perm variables left out)."""
    keep = []
    for e in suite["expectations"]:
        kw = e["kwargs"]
        needed = {kw[k] for k in ("column", "column_A", "column_B") if k in kw} | set(kw.get("column_list", []))
        if e["type"] == "expect_column_to_exist" or needed <= columns:
            keep.append(e)
    return suite | {"expectations": keep}


def validate_raw_edc(items: pd.DataFrame, study: StudyConfig, results: Path | None = None,
                     scrubber: Scrubber | None = None) -> list[Finding]:
    """Raw layer for the EDC snapshot: every item value against the eCRF (GX results scrubbed of identifiers)."""
    if scrubber is None:
        scrubber = Scrubber(items.loc[items["ITEMOID"].isin(study.identifiers.items), "VALUE"].dropna())
    suite = load_suite(study, "raw_edc_items")

    def to_finding(meta: dict, kwargs: dict, row: dict | None) -> Finding:
        row = row or {}
        return Finding(
            severity=meta["severity"], rule=meta["rule_id"], source=str(row.get("SRCFILE", "")),
            record=edc_record(row) if row else "", field=str(row.get("ITEMOID", meta["field"])),
            message=message_of(meta, row.get("ITEMOID")),
            value=str(row.get("VALUE", "")) if meta.get("show_value") else "",
            site=str(row.get("SITEID", "")), subjid=str(row.get("SUBJECTKEY", "")), domain="EDC")

    return findings_from(validate(items, suite, EDC_INDEX, results and results / "raw_edc_items.json",
                                  scrubber), to_finding)


def validate_raw_lab(rows: pd.DataFrame, study: StudyConfig, site: str,
                     subject_of_mrn: dict[str, str] | None = None, results: Path | None = None,
                     scrubber: Scrubber | None = None) -> list[Finding]:
    """Raw layer for a site's LIS rows; the MRN only finds the subject and never enters a finding.

    Specimen numbers are validated as their pseudonyms and result comments scrubbed, so that neither
    findings nor the GX results carry them.
    """
    subject_of_mrn = subject_of_mrn or {}
    rows = protect_lab_rows(rows, study.study_id, scrubber or Scrubber(), site)
    rows = rows.assign(SUBJECTKEY=rows["MRN"].map(lambda m: subject_of_mrn.get(m.strip(), "") if isinstance(m, str)
                                                  else ""))
    suite = load_suite(study, f"raw_lab_{site.lower()}")
    show = {"collection time": "COLLDTM", "report time": "REPORTDTM", "test": "TEST", "result": "RESULT",
            "unit": "UNIT", "status": "STATUS"}

    def to_finding(meta: dict, kwargs: dict, row: dict | None) -> Finding:
        row = row or {}
        record = f"line {row.get('SRCLINE')}, specimen {row.get('SPECID')}" if row else ""
        return Finding(
            severity=meta["severity"], rule=meta["rule_id"], source=str(row.get("SRCFILE", "")), record=record,
            field=meta["field"], message=message_of(meta, row.get("TEST")),
            value=str(row.get(show.get(meta["field"], ""), "")),
            site=site, subjid=str(row.get("SUBJECTKEY", "")), domain="LB",
            # The draw's result, not the file: a specimen sent twice (a re-send, a correction) is one query.
            key=f"specimen {row.get('SPECID')} test {row.get('TEST')} collected {row.get('COLLDTM')}")

    result = results and results / f"raw_lab_{site.lower()}.json"
    return findings_from(validate(rows.drop(columns=["MRN"]), suite, [*LAB_INDEX, "SUBJECTKEY"], result,
                                  scrubber), to_finding)


def validate_sdtm_dataset(path: Path, lineage: Path | None, study: StudyConfig,
                          site_of: dict[str, str], results: Path | None = None) -> list[Finding]:
    """SDTM layer for one dataset: conformance and plausibility, each failing record traced to its source."""
    name = path.stem.upper()
    from transforms.quality.gx_runner import suite_path

    if not suite_path(study, f"sdtm_{path.stem}").exists():
        return []
    df = pd.read_parquet(path)
    suite = _applicable(load_suite(study, f"sdtm_{path.stem}"), set(df.columns))
    seq = f"{name}SEQ" if not name.startswith("SUPP") else "IDVARVAL"
    keys = [k for k in dataset_meta(name if not name.startswith("SUPP") else "SUPPQUAL").keys
            if k in df and k not in ("STUDYID", "USUBJID")]
    index = [c for c in ("USUBJID", seq, "VISIT", *keys) if c in df]
    index = list(dict.fromkeys(index))
    data = SdtmData(path.parent.parent, study.study_id)
    src = data.source(name) if lineage is not None and lineage.exists() else {}
    lin_keys = [seq] if seq in df else [k for k in ("VISITNUM",) if k in df]
    prefix = f"{study.study_id}-"

    def to_finding(meta: dict, kwargs: dict, row: dict | None) -> Finding:
        row = row or {}
        usubjid = str(row.get("USUBJID", ""))
        column = kwargs.get("column", "")
        value = "" if column not in row else str(row[column])
        srcfile, srcrec = src.get((usubjid, record_key(row, lin_keys)), ("", ""))
        key_seq = " ".join(f"{k}={row.get(k)}" for k in index if k not in ("USUBJID", "VISIT") and k in row)
        return Finding(
            severity=meta["severity"], rule=meta["rule_id"], source=srcfile or f"sdtm/{path.name}",
            record=srcrec or (f"USUBJID={usubjid} {key_seq}".removeprefix("USUBJID= ") if row else ""),
            field=f"{name}.{meta['field']}",
            message=meta["message"], value=value, subjid=usubjid.removeprefix(prefix),
            site=site_of.get(usubjid, ""), visit=str(row.get("VISIT", "") or ""), domain=name,
            key=f"{name} {srcrec}" if srcrec else "")

    # In the suite's order (a set's order changes with the hash seed, and with it the result's bytes).
    checked = dict.fromkeys(e["kwargs"].get("column") for e in suite["expectations"])
    index_cols = index + [c for c in checked if c in df and c not in index]
    return findings_from(validate(df, suite, index_cols, results and results / f"sdtm_{path.stem}.json"), to_finding)
