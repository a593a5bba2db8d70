"""The embedded mode: run a study's nightly DAG in this process with dag.test(), no servers.

The metadata database is SQLite under the project's .airflow/ folder (CDISCFLOW_AIRFLOW_HOME to
move it). Airflow reads its configuration when first imported, so the environment is set before
the first `import airflow` of the process.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from transforms.orchestration.settings import PROJECT_ROOT

DAGS_FOLDER = PROJECT_ROOT / "dags"


def airflow_home() -> Path:
    """Folder of the embedded metadata database and logs."""
    return Path(os.environ.get("CDISCFLOW_AIRFLOW_HOME") or PROJECT_ROOT / ".airflow").resolve()


def embedded_env(home: Path) -> dict[str, str]:
    """Airflow settings of the embedded mode (SQLite metadata, this project's DAG folder, no examples)."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    }


@dataclass(frozen=True)
class StepOutcome:
    """One task instance of the run: display name (with its site or domain), state, seconds."""

    name: str
    state: str
    seconds: float


@dataclass
class NightlyResult:
    """How an in-process nightly run ended, in terms a person reads."""

    state: str  # "published", "skipped" or "failed"
    out: Path
    release: Path | None
    steps: list[StepOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[str]:
        """Names of the steps that failed."""
        return [s.name for s in self.steps if s.state == "failed"]


def _configure(exports: Path, out: Path, study_folder: Path, log_level: str) -> None:
    home = airflow_home()
    wanted = embedded_env(home) | {
        "AIRFLOW__LOGGING__LOGGING_LEVEL": log_level,
        "CDISCFLOW_STUDIES": str(study_folder.parent),
        "CDISCFLOW_LANDING": str(exports),
        "CDISCFLOW_OUT": str(out),
    }
    if "airflow" in sys.modules and os.environ.get("AIRFLOW_HOME") != wanted["AIRFLOW_HOME"]:
        raise RuntimeError("Airflow was imported before the embedded settings were applied; "
                           "call run_nightly() in a fresh process")
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(wanted)


def _migrate_once() -> None:
    from airflow.utils import db

    try:
        db.check_migrations(timeout=1)
    except Exception:  # noqa: BLE001 -- an empty or older database, whatever the error: migrate it
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, env=os.environ.copy(),
                       stdout=subprocess.DEVNULL)


def _step_name(display: str, map_index: int, rendered: str | None) -> str:
    if map_index < 0:
        return display
    return f"{display} [{rendered or f'#{map_index}'}]"


def run_nightly(exports: Path, out: Path, study: str, full_rebuild: bool = False,
                log_level: str = "INFO") -> NightlyResult:
    """Run the nightly-load DAG of `study` once, in-process, on the drop `exports`, publishing into `out`."""
    from transforms.config import study_dir
    from transforms.orchestration.settings import configured_studies

    started = time.monotonic()
    exports, out = exports.resolve(), out.resolve()
    folder = study_dir(study)
    _configure(exports, out, folder, log_level)
    entry = next(s for s in configured_studies(folder.parent) if s.folder == folder)

    # dag.test() drives the Execution API through Starlette's test client, which warns on every run.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.state import TaskInstanceState

    _migrate_once()
    bag = DagBag(dag_folder=str(DAGS_FOLDER / "nightly_load.py"), bundle_name="dags-folder")
    if bag.import_errors:
        raise RuntimeError(f"the DAG file does not load: {bag.import_errors}")
    dag = bag.dags[f"nightly_load_{entry.key}"]
    dagrun = dag.test(run_conf={"drop": None, "full_rebuild": full_rebuild})

    order = {task_id: i for i, task_id in enumerate(dag.task_ids)}
    tis = sorted(dagrun.get_task_instances(), key=lambda ti: (order.get(ti.task_id, 0), ti.map_index))
    steps = [StepOutcome(_step_name(dag.task_dict[ti.task_id].task_display_name, ti.map_index, ti.rendered_map_index),
                         str(ti.state or "none"), float(ti.duration or 0.0)) for ti in tis]
    published = any(ti.task_id == "publish" and ti.state == TaskInstanceState.SUCCESS for ti in tis)
    state = ("failed" if any(s.state == "failed" for s in steps) or dagrun.state == "failed"
             else "published" if published else "skipped")
    current = out / "current"
    return NightlyResult(state, out, current.resolve() if current.exists() else None, steps,
                         time.monotonic() - started)
