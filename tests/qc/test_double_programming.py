"""Double programming: the release's ADaM against the independent QC derivation, record by record.

The QC (tests/qc/qc_derive.py) was written from protocol.md, the export contracts and ADaMIG alone,
by a programmer who never read transforms/. Any disagreement fails, listed with its key and values.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from transforms.pipeline.run import run_pipeline
from cdiscflow_tools.synth.generator import synthesize

QC_DIR = Path(__file__).parent
sys.path.insert(0, str(QC_DIR))
from compare import compare_release  # noqa: E402
from qc_derive import derive_all  # noqa: E402

pytestmark = pytest.mark.slow

# Three seeds of a small study: enough subjects that every generator role (deaths on R+84/R+85,
# transplant then death, randomized not treated, not eligible, Day-1 samples around the infusion)
# occurs, small enough to keep the suite within its time budget.
SEEDS = (11, 23, 47)
SUBJECTS = 70


def _release(drop: Path, out: Path, study) -> Path:
    return run_pipeline(drop, out, study).release


def _disagreements(drop: Path, release: Path, study) -> pd.DataFrame:
    qc = derive_all(drop, study.study_file("metadata.xml"))
    return compare_release(release, qc)


def _report(diff: pd.DataFrame) -> str:
    with pd.option_context("display.width", 200, "display.max_colwidth", 60, "display.max_rows", 80):
        return f"{len(diff)} disagreement(s) between the release and the QC derivation:\n{diff.head(80)}"


@pytest.mark.parametrize("seed", SEEDS)
def test_release_agrees_with_the_qc_derivation(seed, study, tmp_path):
    drop = tmp_path / "drop"
    synthesize(drop, subjects=SUBJECTS, seed=seed)
    (drop / "synth_truth.json").unlink(missing_ok=True)  # the QC never sees the generator's truth
    release = _release(drop, tmp_path / "out", study)
    diff = _disagreements(drop, release, study)
    assert diff.empty, _report(diff)


def test_edge_cases_agree_with_the_qc_derivation(study, tmp_path):
    from plant import plant_edge_cases

    src = tmp_path / "drop"
    synthesize(src, subjects=80, seed=11)
    planted = tmp_path / "planted"
    cases = plant_edge_cases(src, planted)  # the truth only steers it away from the generator's own roles
    (planted / "synth_truth.json").unlink(missing_ok=True)
    release = _release(planted, tmp_path / "out", study)
    diff = _disagreements(planted, release, study)
    assert diff.empty, _report(diff)
    # The planted subjects are really in the comparison (not silently absent on both sides).
    adsl = pd.read_parquet(release / "adam" / "adsl.parquet").set_index("SUBJID")
    assert set(cases.values()) <= set(adsl.index)
    assert adsl.at[cases["ieyn_blank"], "PPROTFL"] == "N"
    assert adsl.at[cases["ieyn_no_with_no_criterion"], "PPROTFL"] == "N"
    assert adsl.at[cases["invalid_randno"], "ITTFL"] == "Y"  # protocol: ITT = all randomized
    tte = pd.read_parquet(release / "adam" / "adtte.parquet").set_index(["SUBJID", "PARAMCD"])
    assert tte.at[(cases["death_after_transplant"], "DTH12"), "CNSR"] == 0
    assert tte.at[(cases["death_on_r85"], "DTH12"), "AVAL"] == 85
