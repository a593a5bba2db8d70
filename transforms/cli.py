"""The `cdiscflow` command: run the pipeline on a drop, synthesize a drop, or benchmark a run."""
from __future__ import annotations

import errno
import json
import signal
import threading
from pathlib import Path

import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from transforms.config import StudyConfig, default_study, load_study

app = typer.Typer(help="cdiscflow: nightly site exports -> CDISC SDTM in Parquet.", no_args_is_help=True,
                  add_completion=False)
# soft_wrap: a long path is never broken over lines (cron mails, CI logs are read as text).
console = Console(stderr=False, soft_wrap=True)
# The drop's top-level folders (the export contracts); a folder with none of them is not a drop.
DROP_FOLDERS = ("edc", "lab", "randomization")


def _version(value: bool) -> None:
    if value:
        from transforms.pipeline.publish import code_version

        console.print(f"cdiscflow {code_version()}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version (and git commit) and exit.")) -> None:
    """cdiscflow: nightly site exports -> CDISC SDTM and ADaM in Parquet."""


def stamp(text: str) -> None:
    """One time-stamped log line (UTC), for runs without a terminal (cron, CI)."""
    from datetime import UTC, datetime

    say(f"{datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')} {text}")


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like Ctrl-C so every finally (staging cleanup, the lock) runs."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated(signum)


def say(text: str, style: str = "") -> None:
    """Print untrusted text (file names, messages): no Rich markup, no control characters, never wrapped."""
    from rich.markup import escape

    from transforms.land.landing import printable

    line = escape(printable(text))
    console.print(f"[{style}]{line}[/]" if style else line, soft_wrap=True)


def _stop(message: str, detail: str, code: int = 2) -> typer.Exit:
    say(message, "bold red")
    say(detail)
    return typer.Exit(code=code)


def _os_error_message(exc: OSError, out: Path) -> tuple[str, str]:
    where = f" ({exc.filename})" if exc.filename else ""
    unchanged = f"nothing was published and the run's partial files were removed; {out / 'current'} is unchanged."
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"No space left on the device while writing{where}.", f"Free some space and run again: {unchanged}"
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"Cannot write to the output folder {out}{where}: {exc.strerror}.", unchanged
    return f"File system error{where}: {exc.strerror or exc}.", unchanged


def _study_id(study: str | None) -> str:
    """The study named on the command line, or the default one (a usage error when there is none)."""
    try:
        return study or default_study()
    except ValueError as exc:
        raise _stop("Which study?", str(exc)) from None


def _load_study(study: str | None) -> StudyConfig:
    """The study's configuration; a missing or invalid study folder is a usage error (exit 2), not a traceback."""
    study_id = _study_id(study)
    try:
        return load_study(study_id)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise _stop(f"Cannot load the study configuration of {study_id}.", str(exc)) from None


