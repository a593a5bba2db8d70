"""The raw suites check items in groups (a codelist, a data type, a length, a lab unit), each item keeping its message.

Expected messages are written from metadata.xml's question texts and codelists and from the SITE02 lab map.
"""
from __future__ import annotations

import pandas as pd

from transforms.quality.gx_runner import load_suite
from transforms.quality.validate import validate_raw_edc, validate_raw_lab

# The item group of each item used below (metadata.xml ItemGroupDef).
GROUP = {"I.SEX": "IG.DM", "I.AGE": "IG.DM", "I.BRTHDAT": "IG.DM", "I.INITIALS": "IG.DM", "I.MRN": "IG.DM",
         "I.AESEV": "IG.AE", "I.AESER": "IG.AE", "I.AETERM": "IG.AE", "I.PULSE": "IG.VS", "I.WEIGHT": "IG.VS",
         "I.VSDAT": "IG.VS", "I.MHSTDAT": "IG.MH", "I.EXSTDTC": "IG.EX", "I.EXENDTC": "IG.EX", "I.EXKIT": "IG.EX"}
GOOD = [("I.AESEV", "3"), ("I.SEX", "1"), ("I.AESER", "Y"), ("I.AGE", "45"), ("I.WEIGHT", "70.5"),
        ("I.VSDAT", "2018-02-28"), ("I.BRTHDAT", "1960"), ("I.BRTHDAT", "1960-02"), ("I.MHSTDAT", "2017-12-31"),
        ("I.EXSTDTC", "2018-03-01T10:00"), ("I.EXENDTC", "2018-03-01T10:00:30"), ("I.EXKIT", "K123456789"),
        ("I.INITIALS", "ABCD")]
FREE_TEXT = "Fever " * 34  # 204 characters
BAD = [
    ("I.SEX", "3"),  # a code of I.AESEV, not of I.SEX: the allowed set is the item's own
    ("I.AESER", "y"),
    ("I.PULSE", "72.5"),
    ("I.WEIGHT", "70,5"),
    ("I.VSDAT", "2018-02-30"),
    ("I.BRTHDAT", "1960-13"),
    ("I.MHSTDAT", "2018-02-30"),
    ("I.EXSTDTC", "2018-03-01T10"),
    ("I.EXENDTC", "2018-03-01T24:00"),
    ("I.INITIALS", "K1234"),  # five characters: fits I.EXKIT's 10, not the initials' 4
    ("I.AETERM", FREE_TEXT),
    ("I.MRN", "0010000001XYZ"),
]
EXPECTED = sorted([
    ("RAW-EDC-CODELIST", "I.SEX", "3", "The answer to 'Sex' is not one of the eCRF choices: 1 (Male), 2 (Female)."),
    ("RAW-EDC-CODELIST", "I.AESER", "y",
     "The answer to 'Serious?' is not one of the eCRF choices: Y (Yes), N (No)."),
    ("RAW-EDC-INTEGER", "I.PULSE", "72.5", "'Pulse rate' must be a whole number (decimal point '.')."),
    ("RAW-EDC-FLOAT", "I.WEIGHT", "70,5", "'Weight' must be a number (decimal point '.')."),
    ("RAW-EDC-DATE", "I.VSDAT", "2018-02-30", "'Date of vital signs' must be a real calendar date written YYYY-MM-DD."),
    ("RAW-EDC-DATE", "I.BRTHDAT", "1960-13",
     "'Date of birth (year-month allowed)' must be a real date written YYYY, YYYY-MM or YYYY-MM-DD."),
    ("RAW-EDC-DATE", "I.MHSTDAT", "2018-02-30", "'Start date' must be a real date written YYYY, YYYY-MM or YYYY-MM-DD."),
    ("RAW-EDC-DATETIME", "I.EXSTDTC", "2018-03-01T10",
     "'Infusion start date and time' must be a real date and time written YYYY-MM-DDThh:mm."),
    ("RAW-EDC-DATETIME", "I.EXENDTC", "2018-03-01T24:00",
     "'Infusion end date and time' must be a real date and time written YYYY-MM-DDThh:mm."),
    # identifier and free-text items: the value is never shown
    ("RAW-EDC-LENGTH", "I.INITIALS", "", "'Subject initials' is longer than the 4 characters the eCRF allows."),
    ("RAW-EDC-LENGTH", "I.AETERM", "", "'Adverse event term' is longer than the 200 characters the eCRF allows."),
    ("RAW-EDC-LENGTH", "I.MRN", "",
     "'Hospital medical record number' is longer than the 12 characters the eCRF allows."),
])


def _items(rows: list[tuple[str, str]]) -> pd.DataFrame:
    base = {"SUBJECTKEY": "01-001", "SITEID": "SITE01", "EVENTOID": "SE.LOG", "EVENTREPEAT": "1", "FORMOID": "F.AE",
            "FORMREPEAT": "1", "SRCFILE": "NCT03668171_ODM_20180630T230005.xml", "VALID": True}
    return pd.DataFrame([base | {"IGOID": GROUP[i], "IGREPEAT": str(n), "ITEMOID": i, "VALUE": v, "SRCLINE": n}
                         for n, (i, v) in enumerate(rows, start=10)])


def test_grouped_raw_edc_suite_flags_each_data_type_with_the_items_message(study, tmp_path):
    found = validate_raw_edc(_items(GOOD + BAD), study, tmp_path)
    assert sorted((f.rule, f.field, f.value, f.message) for f in found) == EXPECTED
    # the GX results behind the Data Docs: the free text and the MRN never appear
    results = (tmp_path / "raw_edc_items.json").read_text(encoding="utf-8")
    assert "Fever Fever" not in results and "0010000001" not in results and "K1234" not in results


def test_raw_suites_have_no_expectation_per_item(study):
    for name, key in (("raw_edc_items", "ITEMOID"), ("raw_lab_site02", "TEST")):
        suite = load_suite(study, name)
        conditions = [e["kwargs"].get("row_condition", "") for e in suite["expectations"]]
        assert not [c for c in conditions if f'{key}==' in c], name
        assert len(suite["expectations"]) < 25, name


def test_grouped_lab_unit_check_keeps_the_tests_message(study):
    base = {"SITEID": "SITE02", "MRN": "M1", "SPECID": "A1", "COLLDTM": "03/12/2018 07:30",
            "REPORTDTM": "03/12/2018 10:30", "COLLDTC": "", "REPORTDTC": "", "RANGE_LOW": "", "RANGE_HIGH": "",
            "FLAG": "", "STATUS": "F", "SRCFILE": "labs_2018-03-12.csv"}
    # U/L is ALT's unit, not bilirubin's; an empty unit is INR's and nothing else's
    rows = [("ALT", "30", "U/L"), ("TBIL", "1.2", "U/L"), ("INR", "1.1", ""), ("DBIL", "0.2", "")]
    df = pd.DataFrame([base | {"TEST": t, "RESULT": r, "UNIT": u, "SRCLINE": n} for n, (t, r, u) in enumerate(rows, 2)])
    got = sorted((f.rule, f.value, f.message) for f in validate_raw_lab(df, study, "SITE02"))
    assert got == [
        ("RAW-LIS-UNIT", "", "The unit of Direct Bilirubin (DBIL) must be mg/dL; results in another unit cannot be "
         "converted."),
        ("RAW-LIS-UNIT", "U/L", "The unit of Bilirubin (TBIL) must be mg/dL; results in another unit cannot be "
         "converted."),
    ]

