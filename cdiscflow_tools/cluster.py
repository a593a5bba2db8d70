"""A native CeleryExecutor Airflow (api-server, scheduler, dag-processor, N Celery workers) on the local
PostgreSQL and Redis, for the integration test and the scale-out benchmark.

Nothing here imports Airflow: every Airflow process is a child in its own process group, stopped
(and the database it ran on dropped, its Redis keys deleted) when the `cluster` context ends. The
tasks import this checkout's `transforms` (PYTHONPATH), not whatever copy is installed.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import urlsafe_b64encode
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DAG_ID = "nightly_load_nct03668171"
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS = ("127.0.0.1", 6379)
START_TIMEOUT = 240
RUN_TIMEOUT = 900


class ClusterError(RuntimeError):
    """A service died or did not come up in time (the message ends with the service and task logs)."""


def port_open(host: str, port: int) -> bool:
    """Whether something listens on host:port."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def missing_services() -> str | None:
    """Why the cluster cannot start here (a Python package, PostgreSQL or Redis missing), or None."""
    for module in ("psycopg", "redis", "airflow.providers.celery"):
        try:
            __import__(module)
        except ImportError:
            return f"Python package for {module} is not installed (make setup installs deploy/requirements-ci.txt)"
    if not port_open(PG["host"], PG["port"]):
        return "PostgreSQL is not listening on 127.0.0.1:5432"
    if not port_open(*REDIS):
        return "Redis is not listening on 127.0.0.1:6379"
    return None


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def database(name: str) -> Iterator[str]:
    """A fresh PostgreSQL database of that name, dropped afterwards."""
    import psycopg

    admin = psycopg.connect(dbname="postgres", autocommit=True, **PG)
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@dataclass
class Cluster:
    """The running services and where their files are."""

    env: dict[str, str]
    api: str
    home: Path
    out: Path
    landing: Path
    database: str
    procs: dict[str, subprocess.Popen]

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        """One REST call to the api-server (SimpleAuthManager with all_admins: no login needed)."""
        req = urllib.request.Request(f"{self.api}/api/v2/{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")

    def diagnostics(self) -> str:
        """The end of every service log and of every task log, for a failing assertion."""
        parts = []
        for log in sorted(self.home.glob("*.log")) + sorted((self.home / "logs").rglob("*.log")):
            text = log.read_text(errors="replace")
            parts.append(f"--- {log.relative_to(self.home)}\n{text[-3000:]}")
        return "\n".join(parts)[-40000:]

    def wait(self, what: str, check: Callable[[], bool], timeout: float) -> None:
        """Poll check() every second until it holds; ClusterError when a service exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead:
                raise ClusterError(f"{dead} exited while waiting for {what}\n{self.diagnostics()}")
            try:
                if check():
                    return
            except (OSError, urllib.error.URLError, ValueError):
                pass
            time.sleep(1)
        raise ClusterError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.diagnostics()}")

    def trigger(self, conf: dict | None = None) -> str:
        """Trigger a run of the nightly DAG now; its run id."""
        body: dict = {"logical_date": None, **({"conf": conf} if conf else {})}
        return self.call("POST", f"dags/{DAG_ID}/dagRuns", body)["dag_run_id"]

    def run_state(self, run_id: str) -> dict:
        """The DAG run as the REST API describes it (state, start_date, end_date ...)."""
        return self.call("GET", f"dags/{DAG_ID}/dagRuns/{run_id}")

    def task_states(self, run_id: str) -> dict[str, list[str]]:
        """Each task's state, one per mapped instance in map-index order."""
        tis = self.call("GET", f"dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=1000")["task_instances"]
        states: dict[str, list[str]] = {}
        for ti in sorted(tis, key=lambda t: (t["task_id"], t["map_index"])):
            states.setdefault(ti["task_id"], []).append(ti["state"])
        return states

    def trigger_and_wait(self, timeout: float = RUN_TIMEOUT, conf: dict | None = None) -> tuple[str, dict[str, list[str]]]:
        """Run the nightly DAG to its end; its final state and its tasks' states."""
        run_id = self.trigger(conf)
        self.wait(f"run {run_id} to finish", lambda: self.run_state(run_id)["state"] in ("success", "failed"), timeout)
        return self.run_state(run_id)["state"], self.task_states(run_id)