@app.command()
def run(
    exports: Path = typer.Option(..., exists=True, file_okay=False, help="Folder of the drop (edc/, lab/, randomization/)."),
    out: Path = typer.Option(..., help="Output folder: releases/<id>/ and the `current` link."),
    study: str | None = typer.Option(None, help="Study id (folder under studies/) or path to a study folder; default: $CDISCFLOW_STUDY, else the only study under studies/, else studies/studies.yaml's default."),
    core: bool | None = typer.Option(None, "--core/--no-core",
                                     help="Run the CDISC CORE rules on the release (default: when `make core-setup` was run)."),
    force: bool = typer.Option(False, help="Build and publish even if the files are those of the current release."),
    keep: int | None = typer.Option(None, min=1, help="Keep the last KEEP releases (and every shared or locked "
                                    "one) after publishing; default: keep_releases in study.yaml, else all."),
    cache: bool = typer.Option(True, "--cache/--no-cache", help="Reuse what ingest made of a file read on an earlier "
                               "night (OUT/.cache/staged); --no-cache reads every file again (default: `cache` in study.yaml)."),
) -> None:
    """Land, ingest, build SDTM and ADaM, validate and publish a new release; OUT/current switches only on success.

    Exit code 0: a release was published, or the drop's files are those of the current release
    (nothing new: nothing is built unless --force). Exit code 2: nothing was published and
    OUT/current is unchanged: not a drop folder, a rejected input (copied to OUT/quarantine with its
    reason), another run holding OUT, a full disk or an output folder that cannot be written, or
    the run was stopped (SIGTERM).
    """
    from transforms.pipeline.run import run_pipeline, step_names
    from transforms.pipeline.steps import BlockingInputError
    from transforms.publish.release import OutputBusyError

    cfg = _load_study(study)
    cfg = cfg if cache else cfg.model_copy(update={"cache": False})
    _check_drop_folder(exports)
    names = step_names(cfg)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main else None
    try:
        core, core_off = _core_choice(core)
        result = _run_with_progress(exports, out, cfg, names, core, run_pipeline, skip_unchanged=not force)
        if result.unchanged:
            say(f"Nothing new: {result.unchanged}; nothing was built or published (--force rebuilds).")
            say(f"Current:  {out / 'current'}  ->  {result.release}")
            return
        pruned = _prune(out, keep if keep is not None else cfg.keep_releases)
    except BlockingInputError as exc:
        raise _stop(f"Rejected input: {exc}", f"A copy (or, for an entry that cannot be copied, the reason) is in "
                    f"{out / 'quarantine'}; the last release ({out / 'current'}) is unchanged.") from exc
    except OutputBusyError as exc:
        raise _stop("Output folder busy.", str(exc)) from exc
    except Terminated as exc:
        raise _stop("Stopped (SIGTERM).", f"Nothing was published; {out / 'current'} is unchanged.") from exc
    except OSError as exc:
        raise _stop(*_os_error_message(exc, out)) from exc
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
    _print_summary(result, out, pruned, core_off)


def _core_choice(core: bool | None) -> tuple[bool, str]:
    """Whether CDISC CORE runs, and if not, why (--no-core, or the engine is not installed)."""
    if core is not None:
        return core, "" if core else "--no-core"
    from transforms.quality.core import core_python

    if core_python() is None:
        return False, "the engine is not installed (make core-setup)"
    return True, ""


def _check_drop_folder(exports: Path) -> None:
    """A folder holding none of the drop's folders (edc/, lab/, randomization/) is a usage error, not a run."""
    try:
        found = any((exports / name).is_dir() for name in DROP_FOLDERS)
    except OSError:
        return  # unreadable: the landing step names the entry and quarantines as for any unreadable input
    if not found:
        raise _stop(f"Not a drop folder: {exports}", f"A drop holds {', '.join(n + '/' for n in DROP_FOLDERS)} "
                    "as the site export contracts describe (see README); nothing was done.")


def _prune(out: Path, keep: int | None) -> list[str]:
    """Apply the retention policy after a successful publish; the names of the releases removed."""
    if keep is None:
        return []
    from transforms.publish.release import OutputBusyError, out_lock
    from transforms.publish.retention import prune_releases

    try:
        with out_lock(out):
            return prune_releases(out, keep)
    except (OutputBusyError, OSError) as exc:
        # The release is published: a failed clean-up is a warning; the next run prunes again.
        say(f"Retention: older releases were not pruned this time ({exc}).", "yellow")
        return []


def _run_with_progress(exports, out, cfg, names, core: bool, run_pipeline, skip_unchanged: bool = False):
    if not console.is_terminal:
        # cron, CI: no live bar, one time-stamped line per step.
        stamp(f"run: {exports} -> {out} ({len(names)} steps, CORE {'on' if core else 'off'})")
        result = run_pipeline(exports, out, cfg, progress=lambda step: stamp(step), core=core,
                              skip_unchanged=skip_unchanged)
        stamp("done")
        return result
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        task = progress.add_task("starting", total=len(names))

        def advance(step: str) -> None:
            progress.update(task, description=step, completed=names.index(step) if step in names else 0)

        result = run_pipeline(exports, out, cfg, progress=advance, core=core, skip_unchanged=skip_unchanged)
        progress.update(task, description="done", completed=len(names))
    return result


