"""The CeleryExecutor deployment: docker-compose.yml and the image are wired as the topology needs,
and that topology, started natively (PostgreSQL metadata, Redis broker, api-server, scheduler,
dag-processor, a Celery worker), publishes a release from a synthetic drop and treats a second run
on the same drop as a no-op.

Without PostgreSQL or Redis on 127.0.0.1 the native test is skipped, unless CI is set: then it fails.
Nothing here imports Airflow: cdiscflow_tools/cluster.py starts every Airflow process as a child in its own process group.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cdiscflow_tools.cluster import BIN, Cluster, cluster as start_cluster, missing_services

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def services() -> None:
    reason = missing_services()
    if reason and os.environ.get("CI"):
        pytest.fail(f"CI needs the Celery integration test to run: {reason}")
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster(services, tmp_path_factory) -> Iterator[Cluster]:
    """api-server, scheduler, dag-processor and one Celery worker on a fresh, migrated database (dropped after)."""
    with start_cluster(tmp_path_factory.mktemp("airflow"), f"cdiscflow_test_{os.getpid()}") as c:
        yield c


def _asset_events(c: Cluster) -> int:
    assets = c.call("GET", "assets?uri_pattern=cdiscflow://nct03668171/sdtm")["assets"]
    if not assets:
        return 0
    return c.call("GET", f"assets/events?asset_id={assets[0]['id']}")["total_entries"]


@pytest.mark.services
@pytest.mark.slow
def test_celery_run_publishes_then_the_same_drop_is_a_no_op(cluster: Cluster) -> None:
    drop = cluster.landing / "nct03668171"
    subprocess.run([str(BIN / "cdiscflow"), "synth", "--subjects", "20", "--seed", "7", "--out", str(drop)],
                   check=True, capture_output=True, timeout=300)
    out = cluster.out / "nct03668171"

    state, tasks = cluster.trigger_and_wait()
    assert state == "success", f"{tasks}\n{cluster.diagnostics()}"
    assert tasks["publish"] == ["success"] and tasks["cleanup"] == ["success"]
    assert set(tasks["build_sdtm"]) == {"success"} and len(tasks["build_sdtm"]) >= 15
    assert tasks["ingest_labs"] == ["success", "success"]
    releases = sorted((out / "releases").iterdir())
    assert len(releases) == 1 and (out / "current").resolve() == releases[0]
    manifest = json.loads((releases[0] / "manifest.json").read_text())
    assert manifest["study"] == "NCT03668171" and manifest["datasets"]["dm"] == 20
    assert (releases[0] / "sdtm" / "lb.parquet").exists()
    assert not any((out / ".staging").iterdir())  # identifiers do not outlive the run
    assert _asset_events(cluster) == 1

    state, tasks = cluster.trigger_and_wait()
    assert state == "success", f"{tasks}\n{cluster.diagnostics()}"
    assert tasks["land"] == ["success"] and tasks["detect_changes"] == ["success"]
    assert tasks["publish"] == ["skipped"] and set(tasks["build_sdtm"]) == {"skipped"}
    assert sorted((out / "releases").iterdir()) == releases
    assert _asset_events(cluster) == 1


AIRFLOW_SERVICES = {"airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer", "airflow-worker"}
LONGEST_TASK_SECONDS = 2 * 3600  # the nightly DAG's execution_timeout (tests/dags/test_dags.py checks it)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_has_the_celery_topology_on_one_built_image(compose):
    services = compose["services"]
    assert {"postgres", "redis"} | AIRFLOW_SERVICES <= set(services)
    for name in AIRFLOW_SERVICES:
        svc = services[name]
        assert svc["build"] == "." and svc["image"] == services["airflow-scheduler"]["image"], name
        env = svc["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        assert env["AIRFLOW__CELERY__BROKER_URL"].endswith("@redis:6379/0")
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg://")
        assert int(env["AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT"]) > LONGEST_TASK_SECONDS
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
        # The same secrets everywhere (JWTs for the Execution API, Fernet for the database).
        for key in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY"):
            assert env[key] == services["airflow-apiserver"]["environment"][key] and env[key].startswith("${")
        mounts = {re.sub(r"\$\{[^}]*\}", "HOST", v).split(":")[1]: v for v in svc["volumes"]}
        assert mounts["/data/landing"].endswith(":ro") and not mounts["/data/out"].endswith(":ro")
        assert {"/opt/cdiscflow/studies", "/opt/airflow/logs"} <= set(mounts)  # suites: studies/<study>/expectations
        if name != "airflow-init":
            assert svc["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
            assert svc["healthcheck"]["test"]
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in (ROOT / "docker-compose.yml").read_text()


def test_compose_health_checks_and_init_job(compose):
    services = compose["services"]
    assert "http://localhost:8080/api/v2/monitor/health" in services["airflow-apiserver"]["healthcheck"]["test"]
    assert "http://localhost:8974/health" in services["airflow-scheduler"]["healthcheck"]["test"]
    assert services["airflow-scheduler"]["environment"]["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"
    for dep in ("postgres", "redis"):
        assert services["airflow-apiserver"]["depends_on"][dep]["condition"] == "service_healthy"
        assert services[dep]["healthcheck"]["test"]
    init = services["airflow-init"]["command"][-1]
    pool = services["airflow-worker"]["environment"]["CDISCFLOW_POOL"]
    assert "airflow db migrate" in init and "airflow users create --role Admin" in init
    assert f"airflow pools set {pool} " in init
    assert services["airflow-worker"]["environment"]["DUMB_INIT_SETSID"] == "0"


def test_every_required_setting_is_in_env_example_and_env_is_not_committed(compose):
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{(\w+):\?", text))
    example = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()
               if "=" in line and not line.startswith("#")}
    assert required and required <= example
    tracked = subprocess.run(["git", "ls-files", ".env"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert tracked.strip() == ""


def _lock(name: str) -> dict[str, tuple[str, list[str]]]:
    """A hash-pinned lock of deploy/: normalized name -> (version, hashes)."""
    text = (ROOT / "deploy" / name).read_text(encoding="utf-8")
    entries = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        head = re.match(r"([A-Za-z0-9][\w.\-]*)(?:\[[\w,\-]+\])?==([^\s\\]+)", block)
        if head:
            entries[re.sub(r"[-_.]+", "-", head[1]).lower()] = (head[2], re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return entries


def _requirements(extras: set[str]) -> list:
    """pyproject's core requirements and those of the extras named (following cdiscflow[...] references)."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs, todo, seen = [Requirement(d) for d in project["dependencies"]], set(extras), set()
    while todo:
        extra = todo.pop()
        seen.add(extra)
        for dep in project["optional-dependencies"][extra]:
            req = Requirement(dep)
            if req.name == "cdiscflow":
                todo |= req.extras - seen
            else:
                reqs.append(req)
    return reqs


