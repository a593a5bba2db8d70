"""Scale-out on Celery workers, measured: the nightly DAG on one synthetic drop with 1, then 2 workers.

    python -m cdiscflow_tools.bench_celery --subjects 500 [--workers 1 2] [--concurrency 1]
        [--csv benchmarks/celery_scaleout.csv]

Each worker count gets a cluster of its own (cdiscflow_tools/cluster.py: fresh PostgreSQL database,
api-server, scheduler, dag-processor, the workers), an empty output folder and a copy of the same
drop, and runs one full build. The DAG run's wall time is the api-server's end_date - start_date.
Every process started is stopped and every database dropped on the way out. Needs PostgreSQL and
Redis on 127.0.0.1, and the `airflow`, `celery` extras.
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from cdiscflow_tools.cluster import ROOT, cluster, missing_services

STUDY_DIR = "nct03668171"
FIELDS = ["date_utc", "machine", "cpus", "subjects", "workers", "concurrency", "dag_seconds", "speedup",
          "tasks", "state", "load_before", "load_after"]


def machine() -> str:
    """The CPU model, as /proc/cpuinfo names it (else the platform's processor)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    """The 1-minute load average now (the machine may be shared)."""
    return f"{os.getloadavg()[0]:.2f}"


def synth_drop(subjects: int, seed: int, folder: Path) -> Path:
    """A synthetic drop of that many subjects, written with this checkout's generator."""
    subprocess.run([sys.executable, "-m", "transforms.cli", "synth", "--subjects", str(subjects), "--seed", str(seed),
                    "--out", str(folder)], check=True, capture_output=True, cwd=ROOT, timeout=1800)
    return folder


def seconds_between(start: str, end: str) -> float:
    """end - start of two ISO 8601 timestamps, in seconds."""
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def measure(drop: Path, workers: int, concurrency: int, scratch: Path) -> dict:
    """One full build of the drop by a fresh cluster with that many workers."""
    home = scratch / f"w{workers}"
    home.mkdir()
    shutil.copytree(drop, home / "landing" / STUDY_DIR)
    before = load_average()
    with cluster(home, f"cdiscflow_bench_{os.getpid()}_{workers}", workers=workers, concurrency=concurrency) as c:
        run_id = c.trigger()
        c.wait(f"run {run_id}", lambda: c.run_state(run_id)["state"] in ("success", "failed"), timeout=7200)
        run = c.run_state(run_id)
        tasks = c.task_states(run_id)
    return {"workers": workers, "concurrency": concurrency, "state": run["state"],
            "dag_seconds": round(seconds_between(run["start_date"], run["end_date"]), 1),
            "tasks": sum(len(v) for v in tasks.values()), "load_before": before, "load_after": load_average()}


def main(argv: list[str] | None = None) -> int:
    """Measure, print the table and append it to the CSV."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=500)
    ap.add_argument("--seed", type=int, default=20171210)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--concurrency", type=int, default=1, help="task slots per worker (Celery worker_concurrency)")
    ap.add_argument("--csv", type=Path, default=ROOT / "benchmarks" / "celery_scaleout.csv")
    args = ap.parse_args(argv)
    reason = missing_services()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory(prefix="cdiscflow-bench-") as tmp:
        drop = synth_drop(args.subjects, args.seed, Path(tmp) / "drop")
        for n in args.workers:
            row = measure(drop, n, args.concurrency, Path(tmp))
            print(f"{n} worker(s) x {args.concurrency}: {row['state']} in {row['dag_seconds']} s "
                  f"({row['tasks']} task instances; load {row['load_before']} -> {row['load_after']})", flush=True)
            rows.append(row)
    base = rows[0]["dag_seconds"]
    now = datetime.now(UTC).isoformat(timespec="seconds")
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    new = not args.csv.exists()
    with args.csv.open("a", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, FIELDS, lineterminator="\n")
        if new:
            w.writeheader()
        for row in rows:
            w.writerow({"date_utc": now, "machine": machine(), "cpus": os.cpu_count(), "subjects": args.subjects,
                        "speedup": round(base / row["dag_seconds"], 2), **row})
    print(f"speed-up {rows[0]['workers']} -> {rows[-1]['workers']} workers: {base / rows[-1]['dag_seconds']:.2f}x "
          f"-> {args.csv}")
    return 0 if all(r["state"] == "success" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
