"""End to end on synthetic drops: SDTM against the generator's ground truth, blinding and privacy."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from transforms.pipeline.run import run_pipeline
from transforms.privacy.pseudonym import pseudonym_key, pseudonymise
from conftest import drop_identifiers
from cdiscflow_tools.synth import synthesize

N = 80
NOW = datetime(2026, 1, 1, tzinfo=UTC)
FREE_TEXT = ("AETERM", "MHTERM", "CMTRT", "CMINDC", "DDORRES", "DDSTRESC")


@pytest.fixture(scope="module")
def unblinded(tmp_path_factory, study):
    drop = tmp_path_factory.mktemp("drop")
    synthesize(drop, subjects=N, seed=7, snapshots=2, unblinded=True, plant_errors=True)
    release = run_pipeline(drop, tmp_path_factory.mktemp("out"), study, now=NOW).release
    return drop, release, json.loads((drop / "synth_truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def blinded(tmp_path_factory, study):
    drop = tmp_path_factory.mktemp("bdrop")
    synthesize(drop, subjects=N, seed=7, snapshots=2, unblinded=False, plant_errors=True)
    return drop, run_pipeline(drop, tmp_path_factory.mktemp("bout"), study, now=NOW).release


def sdtm(release: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(release / "sdtm" / f"{name}.parquet")


def test_dm_matches_truth(unblinded):
    _, release, truth = unblinded
    dm = sdtm(release, "dm").set_index("SUBJID")
    assert set(dm.index) == set(truth["subjects"])
    for key, t in truth["subjects"].items():
        row = dm.loc[key]
        if t["screen_failure"]:
            assert pd.isna(row["ARMCD"]) and row["ARMNRS"] == "SCREEN FAILURE", key
            continue
        assert row["ARMCD"] == t["arm"], key
        given = sorted(t["infusions"])
        if given:
            assert row["RFSTDTC"] == row["RFXSTDTC"] == given[0], key
            assert row["ACTARMCD"] == t["arm"]
        else:
            assert pd.isna(row["RFXSTDTC"]) and row["ARMNRS"] == "ASSIGNED, NOT TREATED", key
        assert (row["DTHDTC"] if pd.notna(row["DTHDTC"]) else None) == t["death_date"], key
        assert (row["DTHFL"] == "Y") == (t["death_date"] is not None), key


def test_ex_and_pr_match_truth(unblinded):
    _, release, truth = unblinded
    ex = sdtm(release, "ex")
    counts = ex.groupby("USUBJID").size()
    for key, t in truth["subjects"].items():
        assert counts.get(f"NCT03668171-{key}", 0) == len(t.get("infusions", [])), key
    arm = sdtm(release, "dm").set_index("USUBJID")["ARMCD"]
    assert (ex["EXTRT"] == ex["USUBJID"].map(arm).map({"MSC": "MESENCHYMAL STEM CELLS", "PBO": "PLACEBO"})).all()
    assert (ex.loc[ex["EXTRT"] == "PLACEBO", "EXDOSE"] == 0).all()
    pr = sdtm(release, "pr") if (release / "sdtm" / "pr.parquet").exists() else pd.DataFrame(columns=["USUBJID"])
    transplanted = {f"NCT03668171-{k}": t["transplant_date"] for k, t in truth["subjects"].items() if t.get("transplant_date")}
    assert dict(zip(pr["USUBJID"], pr.get("PRSTDTC", []), strict=True)) == transplanted


def test_lb_baseline_edge_cases(unblinded):
    _, release, truth = unblinded
    lb = sdtm(release, "lb")
    for case in truth["edge_cases"]:
        if case["kind"] not in ("day1_lab_before_infusion_start", "day1_lab_after_infusion_start"):
            continue
        rows = lb[lb["LBREFID"] == pseudonymise(case["specimen"], pseudonym_key("NCT03668171"))]
        assert len(rows) and (rows["LBDTC"] == case["collected"]).all() and (rows["LBDY"] == 1).all()
        # protocol.md: baseline = the last non-missing value on or before the infusion start; a comment
        # (NOT DONE) or a censored '<x' has no numeric value (LBSTRESN), so it is never baseline.
        numeric = rows["LBSTRESN"].notna()
        if case["kind"].endswith("before_infusion_start"):
            assert numeric.any() and (rows.loc[numeric, "LBLOBXFL"] == "Y").all()
        assert rows.loc[~numeric | case["kind"].endswith("after_infusion_start"), "LBLOBXFL"].isna().all()


def test_every_lb_visit_is_in_sv_and_every_usubjid_in_dm(unblinded):
    _, release, _ = unblinded
    dm = set(sdtm(release, "dm")["USUBJID"])
    sv = set(map(tuple, sdtm(release, "sv")[["USUBJID", "VISITNUM"]].to_numpy()))
    for name in ("lb", "vs", "rs", "fa", "ex", "ae", "cm", "ds", "mh", "ie"):
        df = sdtm(release, name)
        assert set(df["USUBJID"]) <= dm, name
        if "VISITNUM" in df:
            assert set(map(tuple, df[["USUBJID", "VISITNUM"]].dropna().to_numpy())) <= sv, name
        seq = f"{name.upper()}SEQ"
        assert not df.duplicated(["USUBJID", seq]).any(), name
        for dy in [c for c in df.columns if c.endswith("DY")]:
            assert not (df[dy] == 0).any(), (name, dy)


def test_blinded_build_reveals_no_arm(blinded):
    _, release = blinded
    dm = sdtm(release, "dm")
    assert set(dm["ARMCD"].dropna()) == {"BLINDED"} and set(dm["ACTARMCD"].dropna()) == {"BLINDED"}
    ex = sdtm(release, "ex")
    assert set(ex["EXTRT"]) == {"MSC OR PLACEBO (BLINDED)"} and "EXDOSE" not in ex or ex["EXDOSE"].isna().all()
    assert set(sdtm(release, "ta")["ARMCD"]) == {"BLINDED"}
    for p in (release / "sdtm").glob("*.parquet"):
        if p.stem in ("ts", "ti", "te", "ta", "tv"):
            continue  # trial design describes the protocol, not subjects
        df = pd.read_parquet(p)
        text = {str(v).upper() for c in df.columns for v in df[c].dropna().unique()}
        assert not text & {"MSC", "PBO", "PLACEBO", "MESENCHYMAL STEM CELLS"}, p.name


def test_no_identifier_in_any_output(unblinded):
    drop, release, _ = unblinded
    mrns, names, initials = drop_identifiers(drop)
    assert mrns and names and initials
    out = release.parent.parent
    # The staged cache holds what ingest read (MRNs included), like staging: owner-only, never published.
    cache = out / ".cache"
    assert not cache.exists() or (cache.stat().st_mode & 0o077) == 0
    for p in out.rglob("*"):
        if not p.is_file() or cache in p.parents:
            continue
        if p.suffix in (".parquet", ".xlsx"):
            df = pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_excel(p, dtype=str)
            values = [str(v) for c in df.columns for v in df[c].dropna().unique()]
            free = [str(v) for c in df.columns if c in FREE_TEXT for v in df[c].dropna().unique()]
        else:
            data = p.read_bytes()
            assert not any(m.encode() in data for m in mrns), p
            assert not any(n.encode() in data or n.encode("gb18030") in data for n in names), p
            continue
        blob = "\n".join(values)
        assert not any(m in blob for m in mrns), p
        assert not any(n in blob for n in names), p
        for text in free:
            words = set(text.replace("，", " ").replace("(", " ").replace(")", " ").split())
            assert not words & initials, (p, text)


def test_same_drop_same_bytes(unblinded, study, tmp_path):
    drop, release, _ = unblinded
    again = run_pipeline(drop, tmp_path / "again", study, now=datetime(2026, 2, 2, tzinfo=UTC)).release
    for p in sorted((release / "sdtm").glob("*.parquet")):
        assert p.read_bytes() == (again / "sdtm" / p.name).read_bytes(), p.name