DROP_RULES = ("DROP-", "EDC-SNAPSHOT-")


def _print_summary(result, out: Path, pruned: list[str] | None = None, core_off: str = "") -> None:
    table = Table(title=f"SDTM release ({'blinded' if result.blinded else 'UNBLINDED'})")
    table.add_column("dataset")
    table.add_column("rows", justify="right")
    for name, n in result.counts.items():
        table.add_row(name, str(n))
    console.print(table)
    sev = {s: sum(1 for f in result.findings.items if f.severity == s) for s in ("blocking", "error", "warning")}
    manifest = json.loads((result.release / "manifest.json").read_text(encoding="utf-8"))
    q = manifest.get("queries", {})
    console.print(f"Findings: {sev['blocking']} blocking, {sev['error'] + sev['warning']} non-blocking "
                  f"({sev['error']} errors, {sev['warning']} warnings)")
    drop = [f for f in result.findings.items if f.rule.startswith(DROP_RULES)]
    if drop:
        say(f"Drop:     {len(drop)} entries not read, not used or suspicious (also in findings.csv):", "bold yellow")
        for f in drop:
            say(f"          {f.rule} {f.source}: {f.message}")
    console.print(f"Queries:  {q.get('new', 0)} new, {q.get('open', 0)} still open, {q.get('resolved', 0)} resolved "
                  "since the previous release")
    reports = result.release / "reports"
    say(f"Reports:  {reports / 'queries.csv'}  (and queries.xlsx)")
    for name in ("quality.html", "topline.html", "gx/index.html"):
        if (reports / name).exists():
            say(f"          {reports / name}" + ("  (validation pages)" if name.startswith("gx/") else ""))
    if (result.release / "lineage").is_dir():
        say(f"Lineage:  {result.release / 'lineage'}")
    say(f"CORE:     {core_status(manifest.get('core'), core_off)}")
    say(f"Release:  {result.release}")
    say(f"Current:  {(out / 'current').resolve()}  ->  {out / 'current'}")
    if pruned:
        say(f"Pruned:   {len(pruned)} older release(s) removed by the retention policy: {', '.join(pruned)}")


def core_status(core: dict | None, why_not: str = "") -> str:
    """Whether CDISC CORE ran for a release (its manifest), and if not, why."""
    if core is None:
        return f"did not run: {why_not or 'not requested'}"
    tasks = "one run over every dataset" if core.get("tasks") == 1 else f"{core.get('tasks')} tasks, one per domain"
    took = f" ({core['seconds']} s in {tasks})" if "seconds" in core else ""
    if "error" in core:
        return f"failed{took}: {core['error']}"
    return f"ran{took}: {core.get('issues', 0)} issues, {core.get('open_issues', 0)} not covered by reviewed exceptions"


def is_synthetic_drop(folder: Path) -> bool:
    """True when the folder holds only what `synth` writes, its ground-truth file included."""
    from cdiscflow_tools.synth.generator import TRUTH_FILE

    names = {p.name for p in folder.iterdir()}
    return TRUTH_FILE in names and names <= {TRUTH_FILE, "edc", "lab", "randomization"}


