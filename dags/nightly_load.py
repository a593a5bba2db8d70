"""Nightly load: one DAG per study folder, turning the night's site exports into a new SDTM release.

Thin wiring only. The tasks and what each waits for come from the pipeline's step graph
(transforms.pipeline.graph); the task bodies live in transforms.orchestration.steps and are imported
inside the tasks, so parsing this file never loads pandas or the pipeline's steps. At parse time a
study is only its outline (id, time zone, sites); its whole configuration is loaded by the tasks.
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
from transforms.pipeline import graph
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
domain, in parallel), writes the XPT files, runs CDISC CORE on each domain's datasets (one task per
domain, when the engine is installed; a failed CORE task is reported in the release, it does not
stop it), publishes a new release to `{out}/releases/` and only then switches
`{out}/current` to it. A failed run leaves `current` on the previous release; the failed task's log
says in words what went wrong. A file that cannot be read is copied to `{out}/quarantine/`.

**Trigger with config** to rebuild from another drop folder (*Drop folder*) or to rebuild the same
files again after a change of mapping or code (*Full rebuild*).
"""


def landed() -> dict:
    """This DAG run's description, as `land` returned it.

    Pulled rather than passed, so that the graph shows each task's real upstream tasks instead of an
    edge from `land` to every task.
    """
    return get_current_context()["ti"].xcom_pull(task_ids="land")


def work_task(step: graph.Step, heavy: dict):
    """The Airflow task of one work step of the graph; a step that fans out is mapped over its items,
    each instance named by its item (site or SDTM domain)."""
    opts = {"task_id": step.id, "task_display_name": step.title, **(heavy if step.heavy else {})}
    if step.after_failure:
        opts["trigger_rule"] = "all_done"
    if step.over:
        opts["map_index_template"] = "{{ task.op_kwargs['item'] }}"

    @task(**opts)
    def work(item: str | None = None) -> dict:
        from transforms.orchestration import steps

        return steps.run_step(step.id, landed(), item)

    return work


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
            # Optional: the trigger form makes a param that does not allow null a required field.
            "drop": Param(None, type=["null", "string"], title="Drop folder",
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
        @task(task_id="land", task_display_name=graph.step("land").title)
        def land() -> dict:
            from transforms.orchestration import steps

            ctx = get_current_context()
            return steps.land(str(study.folder), ctx["run_id"], ctx["params"]["drop"], ctx["params"]["full_rebuild"])

        @task.short_circuit(task_id="detect_changes", task_display_name=graph.step("detect_changes").title)
        def detect_changes(run: dict) -> list[str]:
            """The SDTM domains to build; an empty list skips the rest of the run."""
            from transforms.orchestration import steps

            return steps.domains_to_build(run)

        @task(task_id="publish", task_display_name=graph.step("publish").title, outlets=[sdtm, adam])
        def publish(datasets: list, results: list) -> dict:
            from transforms.orchestration import steps

            run = landed()
            release = steps.publish(run, datasets, results)
            events = get_current_context()["outlet_events"]
            for asset in (sdtm, adam):
                events[asset].extra = {"release": release["release"], "input_fingerprint": run["fingerprint"]}
            return release

        @task(task_id="cleanup", task_display_name=graph.step("cleanup").title)
        def cleanup() -> None:
            from transforms.orchestration import steps

            steps.finish(landed())

        # Every other task comes from the pipeline's graph, with the upstream tasks it declares.
        run = land()
        tasks = {"land": run, "detect_changes": detect_changes(run)}
        fan_out = {graph.SITE: graph.lab_sites(study.outline), graph.DOMAIN: tasks["detect_changes"]}
        work = [s for s in graph.STEPS if s.id not in ("land", "detect_changes", "publish", "cleanup")]
        for step in work:
            body = work_task(step, heavy)
            tasks[step.id] = body.expand(item=fan_out[step.over]) if step.over else body()
            for need in step.needs:
                tasks[need] >> tasks[step.id]
        needs = graph.step("publish").needs
        published = publish([tasks[s.id] for s in work if s.id in needs and s.returns == graph.COUNTS],
                            [tasks[s.id] for s in work if s.id in needs and s.returns != graph.COUNTS])
        published >> cleanup()

    nightly()


for _study in settings.configured_studies():
    nightly_load(_study)
