"""An invalid randomization number on the eCRF is a query, never a crash; the rest of the release is complete."""
from __future__ import annotations

import csv
import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from cdiscflow_tools.synth import synthesize
from transforms.pipeline.run import run_pipeline

pytestmark = pytest.mark.slow
NOW = datetime(2026, 1, 1, tzinfo=UTC)
# The eCRF's I.RANDNO has Length 4 (edc/metadata.xml): "R0001" is one character too long.
TOO_LONG = "R0001"


def _plant_invalid_randno(drop: Path) -> str:
    """Make the first randomized subject's RANDNO of the newest snapshot one character too long; its SubjectKey."""
    newest = sorted((drop / "edc").glob("*.xml"))[-1]
    text = newest.read_text(encoding="utf-8")
    match = re.search(r'<SubjectData SubjectKey="([^"]+)"(?:(?!</SubjectData>).)*?'
                      r'<ItemData ItemOID="I.RANDNO" Value="(R\d{3})"', text, flags=re.S)
    assert match, "the synthetic drop has a randomized subject"
    start, end = match.span(2)
    newest.write_text(text[:start] + TOO_LONG + text[end:], encoding="utf-8")
    return match.group(1)


def _build(tmp: Path, study, unblinded: bool) -> tuple[str, Path]:
    drop = tmp / "drop"
    synthesize(drop, subjects=30, seed=11, snapshots=1, unblinded=unblinded, plant_errors=False)
    subject = _plant_invalid_randno(drop)
    return subject, run_pipeline(drop, tmp / "out", study, now=NOW).release


def _queries(release: Path, subject: str) -> list[dict[str, str]]:
    with (release / "reports" / "queries.csv").open(encoding="utf-8") as f:
        return [r for r in csv.DictReader(f) if r["SUBJID"] == subject]


@pytest.fixture(scope="module")
def unblinded(tmp_path_factory, study):
    return _build(tmp_path_factory.mktemp("unblinded"), study, unblinded=True)


def test_invalid_randno_is_a_query(unblinded):
    subject, release = unblinded
    rules = {r["RULE"] for r in _queries(release, subject) if r["FIELD"] == "I.RANDNO"}
    assert "RAW-EDC-LENGTH" in rules  # the eCRF's length is the raw-data query
    assert "RAND-NUMBER-INVALID" in rules  # and why the subject's arm is missing


def test_subject_stays_randomized_without_an_arm(unblinded):
    subject, release = unblinded
    dm = pd.read_parquet(release / "sdtm" / "dm.parquet").set_index("SUBJID")
    row = dm.loc[subject]
    # Randomized (a number was entered), so not a screen failure; the list cannot be read for it.
    assert row["ARMNRS"] != "SCREEN FAILURE"
    assert pd.isna(row["ARMCD"]) and pd.isna(row["ACTARMCD"])
    # Every other randomized subject's arm is one of the protocol's two arms.
    others = dm.drop(index=subject)
    assert set(others["ARMCD"].dropna()) <= {"MSC", "PBO"} and others["ARMCD"].notna().any()


def test_release_is_otherwise_complete(unblinded):
    subject, release = unblinded
    ex = pd.read_parquet(release / "sdtm" / "ex.parquet")
    mine = ex[ex["USUBJID"].str.endswith(f"-{subject}")]
    assert not mine.empty, "the subject's infusions are in EX"
    assert mine["EXTRT"].isna().all()  # treatment unknown without the arm
    assert ex.loc[~ex.index.isin(mine.index), "EXTRT"].notna().all()
    for name in ("dm", "ex", "lb", "ds", "ae", "vs"):
        assert (release / "sdtm" / f"{name}.parquet").is_file(), name
    adsl = pd.read_parquet(release / "adam" / "adsl.parquet").set_index("SUBJID")
    assert adsl.loc[subject, "ITTFL"] == "Y"  # randomized: in the ITT population (protocol: ITT = all randomized)


def test_blinded_build_keeps_the_subject_blinded(tmp_path, study):
    subject, release = _build(tmp_path, study, unblinded=False)
    dm = pd.read_parquet(release / "sdtm" / "dm.parquet").set_index("SUBJID")
    assert dm.loc[subject, "ARMCD"] == study.blinded.armcd
    assert "RAW-EDC-LENGTH" in {r["RULE"] for r in _queries(release, subject)}


def test_no_valid_randno_at_all_is_no_crash(study):
    """The issue's crash: every number too long for the eCRF (a drop of more than 999 randomized subjects)."""
    from types import SimpleNamespace

    from transforms.odm.metadata import load_metadata
    from transforms.sdtm.ex import derive_exdose, derive_extrt, randomization_numbers

    def item(subject: str, value: str) -> dict:
        return {"SUBJECTKEY": subject, "SITEID": "SITE01", "EVENTOID": "SE.W0", "EVENTREPEAT": "1",
                "FORMOID": "F.RAND", "FORMREPEAT": "1", "IGOID": "IG.RAND", "IGREPEAT": "1", "ITEMOID": "I.RANDNO",
                "VALUE": value, "VALID": False, "SRCFILE": "x.xml", "SRCLINE": 1}

    items = pd.DataFrame([item("01-001", "R0001"), item("01-002", "R0002")])
    rand = pd.DataFrame({"RANDNO": ["R0001", "R0002"], "ARMCD": ["MSC", "PBO"], "DOSELVL": [0.5, 0.0]})
    ctx = SimpleNamespace(study=study, meta=load_metadata(study.metadata_path), items=items, randomization=rand,
                          blinded=False)
    numbers = randomization_numbers(ctx)
    assert numbers["ENTERED"].all() and numbers["RANDNO"].isna().all()
    subjects = pd.Series(["01-001", "01-002", "01-001"])
    assert derive_extrt(ctx, subjects).isna().all()
    assert derive_exdose(ctx, subjects)["EXDOSE"].isna().all()
