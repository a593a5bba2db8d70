"""CDISC CORE as one task per domain: the reports of the instances merge into the report of one run on the
whole folder, and a failed CORE instance never stops a release (the manifest and the CLI say it failed)."""
from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from transforms.pipeline.run import run_pipeline
from transforms.quality.core import merge_engine_reports

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "examples"
FOLDER = ["ae.xpt", "dm.xpt", "suppae.xpt", "suppdm.xpt"]  # the runner lists a folder's files sorted


def _rule(core_id: str, by_dataset: dict[str, list], crash: str = "", seconds: float = 1.0) -> dict:
    return {"core_id": core_id, "description": f"{core_id} text", "message": "msg", "seconds": seconds,
            "crash": crash, "results": [r for rs in by_dataset.values() for r in rs], "results_by_dataset": by_dataset}


def _part(checked: list[str], rules: list[dict], seconds: float) -> dict:
    return {"engine": "cdisc-rules-engine 0.17.1", "python": "3.12.1", "standard": "sdtmig/3-4", "datasets": FOLDER,
            "seconds": seconds, "jobs": 2, "dataset_classes": {}, "checked": checked, "rules": rules}


def _res(dataset: str) -> dict:
    return {"dataset": dataset, "executionStatus": "success"}


def test_instances_merge_in_the_folders_dataset_order_as_one_run_gives():
    # The AE instance checks AE and SUPPAE, the DM instance DM and SUPPDM: one run on the folder
    # reports each rule's datasets in file order, AE, DM, SUPPAE, SUPPDM, whichever instance ran first.
    dm = _part(["DM", "SUPPDM"], [_rule("CORE-000001", {"DM": [_res("DM")], "SUPPDM": [_res("SUPPDM")]}, seconds=2.0),
                                  _rule("CORE-000002", {"DM": [_res("DM")], "SUPPDM": []})], seconds=5.0)
    ae = _part(["AE", "SUPPAE"], [_rule("CORE-000001", {"AE": [_res("AE")], "SUPPAE": [_res("SUPPAE")]}),
                                  _rule("CORE-000002", {"AE": [], "SUPPAE": []}, crash="KeyError: 'X'")], seconds=3.0)
    merged = merge_engine_reports([dm, ae])
    first, second = merged["rules"]
    assert [r["dataset"] for r in first["results"]] == ["AE", "DM", "SUPPAE", "SUPPDM"]
    assert first["seconds"] == 3.0 and merged["seconds"] == 8.0
    # A rule that crashed on any dataset crashed, as in one run (which stops the rule at its crash).
    assert second["crash"] == "KeyError: 'X'" and second["results"] == []
    assert merged["checked"] == ["AE", "DM", "SUPPAE", "SUPPDM"] and merged["datasets"] == FOLDER


def _failing_engine(tmp_path: Path) -> Path:
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\necho 'engine exploded' >&2\nexit 3\n")
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    return python


@pytest.mark.slow
def test_a_failed_core_never_blocks_the_release(study, tmp_path, monkeypatch):
    monkeypatch.setattr("transforms.quality.core.core_python", lambda *a: _failing_engine(tmp_path))
    result = run_pipeline(EXAMPLES, tmp_path / "out", study, core=True, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert (tmp_path / "out" / "current").resolve() == result.release
    manifest = json.loads((result.release / "manifest.json").read_text(encoding="utf-8"))
    # In one process CORE is one instance over every dataset (Airflow fans it out per domain): its
    # failure is said once, with the datasets it failed for.
    core_steps = {k: v for k, v in manifest["steps"].items() if k.startswith("core_")}
    assert core_steps and all(v["error"].startswith("RuntimeError: CORE runner failed (3)") for v in core_steps.values())
    assert manifest["core"]["error"].count("CORE runner failed") == 1 and "(AE, DM," in manifest["core"]["error"]
    assert manifest["core"]["tasks"] == len(core_steps) == 1 and not (result.release / "reports" / "core.json").exists()
    # The XPT datasets are in the release all the same (written before CORE, beside the Parquet).
    assert {f"{d.lower()}.xpt" for d in manifest["xpt"]["datasets"]} <= {p.name for p in (result.release / "sdtm").iterdir()}
