"""Validation layers, edit checks and the query listing, with hand-worked expectations."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from transforms.config.adam import load_adam_config
from transforms.adam.derive import meld_score
from transforms.cdisc.findings import Finding, Findings
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
        committed = read_suite(suite_path(study, name))
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


def test_informational_findings_are_no_queries():
    note = Finding("info", "LIS-SUPERSEDED", "labs_2018-03-12.csv", "line 3, specimen A1", "result",
                   "superseded by the later report", site="SITE02")
    assert build_queries(Findings([note]), None, "2018-03-13").empty


def test_structural_findings_never_show_the_item_value(study):
    # an item the eCRF does not define, in the wrong group, exported twice: its value could be an MRN
    df = items([("I.MRNX", "0010000001"), ("I.MHTERM", "0010000001"), ("I.AETERM", "0010000001"),
                ("I.AETERM", "0010000001")])
    found = validate_raw_edc(df, study)
    assert {f.rule for f in found} >= {"RAW-EDC-OID", "RAW-EDC-ITEM-GROUP", "RAW-EDC-DUPLICATE"}
    assert all("0010000001" not in f.value + f.message + f.record for f in found)


def _eligibility_release(tmp_path):
    """A tiny SDTM release: five subjects, eligibility answers in SUPPDM, criteria not met in IE."""
    from transforms.quality.sdtm_data import SdtmData
    (tmp_path / "sdtm").mkdir()
    s = "NCT03668171-"
    pd.DataFrame({"USUBJID": [s + "01-001", s + "01-002", s + "01-003", s + "01-004", s + "01-005", s + "01-006"],
                  "SITEID": ["SITE01"] * 6, "DOMAIN": "DM",
                  "ARMNRS": [None, None, "SCREEN FAILURE", None, "SCREEN FAILURE", "SCREEN FAILURE"]}
                 ).to_parquet(tmp_path / "sdtm" / "dm.parquet")
    # 001 Y, no criteria (fine); 002 N, randomized, IN05 listed; 003 N, screen failure, nothing listed;
    # 004 no answer, randomized; 005 Y with EX02 listed, screen failure; 006 no answer, screen failure, DS only
    pd.DataFrame({"USUBJID": [s + "01-001", s + "01-002", s + "01-003", s + "01-005"], "QNAM": "IEYN",
                  "QVAL": ["Y", "N", "N", "Y"]}).to_parquet(tmp_path / "sdtm" / "suppdm.parquet")
    pd.DataFrame({"USUBJID": [s + "01-002", s + "01-005"], "IESEQ": [1, 1], "IETESTCD": ["IN05", "EX02"]}
                 ).to_parquet(tmp_path / "sdtm" / "ie.parquet")
    pd.DataFrame({"USUBJID": [s + "01-003", s + "01-005", s + "01-006"], "DSSEQ": [1, 1, 1],
                  "DSDECOD": "SCREEN FAILURE"}).to_parquet(tmp_path / "sdtm" / "ds.parquet")
    return SdtmData(tmp_path, "NCT03668171")


def test_eligibility_answer_queries(tmp_path, study):
    """protocol.md PP needs I.IEYN = Y: a missing answer, an answer the criteria contradict and an ineligible
    subject who was randomized are queries to the site, naming subject and form."""
    from transforms.config.quality import load_edit_check_config
    from transforms.quality.edit_checks import check_eligibility_answer
    cfg = load_edit_check_config(study).eligibility_answer
    found = check_eligibility_answer(_eligibility_release(tmp_path), cfg, study.screen_failure.armnrs)
    got = sorted((f.subjid, f.rule, f.severity, f.value) for f in found)
    assert got == [
        ("01-002", "EC-INELIGIBLE-RANDOMIZED", "warning", "N"),   # IN05 not met, randomized
        ("01-003", "EC-IEYN-NO-CRITERION", "error", "N"),         # No, but no criterion listed
        ("01-004", "EC-IEYN-MISSING", "error", ""),               # randomized, unanswered
        ("01-005", "EC-IEYN-CONTRADICTS", "error", "Y"),          # Yes, but EX02 listed
        ("01-006", "EC-IEYN-MISSING", "error", ""),               # screen failure with the form, unanswered
    ]
    assert all(f.field == "I.IEYN" and f.message.startswith("Eligibility form: ") for f in found)
    assert "IN05" in next(f.message for f in found if f.subjid == "01-002")
def test_lab_after_end_of_participation_is_queried_per_draw(tmp_path):
    from transforms.quality.sdtm_checks import check_lab_after_participation, check_not_after_death
    from transforms.quality.sdtm_data import SdtmData

    (tmp_path / "sdtm").mkdir()
    (tmp_path / "lineage").mkdir()
    u1, u2, u3 = (f"NCT03668171-02-00{i}" for i in (1, 2, 3))
    # 02-001 ended the study on 2018-04-02; 02-002 died on 2018-03-20 (RFPENDTC = death); 02-003 ongoing
    pd.DataFrame({"USUBJID": [u1, u2, u3], "SITEID": ["SITE02"] * 3, "RFPENDTC": ["2018-04-02", "2018-03-20", None],
                  "DTHDTC": [None, "2018-03-20", None]}).to_parquet(tmp_path / "sdtm" / "dm.parquet")
    lb = pd.DataFrame({
        "USUBJID": [u1, u1, u1, u1, u2, u3],
        "LBSEQ": [1, 2, 3, 4, 1, 1],
        "LBTESTCD": ["BILI", "BILI", "CREAT", "INR", "BILI", "BILI"],
        "LBREFID": ["A1", "A2", "A2", "A3", "B1", "C1"],
        "LBDTC": ["2018-04-02T08:00", "2018-04-03T07:30", "2018-04-03T07:30", "2018-04-10T07:30",
                  "2018-03-25T07:30", "2018-09-01T07:30"],
    })
    lb.to_parquet(tmp_path / "sdtm" / "lb.parquet")
    pd.DataFrame({"STUDYID": "NCT03668171", "USUBJID": lb["USUBJID"], "LBSEQ": lb["LBSEQ"],
                  "SRCFILE": ["labs_2018-04-02.csv", "labs_2018-04-03.csv", "labs_2018-04-03.csv",
                              "labs_2018-04-10.csv", "labs_2018-03-25.csv", "labs_2018-09-01.csv"],
                  "SRCRECORD": ["line 2, specimen A1", "line 2, specimen A2", "line 3, specimen A2",
                                "line 2, specimen A3", "line 2, specimen B1", "line 2, specimen C1"]}
                 ).to_parquet(tmp_path / "lineage" / "lb.parquet")
    data = SdtmData(tmp_path, "NCT03668171")
    got = [(f.rule, f.subjid, f.site, f.source, f.record, f.value, f.severity)
           for f in check_lab_after_participation(data)]
    # the same day as RFPENDTC is within participation; one query per draw (A2 has two results)
    assert got == [
        ("LB-AFTER-RFPENDTC", "02-001", "SITE02", "labs_2018-04-03.csv", "line 2, specimen A2", "2018-04-03T07:30",
         "error"),
        ("LB-AFTER-RFPENDTC", "02-001", "SITE02", "labs_2018-04-10.csv", "line 2, specimen A3", "2018-04-10T07:30",
         "error")]
    # a sample after death is asked about once, as SDTM-AFTER-DEATH
    assert [(f.rule, f.subjid) for f in check_not_after_death(data) if f.domain == "LB"] == [
        ("SDTM-AFTER-DEATH", "02-002")]
