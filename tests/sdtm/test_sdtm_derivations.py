"""The spec's derivation names are bindings: checked at load, and the only reason a study-wide variable is derived."""
from __future__ import annotations

import dataclasses
import shutil

import pandas as pd
import pytest

from transforms.config import read_csv_rows
from transforms.sdtm.context import BuildContext
from transforms.sdtm.derivations import DERIVATIONS, derive_spec_variables
from transforms.sdtm.spec import SpecError, load_spec
from transforms.standards.metadata import domain_variables


def _study_with_spec(study, tmp_path, edit):
    """A copy of the study whose sdtm_spec.csv text went through `edit`."""
    for name in ("sdtm_records.csv", "codelists.csv"):
        shutil.copy(study.study_file(name), tmp_path / name)
    text = study.study_file("sdtm_spec.csv").read_text(encoding="utf-8")
    (tmp_path / "sdtm_spec.csv").write_text(edit(text), encoding="utf-8")
    return study.model_copy(update={"folder": tmp_path})


def test_a_typo_in_a_derivation_name_fails_the_load(study, tmp_path):
    copy = _study_with_spec(study, tmp_path, lambda t: t.replace("derive_nrind", "derive_nrnid"))
    lines = (tmp_path / "sdtm_spec.csv").read_text(encoding="utf-8").splitlines()
    row = next(n for n, line in enumerate(lines, start=1) if "derive_nrnid" in line)
    with pytest.raises(SpecError) as err:
        load_spec(copy)
    message = str(err.value)
    assert "sdtm_spec.csv" in message and f"row {row} " in message
    assert "LB.LBNRIND" in message and "'derive_nrnid'" in message


def test_every_derivation_of_the_study_spec_is_registered(study):
    names = {r["SOURCE"] for r in read_csv_rows(study.study_file("sdtm_spec.csv")) if r["ALGORITHM"] == "derived"}
    assert len(names) >= 22
    assert names <= set(DERIVATIONS), names - set(DERIVATIONS)
    assert all(callable(DERIVATIONS[n]) and DERIVATIONS[n].__doc__ for n in names)


def _lb_frame() -> pd.DataFrame:
    # Subject S1 first treated 2024-03-10: a sample on 2024-03-12 is study day 3 (no day 0), one on
    # 2024-03-09 is day -1 and, on or before first exposure, the baseline (LOBXFL = Y).
    return pd.DataFrame({
        "_SUBJECTKEY": ["S1", "S1"], "_SITEID": ["SITE01"] * 2, "_EVENTOID": ["", ""], "_EVENTREPEAT": ["", ""],
        "_SRCFILE": ["lab.csv"] * 2, "_SRCREC": ["line 2", "line 3"],
        "LBTESTCD": ["ALB", "ALB"], "LBORRES": ["30", "31"], "LBSTRESC": ["30", "31"],
        "LBSTRESN": pd.array([30.0, 31.0], dtype="Float64"), "LBDTC": ["2024-03-09T08:00", "2024-03-12T08:00"],
    })


def _context(study, spec) -> BuildContext:
    ref = pd.DataFrame({"RFSTDTC": ["2024-03-10T09:00"], "RFXSTDTC": ["2024-03-10T09:00"],
                        "RFXENDTC": ["2024-03-10T10:00"]}, index=pd.Index(["S1"], name="SUBJECTKEY"))
    return BuildContext(study=study, spec=spec, meta=None, items=pd.DataFrame(), randomization=None,
                        identifiers={}, reference=ref)


def _derive(study, spec) -> pd.DataFrame:
    names = [v.name for v in domain_variables("LB")]
    return derive_spec_variables(_context(study, spec), "LB", _lb_frame(), names)


def test_study_day_is_derived_where_the_spec_asks(study):
    df = _derive(study, load_spec(study))
    assert df["LBDY"].tolist() == [-1, 3]
    assert df["LBLOBXFL"].tolist() == ["Y", pd.NA]
    assert df["LBSEQ"].tolist() == [1, 2]


def test_without_its_spec_row_a_study_day_is_not_derived(study):
    spec = load_spec(study)
    spec = dataclasses.replace(spec, rules=tuple(r for r in spec.rules if r.variable != "--DY"))
    df = _derive(study, spec)
    assert "LBDY" not in df
    assert "LBLOBXFL" in df and "EPOCH" in df  # the other study-wide rows still apply
