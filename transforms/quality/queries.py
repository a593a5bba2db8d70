"""The data manager's query listing: one row per open finding, stable ids, new/open/resolved."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from transforms.publish.cells import FORMULA_START, defuse_formula, is_formula_like
from transforms.cdisc.findings import BLOCKING, ERROR, INFO, WARNING, Findings
from transforms.config import StudyConfig

QUERY_COLUMNS = ["QUERY_ID", "SITE", "SUBJID", "VISIT", "SOURCE", "FIELD", "VALUE", "RULE", "MESSAGE", "SEVERITY",
                 "FIRST_SEEN", "STATUS"]
_SEVERITY_ORDER = {BLOCKING: 0, ERROR: 1, WARNING: 2}
# Characters XML 1.0 (so xlsx) cannot hold; openpyxl refuses them.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _undo_defuse(text: str) -> str:
    return text[1:] if text.startswith("'") and is_formula_like(text[1:]) else text


def xml_safe(text: str) -> str:
    """Text without the control characters XML (and so xlsx) cannot hold (each becomes U+FFFD)."""
    return _XML_ILLEGAL.sub("\ufffd", text)


def build_queries(findings: Findings, previous: pd.DataFrame | None, seen_on: str) -> pd.DataFrame:
    """Queries of this release: findings keyed by a stable id; previous open queries that are gone are resolved.

    Informational findings (severity info) stay in findings.csv: they ask nothing of a site.
    """
    rows = {}
    for f in findings.items:
        if f.severity == INFO:
            continue
        qid = f.query_id
        if qid in rows:
            continue
        rows[qid] = {"QUERY_ID": qid, "SITE": f.site, "SUBJID": f.subjid, "VISIT": f.visit,
                     "SOURCE": f"{f.source}: {f.record}" if f.record else f.source, "FIELD": f.field,
                     "VALUE": f.value, "RULE": f.rule, "MESSAGE": f.message, "SEVERITY": f.severity}
    prev_open = pd.DataFrame(columns=QUERY_COLUMNS)
    if previous is not None and not previous.empty:
        prev_open = previous[previous["STATUS"].isin(["new", "open"])]
    first_seen = dict(zip(prev_open["QUERY_ID"], prev_open["FIRST_SEEN"], strict=True))
    for qid, row in rows.items():
        row["FIRST_SEEN"] = first_seen.get(qid, seen_on)
        row["STATUS"] = "open" if qid in first_seen else "new"
    resolved = prev_open[~prev_open["QUERY_ID"].isin(rows)].assign(STATUS="resolved")
    out = pd.concat([pd.DataFrame(list(rows.values()), columns=QUERY_COLUMNS), resolved[QUERY_COLUMNS]],
                    ignore_index=True)
    out = out.fillna("").astype("string")
    order = out["SEVERITY"].map(_SEVERITY_ORDER).fillna(9)
    return out.assign(_O=order).sort_values(["STATUS", "_O", "SITE", "SUBJID", "RULE", "QUERY_ID"],
                                            kind="stable").drop(columns="_O").reset_index(drop=True)


def read_previous_queries(release: Path | None) -> pd.DataFrame | None:
    """The query listing of the previous release, if there is one."""
    if release is None:
        return None
    p = release / "reports" / "queries.csv"
    if not p.exists():
        return None
    # Cells were written defused (see write_queries): read them back as the values they stand for.
    return pd.read_csv(p, dtype=str, keep_default_na=False).map(_undo_defuse)


def write_queries(queries: pd.DataFrame, folder: Path, study: StudyConfig | None = None,
                  created: str | None = None) -> None:
    """queries.csv (UTF-8) and queries.xlsx (every row, then per-site and sponsor sheets); never a formula.

    `created` (the data cut) dates the workbook, so the same queries give the same bytes.
    """
    from transforms.quality.query_workbook import workbook_sheets, write_workbook

    folder.mkdir(parents=True, exist_ok=True)
    text = queries.fillna("").astype(str).map(xml_safe)
    text.map(defuse_formula).to_csv(folder / "queries.csv", index=False, encoding="utf-8", lineterminator="\n")
    write_workbook(workbook_sheets(text, study), folder / "queries.xlsx", FORMULA_START, created)