def airflow_env(home: Path, database: str, api_port: int, queue: str, landing: Path, out: Path,
                concurrency: int = 2) -> dict[str, str]:
    """The environment of every Airflow process of one cluster."""
    # psycopg 3, named as docker-compose.yml names it.
    db = f"postgresql+psycopg://{PG['user']}@{PG['host']}:{PG['port']}/{database}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CDISCFLOW"))}
    return env | {
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),  # the tasks run this checkout's code
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db,
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS[0]}:{REDIS[1]}/0",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{db}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(concurrency),
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "21600",
        # A queue of our own, so that a worker of another run sharing this Redis never takes our tasks.
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
        "CDISCFLOW_QUEUE": queue,
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__FERNET_KEY": urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        # Half a day away from now: a fresh DAG whose last tick is recent runs that tick at once, which
        # would race the runs triggered here.
        "CDISCFLOW_NIGHTLY_CRON": cron_half_a_day_away("Asia/Shanghai"),
        "CDISCFLOW_LANDING": str(landing / "{study}"),
        "CDISCFLOW_OUT": str(out / "{study}"),
    }


def cron_half_a_day_away(tz: str) -> str:
    """A daily cron twelve hours from now in that time zone."""
    at = datetime.now(ZoneInfo(tz)) + timedelta(hours=12)
    return f"{at.minute} {at.hour} * * *"


def _start(name: str, args: list[str], env: dict[str, str], home: Path) -> subprocess.Popen:
    log = (home / f"{name}.log").open("wb")
    return subprocess.Popen([str(BIN / "airflow"), *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, cwd=home)


def stop(procs: dict[str, subprocess.Popen]) -> None:
    """SIGTERM each process group, SIGKILL what has not ended 30 s later."""
    for proc in procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    for proc in procs.values():
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@contextmanager
def cluster(home: Path, name: str, workers: int = 1, concurrency: int = 2) -> Iterator[Cluster]:
    """api-server, scheduler, dag-processor and `workers` Celery workers on a fresh, migrated database `name`."""
    import redis

    landing, out = home / "landing", home / "out"
    api_port = free_port()
    with database(name):
        env = airflow_env(home, name, api_port, name, landing, out, concurrency)
        subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, cwd=home,
                       stdout=(home / "migrate.log").open("wb"), stderr=subprocess.STDOUT, timeout=300)
        procs: dict[str, subprocess.Popen] = {}
        try:
            procs["api-server"] = _start("api-server", ["api-server"], env, home)
            procs["scheduler"] = _start("scheduler", ["scheduler"], env, home)
            procs["dag-processor"] = _start("dag-processor", ["dag-processor"], env, home)
            for i in range(1, workers + 1):
                # Each worker serves its task logs on a port of its own.
                worker_env = env | {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
                procs[f"worker{i}"] = _start(f"worker{i}", ["celery", "worker", "-q", name, "-H", f"{name}_{i}@%h"],
                                             worker_env, home)
            c = Cluster(env, f"http://127.0.0.1:{api_port}", home, out, landing, name, procs)
            c.wait("the api-server health endpoint",
                   lambda: c.call("GET", "monitor/health")["metadatabase"]["status"] == "healthy", START_TIMEOUT)
            c.wait("the DAG to be parsed by the dag-processor",
                   lambda: c.call("GET", f"dags/{DAG_ID}")["is_paused"] is False, START_TIMEOUT)
            for i in range(1, workers + 1):
                c.wait(f"Celery worker {i}", lambda i=i: b"ready" in (home / f"worker{i}.log").read_bytes(),
                       START_TIMEOUT)
            yield c
        finally:
            stop(procs)
            client = redis.Redis(*REDIS)
            for key in client.scan_iter(f"*{name}*"):
                client.delete(key)