@app.command()
def synth(
    out: Path = typer.Option(..., help="Folder to write the synthetic drop into."),
    subjects: int = typer.Option(200, min=1, help="Number of subjects screened."),
    seed: int = typer.Option(20171210, help="Random seed (same seed, same files)."),
    snapshots: int = typer.Option(2, min=1, help="Nightly EDC snapshots to write (the last nights)."),
    blinded: bool = typer.Option(False, help="Leave out the unblinded randomization list."),
    clean: bool = typer.Option(False, help="Plant no data errors."),
    force: bool = typer.Option(False, help="Empty OUT first when it already holds files (they are deleted)."),
    study: str = typer.Option("nct03668171", help="Study folder whose eCRF the drop follows (nct03668171-scaled: "
                              "randomization numbers past R999 valid)."),
) -> None:
    """Write a complete, deterministic synthetic drop of NCT03668171 that follows the contracts.

    OUT must be empty or new: a drop written over another one would mix the two (exit 2 unless --force).
    """
    import shutil

    from cdiscflow_tools.synth import synthesize

    if out.exists() and not out.is_dir():
        raise _stop(f"Not a folder: {out}", "Name a new or empty folder for the drop.")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise _stop(f"{out} already holds files.", "A synthetic drop written into it would mix with them: "
                        "name a new or empty folder, or add --force to empty it first.")
        if not is_synthetic_drop(out):
            # --force must never empty a real landing folder: only one synth wrote (its truth file, nothing else).
            raise _stop(f"{out} is not a synthetic drop.", "--force empties only a folder `synth` wrote "
                        "(synth_truth.json beside edc/, lab/, randomization/); name a new or empty folder.")
        for p in out.iterdir():
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()

    summary = synthesize(out, subjects=subjects, seed=seed, snapshots=snapshots, unblinded=not blinded,
                         plant_errors=not clean, study=str(_load_study(study).folder))
    console.print(summary)
    console.print(f"Drop written to {out}")


