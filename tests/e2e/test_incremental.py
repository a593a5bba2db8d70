"""An incremental night (one more day of LIS files, a new snapshot) reads only the new files and publishes
the same bytes as a run that reads every file (--no-cache)."""
from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

import transforms.ingest.lab as lab
from transforms.pipeline.run import run_pipeline
from cdiscflow_tools.synth import synthesize

NIGHTS = (datetime(2026, 1, 1, 2, tzinfo=UTC), datetime(2026, 1, 2, 2, tzinfo=UTC))
COMPARED = ("sdtm", "adam", "lineage", "reports/findings.csv", "reports/queries.csv")


def files_of(release: Path) -> dict[str, bytes]:
    """The compared outputs of a release, by path."""
    out = {}
    for name in COMPARED:
        p = release / name
        for f in sorted(p.rglob("*") if p.is_dir() else [p]):
            if f.is_file():
                out[str(f.relative_to(release))] = f.read_bytes()
    return out


@pytest.fixture(scope="module")
def drops(tmp_path_factory) -> tuple[Path, Path, list[str]]:
    """(night 1, night 2, the LIS files new on night 2): night 1 lacks the newest snapshot and each site's last day."""
    night2 = tmp_path_factory.mktemp("night2")
    synthesize(night2, subjects=30, seed=11, snapshots=2, unblinded=True, plant_errors=True)
    night1 = tmp_path_factory.mktemp("night1") / "drop"
    shutil.copytree(night2, night1)
    max(night1.glob("edc/*.xml")).unlink()
    new = []
    for site in sorted((night1 / "lab").iterdir()):
        last = max(site.iterdir())
        new.append(last.name)
        last.unlink()
    return night1, night2, new


@pytest.mark.slow
def test_incremental_night_reads_only_new_files_and_publishes_the_same_bytes(drops, study, tmp_path, monkeypatch):
    night1, night2, new = drops
    no_cache = study.model_copy(update={"cache": False})
    full = [run_pipeline(drop, tmp_path / "full", no_cache, now=now).release for drop, now in zip((night1, night2), NIGHTS)]
    first = run_pipeline(night1, tmp_path / "inc", study, now=NIGHTS[0]).release
    read: list[str] = []
    real = lab.read_lab_file
    monkeypatch.setattr(lab, "read_lab_file", lambda path, *a, **k: read.append(path.name) or real(path, *a, **k))
    second = run_pipeline(night2, tmp_path / "inc", study, now=NIGHTS[1]).release

    assert sorted(read) == sorted(new)  # one new day per site; every other LIS file came from the cache
    assert not (tmp_path / "full" / ".cache").exists()
    for cached, everything in ((first, full[0]), (second, full[1])):
        a, b = files_of(cached), files_of(everything)
        assert a.keys() == b.keys() and len(a) > 10
        assert [k for k in a if a[k] != b[k]] == []
    assert not any(".cache" in str(p) for p in second.rglob("*"))  # the cache never goes into a release
