"""The unblinded randomization list (present only at unblinding)."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from transforms.cdisc.findings import ERROR, Finding, Findings
from transforms.config import StudyConfig
from transforms.ingest.lab import csv_problem, header_problem

COLUMNS = ["RANDNO", "ARMCD", "DOSELVL", "SRCFILE", "SRCLINE"]


class RandomizationFileError(ValueError):
    """The randomization list cannot be read at all (blocking)."""


def ingest_randomization(path: Path, study: StudyConfig, out: Path) -> tuple[int, Findings]:
    """Read the list, check arms and doses, write the staged table; returns (rows, findings)."""
    cfg = study.randomization
    findings = Findings()
    try:
        text = path.read_bytes().decode(cfg.encoding)
    except UnicodeDecodeError as exc:
        raise RandomizationFileError(f"{path.name}: not readable as {cfg.encoding} (byte {exc.start})") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        records = list(reader)
    except csv.Error as exc:
        raise RandomizationFileError(f"{path.name}: line {reader.line_num} is not CSV the contract describes "
                                     f"({csv_problem(exc)})") from exc
    header = [h.strip() for h in (records[0] if records else [])]
    if header != list(cfg.columns):
        raise RandomizationFileError(f"{path.name}: {header_problem(header, list(cfg.columns))}")
    rows, seen = [], set()
    for line_no, values in enumerate(records[1:], start=2):
        if not values:
            continue
        rec = dict(zip([cfg.columns[h] for h in header], (v.strip() for v in values), strict=False))
        where = f"line {line_no}"
        if len(values) != len(header):
            findings.add(Finding(ERROR, "RAND-RECORD-SHAPE", path.name, where, "", "record does not have 3 fields"))
            continue
        if rec["ARMCD"] not in study.arms:
            findings.add(Finding(ERROR, "RAND-ARMCD", path.name, where, "ARMCD",
                                 f"arm code is not one of {sorted(study.arms)}", value=rec["ARMCD"]))
            continue
        try:
            dose = float(rec["DOSELVL"])
        except ValueError:
            findings.add(Finding(ERROR, "RAND-DOSELVL", path.name, where, "DOSELVL", "dose level is not a number",
                                 value=rec["DOSELVL"]))
            continue
        if rec["RANDNO"] in seen:
            findings.add(Finding(ERROR, "RAND-DUPLICATE", path.name, where, "RANDNO",
                                 "randomization number listed twice; the first is used", value=rec["RANDNO"]))
            continue
        seen.add(rec["RANDNO"])
        rows.append({"RANDNO": rec["RANDNO"], "ARMCD": rec["ARMCD"], "DOSELVL": dose, "SRCFILE": path.name,
                     "SRCLINE": line_no})
    df = pd.DataFrame(rows, columns=COLUMNS)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(out, index=False)
    return len(df), findings
