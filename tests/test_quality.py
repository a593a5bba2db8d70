"""Validation layers, edit checks and the query listing, with hand-worked expectations."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from transforms.adam.config import load_adam_config
from transforms.adam.derive import meld_score
from transforms.quality.findings import Finding, Findings
from transforms.quality.gx_runner import read_suite, suite_path
from transforms.quality.queries import build_queries
from transforms.quality.suites import all_suites
from transforms.quality.validate import validate_raw_edc, validate_raw_lab


@pytest.mark.parametrize(("creat_umol", "bili_umol", "inr", "expected"), [
    # creatinine 4.5 mg/dL is capped at 4.0: 0.957 ln 4 + 0.643 = 1.9697 -> 2.0 -> MELD 20
    (4.5 * 88.4, 17.1, 1.0, 20.0),
    (4.0 * 88.4, 17.1, 1.0, 20.0),
    # protocol.md: MELD(i) = 2.2897 gives 23 (1.120 ln 4.3502 + 0.643 = 2.2897)
    (88.4, 17.1, 4.3502, 23.0),
    # values below 1.0 mg/dL count as 1.0: everything at the floor gives 10 x 0.6 = 6
    (0.5 * 88.4, 0.3 * 17.1, 0.9, 6.0),
    # capped at 40 (MELD(i) = 6.03 here)
    (4.0 * 88.4, 50 * 17.1, 10.0, 40.0),
    # bilirubin 10 mg/dL, creatinine 1.5, INR 2.0: 0.388 + 0.870 + 0.776 + 0.643 = 2.677 -> 2.7 -> 27
    (1.5 * 88.4, 171.0, 2.0, 27.0),
])
def test_meld(study, creat_umol, bili_umol, inr, expected):
    spec = load_adam_config(study).meld.spec()
    assert meld_score(creat_umol / 88.4, bili_umol / 17.1, inr, spec) == expected


def test_committed_suites_are_current(study):
    for name, suite in all_suites(study).items():
        committed = read_suite(suite_path(study.study_id, name))
        assert json.loads(json.dumps(suite, sort_keys=True)) == committed, f"regenerate expectations: {name}"


def items(rows):
    base = {"SUBJECTKEY": "01-001", "SITEID": "SITE01", "EVENTOID": "SE.LOG", "EVENTREPEAT": "1", "FORMOID": "F.AE",
            "FORMREPEAT": "1", "IGOID": "IG.AE", "IGREPEAT": "1", "SRCFILE": "NCT03668171_ODM_20180630T230005.xml"}
    df = pd.DataFrame([base | {"ITEMOID": i, "VALUE": v, "SRCLINE": n} for n, (i, v) in enumerate(rows, start=10)])
    df["VALID"] = True
    return df


def test_raw_edc_layer(study):
    df = items([("I.AETERM", "Fever"), ("I.AESEV", "7"), ("I.AESTDAT", "2018-02-30"), ("I.AEENDAT", "2018-02"),
                ("I.NOPE", "x"), ("I.SEX", "1")])
    got = {(f.rule, f.field): f for f in validate_raw_edc(df, study)}
    assert set(got) == {("RAW-EDC-CODELIST", "I.AESEV"), ("RAW-EDC-DATE", "I.AESTDAT"), ("RAW-EDC-OID", "I.NOPE"),
                        ("RAW-EDC-ITEM-GROUP", "I.NOPE"), ("RAW-EDC-ITEM-GROUP", "I.SEX")}
    f = got[("RAW-EDC-CODELIST", "I.AESEV")]
    assert (f.value, f.site, f.subjid, f.source) == ("7", "SITE01", "01-001", "NCT03668171_ODM_20180630T230005.xml")
    assert f.record == "SubjectKey=01-001 SE.LOG[1]/F.AE[1]/IG.AE[1] (line 11)"
    assert "1 (Mild), 2 (Moderate), 3 (Severe)" in f.message


def test_raw_edc_never_shows_identifier_or_free_text_values(study):
    df = items([("I.AETERM", "x" * 250)])
    df2 = items([("I.MRN", "0010000001XYZ")]).assign(EVENTOID="SE.SCR", FORMOID="F.DM", IGOID="IG.DM")
    found = validate_raw_edc(pd.concat([df, df2], ignore_index=True), study)
    assert {f.rule for f in found} == {"RAW-EDC-LENGTH"} and len(found) == 2
    assert all(f.value == "" for f in found)


def test_raw_edc_duplicate_records(study):
    df = items([("I.AETERM", "Fever"), ("I.AETERM", "Fever")])
    assert {f.rule for f in validate_raw_edc(df, study)} == {"RAW-EDC-DUPLICATE"}


# Specimen A1 is reported only as its pseudonym: HMAC-SHA256 under the default key, first 16 hex digits
# (printf A1 | openssl dgst -sha256 -hmac "$DEFAULT_KEY").
A1 = "specimen SPEC-103FEBAE9BF4C43D"


def test_raw_lab_layer(study):
    base = {"SITEID": "SITE02", "MRN": "M1", "SPECID": "A1", "COLLDTM": "03/12/2018 07:30", "REPORTDTM": "03/12/2018 10:30",
            "COLLDTC": "", "REPORTDTC": "", "RANGE_LOW": "", "RANGE_HIGH": "", "FLAG": "", "STATUS": "F",
            "SRCFILE": "labs_2018-03-12.csv"}
    rows = [("TBIL", "5.5", "mg/dL"), ("TBIL", "94", "umol/L"), ("LDH", "200", "U/L"), ("INR", "<0.5", ""),
            ("ALT", "HEMOLYZED", "U/L"), ("AST", "see lab", "U/L")]
    df = pd.DataFrame([base | {"TEST": t, "RESULT": r, "UNIT": u, "SRCLINE": n} for n, (t, r, u) in enumerate(rows, 2)])
    df.loc[5, "COLLDTM"] = "2018-03-12 07:30"
    got = sorted((f.rule, f.record, f.value) for f in validate_raw_lab(df, study, "SITE02"))
    assert got == [("RAW-LIS-DATETIME", f"line 7, {A1}", "2018-03-12 07:30"),
                   ("RAW-LIS-RESULT", f"line 7, {A1}", "see lab"),
                   ("RAW-LIS-UNIT", f"line 3, {A1}", "umol/L"),
                   ("RAW-LIS-UNKNOWN-TEST", f"line 4, {A1}", "LDH")]
    assert all("M1" not in str(f) for f in validate_raw_lab(df, study, "SITE02"))


def _finding(rule: str, subj: str, line: int, snapshot: str) -> Finding:
    return Finding("error", rule, snapshot, f"SubjectKey={subj} SE.LOG[1]/F.AE[1]/IG.AE[1] (line {line})", "I.AESEV",
                   "bad", value="7", site="SITE01", subjid=subj)


def test_query_ids_are_stable_and_fixed_findings_resolve():
    night1 = Findings([_finding("RAW-EDC-CODELIST", "01-001", 100, "NCT03668171_ODM_20180101T230000.xml"),
                       _finding("RAW-EDC-CODELIST", "01-002", 200, "NCT03668171_ODM_20180101T230000.xml")])
    q1 = build_queries(night1, None, "2018-01-01")
    assert set(q1["STATUS"]) == {"new"} and len(q1) == 2
    # next night: a new snapshot file, other line numbers; 01-002 was fixed, 01-003 is new
    night2 = Findings([_finding("RAW-EDC-CODELIST", "01-001", 140, "NCT03668171_ODM_20180102T230000.xml"),
                       _finding("RAW-EDC-CODELIST", "01-003", 300, "NCT03668171_ODM_20180102T230000.xml")])
    q2 = build_queries(night2, q1, "2018-01-02").set_index("SUBJID")
    assert q2.loc["01-001", "QUERY_ID"] == q1.set_index("SUBJID").loc["01-001", "QUERY_ID"]
    assert q2.loc["01-001", ["STATUS", "FIRST_SEEN"]].tolist() == ["open", "2018-01-01"]
    assert q2.loc["01-002", "STATUS"] == "resolved" and q2.loc["01-003", ["STATUS", "FIRST_SEEN"]].tolist() == [
        "new", "2018-01-02"]
    q3 = build_queries(night2, q2.reset_index(), "2018-01-03")
    assert "01-002" not in set(q3["SUBJID"])  # a resolved query is reported once


def test_structural_findings_never_show_the_item_value(study):
    # an item the eCRF does not define, in the wrong group, exported twice: its value could be an MRN
    df = items([("I.MRNX", "0010000001"), ("I.MHTERM", "0010000001"), ("I.AETERM", "0010000001"),
                ("I.AETERM", "0010000001")])
    found = validate_raw_edc(df, study)
    assert {f.rule for f in found} >= {"RAW-EDC-OID", "RAW-EDC-ITEM-GROUP", "RAW-EDC-DUPLICATE"}
    assert all("0010000001" not in f.value + f.message + f.record for f in found)
