"""ADaM build end to end: example drop and synthetic drops (against the generator's ground truth)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from transforms.adam.build import build_adam, write_adlb, write_adsl
from transforms.adam.datasets import ADAM_DATASETS
from transforms.config.adam import load_adam_config
from transforms.pipeline.run import run_pipeline
from cdiscflow_tools.synth import synthesize

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def example_adam(tmp_path_factory, study, examples) -> Path:
    release = run_pipeline(examples, tmp_path_factory.mktemp("ex_out"), study, now=NOW).release
    adam = tmp_path_factory.mktemp("ex_adam")
    build_adam(release / "sdtm", adam, study)
    return adam


def _synthetic_adam(tmp_path_factory, study, unblinded: bool):
    # 200 subjects: enough for the generator to give every holdout role a subject.
    drop = tmp_path_factory.mktemp("adam_drop")
    synthesize(drop, subjects=200, seed=20171210, snapshots=2, unblinded=unblinded, plant_errors=True)
    release = run_pipeline(drop, tmp_path_factory.mktemp("adam_out"), study, now=NOW).release
    adam = tmp_path_factory.mktemp("adam")
    counts = build_adam(release / "sdtm", adam, study)
    return release, adam, counts, json.loads((drop / "synth_truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def synth_release(tmp_path_factory, study):
    return _synthetic_adam(tmp_path_factory, study, unblinded=True)


@pytest.fixture(scope="module")
def blinded_adam(tmp_path_factory, study):
    return _synthetic_adam(tmp_path_factory, study, unblinded=False)[1]


def read(adam: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(adam / f"{name}.parquet")


def test_example_release_builds_every_dataset_with_metadata(example_adam, study):
    cfg = load_adam_config(study)
    for ds in ADAM_DATASETS:
        schema = pq.read_schema(example_adam / f"{ds.lower()}.parquet")
        meta = {k.decode(): v.decode() for k, v in schema.metadata.items()}
        assert meta["dataset"] == ds and meta["label"] == cfg.datasets[ds].label and meta["standard"] == "ADaMIG 1.3"
        assert schema.names == cfg.datasets[ds].variables
        for f in schema:
            assert f.metadata[b"label"] and len(f.metadata[b"label"].decode()) <= 40, (ds, f.name)
            assert f.metadata[b"adam_type"] in (b"Char", b"Num")
    schema = pq.read_schema(example_adam / "adlb.parquet")
    assert schema.field("ABLFL").metadata[b"label"] == b"Baseline Record Flag"
    assert schema.field("ANL01FL").metadata[b"label"] == b"Analysis Flag 01"
    assert str(schema.field("ADT").type) == "date32[day]" and str(schema.field("ADY").type) == "int64"
    assert "MELD" in json.loads(schema.metadata[b"derivations"])


def test_example_release_is_blinded(example_adam):
    adsl = read(example_adam, "adsl")
    itt = adsl[adsl["ITTFL"] == "Y"]
    assert set(itt["TRT01P"]) == {"Blinded"} and itt["TRT01PN"].isna().all() and itt["DOSELVL"].isna().all()
    assert pq.read_schema(example_adam / "adsl.parquet").metadata[b"blinded"] == b"true"


def test_same_input_gives_identical_bytes(synth_release, study, tmp_path):
    release, adam, _, _ = synth_release
    write_adsl(release / "sdtm", tmp_path, study)
    write_adlb(release / "sdtm", tmp_path, study)
    for name in ("adsl", "adlb"):
        assert (tmp_path / f"{name}.parquet").read_bytes() == (adam / f"{name}.parquet").read_bytes()


def test_populations_and_disposition_match_truth(synth_release):
    _, adam, counts, truth = synth_release
    adsl = read(adam, "adsl").set_index("SUBJID")
    assert counts["adsl"] == len(truth["subjects"])
    for key, t in truth["subjects"].items():
        row = adsl.loc[key]
        assert (row["ITTFL"] == "Y") == bool(t["randomized"]), key
        if not t["randomized"]:
            continue
        assert (row["SAFFL"] == "Y") == bool(t["infusions"]), key
        assert row["TRT01P"] == {"MSC": "Mesenchymal Stem Cells", "PBO": "Placebo"}[t["arm"]], key
        assert row["RANDDT"] == pd.Timestamp(t["rand_datetime"][:10]).date(), key
        pp = t["ieyn"] == "Y" and len(t["infusions"]) == 3
        assert (row["PPROTFL"] == "Y") == pp, key
        assert (row["LTFL"] == "Y") == (t["transplant_date"] is not None), key


def test_screening_meld_matches_the_generator(synth_release):
    # The generator computes the screening MELD from the labs it writes; ADaM recomputes it from SDTM.
    _, adam, _, truth = synth_release
    adsl = read(adam, "adsl").set_index("SUBJID")
    diffs = {
        k: (adsl.at[k, "MELDSCR"], t["screening_meld"])
        for k, t in truth["subjects"].items()
        if t["randomized"] and adsl.at[k, "MELDSCR"] != t["screening_meld"]
    }
    assert not diffs


def _role(truth: dict, role: str) -> str:
    return "NCT03668171-" + truth["roles"][role]


def test_dth12_tfs12_holdout_subjects(synth_release):
    _, adam, _, truth = synth_release
    tte = read(adam, "adtte").set_index(["USUBJID", "PARAMCD"])
    d84 = tte.loc[(_role(truth, "death_84"), "DTH12")]
    assert (d84["CNSR"], d84["AVAL"], d84["EVNTDESC"]) == (0, 85, "DEATH")
    # Died on R + 85: alive on R + 84 (protocol.md: last known alive is at least the day before
    # death), so censored at R + 84, AVAL 85.
    d85 = tte.loc[(_role(truth, "death_85"), "DTH12")]
    assert (d85["CNSR"], d85["AVAL"]) == (1, 85)
    # Transplanted, then died within 84 days: a DTH12 death ("also when a liver transplantation came
    # first"), a TFS12 transplantation.
    t = truth["subjects"][truth["roles"]["transplant_death"]]
    dth = tte.loc[(_role(truth, "transplant_death"), "DTH12")]
    tfs = tte.loc[(_role(truth, "transplant_death"), "TFS12")]
    assert (dth["CNSR"], str(dth["ADT"]), dth["EVNTDESC"]) == (0, t["death_date"], "DEATH")
    assert (tfs["CNSR"], str(tfs["ADT"])) == (0, t["transplant_date"])
    assert tfs["SRCDOM"] == "PR" and tfs["SRCSEQ"] >= 1


def test_dth12_events_match_truth(synth_release):
    _, adam, _, truth = synth_release
    tte = read(adam, "adtte")
    got = set(tte[(tte["PARAMCD"] == "DTH12") & (tte["CNSR"] == 0)]["USUBJID"].str[-6:])
    expected = set()
    for key, t in truth["subjects"].items():
        if t["randomized"] and t["death_date"]:
            days = (pd.Timestamp(t["death_date"]) - pd.Timestamp(t["rand_datetime"][:10])).days
            if days <= 84:  # a death within 84 days is an event, transplanted or not
                expected.add(key)
    assert got == expected


def test_day1_samples_around_the_infusion_start(synth_release):
    _, adam, _, truth = synth_release
    adlb = read(adam, "adlb")
    after = adlb[(adlb["USUBJID"] == _role(truth, "day1_lab_after_start")) & (adlb["PARAMCD"] == "BILI")]
    assert (after[after["ADY"] == 1]["ABLFL"] != "Y").all()
    assert after[after["ABLFL"] == "Y"]["ADY"].tolist()[0] < 1
    before = adlb[(adlb["USUBJID"] == _role(truth, "day1_lab_before_start")) & (adlb["PARAMCD"] == "BILI")]
    assert before[before["ABLFL"] == "Y"]["ADY"].tolist() == [1]


def test_adlb_one_analysis_record_per_window(synth_release):
    _, adam, _, _ = synth_release
    adlb = read(adam, "adlb")
    chosen = adlb[adlb["ANL01FL"] == "Y"]
    assert not chosen.duplicated(["USUBJID", "PARAMCD", "AVISITN"]).any()
    assert (adlb.groupby(["USUBJID", "PARAMCD"])["ABLFL"].apply(lambda s: (s == "Y").sum()) <= 1).all()
    post = adlb[adlb["AVISITN"] > 0]
    assert ((post["ADY"] >= post["AWLO"]) & (post["ADY"] <= post["AWHI"])).all()
    both = post[post["AVAL"].notna() & post["BASE"].notna()]
    assert ((both["CHG"] - (both["AVAL"] - both["BASE"])).abs() < 1e-9).all()
    meld = adlb[adlb["PARAMCD"] == "MELD"]
    assert meld["AVAL"].between(6, 40).all() and (meld["AVAL"] % 1 == 0).all()
    assert (adlb[adlb["ANL02FL"] == "Y"]["PARAMCD"] == "MELD").all()


def test_adrs_components_explain_the_response(synth_release):
    _, adam, _, _ = synth_release
    adrs = read(adam, "adrs")
    overall = adrs[adrs["PARAMCD"] == "REM12"].set_index("USUBJID")["AVALC"]
    comps = adrs[adrs["PARAMCD"].isin(["R12ALIVE", "R12SYMP", "R12HE", "R12BILI", "R12COAG"])]
    all_met = comps.groupby("USUBJID")["CRIT1FL"].apply(lambda s: bool((s == "Y").all()))
    assert (overall == all_met.map({True: "Y", False: "N"}).reindex(overall.index)).all()
    assert set(overall) <= {"Y", "N"}


def test_adae_treatment_emergence(synth_release):
    _, adam, _, _ = synth_release
    adae = read(adam, "adae")
    te = adae[adae["TRTEMFL"] == "Y"]
    assert (te["ASTDT"].isna() | (te["ASTDT"] >= te["TRTSDT"])).all()
    pre = adae[adae["TRTEMFL"] != "Y"]
    assert (pre["TRTSDT"].isna() | (pre["ASTDT"] < pre["TRTSDT"]) | pre["ASTDT"].isna()).all()
    assert set(adae["ASTDTF"].dropna()) <= {"D", "M"}


def test_blinded_build_reveals_no_arm(blinded_adam):
    adsl = read(blinded_adam, "adsl")
    itt = adsl[adsl["ITTFL"] == "Y"]
    assert set(itt["ARMCD"]) == {"BLINDED"} and set(itt["TRT01P"]) == {"Blinded"}
    for name in ("adsl", "adlb", "adtte", "adrs", "adae"):
        df = read(blinded_adam, name)
        for col in ("TRT01P", "TRT01A", "TRTP", "TRTA"):
            if col in df:
                assert set(df[col].dropna()) <= {"Blinded"}, (name, col)
        for col in ("TRT01PN", "TRT01AN", "TRTPN", "TRTAN", "DOSELVL"):
            if col in df:
                assert df[col].isna().all(), (name, col)
