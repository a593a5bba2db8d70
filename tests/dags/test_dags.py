"""The nightly-load DAG: it parses cleanly and fast, has the tasks, schedule, params and retry policy a
data manager relies on, and (run in-process) publishes, skips an unchanged drop, and fails without
touching the published release."""
from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from transforms.orchestration.local import airflow_home

# Airflow reads its configuration on first import: the project's .airflow/, not ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", str(airflow_home()))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from transforms.orchestration import settings
from transforms.orchestration.messages import RejectedInput, describe_failure, failure_callback
from transforms.orchestration.steps import unchanged_reason

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "examples"
DAG_ID = "nightly_load_nct03668171"
TASKS = {"land", "detect_changes", "ingest_edc", "ingest_labs", "ingest_randomization", "validate_raw_edc",
         "validate_raw_lab", "build_sdtm", "validate_sdtm", "check_sdtm", "build_adsl", "build_adlb", "build_adtte",
         "build_adrs", "build_adae", "write_xpt", "core", "merge_core", "publish", "cleanup"}


def load_bag():
    """A fresh DagBag of the project's DAG folder."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


@pytest.fixture(scope="module")
def bag():
    return load_bag()


@pytest.fixture(scope="module")
def dag(bag):
    return bag.dags[DAG_ID]


def test_dag_folder_has_no_import_errors_and_one_dag_per_study(bag):
    assert bag.import_errors == {}
    nightly = {d for d in bag.dag_ids if d.startswith("nightly_load_")}
    assert nightly == {f"nightly_load_{s.key}" for s in settings.configured_studies()}
    assert DAG_ID in bag.dag_ids


def test_tasks_a_person_recognises_in_order(dag):
    assert set(dag.task_ids) == TASKS
    up = {t: set(dag.get_task(t).upstream_task_ids) for t in TASKS}
    # Each task waits for its real upstream tasks only: the run's description is pulled from land's
    # result, so land is the upstream of detect_changes alone.
    assert up["detect_changes"] == {"land"} and set(dag.get_task("land").downstream_task_ids) == {"detect_changes"}
    assert up["ingest_edc"] == up["ingest_randomization"] == up["ingest_labs"] == {"detect_changes"}
    assert up["build_sdtm"] == {"detect_changes", "ingest_edc", "ingest_labs", "ingest_randomization"}
    assert up["validate_raw_edc"] >= {"ingest_edc", "ingest_labs", "ingest_randomization"}
    assert up["validate_sdtm"] >= {"build_sdtm"} and up["check_sdtm"] >= {"build_sdtm"}
    assert up["build_adsl"] >= {"build_sdtm"} and up["build_adlb"] >= {"build_adsl"}
    # ADaM: ADSL first; ADRS takes ADLB's MELD; ADTTE and ADAE read only ADSL (and SDTM).
    assert up["build_adtte"] >= {"build_adsl"} and up["build_adae"] >= {"build_adsl"}
    assert up["build_adrs"] >= {"build_adsl", "build_adlb"}
    assert up["publish"] >= {"build_sdtm", "ingest_edc", "ingest_labs", "ingest_randomization", "validate_raw_edc",
                             "validate_raw_lab", "validate_sdtm", "check_sdtm", "build_adsl", "build_adlb",
                             "build_adtte", "build_adrs", "build_adae"}
    assert up["cleanup"] >= {"publish"}
    # CORE: one task per domain on the XPT files; publish waits for the merge, which runs also after a
    # failed CORE task (a failed CORE never blocks the release), never for a CORE task itself.
    assert up["write_xpt"] == {"build_sdtm"} and up["core"] == {"detect_changes", "write_xpt"}
    assert up["merge_core"] == {"core"} and dag.get_task("merge_core").trigger_rule == "all_done"
    assert up["publish"] >= {"write_xpt", "merge_core"} and "core" not in up["publish"]
    assert dag.get_task("publish").trigger_rule == "all_success"
    assert dag.get_task("detect_changes").task_type.startswith("_ShortCircuit")
    # A mapped instance is named by its site or domain; every ADaM dataset is a task of its own name.
    for mapped in ("ingest_labs", "build_sdtm", "validate_sdtm", "validate_raw_lab", "core"):
        task = dag.get_task(mapped)
        assert task.is_mapped and task.map_index_template == "{{ task.op_kwargs['item'] }}"
    assert [dag.get_task(f"build_{d}").task_display_name for d in ("adsl", "adlb", "adtte", "adrs", "adae")] == \
        ["Build ADSL", "Build ADLB", "Build ADTTE", "Build ADRS", "Build ADAE"]
    assert dag.get_task("build_sdtm").task_display_name == "Build SDTM domain"
    assert dag.get_task("build_adrs").task_display_name == "Build ADRS"


def test_lab_sites_come_from_the_study_configuration(dag, study):
    expand = dag.get_task("ingest_labs").op_kwargs_expand_input.value
    assert list(expand["item"]) == sorted(s for s, c in study.sites.items() if c.lab)


def _studies_root(tmp_path: Path, study, **broken: str) -> Path:
    """A studies root with a copy of the study's study.yaml and one folder per broken study.yaml text."""
    root = tmp_path / "studies"
    (root / "good").mkdir(parents=True)
    shutil.copy(study.study_file("study.yaml"), root / "good" / "study.yaml")
    for name, text in broken.items():
        (root / name).mkdir()
        (root / name / "study.yaml").write_text(text, encoding="utf-8")
    return root


