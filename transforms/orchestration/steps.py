"""Task bodies of the nightly load: plain values in and out, the data itself in the run's workspace.

Each function is one Airflow task and can run on any worker that sees the landing and output
folders. `run` is the small JSON description `land` returns; every later task reads it from land's result.
"""
from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from transforms.config import StudyConfig, load_study
from transforms.orchestration.messages import RejectedInput
from transforms.orchestration.settings import landing_dir, output_dir, workspace_name
from transforms.pipeline import graph
from transforms.pipeline.publish import input_fingerprint, step_publish
from transforms.pipeline.steps import BlockingInputError, StepBodies, cleanup, step_land
from transforms.pipeline.workspace import Workspace
from transforms.publish.release import current_release, out_lock, read_manifest
from transforms.publish.retention import prune_releases
from transforms.quality.core import core_python
from transforms.sdtm.build import sdtm_domains
from transforms.sdtm.spec import load_spec

log = logging.getLogger("cdiscflow.nightly")
Run = dict[str, Any]


def load_study_folder(folder: str) -> StudyConfig:
    """The study configuration; an invalid folder is rejected input, not a reason to retry."""
    try:
        return load_study(folder)
    except (ValidationError, FileNotFoundError, KeyError, TypeError) as exc:
        raise RejectedInput(f"study configuration {folder} is not valid: {exc}") from exc


@contextmanager
def rejecting_bad_files() -> Iterator[None]:
    """Turn the library's BlockingInputError into RejectedInput (which the DAG never retries)."""
    try:
        yield
    except BlockingInputError as exc:
        raise RejectedInput(str(exc)) from exc


def workspace(run: Run) -> Workspace:
    """The run's staging workspace."""
    return Workspace(Path(run["out"]), run["workspace"])


def resolve_drop(study_id: str, drop: str | None) -> Path:
    """The drop folder of a run: the study's landing folder, or the one a manual run names."""
    landing = landing_dir(study_id)
    if not drop:
        return landing
    path = Path(drop).expanduser()
    path = (path if path.is_absolute() else landing / path).resolve()
    if not path.is_dir():
        raise RejectedInput(f"the drop folder given for this run, {path}, does not exist")
    return path


def _sweep_stale_workspaces(out: Path, study_id: str, keep: Path) -> None:
    # Staged files hold identifiers; a failed run's are kept for a retry only until the next run starts.
    for stale in sorted((out / ".staging").glob(f"{study_id.lower()}__*")):
        if stale != keep:
            log.info("Removing the staging folder of an earlier run: %s", stale.name)
            shutil.rmtree(stale, ignore_errors=True)


def land(study_folder: str, run_id: str, drop: str | None = None, full_rebuild: bool = False) -> Run:
    """Find and fingerprint the drop's files; returns the run description later tasks receive."""
    study = load_study_folder(study_folder)
    exports = resolve_drop(study.study_id, drop)
    out = output_dir(study.study_id)
    ws = Workspace(out, workspace_name(study.study_id, run_id))
    _sweep_stale_workspaces(out, study.study_id, ws.root)
    if ws.root.exists():
        shutil.rmtree(ws.root)
    if not exports.is_dir():
        raise FileNotFoundError(f"the landing folder {exports} is not there (not mounted?)")
    with rejecting_bad_files():
        landing = step_land(exports, ws, study)
    cur = current_release(out)
    run = {
        "study": study.study_id, "study_folder": str(study.folder), "drop": str(exports), "out": str(out),
        "workspace": ws.run_id, "files": len(landing.files), "fingerprint": input_fingerprint(landing),
        "full_rebuild": bool(full_rebuild),
        "current_release": cur.name if cur else None,
        "current_fingerprint": read_manifest(cur).get("input_fingerprint") if cur else None,
    }
    log.info("Landed %d files from %s (input fingerprint %s)", run["files"], exports, run["fingerprint"][:12])
    return run


