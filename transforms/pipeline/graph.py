"""THE list of the pipeline's steps: what each one needs and what it fans out over.

`run_pipeline` (and the CLI's progress), and the Airflow DAG all read `STEPS`; nothing else lists
the steps. Light on purpose (no pandas, no pipeline code): the DAG file imports it at parse time.
"""
from __future__ import annotations

from dataclasses import dataclass

from transforms.adam.datasets import ADAM_DATASETS
from transforms.config import StudyConfig, StudyOutline

SITE, DOMAIN = "site", "domain"  # the fan-outs: one instance per lab site, per SDTM domain
RECORD, COUNTS = "record", "counts"  # what a step returns: statistics for the manifest, rows per dataset


@dataclass(frozen=True)
class Step:
    """One step of a run: its id (the Airflow task id), the name a person reads, and what must run before it."""

    id: str
    title: str
    needs: tuple[str, ...] = ()
    over: str | None = None  # SITE or DOMAIN: one instance per lab site or per SDTM domain
    dataset: str | None = None  # the ADaM dataset a build step builds
    returns: str = RECORD
    heavy: bool = True  # memory-heavy: goes to the deployment's heavy pool and queue
    in_cli: bool = True  # detect_changes and cleanup are the scheduler's (the CLI always builds, cleans up always)
    # One instance per site/domain also in one process; False: the CLI runs one instance over all of
    # them (CORE: one engine start for every dataset, its own --jobs in parallel, instead of a start per domain).
    fan_in_cli: bool = True
    # Runs also when a step it needs failed: what merges an optional step's results (a failed CORE
    # instance never blocks the release; the manifest says it failed).
    after_failure: bool = False


STAGED = ("ingest_edc", "ingest_labs", "ingest_randomization")


def _adam_step(dataset: str, reads: tuple[str, ...]) -> Step:
    return Step(f"build_{dataset.lower()}", f"Build {dataset}", ("build_sdtm", *(f"build_{r.lower()}" for r in reads)),
                dataset=dataset, returns=COUNTS)


_WORK = (
    Step("land", "Land and fingerprint the drop", heavy=False),
    Step("detect_changes", "Detect new or changed files", ("land",), heavy=False, in_cli=False),
    Step("ingest_edc", "Ingest EDC snapshot", ("detect_changes",)),
    Step("ingest_labs", "Ingest lab files", ("detect_changes",), over=SITE),
    Step("ingest_randomization", "Ingest randomization list", ("detect_changes",)),
    Step("validate_raw_edc", "Validate raw EDC (GX)", STAGED),
    Step("validate_raw_lab", "Validate raw lab files (GX)", STAGED, over=SITE),
    Step("build_sdtm", "Build SDTM domain", STAGED, over=DOMAIN, returns=COUNTS),
    Step("validate_sdtm", "Validate SDTM domain (GX)", ("build_sdtm",), over=DOMAIN),
    Step("check_sdtm", "Cross-dataset and clinical edit checks", ("build_sdtm",)),
    # XPT before publishing, so that CORE checks the release's files and the release is complete when it goes out.
    Step("write_xpt", "Write SDTM as SAS V5 transport (XPT)", ("build_sdtm",)),
    Step("core", "CDISC CORE rules", ("write_xpt",), over=DOMAIN, fan_in_cli=False),
    Step("merge_core", "Merge CDISC CORE reports", ("core",), heavy=False, after_failure=True),
    *(_adam_step(dataset, reads) for dataset, reads in ADAM_DATASETS.items()),
)
STEPS: tuple[Step, ...] = (
    *_WORK,
    # Publish takes every result: the row counts for the manifest's datasets, the rest for its steps;
    # CORE's through merge_core only, so that a failed CORE instance does not stop the release.
    Step("publish", "Publish release", tuple(s.id for s in _WORK if s.id not in ("land", "detect_changes", "core")),
         heavy=False),
    Step("cleanup", "Clean up staging", ("publish",), heavy=False, in_cli=False),
)


def step(step_id: str) -> Step:
    """The step of that id."""
    return next(s for s in STEPS if s.id == step_id)


def lab_sites(study: StudyConfig | StudyOutline) -> list[str]:
    """The sites whose laboratory files the study receives (a `lab` section in their configuration)."""
    return sorted(site for site, cfg in study.sites.items() if cfg.lab)


def title(s: Step, item: str | None = None) -> str:
    """What a person reads for one instance of a step ("Ingest lab files SITE01")."""
    return f"{s.title} {item}" if item else s.title


def instances(study: StudyConfig, domains: list[str]) -> list[tuple[Step, str | None]]:
    """The CLI's run: every step it runs, once per site or domain it fans out over, in order."""
    fan = {SITE: lab_sites(study), DOMAIN: domains, None: [None]}
    return [(s, item) for s in STEPS if s.in_cli for item in (fan[s.over] if s.fan_in_cli else [None])]