def test_a_study_with_an_invalid_configuration_is_skipped_with_an_error_line(tmp_path, study, caplog, monkeypatch):
    good = study.study_file("study.yaml").read_text(encoding="utf-8")
    root = _studies_root(tmp_path, study, no_id=good.replace("study_id:", "studyid:", 1),
                         bad_zone=good.replace("Asia/Shanghai", "Asia/Atlantis", 1), not_yaml="study_id: [\n")
    with caplog.at_level("ERROR", logger="cdiscflow.nightly"):
        entries = settings.configured_studies(root)
    assert [e.folder.name for e in entries] == ["good"]
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 3
    assert any("no_id" in m and "study_id" in m for m in errors)
    assert any("bad_zone" in m and "Asia/Atlantis" in m for m in errors)
    assert any("not_yaml" in m for m in errors)
    # The DAG file still declares the valid study's DAG.
    monkeypatch.setenv("CDISCFLOW_STUDIES", str(root))
    bag = load_bag()
    assert bag.import_errors == {} and {d for d in bag.dag_ids if d.startswith("nightly_load_")} == {DAG_ID}
    assert {d for d in bag.dag_ids if d.startswith("share_ipd_")} == {DAG_ID.replace("nightly_load_", "share_ipd_")}


def test_the_dag_file_reads_only_the_outline_the_tasks_load_the_rest(tmp_path, study, monkeypatch):
    from transforms.config import load_study
    from transforms.orchestration.steps import load_study_folder

    # An error outside id, time zone and sites fails the run's first task (rejected input), not the DAG file.
    text = study.study_file("study.yaml").read_text(encoding="utf-8")
    root = _studies_root(tmp_path, study)
    (root / "good" / "study.yaml").write_text(text.replace("epochs:", "epochs_typo:", 1), encoding="utf-8")
    monkeypatch.setenv("CDISCFLOW_STUDIES", str(root))
    assert [e.study_id for e in settings.configured_studies()] == ["NCT03668171"]
    assert DAG_ID in load_bag().dags
    with pytest.raises(ValueError):
        load_study(str(root / "good"))
    with pytest.raises(RejectedInput, match="is not valid"):
        load_study_folder(str(root / "good"))


def test_great_expectations_logs_only_warnings_inside_validation_tasks():
    import logging

    from transforms.orchestration.steps import quiet_great_expectations

    gx = logging.getLogger("great_expectations")
    before = gx.level
    gx.setLevel(logging.INFO)  # as a worker's logging configuration may leave it
    try:
        with quiet_great_expectations():
            assert not gx.isEnabledFor(logging.INFO) and gx.isEnabledFor(logging.WARNING)
        assert gx.level == logging.INFO
    finally:
        gx.setLevel(before)


