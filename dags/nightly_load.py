"""Nightly load: one DAG per study folder, turning the night's site exports into a new SDTM release.

Thin wiring only. The task bodies live in transforms.orchestration.steps and are imported inside
the tasks, so parsing this file never loads pandas or the pipeline.
"""
from __future__ import annotations

from datetime import timedelta

from airflow.sdk import (
    Asset,
    CronTriggerTimetable,
    ExceptionRetryPolicy,
    Param,
    RetryAction,
    RetryRule,
    dag,
    get_current_context,
    task,
)

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
    adam = Asset(uri=settings.asset_uri(study.study_id, "adam"), name=f"{study.key}_adam")
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

        @task(task_display_name="Validate raw EDC (GX)", **heavy)
        def validate_raw_edc(run: dict) -> dict:
            from transforms.orchestration import steps

            return steps.validate_raw_edc(run)

        @task(task_display_name="Validate raw lab files (GX)", map_index_template="{{ task.op_kwargs['site'] }}",
              **heavy)
        def validate_raw_lab(run: dict, site: str) -> dict:
            from transforms.orchestration import steps

            return steps.validate_raw_lab(run, site)

        @task(task_display_name="Validate SDTM domain (GX)", map_index_template="{{ task.op_kwargs['domain'] }}",
              **heavy)
        def validate_sdtm(run: dict, domain: str) -> dict:
            from transforms.orchestration import steps

            return steps.validate_sdtm(run, domain)

        @task(task_display_name="Cross-dataset and clinical edit checks", **heavy)
        def check_sdtm(run: dict) -> dict:
            from transforms.orchestration import steps

            return steps.check_sdtm(run)

        @task(task_display_name="Derive ADaM dataset", map_index_template="{{ task.op_kwargs['dataset'] }}", **heavy)
        def derive_adam(run: dict, dataset: str) -> dict:
            from transforms.orchestration import steps

            return steps.derive_adam(run, dataset)

        @task(task_display_name="Publish release", outlets=[sdtm, adam])
        def publish(run: dict, datasets: list, results: list) -> dict:
            from transforms.orchestration import steps

            release = steps.publish(run, datasets, results)
            events = get_current_context()["outlet_events"]
            for asset in (sdtm, adam):
                events[asset].extra = {"release": release["release"], "input_fingerprint": run["fingerprint"]}
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
        raw = [validate_raw_edc(run), validate_raw_lab.partial(run=run).expand(site=list(study.lab_sites))]
        staged >> raw[0]
        staged >> raw[1]
        counts = build_sdtm.partial(run=run).expand(domain=domains)
        staged >> counts
        checked = [validate_sdtm.partial(run=run).expand(domain=domains), check_sdtm(run)]
        counts >> checked[0]
        counts >> checked[1]
        # ADSL first, then ADLB, then the datasets that take variables from both.
        adsl = derive_adam.override(task_id="derive_adsl")(run=run, dataset="adsl")
        adlb = derive_adam.override(task_id="derive_adlb")(run=run, dataset="adlb")
        others = derive_adam.partial(run=run).expand(dataset=["adtte", "adrs", "adae"])
        counts >> adsl >> adlb >> others
        published = publish(run, [counts, adsl, adlb, others], [*staged, *raw, *checked])
        published >> cleanup(run)

    nightly()


for _study in settings.configured_studies():
    nightly_load(_study)
