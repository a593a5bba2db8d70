"""The de-identification report for the sharing committee (HTML and CSV): rules per variable, redactions, k."""
from __future__ import annotations

import html
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from transforms.config import StudyConfig
from transforms.publish.cells import defuse_formula
from transforms.share.apply import VariableReport
from transforms.share.freetext import Redaction
from transforms.share.rules import RULE_MEANING, RuleTable, ShareConfig

REDACTION_COLUMNS = ["dataset", "usubjid", "variable", "record", "kinds"]


def write_report(folder: Path, reports: list[VariableReport], redactions: list[Redaction], records: pd.DataFrame,
                 classes: pd.DataFrame, cfg: ShareConfig, rules: RuleTable, study: StudyConfig) -> None:
    """deid/report.html and its CSV tables: rules_applied, redactions, k_anonymity_records, k_anonymity_summary."""
    folder.mkdir(parents=True, exist_ok=True)
    applied = pd.DataFrame([asdict(r) for r in reports])
    reds = pd.DataFrame([asdict(r) for r in redactions], columns=REDACTION_COLUMNS)
    tables = {"rules_applied": applied, "redactions": reds, "k_anonymity_summary": classes,
              "k_anonymity_records": records}
    for name, frame in tables.items():
        _csv(frame, folder / f"{name}.csv")
    below = classes[classes["BELOW_THRESHOLD"] == "Y"]
    parts = [f"<h1>De-identification report: {_e(study.study_id)}</h1>",
             f"<p>{_e(study.title)}</p>",
             "<h2>Settings</h2><ul>",
             f"<li>Dates: {_e(_date_words(cfg))}</li>",
             f"<li>Sites: {_e(cfg.sites.mode)}</li>",
             f"<li>Ages above {cfg.age_cap}: set to {cfg.age_cap + 1} (read as {cfg.age_cap + 1} or older)</li>",
             f"<li>k-anonymity over {_e(' x '.join(cfg.kanon.quasi_identifiers))} of {_e(cfg.kanon.dataset)}, "
             f"threshold {cfg.kanon.threshold}: {len(below)} of {len(classes)} classes below it, holding "
             f"{int(below['K'].sum()) if len(below) else 0} participants</li></ul>",
             "<h2>Rule types</h2>", _table(pd.DataFrame(sorted(RULE_MEANING.items()), columns=["rule", "meaning"])),
             "<h2>Rules applied per variable</h2>", _table(applied),
             f"<h2>Redactions ({len(reds)})</h2><p>Where free text was redacted and which kind of identifier "
             "fired; the redacted text itself is not shown.</p>", _table(reds),
             "<h2>k-anonymity: equivalence classes</h2>", _table(classes),
             "<h2>k-anonymity per participant</h2>", _table(records)]
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>De-identification report"
            "</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
    (folder / "report.html").write_text(page, encoding="utf-8")


def _date_words(cfg: ShareConfig) -> str:
    if cfg.date_mode == "study_day":
        return "calendar dates removed; study days (--DY, ADY) and durations kept"
    return "every date of a participant shifted by one secret offset per participant; partial dates keep their precision"


def _csv(frame: pd.DataFrame, path: Path) -> None:
    safe = frame.map(lambda v: defuse_formula(v) if isinstance(v, str) else v)
    safe.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>\n" for row in frame.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{rows}</tbody></table>"


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))