def test_schedule_is_2am_study_local_time_without_catchup(dag, study):
    from airflow.sdk import CronTriggerTimetable

    assert isinstance(dag.timetable, CronTriggerTimetable)
    assert dag.timetable.expression == "0 2 * * *"
    assert str(dag.timetable.timezone) == study.timezone == "Asia/Shanghai"
    assert dag.catchup is False and dag.max_active_runs == 1


def test_schedule_is_configurable(monkeypatch):
    monkeypatch.setenv("CDISCFLOW_NIGHTLY_CRON_NCT03668171", "30 4 * * 1-5")
    assert load_bag().dags[DAG_ID].timetable.expression == "30 4 * * 1-5"


def test_params_for_a_manual_rerun_or_a_full_rebuild(dag):
    from airflow.sdk.exceptions import ParamValidationError

    assert dag.params.validate() == {"drop": None, "full_rebuild": False}
    params = copy.deepcopy(dag.params)
    params.update({"drop": "/landing/archive/2026-11-20", "full_rebuild": True})
    assert params.validate() == {"drop": "/landing/archive/2026-11-20", "full_rebuild": True}
    with pytest.raises(ParamValidationError):
        params["full_rebuild"] = "yes"


def test_params_with_an_empty_default_allow_null_in_the_trigger_form_schema(dag):
    # The UI builds its trigger form from each param's JSON schema: a param whose type does not allow
    # null is a required field, and Trigger stays disabled until someone types a value.
    for name in dag.params:
        param = dag.params.get_param(name)
        if param.value in ("", None):
            types = param.schema.get("type")
            assert isinstance(types, list) and "null" in types, (name, param.schema)
    assert dag.params.get_param("drop").value is None


def test_retries_with_backoff_but_never_on_rejected_input(dag):
    from airflow.sdk import RetryAction

    for task in dag.tasks:
        assert task.retries == 3 and task.retry_exponential_backoff and task.max_retry_delay == timedelta(minutes=30)
        assert task.execution_timeout == timedelta(hours=2)
        assert task.on_failure_callback
        policy = task.retry_policy
        assert policy.evaluate(RejectedInput("bad file"), 1, 4).action == RetryAction.FAIL
        assert policy.evaluate(ConnectionResetError("nfs"), 1, 4).action == RetryAction.DEFAULT


def test_publish_updates_the_sdtm_and_adam_assets(dag):
    outlets = dag.get_task("publish").outlets
    assert [a.uri for a in outlets] == ["cdiscflow://nct03668171/sdtm", "cdiscflow://nct03668171/adam"]


