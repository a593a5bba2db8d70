"""Planted problems in synthetic drops give the exact query or quarantine outcome; ids survive a night."""
from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from conftest import drop_identifiers
from transforms.pipeline.run import run_pipeline
from transforms.pipeline.steps import BlockingInputError
from transforms.privacy.pseudonym import pseudonym_key, pseudonymise
from cdiscflow_tools.synth import synthesize

NIGHT1 = datetime(2026, 1, 1, 2, tzinfo=UTC)
NIGHT2 = datetime(2026, 1, 2, 2, tzinfo=UTC)
# planted error kind -> the rule that must raise its query
RULE_OF = {
    "invalid_codelist_value": "RAW-EDC-CODELIST", "invalid_date": "RAW-EDC-DATE",
    "stratum_meld_mismatch": "EC-STRATUM-MELD", "visit_out_of_window": "EC-VISIT-WINDOW",
    "ae_end_before_start": "SDTM-END-BEFORE-START", "infusion_out_of_order": "EC-INFUSION-ORDER",
    "implausible_lab_value": "LB-PLAUSIBLE", "lis_unknown_test": "RAW-LIS-UNKNOWN-TEST",
    "lis_orphan_specimen": "LIS-ORPHAN", "identifier_in_free_text": "PRIVACY-FREE-TEXT",
}


@pytest.fixture(scope="module")
def drop(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("drop")
    synthesize(d, subjects=60, seed=11, snapshots=2, unblinded=True, plant_errors=True)
    return d


@pytest.fixture(scope="module")
def nights(drop, tmp_path_factory, study):
    """Night 1 sees the older snapshot only; night 2 the full drop (newer snapshot)."""
    out = tmp_path_factory.mktemp("out")
    night1 = tmp_path_factory.mktemp("night1")
    shutil.copytree(drop, night1, dirs_exist_ok=True)
    newest = sorted((night1 / "edc").glob("*.xml"))[-1]
    newest.unlink()
    r1 = run_pipeline(night1, out, study, now=NIGHT1).release
    r2 = run_pipeline(drop, out, study, now=NIGHT2).release
    return r1, r2


def queries(release: Path) -> pd.DataFrame:
    return pd.read_csv(release / "reports" / "queries.csv", dtype=str, keep_default_na=False)


def test_each_planted_error_raises_its_query(drop, nights):
    truth = json.loads((drop / "synth_truth.json").read_text(encoding="utf-8"))
    q = queries(nights[1])
    open_q = q[q["STATUS"] != "resolved"]
    for e in truth["planted_errors"]:
        if e["kind"] not in RULE_OF:
            continue
        hits = open_q[open_q["RULE"] == RULE_OF[e["kind"]]]
        if "specimen" in e:
            hits = hits[hits["SOURCE"].str.contains(pseudonymise(e["specimen"], pseudonym_key("NCT03668171")),
                                                     regex=False)]
        if "subject" in e and e["kind"] not in ("lis_orphan_specimen",):
            hits = hits[hits["SUBJID"] == e["subject"]]
        if e.get("item", "").startswith("I.") and hits["FIELD"].str.startswith("I.").any():
            hits = hits[hits["FIELD"] == e["item"]]
        assert len(hits) >= 1, e
        assert (hits["SITE"] == e["site"]).all(), e


def test_query_ids_stable_across_nights_and_fix_resolves(drop, nights):
    q1, q2 = queries(nights[0]), queries(nights[1])
    truth = json.loads((drop / "synth_truth.json").read_text(encoding="utf-8"))
    carried = q1[q1["RULE"].isin(["RAW-EDC-CODELIST", "LIS-ORPHAN", "RAW-LIS-UNKNOWN-TEST", "EC-STRATUM-MELD"])]
    assert len(carried)
    q2i = q2.set_index("QUERY_ID")
    for qid in carried["QUERY_ID"]:
        assert q2i.loc[qid, "STATUS"] == "open" and q2i.loc[qid, "FIRST_SEEN"] == q1.set_index(
            "QUERY_ID").loc[qid, "FIRST_SEEN"]
    fixed = [e for e in truth["planted_errors"] if e["kind"] == "fixed_in_later_snapshot"]
    assert fixed
    for e in fixed:
        before = q1[(q1["SUBJID"] == e["subject"]) & (q1["RULE"] == "VS-PLAUSIBLE")]
        assert len(before) == 1 and float(before.iloc[0]["VALUE"]) == float(e["value"])
        assert q2i.loc[before.iloc[0]["QUERY_ID"], "STATUS"] == "resolved"


def test_no_identifier_in_reports(drop, nights):
    mrns, names, _ = drop_identifiers(drop)
    for release in nights:
        for name in ("queries.csv", "findings.csv", "quality.html"):
            text = (release / "reports" / name).read_text(encoding="utf-8")
            assert not [m for m in mrns if m in text] and not [n for n in names if n in text], name


def test_duplicate_record_and_truncated_lab_file_are_queries(drop, tmp_path, study):
    d = tmp_path / "drop"
    shutil.copytree(drop, d)
    snap = sorted((d / "edc").glob("*.xml"))[-1]
    text = snap.read_text(encoding="utf-8")
    start = text.index('<ItemGroupData ItemGroupOID="IG.VS"')
    end = text.index("</ItemGroupData>", start) + len("</ItemGroupData>")
    snap.write_text(text[:end] + text[start:end] + text[end:], encoding="utf-8")
    lab = sorted((d / "lab" / "SITE02").glob("*.csv"))[-1]
    raw = lab.read_bytes()
    lab.write_bytes(raw[: raw.rstrip(b"\n").rfind(b",")])  # the last record is cut mid-line
    release = run_pipeline(d, tmp_path / "out", study, now=NIGHT1).release
    q = queries(release)
    assert len(q[q["RULE"] == "RAW-EDC-DUPLICATE"]) >= 1
    shape = q[q["RULE"] == "LIS-RECORD-SHAPE"]
    assert len(shape) == 1 and shape.iloc[0]["SOURCE"].startswith(lab.name)


def test_truncated_snapshot_is_quarantined(drop, tmp_path, study):
    d = tmp_path / "drop"
    shutil.copytree(drop, d)
    snap = sorted((d / "edc").glob("*.xml"))[-1]
    snap.write_bytes(snap.read_bytes()[:50_000])
    with pytest.raises(BlockingInputError, match=snap.name):
        run_pipeline(d, tmp_path / "out", study, now=NIGHT1)
    assert not (tmp_path / "out" / "current").exists()
    assert len(list((tmp_path / "out" / "quarantine").glob("*.reason.txt"))) == 1


def test_clean_drop_has_no_blocking_or_error_finding(tmp_path, study):
    d = tmp_path / "clean"
    synthesize(d, subjects=40, seed=5, snapshots=1, unblinded=True, plant_errors=False)
    release = run_pipeline(d, tmp_path / "out", study, now=NIGHT1).release
    m = json.loads((release / "manifest.json").read_text())
    assert m["findings"]["blocking"] == 0 and m["findings"]["by_severity"]["error"] == 0
