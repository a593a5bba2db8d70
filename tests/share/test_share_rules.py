"""Sharing rules without a release: partial-date shifting, offsets, the rule table's validation, the scrubber's extra kinds."""
from __future__ import annotations

from pathlib import Path

import pytest

from transforms.privacy.scrub import Scrubber
from transforms.share.dates import shift_iso, subject_offset
from transforms.share.freetext import sharing_scrubber
from transforms.share.rules import RuleError, load_rules, load_share_config

STUDY_SHARE = Path(__file__).resolve().parents[2] / "studies" / "nct03668171" / "share"


@pytest.mark.parametrize(("value", "days", "expected"), [
    ("2018-01-10", -10, "2017-12-31"),                 # full date: exact
    ("2018-01-10T11:00", -10, "2017-12-31T11:00"),     # the time of day stays
    ("2018-03", -20, "2018-02"),                       # 2018-03-15 - 20 days = 2018-02-23
    ("2018-03", -10, "2018-03"),                       # 2018-03-15 - 10 days = 2018-03-05
    ("2018", -200, "2017"),                            # 2018-07-01 - 200 days = 2017-12-13
    ("2018", -100, "2018"),                            # 2018-07-01 - 100 days = 2018-03-23
])
def test_a_partial_date_keeps_its_precision(value, days, expected):
    assert shift_iso(value, days) == expected


def test_an_unknown_date_form_is_refused():
    with pytest.raises(ValueError):
        shift_iso("10/01/2018", -3)


def test_offsets_are_keyed_by_the_secret_and_stay_in_range():
    a = [subject_offset(b"secret-one-0123456", f"S-{i}", -3650, -1827) for i in range(50)]
    b = [subject_offset(b"secret-two-0123456", f"S-{i}", -3650, -1827) for i in range(50)]
    assert a == [subject_offset(b"secret-one-0123456", f"S-{i}", -3650, -1827) for i in range(50)]
    assert a != b
    assert all(-3650 <= d <= -1827 for d in a + b)


def test_the_study_rule_table_and_settings_load():
    rules = load_rules(STUDY_SHARE / "deid_rules.csv")
    cfg = load_share_config(STUDY_SHARE / "share.yaml")
    assert rules.resolve("DM", "BRTHDTC").rule == "remove"
    assert rules.resolve("SUPPDS", "QVAL:LSTALVDT").rule == "offset_date"
    assert rules.resolve("SUPPDM", "QVAL:NEWQNAM") is None  # a new qualifier has no rule by default
    assert cfg.age_cap == 89 and 0 not in range(cfg.offset_days.min_days, cfg.offset_days.max_days + 1)


def test_a_bad_rule_row_names_its_line(tmp_path):
    bad = tmp_path / "rules.csv"
    bad.write_text("dataset,variable,rule,comment\nAE,AETERM,keep,ok\nAE,AESEQ,scramble,no such rule\n", encoding="utf-8")
    with pytest.raises(RuleError, match="line 3"):
        load_rules(bad)
    bad.write_text("dataset,variable,rule,comment\nAE,AETERM,keep,\n", encoding="utf-8")
    with pytest.raises(RuleError, match="line 2"):
        load_rules(bad)


