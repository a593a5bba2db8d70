"""A study folder that `extends` another holds only what differs; the scaled benchmark study is one."""
from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from transforms.config import STUDIES_DIR, default_study, load_study, merge_settings
from transforms.config.adam import load_adam_config
from transforms.odm.metadata import load_metadata
from transforms.quality.gx_runner import read_suite, suite_path
from transforms.quality.suites import all_suites

ODM = "{http://www.cdisc.org/ns/odm/v1.3}"


def test_merge_settings_merges_mappings_and_replaces_the_rest():
    base = {"a": 1, "edc": {"metadata": "m.xml", "glob": "x"}, "items": [1, 2]}
    merged = merge_settings(base, {"edc": {"glob": "y"}, "items": [3]})
    assert merged == {"a": 1, "edc": {"metadata": "m.xml", "glob": "y"}, "items": [3]}
    assert base["edc"]["glob"] == "x"  # the base is not changed


def test_child_folder_overrides_only_its_own_files(tmp_path):
    base = tmp_path / "base"
    (base / "trial_design").mkdir(parents=True)
    base_yaml = (STUDIES_DIR / "nct03668171" / "study.yaml").read_text(encoding="utf-8")
    (base / "study.yaml").write_text(base_yaml, encoding="utf-8")
    (base / "visits.csv").write_text("base", encoding="utf-8")
    (base / "trial_design" / "ts.csv").write_text("base", encoding="utf-8")
    child = tmp_path / "child"
    child.mkdir()
    (child / "study.yaml").write_text("extends: base\nstudy_id: CHILD\nsites:\n  SITE01:\n    country: FRA\n",
                                      encoding="utf-8")
    (child / "visits.csv").write_text("child", encoding="utf-8")
    cfg = load_study(str(child))
    assert cfg.study_id == "CHILD" and cfg.folders == (child.resolve(), base.resolve())
    assert cfg.sites["SITE01"].country == "FRA" and cfg.sites["SITE01"].lab is not None  # merged, not replaced
    assert cfg.timezone == "Asia/Shanghai"  # inherited
    assert cfg.study_file("visits.csv").read_text(encoding="utf-8") == "child"
    assert cfg.study_file("trial_design/ts.csv").read_text(encoding="utf-8") == "base"
    assert cfg.inherited_file("visits.csv") == base.resolve() / "visits.csv"


def test_extends_cycle_is_an_error(tmp_path):
    for a, b in (("a", "b"), ("b", "a")):
        (tmp_path / a).mkdir()
        (tmp_path / a / "study.yaml").write_text(f"extends: {b}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="cycle"):
        load_study(str(tmp_path / "a"))


def _randno_length(path: Path) -> int:
    item = etree.parse(str(path)).find(f".//{ODM}ItemDef[@OID='I.RANDNO']")
    return int(item.get("Length"))


def test_scaled_study_differs_from_the_trial_only_in_randno_length():
    trial, scaled = load_study("nct03668171"), load_study("nct03668171-scaled")
    assert scaled.study_id != trial.study_id
    # protocol.md: the trial's eCRF holds R001-R999 (Length 4); the amended eCRF more.
    assert _randno_length(trial.metadata_path) == 4 and _randno_length(scaled.metadata_path) == 6
    a = etree.parse(str(trial.metadata_path)).getroot()
    b = etree.parse(str(scaled.metadata_path)).getroot()
    b.find(f".//{ODM}ItemDef[@OID='I.RANDNO']").set("Length", "4")
    assert etree.tostring(a, method="c14n") == etree.tostring(b, method="c14n")
    assert load_metadata(scaled.metadata_path).study_oid == load_metadata(trial.metadata_path).study_oid
    # everything else is the trial's: same settings, same files
    same = {k: v for k, v in trial.model_dump().items() if k not in ("folder", "bases", "study_id")}
    assert same == {k: v for k, v in scaled.model_dump().items() if k not in ("folder", "bases", "study_id")}
    assert load_adam_config(scaled) is load_adam_config(trial)
    assert scaled.visits == trial.visits
    own = sorted(p.relative_to(scaled.folder).as_posix() for p in scaled.folder.rglob("*") if p.is_file())
    assert own == ["expectations/raw_edc_items.json", "metadata.xml", "study.yaml"]


def test_scaled_study_suites_are_in_step():
    scaled = load_study("nct03668171-scaled")
    for name, suite in all_suites(scaled).items():
        assert read_suite(suite_path(scaled, name)) == suite, name


def test_default_study_is_named_at_the_studies_root(monkeypatch):
    monkeypatch.delenv("CDISCFLOW_STUDY", raising=False)
    assert default_study() == "nct03668171"  # studies/studies.yaml: `make demo` runs the trial
    monkeypatch.setenv("CDISCFLOW_STUDY", "nct03668171-scaled")
    assert default_study() == "nct03668171-scaled"


def test_every_study_file_is_read_through_the_inheritance_chain():
    # A study file read as study.folder / name exists only in the base folder of an inheriting study:
    # the scaled study's release once failed at publish on describe.py's sdtm_spec.csv.
    import re

    import transforms

    direct = re.compile(r"\bstudy\.folder\s*/")
    writes_own_folder = {"quality/gx_runner.py"}  # expectations_dir: where write_suites writes the study's own suites
    root = Path(transforms.__file__).parent
    offenders = [f"{p.relative_to(root)}:{n}" for p in root.rglob("*.py")
                 if str(p.relative_to(root)) not in writes_own_folder
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1)
                 if direct.search(line)]
    assert offenders == [], "read study files with study.study_file(name): " + ", ".join(offenders)


def test_scaled_study_describes_its_sdtm_from_the_inherited_spec():
    from transforms.publish.describe import _adam_methods, _spec

    spec = _spec(load_study("nct03668171-scaled"))
    assert ("DM", "SUBJID") in spec and ("DM", "RFSTDTC") in spec and ("*", "--SEQ") in spec
    assert _adam_methods(load_study("nct03668171-scaled")) == _adam_methods(load_study("nct03668171")) != {}
