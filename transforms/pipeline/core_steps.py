"""The steps between the SDTM build and the release that CDISC CORE needs: XPT in staging, CORE per dataset, one report.

XPT (and the SDTM define.xml, which CORE also reads) is written beside the run's SDTM Parquet before
publishing, as the release lays them out, so that CORE checks exactly the files the release will
hold and its report goes into the release before OUT/current switches to it: a published release is
never changed afterwards. A CORE failure is recorded, never raised: the
release goes out without (part of) the CORE report, and the manifest says why.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from transforms.config import StudyConfig
from transforms.land.landing import Landing
from transforms.pipeline.steps import data_cut
from transforms.pipeline.workspace import Workspace
from transforms.publish.interchange import write_sdtm_define
from transforms.publish.xpt import write_release_xpt

MERGED = "merged.json"  # the merged engine report in the workspace's core folder
STATUS = ".status.json"  # each CORE instance's datasets, wall time and error


def step_write_xpt(ws: Workspace, study: StudyConfig) -> dict:
    """Every SDTM dataset of the run as SAS V5 transport, and the SDTM define.xml, beside its Parquet; the XPT datasets."""
    for stale in (*ws.sdtm.glob("*.xpt"), ws.sdtm / "define.xml"):  # a retried run's
        stale.unlink(missing_ok=True)
    landing = Landing.read(ws.landing)
    # Once every dataset is there: a parent's text over 200 bytes continues in its SUPP-- (XPT only).
    datasets = write_release_xpt(ws.sdtm, data_cut(landing))
    write_sdtm_define(ws.sdtm, study, data_cut=data_cut(landing), blinded=not landing.of("randomization"))
    return {"datasets": datasets}


ALL = "ALL"  # the one CORE instance of a run in one process: every dataset


def core_datasets(ws: Workspace, domain: str | None) -> list[str]:
    """The datasets one CORE instance checks: the domain and its SUPP-- (every dataset for None), those with an XPT file."""
    if domain is None:
        return sorted(p.stem.upper() for p in ws.sdtm.glob("*.xpt"))
    return [name for name in (domain.upper(), f"SUPP{domain.upper()}") if (ws.sdtm / f"{name.lower()}.xpt").exists()]


def step_core(ws: Workspace, domain: str | None) -> dict:
    """CDISC CORE on one domain's datasets, or on all of them for None (every XPT of the run readable for cross-dataset rules).

    Writes ws.core/<DOMAIN>.json (the engine's report) and <DOMAIN>.status.json (datasets, wall
    seconds, error), DOMAIN being ALL for None; returns nothing for the manifest (merge_core reports
    every instance, also those whose task did not finish).
    """
    from transforms.quality.core import run_engine

    datasets = core_datasets(ws, domain)
    if not datasets:
        return {}  # an empty domain has no dataset
    ws.core.mkdir(parents=True, exist_ok=True)
    name = ALL if domain is None else domain.upper()
    report = ws.core / f"{name}.json"
    report.unlink(missing_ok=True)
    start, error = time.perf_counter(), None
    try:
        run_engine(ws.sdtm, report, datasets=datasets)
    except Exception as exc:  # noqa: BLE001 - an external checker's failure must not stop a release
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
        report.unlink(missing_ok=True)
    status = {"datasets": datasets, "seconds": round(time.perf_counter() - start, 1), "error": error}
    (ws.core / f"{name}{STATUS}").write_text(json.dumps(status) + "\n", encoding="utf-8")
    return {}


def step_merge_core(ws: Workspace) -> dict:
    """One engine report from the CORE instances (ws.core/merged.json); each instance's time and error.

    Returns {"core_<domain>": {"datasets", "seconds"[, "error"]}} for the manifest's steps, and
    {"core": {...}} with the total and what did not run; nothing when CORE did not run.
    """
    from transforms.quality.core import merge_engine_reports

    statuses = {p.name.removesuffix(STATUS): json.loads(p.read_text(encoding="utf-8"))
                for p in sorted(ws.core.glob(f"*{STATUS}"))} if ws.core.is_dir() else {}
    if not statuses:
        return {}
    parts = [json.loads((ws.core / f"{d}.json").read_text(encoding="utf-8"))
             for d, s in statuses.items() if s["error"] is None]
    # A failed instance is named by its domain; the one instance of a run in one process by its datasets.
    errors = {name: s["error"] for d, s in statuses.items() if s["error"] is not None
              for name in (s["datasets"] if d == ALL else [d])}
    checked = {name for s in statuses.values() for name in s["datasets"]}
    unchecked = sorted(p.stem.upper() for p in ws.sdtm.glob("*.xpt") if p.stem.upper() not in checked)
    if parts:
        merged = merge_engine_reports(parts)
        (ws.core / MERGED).write_text(json.dumps(merged, ensure_ascii=False) + "\n", encoding="utf-8")
    summary = {"tasks": len(statuses), "seconds": round(sum(s["seconds"] for s in statuses.values()), 1),
               "errors": errors, "not_run": unchecked}
    return {**{f"core_{d.lower()}": {k: v for k, v in s.items() if v is not None} for d, s in statuses.items()},
            "core": summary}


def merged_core_report(ws: Workspace) -> Path | None:
    """The merged engine report of the run, if any CORE instance succeeded."""
    path = ws.core / MERGED
    return path if path.is_file() else None
