"""End to end on the contracts' example drop: values, determinism, atomic publish, privacy."""
from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from transforms.pipeline import BlockingInputError, run_pipeline
from transforms.publish.parquet import read_labels

T1 = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
T2 = datetime(2026, 1, 2, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def release(study, examples, tmp_path_factory):
    return run_pipeline(examples, tmp_path_factory.mktemp("out"), study, now=T1).release


def read(release: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(release / "sdtm" / f"{name}.parquet")


def test_dm_per_protocol(release):
    dm = read(release, "dm").set_index("SUBJID")
    s1 = dm.loc["01-001"]
    assert s1["USUBJID"] == "NCT03668171-01-001"
    assert s1["RFSTDTC"] == s1["RFXSTDTC"] == "2018-01-08T09:30"   # start of the first infusion given
    assert s1["RFXENDTC"] == "2018-01-15T09:55"                      # end of the last infusion given
    assert s1["RFICDTC"] == "2018-01-05" and s1["BRTHDTC"] == "1969-03"  # partial birth date stays partial
    assert (s1["SEX"], s1["RACE"], s1["ETHNIC"], s1["COUNTRY"]) == ("M", "ASIAN", "NOT HISPANIC OR LATINO", "CHN")
    assert (s1["ARMCD"], s1["ACTARMCD"]) == ("BLINDED", "BLINDED")   # no randomization list: blinded
    s2 = dm.loc["02-001"]
    # SDTMIG 3.4: a screen failure has no arm, ARMNRS says why
    assert pd.isna(s2["ARMCD"]) and pd.isna(s2["ACTARMCD"]) and s2["ARMNRS"] == "SCREEN FAILURE"
    assert pd.isna(s2["RFSTDTC"]) and s2["SEX"] == "F"
    supp = read(release, "suppdm")
    assert supp[["USUBJID", "QNAM", "QVAL"]].values.tolist()[0] == ["NCT03668171-01-001", "ETHGRP", "Han"]


def test_lb_si_units_study_day_and_baseline(release):
    lb = read(release, "lb")
    s2 = lb[lb["USUBJID"] == "NCT03668171-02-001"].set_index("LBTESTCD")
    assert s2.loc["BILI", ["LBORRES", "LBORRESU", "LBSTRESN", "LBSTRESU"]].tolist() == ["5.5", "mg/dL", 94.05, "umol/L"]
    assert s2.loc["CREAT", "LBSTRESN"] == pytest.approx(79.56)
    assert s2.loc["BILI", "LBSTNRHI"] == pytest.approx(20.52) and s2.loc["PTA", "LBNRIND"] == "LOW"
    s1 = lb[lb["USUBJID"] == "NCT03668171-01-001"]
    bili = s1[s1["LBTESTCD"] == "BILI"].set_index("LBDTC")
    assert bili.loc["2018-01-05T07:30", "LBDY"] == -3 and bili.loc["2018-01-15T07:30", "LBDY"] == 8
    assert bili.loc["2018-01-05T07:30", "LBLOBXFL"] == "Y" and pd.isna(bili.loc["2018-01-15T07:30", "LBLOBXFL"])
    assert bili.loc["2018-01-05T07:30", "LBORRESU"] == "umol/L"  # the LIS printed μmol/L
    assert set(lb["LBSEQ"].groupby(lb["USUBJID"]).apply(lambda s: tuple(sorted(s)))) == {
        tuple(range(1, 9)), tuple(range(1, 5))}


def test_parquet_metadata_labels_and_types(release):
    label, labels = read_labels(release / "sdtm" / "lb.parquet")
    assert label == "Laboratory Test Results"
    assert labels["LBSTRESN"] == "Numeric Result/Finding in Standard Units"
    schema = pq.read_schema(release / "sdtm" / "lb.parquet")
    assert str(schema.field("LBSTRESN").type) == "double" and str(schema.field("LBDY").type) == "int64"
    assert schema.field("LBTESTCD").metadata[b"sdtm_type"] == b"Char"


def test_manifest_lists_inputs_with_sha256(release, examples):
    m = json.loads((release / "manifest.json").read_text())
    assert {i["path"] for i in m["inputs"]} == {
        "edc/NCT03668171_ODM_20180115T230005.xml", "lab/SITE01/LIS_SITE01_20180105.csv",
        "lab/SITE01/LIS_SITE01_20180115.csv", "lab/SITE02/labs_2018-03-12.csv"}
    import hashlib
    for i in m["inputs"]:
        assert i["sha256"] == hashlib.sha256((examples / i["path"]).read_bytes()).hexdigest()
    assert m["datasets"]["lb"] == 12 and m["blinded"] is True and m["data_cut"] == "2018-01-15"


def test_lineage_traces_every_row(release):
    lb, lin = read(release, "lb"), pd.read_parquet(release / "lineage" / "lb.parquet")
    assert len(lin) == len(lb) and lin["SRCFILE"].notna().all()
    row = lin[(lin["USUBJID"] == "NCT03668171-02-001") & (lin["LBSEQ"] == 1)].iloc[0]
    assert (row["SRCFILE"], row["SRCRECORD"]) == ("labs_2018-03-12.csv", "line 2, specimen SPEC-E13382A2746E911E")
    # the accession number A180312001 only as its keyed pseudonym (default key; worked out with
    # printf A180312001 | openssl dgst -sha256 -hmac "$DEFAULT_KEY", first 16 hex digits)


def test_same_inputs_give_byte_identical_parquet(study, examples, tmp_path):
    a = run_pipeline(examples, tmp_path / "a", study, now=T1).release
    b = run_pipeline(examples, tmp_path / "b", study, now=T2).release
    files = sorted(p.relative_to(a) for p in a.rglob("*.parquet"))
    assert files and files == sorted(p.relative_to(b) for p in b.rglob("*.parquet"))
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_rejected_input_keeps_current_release(study, examples, tmp_path):
    out = tmp_path / "out"
    first = run_pipeline(examples, out, study, now=T1).release
    drop = tmp_path / "drop"
    shutil.copytree(examples, drop)
    newer = drop / "edc" / "NCT03668171_ODM_20180116T230005.xml"
    newer.write_bytes((examples / "edc" / "NCT03668171_ODM_20180115T230005.xml").read_bytes()[:3000])
    with pytest.raises(BlockingInputError, match="NCT03668171_ODM_20180116T230005.xml.*not well-formed"):
        run_pipeline(drop, out, study, now=T2)
    assert (out / "current").resolve() == first
    assert len(list((out / "releases").iterdir())) == 1
    reasons = list((out / "quarantine").glob("*.reason.txt"))
    assert len(reasons) == 1 and "not well-formed" in reasons[0].read_text()
    assert newer.exists() and len(newer.read_bytes()) == 3000  # the landed file is untouched


def test_no_identifier_in_any_output(release, examples):
    identifiers = {"0010000001", "M778812", "LL", "WF"}
    for p in release.rglob("*"):
        if p.suffix in (".parquet", ".xlsx"):
            df = pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_excel(p, dtype=str)
            values = {str(v) for c in df.columns for v in df[c].dropna()}
            assert not identifiers & values, p
            assert not any(i in v for i in ("0010000001", "M778812") for v in values), p
        elif p.is_file():
            data = p.read_bytes()
            assert b"0010000001" not in data and b"M778812" not in data, p
