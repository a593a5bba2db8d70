"""Hostile and faulty drops and runs against `cdiscflow run` (issue 9).

Every case starts from a copy of the contracts' example drop, mutated by hand, and runs the CLI in
process. Whatever the input, the run ends with exit code 0 or 2, names the file, keeps a copy (or
the reason) in OUT/quarantine, leaves OUT/current alone when it rejects, leaves no staging behind,
reads nothing outside the drop and writes no live formula into queries.xlsx.
"""
from __future__ import annotations

import errno
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from transforms.cli import app

EXAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "examples"
SNAP = "edc/NCT03668171_ODM_20180115T230005.xml"
SITE01 = "lab/SITE01/LIS_SITE01_20180105.csv"
SITE02 = "lab/SITE02/labs_2018-03-12.csv"
RAND = "randomization/unblinded_randomization_list.csv"
SECRET = "PLANTED-SECRET-7c1e"  # in files outside the drop: must never reach OUT
# The first data rows' identifiers (MRN, patient name) of the example LIS files.
SITE01_ROW1 = ("0010000001", "李雷")
SITE02_ROW1 = ("M778812",)


def run_cli(drop: Path, out: Path) -> tuple[int, str]:
    """`cdiscflow run --no-core --force` in process (always builds, even the same files); (exit code, output)."""
    res = CliRunner().invoke(app, ["run", "--exports", str(drop), "--out", str(out), "--no-core", "--force"])
    text = res.output
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        import traceback

        text += "".join(traceback.format_exception(res.exception))
    return res.exit_code, text


def snapshot_text() -> str:
    return (EXAMPLES / SNAP).read_text(encoding="utf-8")


def new_drop(tmp_path: Path) -> Path:
    drop = tmp_path / "drop"
    shutil.copytree(EXAMPLES, drop)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text(f"{SECRET}\n", encoding="utf-8")
    return drop


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """An OUT with one release of the untouched example drop (built once, copied per case)."""
    out = tmp_path_factory.mktemp("baseline") / "out"
    code, text = run_cli(EXAMPLES, out)
    assert code == 0, text
    return out


@pytest.fixture
def out(baseline, tmp_path) -> Path:
    target = tmp_path / "out"
    shutil.copytree(baseline, target, symlinks=True)
    return target


def all_bytes(folder: Path) -> list[tuple[Path, bytes]]:
    """Every regular file under folder (links not followed) with its bytes."""
    found = []
    for root, _dirs, files in os.walk(folder):
        for name in files:
            p = Path(root) / name
            if p.is_file() and not p.is_symlink():
                found.append((p, p.read_bytes()))
    return found


def assert_clean_exit(out: Path, text: str) -> None:
    """No traceback, no staging left, no partial release, nothing from outside the drop."""
    assert "Traceback" not in text, text
    staging = out / ".staging"
    assert not staging.exists() or not any(staging.iterdir()), list(staging.iterdir())
    releases = out / "releases"
    assert not [p for p in releases.iterdir() if p.name.endswith(".partial")] if releases.exists() else True
    for p, data in all_bytes(out):
        assert SECRET.encode() not in data, p
        assert b"root:x:0:0" not in data, p
    assert SECRET not in text and "root:x:0:0" not in text


def assert_rejected(code: int, text: str, out: Path, before: Path, named: str, copied: bytes | None = None,
                    hidden: tuple[str, ...] = ()) -> None:
    """Exit 2, the entry named, quarantine as promised, current unchanged, no identifier in messages."""
    assert code == 2, text
    flat = text.replace("\n", "")
    assert named in flat, text
    assert (out / "current").resolve() == before
    assert sorted(p.name for p in (out / "releases").iterdir()) == [before.name]
    reasons = list((out / "quarantine").glob("*.reason.txt"))
    assert reasons, "no reason in quarantine"
    reason_text = "\n".join(r.read_text(encoding="utf-8") for r in reasons)
    assert named in reason_text
    if copied is not None:
        copies = [p.read_bytes() for p in (out / "quarantine").iterdir() if not p.name.endswith(".reason.txt")]
        assert copied in copies
    for value in hidden:
        assert value not in text and value not in reason_text, value
    assert_clean_exit(out, text)


