"""A whole run in this process (the CLI's `run`): the graph's steps one after another."""
from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from transforms.config import StudyConfig
from transforms.pipeline.graph import COUNTS, Step, instances, title
from transforms.land.landing import Landing
from transforms.pipeline.publish import collect_findings, input_fingerprint, step_publish
from transforms.pipeline.steps import StepBodies, cleanup, step_land
from transforms.pipeline.workspace import Workspace
from transforms.publish.release import current_release, out_lock, read_manifest, sweep_stale_runs
from transforms.cdisc.findings import Findings
from transforms.sdtm.build import sdtm_domains
from transforms.sdtm.spec import load_spec

# The CLI's run ids (see run_pipeline); the DAG's workspaces are named <study>__<run> and swept by the DAG.
CLI_RUN_ID = re.compile(r"\d{8}T\d{12}Z")


def unchanged_release(out: Path, landing: Landing) -> Path | None:
    """The current release when the landed files are exactly its inputs (same input fingerprint), else None."""
    current = current_release(out)
    if current is None or not (current / "manifest.json").exists():
        return None
    return current if read_manifest(current).get("input_fingerprint") == input_fingerprint(landing) else None


def cli_steps(study: StudyConfig) -> list[tuple[Step, str | None]]:
    """The steps run_pipeline runs, each once per lab site or SDTM domain it fans out over."""
    return instances(study, sdtm_domains(load_spec(study)))


def step_names(study: StudyConfig) -> list[str]:
    """Names of the steps run_pipeline reports, in order."""
    return [title(s, item) for s, item in cli_steps(study)]


@dataclass
class RunResult:
    release: Path
    counts: dict[str, int]
    findings: Findings
    blinded: bool
    # Why nothing was built (the drop's files are those of the current release), or None.
    unchanged: str | None = None


def run_pipeline(exports: Path, out: Path, study: StudyConfig,
                 progress: Callable[[str], None] = lambda _: None, now: datetime | None = None,
                 core: bool = False, skip_unchanged: bool = False) -> RunResult:
    """Land, ingest, build and publish; raises BlockingInputError and leaves OUT/current untouched.

    One run at a time per OUT (OutputBusyError otherwise); the run's staging folder is removed on
    every way out, and what killed runs left behind (staging, partial releases) at the next start.
    With skip_unchanged, a drop whose files are those of the current release (the same input
    fingerprint, as the nightly DAG decides) stops after landing: the result names the current release.
    """
    now = now or datetime.now(UTC)
    out = out.resolve()
    with out_lock(out):
        sweep_stale_runs(out, CLI_RUN_ID)
        ws = Workspace(out, now.strftime("%Y%m%dT%H%M%S%fZ"))
        try:
            return _run_steps(exports, ws, study, progress, now, core, skip_unchanged)
        finally:
            cleanup(ws)


def _run_steps(exports: Path, ws: Workspace, study: StudyConfig, progress: Callable[[str], None],
               now: datetime, core: bool, skip_unchanged: bool = False) -> RunResult:
    if ws.root.exists():
        shutil.rmtree(ws.root)
    bodies = StepBodies(ws, study, core=core)
    records: dict[str, dict] = {}
    counts: dict[str, int] = {}
    for step, item in cli_steps(study):
        if step.id == "core" and not core:
            continue
        progress(title(step, item))
        if step.id == "land":
            landing = step_land(exports, ws, study, now)
            records["land"] = {"files": len(landing.files)}
            same = unchanged_release(ws.out, landing) if skip_unchanged else None
            if same is not None:
                return RunResult(same, {}, Findings(), bool(read_manifest(same).get("blinded")),
                                 f"the {len(landing.files)} files are those of the current release {same.name}")
        elif step.id == "publish":
            findings = collect_findings(ws)
            release = step_publish(ws, study, counts, records, now)
        else:
            (counts if step.returns == COUNTS else records).update(bodies.run(step, item))
    return RunResult(release, counts, findings, records["ingest_randomization"]["blinded"])
