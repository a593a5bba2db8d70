"""Share IPD: one manually triggered DAG per study that builds the de-identified sharing package of a release.

Thin wiring only: the work is transforms.share (imported inside the task). The nightly DAG emits its
ADaM asset after every nightly release, not at database lock, and the project has no lock asset yet,
so this DAG is triggered by hand (schedule=None) once the database is locked and the release
unblinded. The sharing secret comes from the worker's environment ($CDISCFLOW_SHARE_SECRET), never from
a param (params are stored in the metadata database and shown in the UI).
"""
from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, task

from transforms.orchestration import settings

DOC = """
### Share individual participant data of {study}

Builds the de-identification package of a published, **unblinded** release (rules:
`{rules}`). Give the release (default `{out}/current`), the new package folder and the key file,
which must lie outside the package and is never shared. The worker needs `CDISCFLOW_SHARE_SECRET`.
A blinded release, a variable without a rule or a non-empty package folder fails the run; nothing
is written then.
"""


def share_ipd(study: settings.StudyEntry) -> None:
    """Declare the share-IPD DAG of one study."""
    out = settings.output_dir(study.study_id)

    @dag(
        dag_id=f"share_ipd_{study.key}",
        dag_display_name=f"Share IPD {study.study_id}",
        description=f"De-identified IPD sharing package of a {study.study_id} release",
        doc_md=DOC.format(study=study.study_id, rules=study.folder / "share", out=out),
        schedule=None,
        catchup=False,
        max_active_runs=1,
        tags=[study.study_id, "share"],
        params={
            "release": Param(None, type=["null", "string"], title="Release",
                             description=f"Empty: {out}/current. Otherwise a release folder."),
            # Required, so no default: the trigger form asks for them.
            "to": Param(type="string", minLength=1, title="Package folder",
                        description="Folder to create for the package (must not exist, or be empty)."),
            "key_out": Param(type="string", minLength=1, title="Key file",
                             description="Where the key (original -> new ids, date offsets) is written; "
                                         "outside the package."),
        },
        default_args={"owner": "data-management", "retries": 0, "execution_timeout": timedelta(hours=1)},
    )
    def share() -> None:
        @task(task_id="build_package", task_display_name="Build the sharing package")
        def build_package(params: dict | None = None) -> dict:
            from transforms.orchestration.share import build_share_package

            return build_share_package(str(study.folder), out, params or {})

        build_package()

    share()


for _study in settings.configured_studies():
    share_ipd(_study)