@dataclass(frozen=True)
class Reject:
    """One hostile drop that must be rejected: how to make it, what must be named, what must be copied."""

    id: str
    mutate: Callable[[Path, pytest.MonkeyPatch], None]
    named: str
    copy: str | None = None  # drop path whose bytes must be in quarantine
    hidden: tuple[str, ...] = ()


def write(drop: Path, rel: str, data: str | bytes, encoding: str = "utf-8") -> None:
    p = drop / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))


def newer_snapshot(text: str | bytes, name: str = "NCT03668171_ODM_20180116T230005.xml"):
    return lambda drop, mp: write(drop, f"edc/{name}", text)


def no_subjects() -> str:
    t = snapshot_text()
    head, _, rest = t.partition("<SubjectData")
    return head + "</ClinicalData>\n</ODM>\n"


def removed_subjects() -> str:
    return snapshot_text().replace("<SubjectData ", '<SubjectData TransactionType="Remove" ')


def with_doctype(doctype: str, pad: str = "", value: str = "Fever") -> str:
    t = snapshot_text().replace('Value="Fever"', f'Value="{value}"')
    decl, _, body = t.partition("\n")
    return f"{decl}\n{pad}{doctype}\n{body}"


def recoded(encoding: str) -> bytes:
    t = snapshot_text().replace('encoding="UTF-8"', f'encoding="{encoding}"').replace("Fever", "Fièvre")
    return t.encode(encoding)


def unreadable(rel: str) -> Callable[[Path, pytest.MonkeyPatch], None]:
    """Make a drop file unreadable (chmod 000; as root, which reads anyway, the open fails as it would)."""
    def mutate(drop: Path, mp: pytest.MonkeyPatch) -> None:
        import transforms.land.landing as landing

        target = drop / rel
        target.chmod(0)
        real = landing.open_regular

        def refuse(path):
            if Path(path) == target:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real(path)

        mp.setattr(landing, "open_regular", refuse)
    return mutate


def unreadable_folder(rel: str) -> Callable[[Path, pytest.MonkeyPatch], None]:
    def mutate(drop: Path, mp: pytest.MonkeyPatch) -> None:
        import transforms.land.landing as landing

        target = drop / rel
        real = os.scandir

        def refuse(path="."):
            if isinstance(path, (str, os.PathLike)) and Path(path) == target:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real(path)

        mp.setattr(landing.os, "scandir", refuse)
    return mutate


def lis_without_header(rel: str, encoding: str) -> Callable[[Path, pytest.MonkeyPatch], None]:
    def mutate(drop: Path, mp: pytest.MonkeyPatch) -> None:
        p = drop / rel
        p.write_bytes(b"\n".join(p.read_bytes().split(b"\n")[1:]))
    return mutate


def huge_field(drop: Path, mp: pytest.MonkeyPatch) -> None:
    p = drop / SITE02
    lines = p.read_text(encoding="utf-8-sig").splitlines()
    cells = lines[1].split(",")
    cells[5] = '"' + "9" * (200 * 1024) + '"'
    lines[1] = ",".join(cells)
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")


def nul_byte(drop: Path, mp: pytest.MonkeyPatch) -> None:
    p = drop / SITE02
    p.write_bytes(p.read_bytes().replace(b"0.9", b"0\x009", 1))


def bad_name(drop: Path, mp: pytest.MonkeyPatch) -> None:
    folder = os.fsencode(str(drop / "lab" / "SITE01"))
    fd = os.open(folder + b"/LIS_SITE01_2018\xff.csv", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"x\n")
    os.close(fd)


def markup_study(drop: Path, mp: pytest.MonkeyPatch) -> None:
    write(drop, "edc/NCT03668171_ODM_20180116T230005.xml",
          snapshot_text().replace('StudyOID="NCT03668171"', 'StudyOID="[bold red]EVIL[/bold red]"'))


