"""`cdiscflow bench`: the cost of a full run against the cost of only reading its inputs, per stage.

A tool beside the library (like the generator it drives), never imported by `transforms` at run time.
It synthesizes N subjects of the scaled study, then runs two child processes of this one:

- the floor: the same exports read with pyarrow's CSV reader and lxml's iterparse and written as
  Parquet, nothing else;
- the full run: `run_pipeline` (CORE off; CORE runs as its own task), each step timed from the
  pipeline's progress callback, the publish step split into the release's datasets (SDTM Parquet,
  XPT, lineage, ADaM copied) and its reports (findings, queries, Data Docs, quality report, manifest).

Peak RSS is the child's high-water mark (`resource.getrusage`) at the end of each stage: a stage's
figure is the largest the process has been so far. Results go to benchmarks/results.csv (one row per
stage, replacing the rows of the same machine and N) and benchmarks/scaling.png.
"""
from __future__ import annotations

import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

BENCH_STUDY = "nct03668171-scaled"
RESULTS_COLUMNS = ["date", "machine", "N", "stage", "seconds", "share", "peak_rss_mb", "ratio"]
TOTAL, FLOOR = "total", "floor"
# Step title prefix -> stage of the table (per-domain SDTM builds keep their domain).
STAGES = (
    ("Land and fingerprint", "land"),
    ("Ingest", "ingest"),
    ("Validate raw", "raw GX"),
    ("Build SDTM domain ", "SDTM "),
    ("Validate SDTM domain", "SDTM GX"),
    ("Cross-dataset and clinical edit checks", "checks"),
    ("Build AD", "ADaM"),
    ("Write SDTM as SAS V5", "XPT + datasets"),
    ("CDISC CORE", "CORE"),
    ("Merge CDISC CORE", "CORE"),
)


@dataclass
class StageTime:
    """One stage of a measured run: wall seconds and the process's peak RSS at its end (MB)."""

    stage: str
    seconds: float
    peak_rss_mb: float


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage_of(step_title: str) -> str:
    """The bench stage a pipeline step's title belongs to ("Build SDTM domain LB" -> "SDTM LB")."""
    for prefix, stage in STAGES:
        if step_title.startswith(prefix):
            return stage + step_title.removeprefix(prefix) if stage.endswith(" ") else stage
    return step_title


def _add(stages: dict[str, StageTime], stage: str, seconds: float) -> None:
    prev = stages.get(stage)
    stages[stage] = StageTime(stage, (prev.seconds if prev else 0.0) + seconds, peak_rss_mb())