def unchanged_reason(run: Run) -> str | None:
    """Why the run has nothing to build (same files as the current release, nothing landed), or None."""
    if run["full_rebuild"]:
        return None
    if run["files"] == 0 and run["current_release"] is None:
        return f"no files have landed in {run['drop']} yet"
    if run["fingerprint"] == run["current_fingerprint"]:
        return f"the {run['files']} files are the same as in the current release {run['current_release']}"
    return None


def domains_to_build(run: Run) -> list[str]:
    """The SDTM domains this run builds: all of them when files changed, none (and no workspace) if not."""
    reason = unchanged_reason(run)
    if reason:
        log.info("Nothing to do: %s. The rest of the run is skipped.", reason)
        cleanup(workspace(run))
        return []
    domains = sdtm_domains(load_spec(load_study_folder(run["study_folder"])))
    why = "full rebuild requested" if run["full_rebuild"] else \
        f"new or changed files since release {run['current_release'] or '(none yet)'}"
    log.info("Building %d SDTM domains: %s.", len(domains), why)
    return domains


@contextmanager
def quiet_great_expectations() -> Iterator[None]:
    """Great Expectations logs at WARNING and above only, so a validation task's own lines stay readable."""
    gx = logging.getLogger("great_expectations")
    level = gx.level
    gx.setLevel(logging.WARNING)
    try:
        yield
    finally:
        gx.setLevel(level)


def run_step(step_id: str, run: Run, item: str | None = None) -> dict:
    """One instance of a work step of the graph (item: its site or domain); what graph.Step.returns says."""
    study = load_study_folder(run["study_folder"])
    quiet = quiet_great_expectations() if step_id.startswith("validate_") else nullcontext()
    with rejecting_bad_files(), quiet:
        # CDISC CORE runs whenever its engine is installed (`make core-setup`).
        return StepBodies(workspace(run), study, core=core_python() is not None).run(graph.step(step_id), item)


def merged(parts: Sequence[dict | Sequence[dict]]) -> dict:
    """One dict from task results: plain dicts, and the lists of dicts that mapped tasks return."""
    out: dict = {}
    for part in parts:
        # A mapped task's results arrive as a lazy sequence: a slice reads them all in one request.
        for item in ([part] if isinstance(part, Mapping) else part[:]):
            out.update(item)
    return out


def publish(run: Run, datasets: Sequence[dict | Sequence[dict]], steps: Sequence[dict | Sequence[dict]]) -> dict:
    """Write the release and switch OUT/current to it; returns {"release", "path", "datasets"}.

    `datasets` are the row counts the build tasks return ({dataset: rows}); `steps` the results of
    the other tasks, each {step name: statistics}, which go into the manifest's "steps" as
    run_pipeline() writes them.
    """
    counts = merged(datasets)
    record = {"land": {"files": run["files"]}, **merged(steps)}
    # OUT's lock is held while the release is written, so a command-line run on the same OUT can
    # neither write beside it nor sweep its partial release away as a killed run's leftover.
    study = load_study_folder(run["study_folder"])
    with out_lock(Path(run["out"])):
        release = step_publish(workspace(run), study, counts, record)
        pruned = apply_retention(Path(run["out"]), study.keep_releases)
    log.info("Published release %s (%d datasets); %s/current points to it.", release.name, len(counts), run["out"])
    if pruned:
        log.info("Retention (keep_releases: %d): removed %s.", study.keep_releases, ", ".join(pruned))
    return {"release": release.name, "path": str(release), "datasets": counts, "pruned": pruned}


def apply_retention(out: Path, keep: int | None) -> list[str]:
    """The study's retention policy after a publish, under OUT's lock; a failure is a warning, never a failed run."""
    if keep is None:
        return []
    try:
        return prune_releases(out, keep)
    except OSError as exc:
        log.warning("Retention: older releases were not pruned this time (%s); the next run tries again.", exc)
        return []


def finish(run: Run) -> None:
    """Delete the run's staging folder (it holds identifiers) once the release is out."""
    cleanup(workspace(run))
