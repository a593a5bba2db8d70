"""`cdiscflow bench`'s bookkeeping: stages from step titles, shares and ratios, one result set per machine and N."""
from __future__ import annotations

import csv

import pytest

from cdiscflow_tools.bench import StageTime, bench_rows, stage_of, write_results
from transforms.config import load_study
from transforms.pipeline.run import step_names


def test_every_pipeline_step_has_a_stage():
    stages = {stage_of(t) for t in step_names(load_study("nct03668171-scaled"))}
    assert {"land", "ingest", "raw GX", "SDTM DM", "SDTM LB", "SDTM GX", "checks", "ADaM"} <= stages
    assert "Publish release" in stages  # split by the bench into its datasets and its reports


def _rows(n: int, where: str = "m") -> list[dict]:
    floor = [StageTime("floor: EDC", 1.0, 100.0), StageTime("floor: LIS", 3.0, 120.0)]
    run = [StageTime("land", 2.0, 200.0), StageTime("checks", 6.0, 300.0)]
    return bench_rows(n, floor, run, 9.0, "2026-12-01", where)


def test_shares_and_ratios():
    rows = {r["stage"]: r for r in _rows(10)}
    assert rows["total"]["seconds"] == 8.0 and rows["total"]["share"] == 1.0
    assert rows["checks"]["share"] == 6.0 / 8.0
    assert rows["floor"]["seconds"] == 4.0 and rows["total"]["ratio"] == 2.0  # 8 s against a 4 s floor
    assert rows["total"]["peak_rss_mb"] == 300.0 and rows["floor"]["peak_rss_mb"] == 120.0


def test_results_replace_the_same_machine_and_n(tmp_path):
    path = tmp_path / "results.csv"
    write_results(path, _rows(10))
    write_results(path, _rows(20))
    write_results(path, _rows(10))
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted({r["N"] for r in rows}) == ["10", "20"]
    assert len(rows) == 2 * len(_rows(10))


@pytest.mark.slow
def test_bench_runs_the_scaled_study_end_to_end(tmp_path):
    # `make bench` at a tiny N: the scaled study (a folder that extends the trial's) synthesizes, runs
    # and publishes a whole release; every stage is measured, the floor apart.
    import json

    from cdiscflow_tools.bench import bench

    rows = bench(40, 5, tmp_path / "results", keep=tmp_path / "work")
    stages = {r["stage"] for r in rows}
    assert {"land", "ingest", "raw GX", "SDTM DM", "SDTM LB", "SDTM GX", "checks", "ADaM", "XPT + datasets",
            "reports", "total", "floor"} <= stages
    by = {r["stage"]: r for r in rows}
    assert by["total"]["seconds"] > by["floor"]["seconds"] > 0
    assert (tmp_path / "results" / "scaling.png").stat().st_size > 0
    manifest = json.loads((tmp_path / "work" / "out" / "current" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["study"] == "NCT03668171-SCALED" and manifest["datasets"]["dm"] == 40