def measure_floor(exports: Path, out: Path) -> list[StageTime]:
    """Read the exports the run reads (newest EDC snapshot, every LIS file, the list) and write them as Parquet."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    from lxml import etree

    from transforms.config import load_study

    study = load_study(BENCH_STUDY)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    snapshot = sorted(exports.glob(study.edc.snapshot_glob))[-1]
    ns = "{http://www.cdisc.org/ns/odm/v1.3}"
    cols: dict[str, list[str]] = {k: [] for k in ("SUBJECTKEY", "EVENTOID", "FORMOID", "IGOID", "ITEMOID", "VALUE")}
    keys = {f"{ns}SubjectData": ("SubjectKey", "SUBJECTKEY"), f"{ns}StudyEventData": ("StudyEventOID", "EVENTOID"),
            f"{ns}FormData": ("FormOID", "FORMOID"), f"{ns}ItemGroupData": ("ItemGroupOID", "IGOID")}
    current: dict[str, str] = {}
    for event, el in etree.iterparse(str(snapshot), events=("start", "end")):
        if event == "start" and el.tag in keys:
            attr, col = keys[el.tag]
            current[col] = el.get(attr, "")
        elif event == "end" and el.tag == f"{ns}ItemData":
            for col in ("SUBJECTKEY", "EVENTOID", "FORMOID", "IGOID"):
                cols[col].append(current.get(col, ""))
            cols["ITEMOID"].append(el.get("ItemOID", ""))
            cols["VALUE"].append(el.get("Value", ""))
            el.clear()
        elif event == "end" and el.tag == f"{ns}SubjectData":
            el.clear()
    pq.write_table(pa.table(cols), out / "edc_items.parquet")
    stages = {}
    _add(stages, "floor: EDC (lxml iterparse)", time.perf_counter() - start)
    start = time.perf_counter()
    for site, cfg in sorted(study.sites.items()):
        if cfg.lab is None:
            continue
        tables = [pacsv.read_csv(p, read_options=pacsv.ReadOptions(encoding=cfg.lab.encoding))
                  for p in sorted(exports.glob(cfg.lab.glob))]
        # Column types guessed per file differ between files; as text, as the pipeline stages them.
        tables = [t.cast(pa.schema([(f.name, pa.string()) for f in t.schema])) for t in tables]
        if tables:
            pq.write_table(pa.concat_tables(tables, promote_options="permissive"), out / f"lab_{site}.parquet")
    rand = exports / study.randomization.file
    if rand.exists():
        pq.write_table(pacsv.read_csv(rand), out / "randomization.parquet")
    _add(stages, "floor: LIS + list (pyarrow CSV)", time.perf_counter() - start)
    return list(stages.values())


def measure_run(exports: Path, out: Path) -> list[StageTime]:
    """A full run (CORE off) of the scaled study, each stage timed and its peak RSS taken."""
    from transforms.config import load_study
    from transforms.pipeline import publish as publish_mod
    from transforms.pipeline.run import run_pipeline

    study = load_study(BENCH_STUDY)
    stages: dict[str, StageTime] = {}
    clock = {"stage": None, "start": time.perf_counter(), "publish_parts": 0.0}

    def progress(step_title: str) -> None:
        now = time.perf_counter()
        if clock["stage"] is not None:
            _add(stages, clock["stage"], now - clock["start"])
        clock["stage"], clock["start"] = stage_of(step_title), now

    original = publish_mod.publish_datasets

    def timed_datasets(*args, **kwargs):  # the release's datasets (Parquet, XPT, lineage, ADaM) apart from its reports
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            clock["publish_parts"] = time.perf_counter() - t
            _add(stages, "XPT + datasets", clock["publish_parts"])

    publish_mod.publish_datasets = timed_datasets
    try:
        run_pipeline(exports, out, study, progress=progress, core=False)
    finally:
        publish_mod.publish_datasets = original
    # The last step (publish) ends with run_pipeline; what is not its datasets is its reports.
    publish = time.perf_counter() - clock["start"]
    _add(stages, "reports", publish - clock["publish_parts"])
    stages.pop("Publish release", None)
    return list(stages.values())


def _child(kind: str, exports: Path, out: Path, result: Path) -> None:
    stages = (measure_floor if kind == FLOOR else measure_run)(exports, out)
    result.write_text(json.dumps([s.__dict__ for s in stages]), encoding="utf-8")


def _in_child(kind: str, exports: Path, out: Path, work: Path) -> tuple[list[StageTime], float]:
    """Run one measurement in a child process of this one: its stages and its wall time."""
    result = work / f"{kind}.json"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cdiscflow_tools.bench", kind, str(exports), str(out), str(result)],
                   check=True, cwd=Path.cwd())
    wall = time.perf_counter() - start
    return [StageTime(**s) for s in json.loads(result.read_text(encoding="utf-8"))], wall


def machine() -> str:
    """CPU model, logical CPUs and memory of this machine (no host name)."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines()
                      if line.startswith("MemTotal"))
        memory = f", {mem_kb / 1024 / 1024:.0f} GB"
    except (OSError, StopIteration, ValueError):
        memory = ""
    return f"{model}, {os.cpu_count()} CPUs{memory}"


