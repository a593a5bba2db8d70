"""queries.xlsx: the full listing, a sheet per site in the eCRF's words, a sponsor sheet; one query per specimen."""
from __future__ import annotations

import openpyxl
import pandas as pd

from transforms.cdisc.findings import Finding, Findings
from transforms.quality.queries import build_queries, write_queries
from transforms.quality.validate import validate_raw_lab

SNAP = "NCT03668171_ODM_20190326T230034.xml"


def _findings() -> Findings:
    # Names expected below are those of studies/nct03668171/metadata.xml: StudyEventDef SE.W8 "Week 8 (Day 57)",
    # FormDef F.VS "Vital Signs", ItemDef I.VSDAT question "Date of vital signs"; F.AE "Adverse Events",
    # IG.AE repeating, I.AEENDAT question "End date" (sdtm_spec.csv: AEENDTC <- I.AEENDAT).
    return Findings([
        Finding("error", "RAW-EDC-DATE", SNAP, "SubjectKey=01-031 SE.W8[1]/F.VS[1]/IG.VS[1] (line 7429)", "I.VSDAT",
                "'Date of vital signs' must be a real calendar date written YYYY-MM-DD.", value="2018-02-30",
                site="SITE01", subjid="01-031", domain="EDC"),
        Finding("error", "SDTM-END-BEFORE-START", SNAP, "SubjectKey=01-046 SE.LOG[1]/F.AE/IG.AE[2] (line 10882)",
                "AEENDTC", "The end date 2018-08-05 is before the start date 2018-08-08.", value="=1+2",
                site="SITE01", subjid="01-046", domain="AE"),
        Finding("warning", "SDTM-NATURAL-KEY", SNAP, "SubjectKey=01-036 SE.LOG[1]/F.AE/IG.AE[1] (line 8716)",
                "AE.STUDYID USUBJID AEDECOD AESTDTC",
                "The natural key STUDYID + USUBJID + AEDECOD + AESTDTC should identify one AE record.",
                site="SITE01", subjid="01-036", domain="AE"),
        Finding("warning", "CODING-UNCODED", SNAP, "SubjectKey=02-005 SE.LOG[1]/F.CM/IG.CM[1] (line 1034)", "CMTRT",
                "verbatim term is not in the study's coding table cm_terms.csv", site="SITE02", subjid="02-005"),
        Finding("warning", "EC-VISIT-WINDOW", SNAP, "SubjectKey=02-008 SE.W2[1] (line 19813)", "SVSTDTC",
                "WEEK 2 took place on study day 22, outside its window (days 12 to 21).", value="2018-05-01",
                site="SITE02", subjid="02-008", visit="WEEK 2", domain="SV"),
    ])


def _sheet(path, name) -> pd.DataFrame:
    return pd.read_excel(path, sheet_name=name, dtype=str, keep_default_na=False)


def test_workbook_splits_site_and_sponsor_in_the_ecrf_words(tmp_path, study):
    queries = build_queries(_findings(), None, "2019-03-26")
    write_queries(queries, tmp_path, study)
    xlsx = tmp_path / "queries.xlsx"
    book = openpyxl.load_workbook(xlsx)
    assert book.sheetnames == ["queries", "SITE01", "SITE02", "sponsor"]
    assert len(_sheet(xlsx, "queries")) == 5  # every row, as queries.csv
    site1 = _sheet(xlsx, "SITE01").set_index("Subject")
    assert list(site1.index) == ["01-031", "01-046"]  # the natural-key finding is not the site's
    assert site1.loc["01-031", ["Visit", "Form", "Field"]].tolist() == ["Week 8 (Day 57)", "Vital Signs",
                                                                       "Date of vital signs"]
    assert site1.loc["01-046", ["Visit", "Form", "Field", "Record"]].tolist() == ["", "Adverse Events", "End date",
                                                                                "entry 2"]
    assert (site1[["Site response", "Responded by", "Response date"]] == "").all().all()
    site2 = _sheet(xlsx, "SITE02")
    assert site2["Visit"].tolist() == ["Week 2 (Day 15)"]
    sponsor = _sheet(xlsx, "sponsor")
    assert set(sponsor["Rule"]) == {"SDTM-NATURAL-KEY", "CODING-UNCODED"}
    assert (sponsor["Rule description"] != "").all()
    sheet = book["SITE01"]
    assert sheet.freeze_panes == "A2"
    assert all(c.font.bold for c in sheet[1])
    text_col = [c.value for c in sheet[1]].index("Query text")
    assert sheet.cell(row=2, column=text_col + 1).alignment.wrap_text
    assert sheet.column_dimensions["J"].width >= 40
    # formula-safe on every sheet: the value "=1+2" is a string cell with Excel's quote prefix
    for ws in book.worksheets:
        cells = [c for row in ws.iter_rows() for c in row]
        assert not [c.coordinate for c in cells if c.data_type == "f"]
        assert all(c.quotePrefix for c in cells if c.value == "=1+2")
    assert any(c.value == "=1+2" for c in book["SITE01"]["I"])


