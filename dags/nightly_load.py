"""Nightly load: one DAG per study folder, turning the night's site exports into a new SDTM release.

Thin wiring only. The task bodies live in transforms.orchestration.steps and are imported inside
the tasks, so parsing this file never loads pandas or the pipeline.
"""
from __future__ import annotations

from datetime import timedelta

from airflow.sdk import (Asset, CronTriggerTimetable, ExceptionRetryPolicy, Param, RetryAction, RetryRule, dag,
                         get_current_context, task)

from transforms.orchestration import settings
from transforms.orchestration.messages import RejectedInput, failure_callback

# Bad data fails at once; anything else (I/O, a lost worker, a timeout) is retried with back-off.
RETRY_POLICY = ExceptionRetryPolicy(rules=[
    RetryRule(exception=RejectedInput, action=RetryAction.FAIL, reason="rejected input: a retry cannot help"),
])

DOC = """
### Nightly load of {study}

Every night at `{cron}` ({tz}) this DAG looks at the drop in `{landing}`. When the files are the
same as in the current release, the run stops after **Detect new or changed files** (the other
tasks show as skipped). Otherwise it stages each source, builds every SDTM domain (one task per
domain, in parallel), publishes a new release to `{out}/releases/` and only then switches
`{out}/current` to it. A failed run leaves `current` on the previous release; the failed task's log
says in words what went wrong. A file that cannot be read is copied to `{out}/quarantine/`.

**Trigger with config** to rebuild from another drop folder (*Drop folder*) or to rebuild the same
files again after a change of mapping or code (*Full rebuild*).
"""


def nightly_load(study: settings.StudyEntry) -> None:
    """Declare the nightly-load DAG of one study."""
    sdtm = Asset(uri=settings.asset_uri(study.study_id, "sdtm"), name=f"{study.key}_sdtm")
    heavy = {"pool": settings.heavy_pool(), "queue": settings.heavy_queue()}
    cron = settings.nightly_cron(study.study_id)
    landing, out = settings.landing_dir(study.study_id), settings.output_dir(study.study_id)

    @dag(
        dag_id=f"nightly_load_{study.key}",
        dag_display_name=f"Nightly load {study.study_id}",
        description=f"Site exports of {study.study_id} -> SDTM release, when new files have landed",
        doc_md=DOC.format(study=study.study_id, cron=cron, tz=study.timezone, landing=landing, out=out),
        schedule=CronTriggerTimetable(cron, timezone=study.timezone),
        catchup=False,
        max_active_runs=1,
        tags=[study.study_id, "nightly", "sdtm"],
        params={
            "drop": Param("", type="string", title="Drop folder",
                          description=f"Empty: the study's landing folder ({landing}). Otherwise the folder of "
                                      "the drop to build from, absolute or relative to the landing folder."),
            "full_rebuild": Param(False, type="boolean", title="Full rebuild",
                                  description="Build and publish even if the files are the same as in the "
                                              "current release."),
        },
        default_args={
            "owner": "data-management",
            "retries": 3,
            "retry_delay": timedelta(minutes=2),
            "retry_exponential_backoff": 2.0,
            "max_retry_delay": timedelta(minutes=30),
            "retry_policy": RETRY_POLICY,
            "execution_timeout": timedelta(hours=2),
            "on_failure_callback": failure_callback(study.study_id, settings.output_dir),
        },
    )
    def nightly() -> None:
        @task(task_display_name="Land and fingerprint the drop")
        def land() -> dict:
            from transforms.orchestration import steps

            ctx = get_current_context()
            return steps.land(str(study.folder), ctx["run_id"], ctx["params"]["drop"], ctx["params"]["full_rebuild"])

        @task.short_circuit(task_display_name="Detect new or changed files")
        def detect_changes(run: dict) -> list[str]:
            """The SDTM domains to build; an empty list skips the rest of the run."""
            from transforms.orchestration import steps

            return steps.domains_to_build(run)

        @task(task_display_name="Ingest EDC snapshot", **heavy)
        def ingest_edc(run: dict) -> dict:
            from transforms.orchestration import steps

            return steps.ingest_edc(run)

        @task(task_display_name="Ingest lab files", map_index_template="{{ task.op_kwargs['site'] }}", **heavy)
        def ingest_labs(run: dict, site: str) -> dict:
            from transforms.orchestration import steps

            return steps.ingest_lab(run, site)

        @task(task_display_name="Ingest randomization list", **heavy)
        def ingest_randomization(run: dict) -> dict:
            from transforms.orchestration import steps

            return steps.ingest_randomization(run)

        @task(task_display_name="Build SDTM domain", map_index_template="{{ task.op_kwargs['domain'] }}", **heavy)
        def build_sdtm(run: dict, domain: str) -> dict:
            from transforms.orchestration import steps

            return steps.build_domain(run, domain)

        @task(task_display_name="Publish release", outlets=[sdtm])
        def publish(run: dict, edc: dict, labs: list, randomization: dict, counts: list) -> dict:
            from transforms.orchestration import steps

            # A slice reads every mapped result in one request (iterating probes one past the end).
            release = steps.publish(run, edc, labs[:], randomization, counts[:])
            get_current_context()["outlet_events"][sdtm].extra = {
                "release": release["release"], "input_fingerprint": run["fingerprint"]}
            return release

        @task(task_display_name="Clean up staging")
        def cleanup(run: dict) -> None:
            from transforms.orchestration import steps

            steps.finish(run)

        run = land()
        domains = detect_changes(run)
        staged = [ingest_edc(run), ingest_labs.partial(run=run).expand(site=list(study.lab_sites)),
                  ingest_randomization(run)]
        domains >> staged
        # Raw-file validation (GX) goes here: one task after `staged`, before the build.
        counts = build_sdtm.partial(run=run).expand(domain=domains)
        staged >> counts
        # SDTM validation and ADaM derivation/validation go here, between the build and publish;
        # publish then also gets the `adam` asset as an outlet.
        published = publish(run, *staged, counts)
        published >> cleanup(run)

    nightly()


for _study in settings.configured_studies():
    nightly_load(_study)