def bench_rows(n: int, floor: list[StageTime], run: list[StageTime], run_wall: float, when: str,
               where: str) -> list[dict[str, object]]:
    """The results table: each run stage, the run total and the floor; share of the run, ratio to the floor."""
    floor_s = sum(s.seconds for s in floor)
    total = sum(s.seconds for s in run)
    rows = []
    for s in run:
        rows.append({"stage": s.stage, "seconds": s.seconds, "share": s.seconds / total, "peak_rss_mb": s.peak_rss_mb})
    rows.append({"stage": TOTAL, "seconds": total, "share": 1.0, "peak_rss_mb": max(s.peak_rss_mb for s in run)})
    rows.append({"stage": "total (process wall)", "seconds": run_wall, "share": run_wall / total,
                 "peak_rss_mb": max(s.peak_rss_mb for s in run)})
    for s in floor:
        rows.append({"stage": s.stage, "seconds": s.seconds, "share": s.seconds / total, "peak_rss_mb": s.peak_rss_mb})
    rows.append({"stage": FLOOR, "seconds": floor_s, "share": floor_s / total,
                 "peak_rss_mb": max(s.peak_rss_mb for s in floor)})
    for r in rows:
        r.update({"date": when, "machine": where, "N": n, "ratio": r["seconds"] / floor_s})
    return [{k: r[k] for k in RESULTS_COLUMNS} for r in rows]


def write_results(path: Path, rows: list[dict[str, object]]) -> None:
    """benchmarks/results.csv: this run's rows replace the earlier ones of the same machine and N."""
    keep = []
    if path.exists():
        with path.open(encoding="utf-8", newline="") as f:
            keep = [r for r in csv.DictReader(f)
                    if (r["machine"], r["N"]) != (rows[0]["machine"], str(rows[0]["N"]))]
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {"seconds": "{:.2f}", "share": "{:.3f}", "peak_rss_mb": "{:.0f}", "ratio": "{:.2f}"}
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=RESULTS_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(keep)
        w.writerows({k: fmt[k].format(v) if k in fmt else v for k, v in r.items()} for r in rows)


def plot_scaling(results: Path, target: Path) -> None:
    """benchmarks/scaling.png: run and floor seconds, and the run's peak RSS, against N (this machine)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with results.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    where = rows[-1]["machine"]
    series = {stage: sorted((int(r["N"]), float(r["seconds"]), float(r["peak_rss_mb"]))
                            for r in rows if r["machine"] == where and r["stage"] == stage) for stage in (TOTAL, FLOOR)}
    fig, (t_ax, m_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for stage, pts in series.items():
        t_ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label="full run (CORE off)" if stage == TOTAL
                  else "floor (read + write Parquet)")
    m_ax.plot([p[0] for p in series[TOTAL]], [p[2] for p in series[TOTAL]], marker="o", label="full run")
    m_ax.plot([p[0] for p in series[FLOOR]], [p[2] for p in series[FLOOR]], marker="o", label="floor")
    for ax, label in ((t_ax, "wall time (s)"), (m_ax, "peak RSS (MB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("subjects (N)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(f"cdiscflow bench: {where}", fontsize=9)
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=100, metadata={"Software": None})
    plt.close(fig)


def bench(n: int, seed: int, results_dir: Path, keep: Path | None = None) -> list[dict[str, object]]:
    """Synthesize N subjects of the scaled study, measure the floor and the full run; write the results and plot."""
    from cdiscflow_tools.synth import synthesize
    from transforms.config import load_study

    with tempfile.TemporaryDirectory(prefix="cdiscflow-bench-") as tmp:
        work = keep or Path(tmp)
        exports = work / "exports"
        if not (exports / "edc").is_dir():
            synthesize(exports, subjects=n, seed=seed, snapshots=1, unblinded=True, plant_errors=True,
                       study=str(load_study(BENCH_STUDY).folder))
        floor, _ = _in_child(FLOOR, exports, work / "floor", work)
        run, run_wall = _in_child("run", exports, work / "out", work)
    rows = bench_rows(n, floor, run, run_wall, datetime.now(UTC).strftime("%Y-%m-%d"), machine())
    write_results(results_dir / "results.csv", rows)
    plot_scaling(results_dir / "results.csv", results_dir / "scaling.png")
    return rows


if __name__ == "__main__":  # the child processes: python -m cdiscflow_tools.bench floor|run EXPORTS OUT RESULT
    _child(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