def test_without_a_study_the_workbook_is_the_listing(tmp_path):
    write_queries(build_queries(_findings(), None, "2019-03-26"), tmp_path)
    assert openpyxl.load_workbook(tmp_path / "queries.xlsx").sheetnames == ["queries"]


def test_a_specimen_sent_twice_gives_one_query(study):
    """lis-export.md: site 01 re-sends a draw; both rows of an unmapped test are findings, one query."""
    base = {"SITEID": "SITE02", "MRN": "M1", "SPECID": "A1", "COLLDTM": "03/12/2018 07:30", "COLLDTC": "",
            "REPORTDTC": "", "RANGE_LOW": "", "RANGE_HIGH": "", "FLAG": "", "STATUS": "F", "TEST": "LDH",
            "RESULT": "200", "UNIT": "U/L"}
    df = pd.DataFrame([base | {"REPORTDTM": "03/12/2018 10:30", "SRCFILE": "labs_2018-03-12.csv", "SRCLINE": 4},
                       base | {"REPORTDTM": "03/13/2018 09:00", "SRCFILE": "labs_2018-03-13.csv", "SRCLINE": 2}])
    findings = validate_raw_lab(df, study, "SITE02", {"M1": "02-001"})
    assert sorted(f.source for f in findings) == ["labs_2018-03-12.csv", "labs_2018-03-13.csv"]
    queries = build_queries(Findings(findings), None, "2018-03-13")
    assert len(queries) == 1 and queries.loc[0, "RULE"] == "RAW-LIS-UNKNOWN-TEST"


def test_site_sheet_names_never_replace_another_sheet():
    from transforms.quality.query_workbook import sheet_name

    taken = {"queries", "sponsor"}
    names = [sheet_name(s, taken) for s in ("Sponsor", "A/1", "A:1", "x" * 40, "x" * 40 + "y", "")]
    assert names == ["Sponsor~2", "A_1", "A_1~2", "x" * 31, "x" * 29 + "~2", "site"]
    assert all(len(n) <= 31 for n in names)


def test_workbook_bytes_depend_on_the_queries_and_the_data_cut_only(tmp_path, study, monkeypatch):
    import datetime as dt
    import zipfile
    from types import SimpleNamespace

    queries = build_queries(_findings(), None, "2019-03-26")
    write_queries(queries, tmp_path / "a", study, "2019-03-26")

    class Later(dt.datetime):  # the wall clock a year on: openpyxl stamps it unless the writer fixes it
        @classmethod
        def now(cls, tz=None):
            return dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=tz)

        @classmethod
        def utcnow(cls):
            return dt.datetime(2031, 5, 6, 7, 8, 9)

    clock = SimpleNamespace(datetime=Later, timezone=dt.timezone, date=dt.date)
    for module in ("openpyxl.packaging.core", "openpyxl.writer.excel"):
        monkeypatch.setattr(f"{module}.datetime", clock)
    write_queries(queries, tmp_path / "b", study, "2019-03-26")
    first, second = (tmp_path / d / "queries.xlsx" for d in "ab")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as z:
        core = z.read("docProps/core.xml").decode()
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert core.count("2019-03-26T00:00:00Z") == 2  # created and modified: the data cut
