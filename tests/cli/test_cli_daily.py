"""The command line in daily use: --version, clean refusals, cron logging, nothing-new runs, retention."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from transforms.cli import app, core_status
from transforms.publish.retention import PIN_FILES, prune_releases, releases_to_prune

runner = CliRunner()
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z \S")


def _run(*args: str):
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_version():
    result = _run("--version")
    assert result.exit_code == 0
    assert re.match(r"^cdiscflow \d+\.\d+\.\d+", result.stdout)


def test_empty_or_wrong_drop_folder_is_a_clean_exit_2(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "wrong").mkdir()
    (tmp_path / "wrong" / "notes.txt").write_text("not a drop")
    for folder in ("empty", "wrong"):
        result = _run("run", "--no-core", "--exports", str(tmp_path / folder), "--out", str(tmp_path / "out"))
        assert result.exit_code == 2
        assert "Not a drop folder" in result.stdout and "Traceback" not in result.stdout
    assert not (tmp_path / "out").exists()  # nothing was done


def test_unknown_study_is_a_clean_exit_2(tmp_path, examples):
    result = _run("run", "--no-core", "--study", "no-such-study", "--exports", str(examples), "--out",
                  str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "no-such-study" in result.stdout and "Traceback" not in result.stdout


def test_synth_refuses_a_folder_with_files_unless_forced(tmp_path):
    out = tmp_path / "drop"
    out.mkdir()
    (out / "edc").mkdir()
    (out / "edc" / "old.xml").write_text("<old/>")
    result = _run("synth", "--subjects", "2", "--snapshots", "1", "--out", str(out))
    assert result.exit_code == 2 and "already holds files" in result.stdout
    assert (out / "edc" / "old.xml").exists()  # untouched
    # --force never empties a folder synth did not write (a real landing folder, say)
    result = _run("synth", "--subjects", "2", "--snapshots", "1", "--out", str(out), "--force")
    assert result.exit_code == 2 and "not a synthetic drop" in result.stdout
    assert (out / "edc" / "old.xml").exists()
    assert _run("synth", "--subjects", "2", "--snapshots", "1", "--out", str(tmp_path / "syn")).exit_code == 0
    (tmp_path / "syn" / "edc" / "old.xml").write_text("<old/>")
    result = _run("synth", "--subjects", "2", "--snapshots", "1", "--out", str(tmp_path / "syn"), "--force")
    assert result.exit_code == 0
    assert not (tmp_path / "syn" / "edc" / "old.xml").exists()
    assert len(list((tmp_path / "syn" / "edc").glob("NCT03668171_ODM_*.xml"))) == 1


def test_unchanged_drop_is_nothing_new_with_stamped_unwrapped_lines(synthetic_run):
    drop, out, release = synthetic_run
    before = sorted(p.name for p in (out / "releases").iterdir())
    result = _run("run", "--no-core", "--exports", str(drop), "--out", str(out))
    assert result.exit_code == 0, result.stdout
    assert "Nothing new" in result.stdout
    assert sorted(p.name for p in (out / "releases").iterdir()) == before
    assert (out / "current").resolve() == release
    lines = result.stdout.splitlines()
    # not on a terminal (cron): one time-stamped line per step, and paths are never broken over lines
    assert STAMP.match(lines[0]) and any(STAMP.match(x) and "Land" in x for x in lines)
    assert any(str(release) in x for x in lines)
    assert len(max(lines, key=len)) > 80 or len(str(release)) <= 70


def test_summary_names_every_report_the_lineage_and_core(synthetic_release, capsys):
    from transforms.cdisc.findings import Findings
    from transforms.cli import _print_summary
    from transforms.pipeline.run import RunResult

    _print_summary(RunResult(synthetic_release, {"dm": 40}, Findings(), False), synthetic_release.parent.parent,
                   core_off="--no-core")
    text = capsys.readouterr().out
    reports = synthetic_release / "reports"
    for path in (reports / "quality.html", reports / "topline.html", reports / "gx" / "index.html",
                 synthetic_release / "lineage"):
        assert str(path) in text
    assert "CORE:     did not run: --no-core" in text  # the fixture runs without the engine


def test_core_status_says_why():
    assert core_status(None, "the engine is not installed (make core-setup)") == (
        "did not run: the engine is not installed (make core-setup)")
    assert core_status({"error": "TimeoutExpired: 600 s"}) == "failed: TimeoutExpired: 600 s"
    assert core_status({"issues": 3, "open_issues": 0}).startswith("ran: 3 issues")
    assert core_status({"seconds": 30.0, "tasks": 1, "issues": 2, "open_issues": 1}) == (
        "ran (30.0 s in one run over every dataset): 2 issues, 1 not covered by reviewed exceptions")
    assert core_status({"seconds": 9.5, "tasks": 17, "error": "E"}) == "failed (9.5 s in 17 tasks, one per domain): E"


def _releases(out: Path, names: list[str], current: str) -> None:
    for name in names:
        (out / "releases" / name).mkdir(parents=True)
        (out / "releases" / name / "manifest.json").write_text(json.dumps({"release": name}))
    (out / "current").symlink_to(Path("releases") / current)


def test_retention_keeps_the_last_n_pinned_and_current(tmp_path):
    names = [f"2026010{d}T020000Z-abcd" for d in range(1, 8)]
    _releases(tmp_path, names, current=names[-1])
    (tmp_path / "releases" / names[1] / PIN_FILES[0]).write_text("shared 2026-01-05\n")   # shared
    (tmp_path / "releases" / names[2] / PIN_FILES[1]).write_text("database lock\n")       # locked
    (tmp_path / "releases" / f".{names[0]}x.partial").mkdir()                             # never a release
    removed = prune_releases(tmp_path, keep_last=2)
    assert removed == [names[0], names[3], names[4]]
    assert sorted(p.name for p in (tmp_path / "releases").iterdir() if not p.name.startswith(".")) == [
        names[1], names[2], names[5], names[6]]
    assert (tmp_path / "current").resolve() == tmp_path / "releases" / names[6]


def test_retention_never_removes_the_current_release(tmp_path):
    names = ["20260101T020000Z-aaaa", "20260102T020000Z-bbbb", "20260103T020000Z-cccc"]
    # current points at an older release (a release was published elsewhere and current switched back)
    _releases(tmp_path, names, current=names[0])
    assert [p.name for p in releases_to_prune(tmp_path, keep_last=1)] == [names[1]]
    with pytest.raises(ValueError):
        releases_to_prune(tmp_path, keep_last=0)


def test_study_sets_a_retention(study):
    assert study.keep_releases is not None and study.keep_releases >= 1


def test_airflow_publish_applies_the_same_retention(tmp_path, monkeypatch):
    from transforms.orchestration.steps import apply_retention

    names = [f"2026010{d}T020000Z-abcd" for d in range(1, 5)]
    _releases(tmp_path, names, current=names[-1])
    (tmp_path / "releases" / names[0] / PIN_FILES[0]).write_text("package 0\n")
    assert apply_retention(tmp_path, None) == []  # no policy: every release stays
    assert apply_retention(tmp_path, 2) == [names[1]]
    monkeypatch.setattr("transforms.orchestration.steps.prune_releases",
                        lambda out, keep: (_ for _ in ()).throw(PermissionError("read-only")))
    assert apply_retention(tmp_path, 1) == []  # a failed clean-up never fails the published run
