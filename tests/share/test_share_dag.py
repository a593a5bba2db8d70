"""The share-IPD DAG parses, is triggered by hand only, and asks for the release, the package and the key file."""
from __future__ import annotations

import os
from pathlib import Path

from transforms.orchestration.local import airflow_home

os.environ.setdefault("AIRFLOW_HOME", str(airflow_home()))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from transforms.orchestration import settings  # noqa: E402

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_share_dag_loads_one_per_study_manual_with_params():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    for study in settings.configured_studies():
        dag = bag.dags[f"share_ipd_{study.key}"]
        assert dag.schedule is None or dag.timetable.summary in ("None", "Never, external triggers only")
        assert set(dag.params.keys()) == {"release", "to", "key_out"}
        assert dag.task_ids == ["build_package"]
        assert "secret" not in " ".join(dag.params.keys())


def test_share_dag_params_the_form_requires_have_no_default():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    for study in settings.configured_studies():
        params = bag.dags[f"share_ipd_{study.key}"].params
        assert params.get_param("release").value is None and "null" in params.get_param("release").schema["type"]
        for name in ("to", "key_out"):  # required: the form asks for them, no empty string to pass validation
            assert not params.get_param(name).has_value
