"""The staged cache: a LIS file read on an earlier night is not read again, and gives the same rows and findings."""
from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pandas as pd
import pytest

import transforms.ingest.lab as lab
from transforms.ingest.cache import StagedCache
from transforms.ingest.lab import ingest_site_labs, names_path, printed_path

from test_ingest_lab import site1

ROWS_DAY1 = [
    "0010000001,张三,S1,2018/01/05 07:30,总胆红素,290.7,μmol/L,3.4-20.5,↑,2018/01/05 10:30",
    "0010000001,张三,S1,2018/01/05 07:30",  # truncated record: a finding, night after night
]
ROWS_DAY2 = ["0010000001,张三,S1,2018/01/05 07:30,总胆红素,280.2,umol/L,3.4-20.5,↑,2018/01/06 08:00"]


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """Names of the LIS files actually parsed (not taken from the cache)."""
    seen: list[str] = []
    real = lab.read_lab_file

    def counting(path, *args, **kwargs):
        seen.append(path.name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(lab, "read_lab_file", counting)
    return seen


def night(study, files: list[Path], staged: Path, cache: StagedCache | None):
    """One night's ingest of SITE01's files into `staged`: (stats, findings rows, staged tables)."""
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    out = staged / "lab_SITE01.parquet"
    stats, findings = ingest_site_labs(files, "SITE01", study.sites["SITE01"].lab, set(study.lab_tests("SITE01")),
                                       out, cache=cache, digests=digests)
    tables = [pd.read_parquet(p) for p in (out, printed_path(out), names_path(out))]
    return stats, findings.to_frame(), tables


def cache_in(tmp_path: Path, run: str) -> StagedCache:
    return StagedCache(tmp_path / "out" / ".cache" / "staged", tmp_path / "out" / ".staging" / run / "cache_used")


def test_second_night_reads_only_the_new_file_and_stages_the_same(study, tmp_path, reads):
    f1 = site1(tmp_path, "LIS_SITE01_20180105.csv", ROWS_DAY1)
    f2 = site1(tmp_path, "LIS_SITE01_20180106.csv", ROWS_DAY2)
    night(study, [f1], tmp_path / "n1", cache_in(tmp_path, "n1"))
    assert reads == [f1.name]
    cached = night(study, [f1, f2], tmp_path / "n2", cache_in(tmp_path, "n2"))
    assert reads == [f1.name, f2.name]  # night 2 parsed only the new day
    fresh = night(study, [f1, f2], tmp_path / "full", None)
    assert cached[0] == fresh[0]
    pd.testing.assert_frame_equal(cached[1], fresh[1])
    for a, b in zip(cached[2], fresh[2], strict=True):
        pd.testing.assert_frame_equal(a, b)
    # The truncated record of the cached day is still a finding on night 2.
    shape = cached[1][cached[1]["RULE"] == "LIS-RECORD-SHAPE"]
    assert shape[["SOURCE", "RECORD"]].values.tolist() == [[f1.name, "line 3"]]
    assert cached[2][2]["NAME"].tolist() == ["张三"]


def test_damaged_or_partial_entry_is_never_used(study, tmp_path, reads):
    f1 = site1(tmp_path, "LIS_SITE01_20180105.csv", ROWS_DAY1)
    cache = cache_in(tmp_path, "n1")
    night(study, [f1], tmp_path / "n1", cache)
    (entry,) = [p for p in cache.root.iterdir() if p.is_dir()]
    rows = entry / "rows.arrow"
    rows.write_bytes(rows.read_bytes()[:-20])  # cut short, as by a full disk
    (cache.root / f".tmp-{'0' * 64}-1").mkdir()  # what a killed run leaves: never an entry
    _, findings, tables = night(study, [f1], tmp_path / "n2", cache_in(tmp_path, "n2"))
    assert reads == [f1.name, f1.name]  # read again, not taken from the damaged entry
    assert tables[1]["RESULT"].tolist() == ["290.7"]
    assert cache.get(entry.name) is not None  # rewritten whole


def test_cache_is_private(study, tmp_path):
    f1 = site1(tmp_path, "LIS_SITE01_20180105.csv", ROWS_DAY1)
    cache = cache_in(tmp_path, "n1")
    night(study, [f1], tmp_path / "n1", cache)
    for folder in (cache.root.parent, cache.root, *[p for p in cache.root.iterdir() if p.is_dir()]):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_prune_keeps_entries_of_the_last_runs_only(study, tmp_path):
    files = [site1(tmp_path, f"LIS_SITE01_2018010{d}.csv", ROWS_DAY2) for d in range(1, 6)]
    keys = []
    for i, f in enumerate(files):  # run i reads file i only
        cache = cache_in(tmp_path, f"run{i}")
        night(study, [f], tmp_path / f"s{i}", cache)
        keys.append(next(iter(cache.used_keys())))
        cache.prune(keep_runs=3)
    left = {p.name for p in cache.root.iterdir() if p.is_dir()}
    assert left == set(keys[2:])