@app.command()
def bench(
    subjects: int = typer.Option(2000, min=1, help="Subjects to synthesize (the scaled study, nct03668171-scaled)."),
    seed: int = typer.Option(20171210, help="Random seed of the synthetic drop."),
    results: Path = typer.Option(Path("benchmarks"), help="Folder of results.csv and scaling.png."),
    keep: Path | None = typer.Option(None, help="Work in this folder and keep it (a drop already there is reused)."),
) -> None:
    """Time a full run (CORE off) against the floor (reading the same exports, writing Parquet), per stage."""
    from cdiscflow_tools.bench import bench as run_bench

    rows = run_bench(subjects, seed, results, keep)
    table = Table(title=f"cdiscflow bench, N = {subjects} ({rows[0]['machine']})")
    for col in ("stage", "seconds", "share", "peak RSS (MB)", "x floor"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for r in rows:
        table.add_row(str(r["stage"]), f"{r['seconds']:.1f}", f"{r['share']:.1%}", f"{r['peak_rss_mb']:.0f}",
                      f"{r['ratio']:.2f}")
    console.print(table)
    say(f"Results: {results / 'results.csv'} and {results / 'scaling.png'}")


@app.command()
def nightly(
    exports: Path = typer.Option(..., exists=True, file_okay=False, help="Folder of the drop (edc/, lab/, randomization/)."),
    out: Path = typer.Option(..., help="Output folder: releases/<id>/ and the `current` link."),
    study: str | None = typer.Option(None, help="Study id (folder under studies/) or path to a study folder; default: $CDISCFLOW_STUDY, else the only study under studies/, else studies/studies.yaml's default."),
    full_rebuild: bool = typer.Option(False, help="Build and publish even if the files are those of the current release."),
    verbose: bool = typer.Option(False, help="Show Airflow's task logs, not only warnings and errors."),
) -> None:
    """Run the study's nightly Airflow DAG in this process (dag.test(), SQLite metadata in .airflow/)."""
    import importlib.util

    if importlib.util.find_spec("airflow") is None:  # a plain `pip install cdiscflow` has no Airflow
        say("`nightly` needs Airflow: pip install 'cdiscflow[airflow]', or use `cdiscflow run`.", "bold red")
        raise typer.Exit(code=2)
    from transforms.orchestration.local import run_nightly

    study = _study_id(study)
    console.print(f"Running the nightly-load DAG of {study} in-process (Airflow dag.test()) on {exports} ...")
    result = run_nightly(exports, out, study, full_rebuild, log_level="INFO" if verbose else "WARNING")
    table = Table(title=f"Nightly load: {result.state} in {result.seconds:.0f} s")
    for col in ("task", "state", "seconds"):
        table.add_column(col, justify="right" if col == "seconds" else "left")
    for step in result.steps:
        table.add_row(step.name, step.state, f"{step.seconds:.1f}")
    console.print(table)
    if result.state == "failed":
        say(f"Failed: {', '.join(result.failed)} (the log above says why); "
            f"{out / 'current'} still points to {result.release.name if result.release else 'no release'}.", "bold red")
        raise typer.Exit(code=2)
    if result.release is None:
        console.print("Nothing has landed yet; nothing was published.")
        return
    if result.state == "skipped":
        console.print("Nothing new: the files are those of the current release; nothing was published.")
    m = json.loads((result.release / "manifest.json").read_text(encoding="utf-8"))
    found, queries = m.get("findings", {}), m.get("queries", {})
    console.print(f"Release:  {result.release}  ({len(m['datasets'])} datasets, "
                  f"{'blinded' if m.get('blinded') else 'UNBLINDED'}, data cut {m.get('data_cut')})")
    console.print(f"Checks:   {found.get('blocking', 0)} blocking and {found.get('non_blocking', 0)} non-blocking "
                  f"findings; {queries.get('new', 0)} new and {queries.get('open', 0)} open queries")
    console.print(f"Reports:  {result.release / 'reports'}/  (quality.html, queries.csv, findings.csv)")
    console.print(f"Current:  {out / 'current'}  ->  releases/{result.release.name}")

@app.command()
def suites(study: str | None = typer.Option(None, help="Study id or folder; default: $CDISCFLOW_STUDY, else the only study under studies/, else studies/studies.yaml's default.")) -> None:
    """Regenerate the study's GX suites (studies/<study>/expectations/*.json) from its metadata and configuration."""
    from transforms.quality.suites import write_suites

    cfg = _load_study(study)
    paths = write_suites(cfg)
    console.print(f"{len(paths)} suites written to {cfg.folder / 'expectations'} (any other suite is inherited)")


@app.command()
def share(
    release: Path = typer.Option(..., exists=True, file_okay=False, help="A published release, e.g. OUT/current."),
    to: Path = typer.Option(..., help="Package folder to create (must not exist, or be empty)."),
    key_out: Path = typer.Option(..., help="Key file (original -> new ids, date offsets): written OUTSIDE the package, never shared."),
    secret_file: Path | None = typer.Option(None, help="File holding the sharing secret; default $CDISCFLOW_SHARE_SECRET."),
    study: str | None = typer.Option(None, help="Study id or folder; default: $CDISCFLOW_STUDY, else the only study under studies/, else studies/studies.yaml's default."),
) -> None:
    """De-identify an unblinded release into an IPD sharing package (rules: studies/<study>/share/).

    Exit code 2: nothing was shared (a blinded or inconsistent release, a variable without a rule, no
    secret, a non-empty package folder or a key file inside it).
    """
    import pyarrow as pa

    from transforms.share.package import read_secret, share_release
    from transforms.share.rules import ShareError

    cfg = _load_study(study)
    try:
        result = share_release(release, to, key_out, cfg, read_secret(secret_file))
    except ShareError as exc:
        raise _stop("Not shared.", str(exc)) from None
    except pa.ArrowException as exc:  # a damaged or truncated Parquet file in the release
        raise _stop("Not shared: a dataset of the release cannot be read.", f"{type(exc).__name__}; "
                    "no package or key file was written.") from None
    except OSError as exc:
        raise _stop("Not shared: file system error.", f"{exc.strerror or exc}; the staging folder was removed "
                    "and no package or key file was written.") from None
    say(f"Package:  {result.package}  ({result.datasets} datasets, {result.participants} participants, "
        f"{result.files} files listed in SHA256SUMS)")
    say(f"Review:   {result.redactions} free-text redactions; smallest k = {result.min_k}, "
        f"{result.below_threshold} participants below the k threshold (deid/report.html)")
    say(f"Key:      {key_out.resolve()}  (keep it apart from the package; never share it)")


if __name__ == "__main__":
    app()