def only_future(drop: Path, mp: pytest.MonkeyPatch) -> None:
    (drop / SNAP).rename(drop / "edc" / "NCT03668171_ODM_20990101T000000.xml")


def no_snapshot(drop: Path, mp: pytest.MonkeyPatch) -> None:
    (drop / SNAP).unlink()


REJECTS = [
    Reject("snapshot-impossible-stamp", newer_snapshot(snapshot_text(), "NCT03668171_ODM_20181345T250000.xml"),
           "NCT03668171_ODM_20181345T250000.xml", copy="edc/NCT03668171_ODM_20181345T250000.xml"),
    Reject("snapshot-feb-30", newer_snapshot(snapshot_text(), "NCT03668171_ODM_20180230T230005.xml"),
           "NCT03668171_ODM_20180230T230005.xml"),
    Reject("snapshot-non-ascii-digits", newer_snapshot(snapshot_text(), "NCT03668171_ODM_２０１８０１１６T２３０００５.xml"),
           "NCT03668171_ODM_２０１８０１１６T２３０００５.xml"),
    Reject("snapshot-no-subjects", newer_snapshot(no_subjects()), "NCT03668171_ODM_20180116T230005.xml",
           copy="edc/NCT03668171_ODM_20180116T230005.xml"),
    Reject("snapshot-only-removed-subjects", newer_snapshot(removed_subjects()),
           "NCT03668171_ODM_20180116T230005.xml", copy="edc/NCT03668171_ODM_20180116T230005.xml"),
    Reject("snapshot-truncated", newer_snapshot(snapshot_text()[:3000]), "NCT03668171_ODM_20180116T230005.xml"),
    Reject("snapshot-only-future", only_future, "NCT03668171_ODM_20990101T000000.xml"),
    Reject("no-snapshot", no_snapshot, "edc"),
    Reject("dtd-after-comment-with-tag", newer_snapshot(with_doctype('<!DOCTYPE ODM [<!ENTITY e "boom">]>',
                                                                    pad="<!-- <a> -->\n", value="&e;")),
           "NCT03668171_ODM_20180116T230005.xml"),
    Reject("dtd-after-64k-comment", newer_snapshot(with_doctype("<!DOCTYPE ODM>", pad=f"<!-- {'x' * 70000} -->\n")),
           "NCT03668171_ODM_20180116T230005.xml"),
    Reject("external-entity", newer_snapshot(with_doctype('<!DOCTYPE ODM [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
                                                          value="&x;")), "NCT03668171_ODM_20180116T230005.xml"),
    Reject("billion-laughs", newer_snapshot(with_doctype(
        '<!DOCTYPE ODM [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>',
        value="&d;")), "NCT03668171_ODM_20180116T230005.xml"),
    Reject("undeclared-entity-empties-nothing", newer_snapshot(snapshot_text().replace('Value="Fever"', 'Value="&x;"')),
           "NCT03668171_ODM_20180116T230005.xml"),
    Reject("declared-latin1", newer_snapshot(recoded("ISO-8859-1")), "NCT03668171_ODM_20180116T230005.xml"),
    Reject("utf16-snapshot", newer_snapshot(recoded("UTF-16")), "NCT03668171_ODM_20180116T230005.xml"),
    Reject("rich-markup-in-message", markup_study, "[bold red]EVIL[/bold red]"),
    Reject("csv-field-over-128k", huge_field, SITE02, copy=SITE02),
    Reject("csv-nul-byte", nul_byte, SITE02, copy=SITE02),
    Reject("unreadable-lab-file", unreadable(SITE01), SITE01),
    Reject("unreadable-randomization-list", unreadable(RAND), RAND),
    Reject("unreadable-lab-folder", unreadable_folder("lab/SITE02"), "lab/SITE02"),
    Reject("file-name-not-utf8", bad_name, "LIS_SITE01_2018\\xff.csv"),
    Reject("lis01-missing-header", lis_without_header(SITE01, "gb18030"), SITE01, hidden=SITE01_ROW1),
    Reject("lis02-missing-header", lis_without_header(SITE02, "utf-8"), SITE02, hidden=SITE02_ROW1),
    Reject("lis01-not-gb18030", lambda d, mp: write(d, SITE01, b"\x80\x80\xff\xfe,x\n"), SITE01),
    Reject("randomization-bad-header", lambda d, mp: write(d, RAND, "A,B\nR001,MSC\n"), RAND),
    Reject("randomization-huge-field", lambda d, mp: write(d, RAND, "RANDNO,ARMCD,DOSELVL\n" + "R" * 140000 + ",MSC,1\n"),
           RAND),
]


