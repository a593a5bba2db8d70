"""Shared fixtures: the study configuration and the tiny example drop shipped with the tests."""
from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from transforms.config import StudyConfig, load_study

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = FIXTURES / "examples"


@pytest.fixture(scope="session")
def study() -> StudyConfig:
    """The NCT03668171 configuration."""
    return load_study("nct03668171")


@pytest.fixture(scope="session")
def examples() -> Path:
    """The example drop from the study's contracts (examples/)."""
    return EXAMPLES


def drop_identifiers(drop: Path) -> tuple[set[str], set[str], set[str]]:
    """(MRNs, patient names, initials) present in a drop's input files, read independently of the pipeline."""
    mrns, names, initials = set(), set(), set()
    for p in (drop / "lab" / "SITE01").glob("*.csv"):
        for row in csv.reader(p.read_text(encoding="gb18030").splitlines()[1:]):
            if len(row) > 1:
                mrns.add(row[0])
                names.add(row[1])
    for p in (drop / "lab" / "SITE02").glob("*.csv"):
        for row in csv.reader(p.read_text(encoding="utf-8-sig").splitlines()[1:]):
            if row:
                mrns.add(row[0])
    for p in (drop / "edc").glob("*.xml"):
        text = p.read_text(encoding="utf-8")
        mrns |= set(re.findall(r'ItemOID="I.MRN" Value="([^"]+)"', text))
        initials |= set(re.findall(r'ItemOID="I.INITIALS" Value="([^"]+)"', text))
    return mrns, names, initials


@pytest.fixture(scope="session")
def synthetic_run(tmp_path_factory, study) -> tuple[Path, Path, Path]:
    """A small synthetic drop with planted errors, built once per session: (drop, OUT, published release)."""
    from datetime import UTC, datetime

    from cdiscflow_tools.synth import synthesize
    from transforms.pipeline.run import run_pipeline

    drop = tmp_path_factory.mktemp("synthetic-drop")
    synthesize(drop, subjects=40, seed=5, snapshots=1, unblinded=True, plant_errors=True)
    out = tmp_path_factory.mktemp("synthetic-out")
    return drop, out, run_pipeline(drop, out, study, now=datetime(2026, 3, 1, 2, tzinfo=UTC)).release


@pytest.fixture(scope="session")
def synthetic_release(synthetic_run) -> Path:
    """The release folder of synthetic_run (read it, never change it)."""
    return synthetic_run[2]
