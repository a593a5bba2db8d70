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
console = Console(stderr=False)


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
) -> None:
    """Land, ingest, build SDTM and ADaM, validate and publish a new release; OUT/current switches only on success.

    Exit code 0: a release was published. Exit code 2: nothing was published and OUT/current is
    unchanged: a rejected input (copied to OUT/quarantine with its reason), another run holding
    OUT, a full disk or an output folder that cannot be written, or the run was stopped (SIGTERM).
    """
    from transforms.pipeline.run import run_pipeline, step_names
    from transforms.pipeline.steps import BlockingInputError
    from transforms.publish.release import OutputBusyError

    cfg = _load_study(study)
    names = step_names(cfg)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main else None
    try:
        result = _run_with_progress(exports, out, cfg, names, core, run_pipeline)
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
    _print_summary(result, out)


def _run_with_progress(exports, out, cfg, names, core, run_pipeline):
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        task = progress.add_task("starting", total=len(names))

        def advance(step: str) -> None:
            progress.update(task, description=step, completed=names.index(step) if step in names else 0)

        if core is None:
            from transforms.quality.core import core_python

            core = core_python() is not None
        result = run_pipeline(exports, out, cfg, progress=advance, core=core)
        progress.update(task, description="done", completed=len(names))
    return result


DROP_RULES = ("DROP-", "EDC-SNAPSHOT-")


def _print_summary(result, out: Path) -> None:
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
    say(f"Reports:  {result.release / 'reports' / 'queries.csv'}  (and queries.xlsx)")
    say(f"          {result.release / 'reports' / 'quality.html'}")
    say(f"Release:  {result.release}")
    say(f"Current:  {(out / 'current').resolve()}  ->  {out / 'current'}")


@app.command()
def synth(
    out: Path = typer.Option(..., help="Folder to write the synthetic drop into."),
    subjects: int = typer.Option(200, min=1, help="Number of subjects screened."),
    seed: int = typer.Option(20171210, help="Random seed (same seed, same files)."),
    snapshots: int = typer.Option(2, min=1, help="Nightly EDC snapshots to write (the last nights)."),
    blinded: bool = typer.Option(False, help="Leave out the unblinded randomization list."),
    clean: bool = typer.Option(False, help="Plant no data errors."),
    study: str = typer.Option("nct03668171", help="Study folder whose eCRF the drop follows (nct03668171-scaled: "
                              "randomization numbers past R999 valid)."),
) -> None:
    """Write a complete, deterministic synthetic drop of NCT03668171 that follows the contracts."""
    from cdiscflow_tools.synth import synthesize

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


if __name__ == "__main__":
    app()
