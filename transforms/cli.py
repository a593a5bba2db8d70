"""The `cdiscflow` command: run the pipeline on a drop, or synthesize a drop."""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from transforms.config import load_study

app = typer.Typer(help="cdiscflow: nightly site exports -> CDISC SDTM in Parquet.", no_args_is_help=True,
                  add_completion=False)
console = Console(stderr=False)


@app.command()
def run(
    exports: Path = typer.Option(..., exists=True, file_okay=False, help="Folder of the drop (edc/, lab/, randomization/)."),
    out: Path = typer.Option(..., help="Output folder: releases/<id>/ and the `current` link."),
    study: str = typer.Option("nct03668171", help="Study id (folder under studies/) or path to a study folder."),
    core: bool | None = typer.Option(None, "--core/--no-core",
                                     help="Run the CDISC CORE rules on the release (default: when `make core-setup` was run)."),
) -> None:
    """Land, ingest, build SDTM and ADaM, validate and publish a new release; OUT/current switches only on success."""
    from transforms.pipeline import BlockingInputError, run_pipeline, step_names

    cfg = load_study(study)
    names = step_names(cfg)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        task = progress.add_task("starting", total=len(names))

        def advance(step: str) -> None:
            progress.update(task, description=step, completed=names.index(step) if step in names else 0)

        try:
            if core is None:
                from transforms.quality.core import core_python

                core = core_python() is not None
            result = run_pipeline(exports, out, cfg, progress=advance, core=core)
        except BlockingInputError as exc:
            progress.stop()
            console.print(f"[bold red]Rejected input:[/] {exc}")
            console.print(f"A copy is in {out / 'quarantine'}; the last release ({out / 'current'}) is unchanged.")
            raise typer.Exit(code=2) from exc
        progress.update(task, description="done", completed=len(names))
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
    console.print(f"Queries:  {q.get('new', 0)} new, {q.get('open', 0)} still open, {q.get('resolved', 0)} resolved "
                  "since the previous release")
    console.print(f"Reports:  {result.release / 'reports' / 'queries.csv'}  (and queries.xlsx)")
    console.print(f"          {result.release / 'reports' / 'quality.html'}")
    console.print(f"Release:  {result.release}")
    console.print(f"Current:  {(out / 'current').resolve()}  ->  {out / 'current'}")


@app.command()
def synth(
    out: Path = typer.Option(..., help="Folder to write the synthetic drop into."),
    subjects: int = typer.Option(200, min=1, help="Number of subjects screened."),
    seed: int = typer.Option(20171210, help="Random seed (same seed, same files)."),
    snapshots: int = typer.Option(2, min=1, help="Nightly EDC snapshots to write (the last nights)."),
    blinded: bool = typer.Option(False, help="Leave out the unblinded randomization list."),
    clean: bool = typer.Option(False, help="Plant no data errors."),
) -> None:
    """Write a complete, deterministic synthetic drop of NCT03668171 that follows the contracts."""
    from transforms.synth import synthesize

    summary = synthesize(out, subjects=subjects, seed=seed, snapshots=snapshots, unblinded=not blinded,
                         plant_errors=not clean)
    console.print(summary)
    console.print(f"Drop written to {out}")


@app.command()
def nightly(
    exports: Path = typer.Option(..., exists=True, file_okay=False, help="Folder of the drop (edc/, lab/, randomization/)."),
    out: Path = typer.Option(..., help="Output folder: releases/<id>/ and the `current` link."),
    study: str = typer.Option("nct03668171", help="Study id (folder under studies/) or path to a study folder."),
    full_rebuild: bool = typer.Option(False, help="Build and publish even if the files are those of the current release."),
    verbose: bool = typer.Option(False, help="Show Airflow's task logs, not only warnings and errors."),
) -> None:
    """Run the study's nightly Airflow DAG in this process (dag.test(), SQLite metadata in .airflow/)."""
    from transforms.orchestration.local import run_nightly

    console.print(f"Running the nightly-load DAG of {study} in-process (Airflow dag.test()) on {exports} ...")
    result = run_nightly(exports, out, study, full_rebuild, log_level="INFO" if verbose else "WARNING")
    table = Table(title=f"Nightly load: {result.state} in {result.seconds:.0f} s")
    for col in ("task", "state", "seconds"):
        table.add_column(col, justify="right" if col == "seconds" else "left")
    for step in result.steps:
        table.add_row(step.name, step.state, f"{step.seconds:.1f}")
    console.print(table)
    if result.state == "failed":
        console.print(f"[bold red]Failed:[/] {', '.join(result.failed)} (the log above says why); "
                      f"{out / 'current'} still points to {result.release.name if result.release else 'no release'}.")
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
def suites(study: str = typer.Option("nct03668171", help="Study id or folder.")) -> None:
    """Regenerate the study's GX suites (expectations/<study>/*.json) from its metadata and configuration."""
    from transforms.quality.suites import write_suites

    paths = write_suites(load_study(study))
    console.print(f"{len(paths)} suites written to {paths[0].parent}")


if __name__ == "__main__":
    app()