def test_an_offset_range_holding_zero_is_refused(tmp_path):
    text = (STUDY_SHARE / "share.yaml").read_text(encoding="utf-8").replace("max_days: -1827", "max_days: 10")
    (tmp_path / "share.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(RuleError, match="must not contain 0"):
        load_share_config(tmp_path / "share.yaml")


@pytest.mark.parametrize("text", ["seen by Dr. Li Wei", "patient name: Wang Fang", "患者张伟", "李明先生",
                                  "call 138-1234-5678", "li.wei@example.com", "ID 610102199001011234",
                                  "MRN 1234567", "on 2018-01-15", "2018年1月", "12 Jan 2018",
                                  "127 Changle West Road", "西安市长乐西路127号"])
def test_the_sharing_scrubber_redacts_each_identifier_kind(text):
    out, kinds = sharing_scrubber([]).scrub(text)
    assert kinds and "[REDACTED]" in out


@pytest.mark.parametrize("text", ["HEADACHE", "DRUG-INDUCED LIVER INJURY", "GRADE 3 RASH FOR 10 DAYS", "SINCE 2015",
                                  "HBV reactivation", "MELD 23-30"])
def test_the_sharing_scrubber_leaves_medical_text(text):
    assert sharing_scrubber([]).scrub(text) == (text, {})


def test_the_pipeline_scrubber_is_unchanged_without_extra_kinds():
    assert Scrubber([]).scrub("seen by Dr. Li Wei on 2018-01-15") == ("seen by Dr. Li Wei on 2018-01-15", {})


def _context(date_mode: str):
    from transforms.share.apply import Context
    from transforms.share.ids import subject_key

    cfg = load_share_config(STUDY_SHARE / "share.yaml").model_copy(update={"date_mode": date_mode})
    key = subject_key({"S-01-001"}, {"S-01-001": "01-001"}, "S", "P", b"k" * 16, {"S-01-001": -2000})
    return Context(rules=load_rules(STUDY_SHARE / "deid_rules.csv"), cfg=cfg, secret=b"k" * 16, key=key,
                   sites={}, scrubber=sharing_scrubber(["S-01-001", "01-001"]), id_guard=Scrubber(["S-01-001", "01-001"]))


def _ae():
    import pyarrow as pa

    return pa.table({"STUDYID": ["S"], "DOMAIN": ["AE"], "USUBJID": ["S-01-001"], "AESEQ": [1],
                     "AETERM": ["HEADACHE"], "AESTDTC": ["2018-01-10T08:30"], "AEENDTC": ["2018-02"], "AESTDY": [3]})


def test_offset_mode_shifts_and_study_day_mode_removes_dates():
    from transforms.share.apply import deidentify

    shifted, _, _ = deidentify("AE", _ae(), _context("offset"))
    row = shifted.to_pylist()[0]
    # 2018-01-10 - 2000 days = 2012-07-20; 2018-02-15 - 2000 days = 2012-08-25 (2012 and 2016 are leap years)
    assert (row["AESTDTC"], row["AEENDTC"], row["AESTDY"]) == ("2012-07-20T08:30", "2012-08", 3)
    assert (row["USUBJID"], row["AETERM"]) == ("S-P0001", "HEADACHE")
    days, reports, _ = deidentify("AE", _ae(), _context("study_day"))
    assert "AESTDTC" not in days.column_names and "AEENDTC" not in days.column_names
    assert days.column("AESTDY").to_pylist() == [3]
    assert {r.variable for r in reports if r.rule == "offset_date"} == {"AESTDTC", "AEENDTC"}


def test_a_kept_variable_holding_a_participant_id_stops_the_package():
    import pyarrow as pa

    from transforms.share.apply import deidentify
    from transforms.share.rules import ShareError

    table = _ae().append_column("AEOUT", pa.array(["RECOVERED, see 01-001"]))
    with pytest.raises(ShareError, match="AE.AEOUT"):
        deidentify("AE", table, _context("offset"))


def test_a_kept_column_of_adam_dates_stops_the_package():
    import datetime as dt

    import pyarrow as pa

    from transforms.share.apply import deidentify
    from transforms.share.rules import ShareError

    table = _ae().append_column("AEOUT", pa.array([dt.date(2018, 1, 10)]))  # AEOUT's rule is keep
    with pytest.raises(ShareError, match="calendar dates"):
        deidentify("AE", table, _context("offset"))


def test_a_supplemental_value_without_its_qnam_has_no_rule():
    import pyarrow as pa

    from transforms.share.apply import missing_rules
    from transforms.share.rules import load_rules

    rules = load_rules(STUDY_SHARE / "deid_rules.csv")
    supp = pa.table({"QNAM": ["IEYN", None], "QVAL": ["Y", "Patient Wang Fang"]})
    missing = missing_rules({"SUPPDM": supp}, rules)
    assert missing == ["SUPPDM.QVAL:<no QNAM>"]


def test_a_rule_row_with_an_unquoted_comma_names_its_line(tmp_path):
    path = tmp_path / "rules.csv"
    path.write_text("dataset,variable,rule,comment\nDM,AGE,age_cap,capped, per HIPAA\n", encoding="utf-8")
    with pytest.raises(RuleError, match="line 2: more than 4 fields"):
        load_rules(path)
    path.write_bytes("dataset,variable,rule,comment\nDM,AGE,age_cap,\xe9\n".encode("latin-1"))
    with pytest.raises(RuleError, match="not UTF-8"):
        load_rules(path)