@pytest.mark.parametrize("case", REJECTS, ids=[c.id for c in REJECTS])
def test_rejected_drop(case: Reject, out, tmp_path, monkeypatch):
    drop = new_drop(tmp_path)
    if case.id.startswith("unreadable-randomization"):
        write(drop, RAND, "RANDNO,ARMCD,DOSELVL\nR001,MSC,1\n")
    case.mutate(drop, monkeypatch)
    copied = (drop / case.copy).read_bytes() if case.copy else None
    before = (out / "current").resolve()
    code, text = run_cli(drop, out)
    assert_rejected(code, text, out, before, case.named, copied, case.hidden)
    if case.id.startswith("unreadable-randomization"):
        assert "SDTM release" not in text  # never a quiet blinded build


# ---------------------------------------------------------------- accepted with findings (one run)

def _plant_everything(drop: Path, outside: Path) -> None:
    """Every unexpected entry at once; each is a parametrized case below."""
    lab1, lab2 = drop / "lab" / "SITE01", drop / "lab" / "SITE02"
    (lab1 / "LIS_SITE01_20180120.csv").symlink_to("/etc/passwd")
    (lab1 / "LIS_SITE01_20180121.csv").symlink_to(lab1 / "LIS_SITE01_20180105.csv")
    (lab1 / "LIS_SITE01_20180122.csv").symlink_to(outside / "secret.csv")
    (drop / "lab" / "SITE04").symlink_to(outside, target_is_directory=True)
    os.mkfifo(lab2 / "labs_2018-03-13.csv")
    (drop / "lab" / "SITE03").mkdir()
    shutil.copy(lab1 / "LIS_SITE01_20180105.csv", drop / "lab" / "SITE03" / "LIS_SITE03_20180105.csv")
    shutil.copy(lab1 / "LIS_SITE01_20180105.csv", lab1 / "LIS_SITE01_20180106.CSV")
    shutil.copy(lab1 / "LIS_SITE01_20180105.csv", lab1 / "LIS_SITE01_20180105 - Copy.csv")
    shutil.copy(lab1 / "LIS_SITE01_20180105.csv", lab1 / "[red]markup[blink].csv")
    write(drop, "randomization/unblinded_randomization_list (2).csv", "RANDNO,ARMCD,DOSELVL\nR001,MSC,1\n")
    (drop / "edc" / "NCT03668171_ODM_20180117T230005.xml").mkdir()
    write(drop, "notes.txt", "hello\n")
    # A future snapshot (would win every night and move the data cut to 2099).
    write(drop, "edc/NCT03668171_ODM_20990101T000000.xml", snapshot_text())
    # The only usable snapshot is named a day before the previous release's cut (its CreationDateTime
    # still says the 15th): data cut going back and name/CreationDateTime mismatch.
    (drop / SNAP).rename(drop / "edc" / "NCT03668171_ODM_20180114T230005.xml")
    # SITE02's file re-delivered under the same name with other content, carrying formulas and a
    # control character into values that reach the query listing.
    p = drop / SITE02
    lines = p.read_text(encoding="utf-8-sig").splitlines()
    cells = lines[1].split(",")
    cells[5] = '"=HYPERLINK(""http://evil.example"",""x"")"'
    cells[10] = "@SUM(1)\x07"
    lines[1] = ",".join(cells)
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def planted(baseline, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("planted")
    drop = new_drop(tmp)
    _plant_everything(drop, tmp / "outside")
    out = tmp / "out"
    shutil.copytree(baseline, out, symlinks=True)
    code, text = run_cli(drop, out)
    release = (out / "current").resolve()
    findings = pd.read_csv(release / "reports" / "findings.csv", dtype=str, keep_default_na=False)
    return code, text, out, release, findings


FINDINGS = [
    ("symlink-to-etc-passwd", "lab/SITE01/LIS_SITE01_20180120.csv", "DROP-NOT-REGULAR"),
    ("symlink-inside-drop", "lab/SITE01/LIS_SITE01_20180121.csv", "DROP-NOT-REGULAR"),
    ("symlink-to-outside-file", "lab/SITE01/LIS_SITE01_20180122.csv", "DROP-NOT-REGULAR"),
    ("symlinked-folder", "lab/SITE04", "DROP-NOT-REGULAR"),
    ("fifo", "lab/SITE02/labs_2018-03-13.csv", "DROP-NOT-REGULAR"),
    ("unknown-site-folder", "lab/SITE03", "DROP-UNEXPECTED"),
    ("upper-case-extension", "lab/SITE01/LIS_SITE01_20180106.CSV", "DROP-UNEXPECTED"),
    ("copy-of-a-file", "lab/SITE01/LIS_SITE01_20180105 - Copy.csv", "DROP-UNEXPECTED"),
    ("markup-in-file-name", "lab/SITE01/[red]markup[blink].csv", "DROP-UNEXPECTED"),
    ("second-randomization-file", "randomization/unblinded_randomization_list (2).csv", "DROP-UNEXPECTED"),
    ("folder-named-like-snapshot", "edc/NCT03668171_ODM_20180117T230005.xml", "DROP-UNEXPECTED"),
    ("stray-top-level-file", "notes.txt", "DROP-UNEXPECTED"),
    ("future-snapshot", "edc/NCT03668171_ODM_20990101T000000.xml", "EDC-SNAPSHOT-FUTURE"),
    ("redelivered-file", SITE02, "DROP-REDELIVERED"),
    ("name-and-creation-differ", "NCT03668171_ODM_20180114T230005.xml", "EDC-SNAPSHOT-CREATION"),
    ("data-cut-goes-back", "NCT03668171_ODM_20180114T230005.xml", "EDC-SNAPSHOT-OLDER"),
]


@pytest.mark.parametrize("named,rule", [f[1:] for f in FINDINGS], ids=[f[0] for f in FINDINGS])
def test_unexpected_entry_is_a_finding(planted, named, rule):
    code, text, out, release, findings = planted
    assert code == 0, text
    assert ((findings["RULE"] == rule) & (findings["SOURCE"] == named)).any(), findings[["RULE", "SOURCE"]]
    if rule.startswith("DROP-") and rule != "DROP-REDELIVERED":
        assert named in text.replace("\n", "")  # in the CLI summary, Rich markup printed as text
        import json

        inputs = {i["path"] for i in json.loads((release / "manifest.json").read_text())["inputs"]}
        assert named not in inputs  # not ingested
    assert_clean_exit(out, text)


def test_future_snapshot_does_not_set_the_data_cut(planted):
    import json

    m = json.loads((planted[3] / "manifest.json").read_text())
    assert m["data_cut"] == "2018-01-14"
    used = {i["path"] for i in m["inputs"] if i["used"] and i["source"] == "edc"}
    assert used == {"edc/NCT03668171_ODM_20180114T230005.xml"}


def test_no_formula_or_control_character_in_queries(planted):
    release = planted[3]
    xlsx = release / "reports" / "queries.xlsx"
    with zipfile.ZipFile(xlsx) as z:
        sheet = z.read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet and b"<f " not in sheet
    cells = [c for row in openpyxl.load_workbook(xlsx).active.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    values = [str(c.value) for c in cells if c.value is not None]
    assert any("HYPERLINK" in v for v in values)  # the planted value is there, as text
    assert not any("\x07" in v for v in values)
    csv_cells = pd.read_csv(release / "reports" / "queries.csv", dtype=str, keep_default_na=False).to_numpy().ravel()
    assert any("HYPERLINK" in v for v in csv_cells)
    import re

    number = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")  # a signed number is no formula
    assert not [v for v in csv_cells if v[:1] in ("=", "+", "-", "@", "\t", "\r") and not number.fullmatch(v)]


# ---------------------------------------------------------------- faults of the run itself

def test_second_run_on_a_locked_out_exits_2(out, tmp_path):
    before = (out / "current").resolve()
    fd = os.open(out / ".lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        code, text = run_cli(new_drop(tmp_path), out)
    finally:
        os.close(fd)
    assert code == 2 and "busy" in text, text
    assert (out / "current").resolve() == before
    assert_clean_exit(out, text)


def test_stale_staging_of_killed_runs_is_removed(out, tmp_path):
    (out / ".staging" / "20250101T000000000000Z" / "staged").mkdir(parents=True)
    (out / ".staging" / "20250101T000000000000Z" / "staged" / "lab_SITE01_names.parquet").write_bytes(b"MRN")
    (out / "releases" / ".20250101T000000Z-deadbeef.partial").mkdir()
    drop = new_drop(tmp_path)
    no_snapshot(drop, None)
    code, text = run_cli(drop, out)
    assert code == 2
    assert not (out / ".staging" / "20250101T000000000000Z").exists()
    assert not (out / "releases" / ".20250101T000000Z-deadbeef.partial").exists()
    assert_clean_exit(out, text)


@pytest.mark.parametrize("where", ["queries", "switch"])
def test_disk_full_while_publishing_leaves_nothing(where, out, tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "queries.xlsx")

    if where == "queries":
        monkeypatch.setattr("transforms.pipeline.publish.write_queries", full)
    else:
        # The release is complete and renamed into place; creating the new `current` link fails.
        monkeypatch.setattr("pathlib.Path.symlink_to", full)
    before = (out / "current").resolve()
    code, text = run_cli(new_drop(tmp_path), out)
    assert code == 2 and "No space left" in text, text
    assert (out / "current").resolve() == before
    assert sorted(p.name for p in (out / "releases").iterdir()) == [before.name]
    assert_clean_exit(out, text)


def test_read_only_out_is_a_message(out, tmp_path, monkeypatch):
    import transforms.pipeline.run as pipeline

    def read_only(path):
        raise OSError(errno.EROFS, "Read-only file system", str(path / ".lock"))

    monkeypatch.setattr(pipeline, "out_lock", read_only)
    code, text = run_cli(new_drop(tmp_path), out)
    assert code == 2 and "Cannot write to the output folder" in text, text
    assert "Traceback" not in text


def test_out_under_a_file_is_a_message(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, text = run_cli(new_drop(tmp_path), blocker / "out")
    assert code == 2 and "Traceback" not in text, text


def test_two_runs_in_the_same_second_both_publish(out, tmp_path):
    from transforms.config import load_study
    from transforms.pipeline.run import run_pipeline

    first = (out / "current").resolve()
    # The same second and the same inputs as the baseline release: the same release id.
    now = datetime.strptime(first.name.split("-")[0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    second = run_pipeline(EXAMPLES, out, load_study("nct03668171"), now=now).release
    assert first != second and second.name == first.name + "-2"
    assert (out / "current").resolve() == second
    assert_clean_exit(out, "")


def test_sigterm_leaves_no_staging(out, tmp_path):
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-m", "transforms.cli", "run", "--exports", str(new_drop(tmp_path)),
                             "--out", str(out), "--no-core", "--force"], cwd=repo, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any((out / ".staging").glob("*/landing.json")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    text, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "Stopped" in text, text
    assert_clean_exit(out, text)