@pytest.mark.parametrize("lock, extras", [("requirements.txt", {"celery", "reports"}),
                                          ("requirements-ci.txt", {"test"})])
def test_locks_pin_with_hashes_every_requirement_of_pyproject(lock, extras):
    entries = _lock(lock)
    assert entries and all(hashes for _, hashes in entries.values()), f"{lock}: a package without --hash"
    for req in _requirements(extras):
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert name in entries, f"deploy/{lock} lacks {req}: run `make lock`"
        assert req.specifier.contains(entries[name][0], prereleases=True), \
            f"deploy/{lock} pins {name}=={entries[name][0]}, outside pyproject's {req}: run `make lock`"
        for extra_pkg in {"redis": ["redis"], "binary": ["psycopg-binary"]}.get(next(iter(req.extras), ""), []):
            assert extra_pkg in entries, f"deploy/{lock} lacks {extra_pkg} for {req}"


def test_library_requirements_are_ranges_and_services_are_extras():
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = {Requirement(d).name.lower() for d in project["dependencies"]}
    assert not {"apache-airflow", "celery", "statsmodels", "scipy", "pytest"} & core
    assert not any(str(Requirement(d).specifier).startswith("==") for d in project["dependencies"])
    assert {"airflow", "celery", "reports", "test"} <= set(project["optional-dependencies"])
    text = "\n".join((ROOT / p).read_text(encoding="utf-8") for p in
                     ("pyproject.toml", "docker-compose.yml", "deploy/requirements.txt", "deploy/requirements-ci.txt"))
    assert "psycopg2" not in text, "psycopg2-binary is not for production: psycopg 3 only"


def test_image_and_setup_install_exactly_the_locks():
    docker = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    airflow = _lock("requirements.txt")["apache-airflow"][0]
    assert f"ARG AIRFLOW_VERSION={airflow}" in docker and "FROM apache/airflow:slim-${AIRFLOW_VERSION}" in docker
    assert "--require-hashes --no-deps -r /opt/cdiscflow/deploy/requirements.txt" in docker
    assert "pip install --no-cache-dir --no-deps -e" in docker
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "--require-hashes --no-deps -r deploy/requirements-ci.txt" in makefile
    assert _lock("requirements-ci.txt")["apache-airflow"][0] == airflow


def test_library_runs_without_the_optional_extras(tmp_path):
    """A plain `pip install cdiscflow`: the CLI and the pipeline import with Airflow, Celery and statsmodels absent."""
    code = (
        "import sys\n"
        "for name in ('airflow', 'celery', 'statsmodels', 'scipy', 'psycopg', 'asyncpg'):\n"
        "    sys.modules[name] = None  # what an absent package looks like to import and find_spec\n"
        "import transforms.cli, transforms.pipeline.run, transforms.pipeline.publish\n"
        "from typer.testing import CliRunner\n"
        "r = CliRunner().invoke(transforms.cli.app, ['nightly', '--exports', '.', '--out', 'y'])\n"
        "print(r.exit_code, r.output.replace(chr(10), ' '))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("2 ") and "cdiscflow[airflow]" in done.stdout


def test_release_without_the_reports_extra_says_why_topline_is_missing(monkeypatch):
    from transforms.pipeline.publish import Release, publish_topline

    monkeypatch.setitem(sys.modules, "statsmodels", None)
    release = Release(*([None] * 8))
    manifest: dict = {"blinded": False}
    publish_topline(release, manifest)
    assert "cdiscflow[reports]" in manifest["topline"]