def test_parsing_loads_no_data_libraries():
    # What keeps parsing cheap is what the DAG file imports, so that is what is asserted; a time limit
    # would fail on a busy machine (timing never decides a unit test here).
    code = ("import sys; import airflow.sdk; "
            "from airflow.dag_processing.dagbag import DagBag; "
            f"b = DagBag(dag_folder={str(DAGS)!r}); "
            "assert not b.import_errors, b.import_errors; "
            "heavy = [m for m in ('pandas', 'pyarrow', 'great_expectations', 'transforms.pipeline.steps', "
            "'transforms.sdtm.build', 'transforms.adam.build', 'transforms.share.package', 'odmlib') "
            "if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=os.environ.copy())
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_nothing_to_do_when_the_files_are_those_of_the_current_release():
    run = {"full_rebuild": False, "files": 4, "fingerprint": "abc", "current_fingerprint": "abc",
           "current_release": "R1", "drop": "/landing"}
    assert "same as in the current release R1" in unchanged_reason(run)
    assert unchanged_reason(run | {"fingerprint": "abd"}) is None
    assert unchanged_reason(run | {"full_rebuild": True}) is None
    assert "no files have landed" in unchanged_reason(run | {"files": 0, "current_release": None,
                                                             "current_fingerprint": None})


def test_failure_message_says_what_failed_without_quoting_data(tmp_path):
    msg = describe_failure("NCT03668171", "Build SDTM domain", "LB", KeyError("MRN 31415926"), tmp_path)
    assert '"Build SDTM domain" for LB' in msg and "KeyError" in msg and "31415926" not in msg
    assert "still points to release none yet" in msg
    rejected = describe_failure("NCT03668171", "Ingest lab files", "SITE02", RejectedInput("labs.csv: empty"), tmp_path)
    assert "labs.csv: empty" in rejected and str(tmp_path / "quarantine") in rejected
    (tmp_path / "releases" / "R2").mkdir(parents=True)
    (tmp_path / "current").symlink_to("releases/R2")
    late = describe_failure("NCT03668171", "Clean up staging", "", PermissionError("staging"), tmp_path, "R1")
    assert "had already published release R2" in late and "No new release" not in late


def test_failure_callback_logs_the_message_into_the_task_log(tmp_path, caplog):
    class TaskInstance:
        rendered_map_index = "SITE02"

        def xcom_pull(self, task_ids: str) -> dict:
            assert task_ids == "land"
            return {"out": str(tmp_path)}

    class Task:
        task_display_name = "Ingest lab files"

    callback = failure_callback("NCT03668171", lambda study: Path("/not/this/one"))
    with caplog.at_level("ERROR", logger="cdiscflow.nightly"):
        callback({"ti": TaskInstance(), "task": Task(), "exception": RejectedInput("labs.csv: empty file")})
    assert 'failed at "Ingest lab files" for SITE02: an input was rejected: labs.csv: empty file' in caplog.text
    assert str(tmp_path / "current") in caplog.text


def test_workspace_names_are_safe_and_per_study():
    assert settings.workspace_name("NCT03668171", "manual__2026-11-25T18:09:27+00:00") == \
        "nct03668171__manual__2026-11-25T18_09_27_00_00"


def _nightly(exports: Path, out: Path, home: Path) -> subprocess.CompletedProcess:
    env = os.environ.copy() | {"CDISCFLOW_AIRFLOW_HOME": str(home), "COLUMNS": "200"}
    env.pop("AIRFLOW_HOME", None)
    return subprocess.run([sys.executable, "-m", "transforms.cli", "nightly", "--exports", str(exports),
                           "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=600, check=False)


@pytest.mark.slow
def test_in_process_run_publishes_skips_unchanged_and_keeps_release_on_failure(tmp_path):
    """dag.test() on the example drop: publish, no-op on the same files, then a rejected file."""
    drop, out, home = tmp_path / "drop", tmp_path / "out", tmp_path / "airflow"
    shutil.copytree(EXAMPLES, drop)

    first = _nightly(drop, out, home)
    assert first.returncode == 0, first.stdout + first.stderr
    release = (out / "current").resolve()
    assert (release / "sdtm" / "dm.parquet").exists() and "Publish release" in first.stdout
    assert not any((out / ".staging").iterdir())
    # The DAG's ingest tasks fill the same staged cache as the CLI (EDC snapshot + 3 LIS files).
    assert len([p for p in (out / ".cache" / "staged").iterdir() if p.is_dir()]) == 4

    again = _nightly(drop, out, home)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Nothing new" in again.stdout and (out / "current").resolve() == release
    assert len(list((out / "releases").iterdir())) == 1

    lab = drop / "lab" / "SITE02" / "labs_2018-03-12.csv"
    lab.write_bytes(lab.read_bytes().replace(b"AccessionNo", b"Accession", 1))
    failed = _nightly(drop, out, home)
    assert failed.returncode == 2
    log = failed.stdout + failed.stderr
    assert "Failed: Ingest lab files [SITE02]" in failed.stdout
    assert 'Nightly load of NCT03668171 failed at "Ingest lab files" for SITE02: an input was rejected' in log
    assert "is not the contract's" in log and f"still points to release {release.name}" in log
    assert log.count("Task failed with exception") == 1  # no retry on bad data
    assert (out / "current").resolve() == release
    assert (out / "quarantine" / f"{next((out / 'quarantine').glob('*.csv')).name}.reason.txt").exists()
