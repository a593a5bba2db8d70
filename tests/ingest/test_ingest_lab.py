"""LIS ingest: encodings, headers, corrections and cancellations, pending and malformed rows."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

import pytest

from transforms.cdisc.findings import Findings
from transforms.ingest.lab import LabFileError, ingest_site_labs, names_path, printed_path, read_lab_file
from transforms.quality.validate import validate_raw_lab

S1_HEAD = "病历号,姓名,标本号,采样时间,检验项目,结果,单位,参考范围,异常标志,报告时间"
S2_HEAD = "PatientID,AccessionNo,CollectedAt,TestCode,TestName,Result,Units,RefLow,RefHigh,Flag,Status,ResultedAt"


def site1(tmp_path: Path, name: str, rows: list[str]) -> Path:
    p = tmp_path / "lab" / "SITE01" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(("\r\n".join([S1_HEAD, *rows]) + "\r\n").encode("gb18030"))
    return p


def site2(tmp_path: Path, name: str, rows: list[str], bom: bool = False) -> Path:
    p = tmp_path / "lab" / "SITE02" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(("\ufeff" if bom else "").encode() + ("\n".join([S2_HEAD, *rows]) + "\n").encode("utf-8"))
    return p


def ingest(study, site, files, tmp_path):
    cfg = study.sites[site].lab
    stats, findings = ingest_site_labs(files, site, cfg, set(study.lab_tests(site)), tmp_path / f"lab_{site}.parquet")
    return stats, findings, pd.read_parquet(tmp_path / f"lab_{site}.parquet")


def test_site01_gb18030_and_correction_by_later_report(study, tmp_path):
    f1 = site1(tmp_path, "LIS_SITE01_20180105.csv", [
        "0010000001,张三,S1,2018/01/05 07:30,总胆红素,290.7,μmol/L,3.4-20.5,↑,2018/01/05 10:30",
        "0010000001,张三,S1,2018/01/05 07:30,甲胎蛋白,5.1,ng/mL,<7,,2018/01/05 10:30"])
    f2 = site1(tmp_path, "LIS_SITE01_20180106.csv", [
        "0010000001,张三,S1,2018/01/05 07:30,总胆红素,280.2,umol/L,3.4-20.5,↑,2018/01/06 08:00"])
    stats, findings, df = ingest(study, "SITE01", [f2, f1], tmp_path)
    assert stats["superseded"] == 1 and stats["current"] == 2
    # the superseded row leaves a trace, but asks nothing of the site (no query)
    assert [(x.severity, x.rule, x.source, x.record) for x in findings.items] == [
        ("info", "LIS-SUPERSEDED", f1.name, "line 2, specimen S1")]
    assert f"{f2.name} line 2" in findings.items[0].message
    bili = df[df["TEST"] == "总胆红素"].iloc[0]
    assert (bili["RESULT"], bili["SRCFILE"], bili["COLLDTC"]) == ("280.2", f2.name, "2018-01-05T07:30")
    afp = df[df["TEST"] == "甲胎蛋白"].iloc[0]
    assert (afp["RANGE_LOW"], afp["RANGE_HIGH"]) == ("", "<7")
    assert "张三" not in df.to_csv()  # the patient name is not staged with the results
    assert pd.read_parquet(names_path(tmp_path / "lab_SITE01.parquet"))["NAME"].tolist() == ["张三"]


def test_site02_corrections_cancellations_and_pending(study, tmp_path):
    f1 = site2(tmp_path, "labs_2018-03-12.csv", [
        "M1,A1,03/12/2018 07:30,TBIL,Total Bilirubin,5.5,mg/dL,0.2,1.2,H,F,03/12/2018 10:30",
        "M1,A1,03/12/2018 07:30,CREA,Creatinine,0.9,mg/dL,0.6,1.2,,F,03/12/2018 10:30",
        "M1,A1,03/12/2018 07:30,NA,Sodium,,mmol/L,135,145,,F,03/12/2018 10:30",
        "M1,A1,03/12/2018 07:30,ALB,Albumin,,g/dL,3.5,5.0,,F,03/12/2018 10:30"], bom=True)
    f2 = site2(tmp_path, "labs_2018-03-13.csv", [
        "M1,A1,03/12/2018 07:30,TBIL,Total Bilirubin,5.8,mg/dL,0.2,1.2,H,C,03/13/2018 09:00",
        "M1,A1,03/12/2018 07:30,CREA,Creatinine,,mg/dL,0.6,1.2,,X,03/13/2018 09:00",
        "M1,A1,03/12/2018 07:30,NA,Sodium,131,mmol/L,135,145,L,F,03/13/2018 09:00"])
    stats, findings, df = ingest(study, "SITE02", [f1, f2], tmp_path)
    got = {t: (r, st) for t, r, st in zip(df["TEST"], df["RESULT"], df["STATUS"], strict=True)}
    # TBIL corrected; CREA withdrawn, its cancellation stays (it becomes LB NOT DONE); NA (the test code,
    # not a missing value) finalised; ALB still pending
    assert got == {"TBIL": ("5.8", "C"), "CREA": ("", "X"), "NA": ("131", "F")}
    assert stats["cancelled"] == 1 and stats["pending_only"] == 1 and stats["superseded"] == 2
    # every row that is not current leaves an informational finding (no query)
    fate = {x.record: (x.severity, x.rule, x.message.split(": ", 1)[1]) for x in findings.items}
    assert fate == {
        "line 2, specimen A1": ("info", "LIS-SUPERSEDED", f"superseded by the later report in {f2.name} line 2"),
        "line 3, specimen A1": ("info", "LIS-SUPERSEDED", f"withdrawn by the cancellation in {f2.name} line 3"),
        "line 4, specimen A1": ("info", "LIS-SUPERSEDED", f"pending row; the current report is {f2.name} line 4"),
        "line 5, specimen A1": ("info", "LIS-PENDING", "no result reported yet (pending)"),
    }
    assert all(x.source == f1.name and x.site == "SITE02" and "M1" not in str(x) for x in findings.items)


def test_reused_specimen_number_is_two_draws_not_a_correction(study, tmp_path):
    # lis-export.md: a correction is the same specimen and test with a later report time. The same
    # number on a sample collected at another time is another draw: both stay.
    f1 = site1(tmp_path, "LIS_SITE01_20180108.csv", [
        "0010000001,张三,S7,2018/01/08 07:30,总胆红素,290.7,μmol/L,3.4-20.5,↑,2018/01/08 10:30",
        "0010000001,张三,S7,2018/01/08 14:00,总胆红素,250.0,μmol/L,3.4-20.5,↑,2018/01/08 16:30"])
    f2 = site1(tmp_path, "LIS_SITE01_20180109.csv", [  # a correction of the afternoon draw only
        "0010000001,张三,S7,2018/01/08 14:00,总胆红素,260.0,μmol/L,3.4-20.5,↑,2018/01/09 08:00"])
    stats, findings, df = ingest(study, "SITE01", [f1, f2], tmp_path)
    got = sorted(zip(df["COLLDTC"], df["RESULT"], df["SRCFILE"], df["SRCLINE"], strict=True))
    assert got == [("2018-01-08T07:30", "290.7", f1.name, 2), ("2018-01-08T14:00", "260.0", f2.name, 2)]
    assert stats["superseded"] == 1 and stats["current"] == 2
    assert [(x.rule, x.record) for x in findings.items] == [("LIS-SUPERSEDED", "line 3, specimen S7")]


def test_site02_status_applies_per_draw(study, tmp_path):
    # Status C / X apply to the same accession and test of the same collection: a C or X row with
    # another collection time is a draw of its own and withdraws nothing.
    f1 = site2(tmp_path, "labs_2018-03-12.csv", [
        "M1,A9,03/12/2018 07:30,TBIL,Total Bilirubin,5.5,mg/dL,0.2,1.2,H,F,03/12/2018 10:30",
        "M1,A9,03/12/2018 07:30,CREA,Creatinine,0.9,mg/dL,0.6,1.2,,F,03/12/2018 10:30"])
    f2 = site2(tmp_path, "labs_2018-03-13.csv", [
        "M1,A9,03/13/2018 07:30,TBIL,Total Bilirubin,4.9,mg/dL,0.2,1.2,H,C,03/13/2018 09:00",
        "M1,A9,03/13/2018 07:30,CREA,Creatinine,,mg/dL,0.6,1.2,,X,03/13/2018 09:00"])
    stats, findings, df = ingest(study, "SITE02", [f1, f2], tmp_path)
    assert len(df) == 4 and stats["superseded"] == 0 and not findings.items
    assert sorted(zip(df["TEST"], df["COLLDTC"], df["RESULT"], strict=True)) == [
        ("CREA", "2018-03-12T07:30", "0.9"), ("CREA", "2018-03-13T07:30", ""),
        ("TBIL", "2018-03-12T07:30", "5.5"), ("TBIL", "2018-03-13T07:30", "4.9")]


def test_unusable_rows_are_staged_raw_but_not_as_results(study, tmp_path):
    f = site2(tmp_path, "labs_2018-03-14.csv", [
        "M1,A2,03/14/2018 07:30,XYZ,Mystery,1,U/L,0,1,,F,03/14/2018 10:30",
        "M1,A2,14/03/2018 07:30,ALT,ALT,30,U/L,7,56,,F,03/14/2018 10:30",
        "M1,A2,03/14/2018 07:30,AST,AST,40",
        "M1,A2,03/14/2018 07:30,ALB,Albumin,3.1,g/dL,3.5,5.0,L,F,"])
    stats, findings, df = ingest(study, "SITE02", [f], tmp_path)
    assert df.empty and stats["unusable"] == 3
    raw = pd.read_parquet(printed_path(tmp_path / "lab_SITE02.parquet"))
    assert raw["SRCLINE"].tolist() == [2, 3, 5] and raw["COLLDTC"].isna().tolist() == [False, True, False]
    # the short record cannot be staged at all: it is a finding of the reader
    assert [(x.rule, x.record) for x in findings.items] == [("LIS-RECORD-SHAPE", "line 4")]
    assert all(x.source == f.name and "M1" not in str(x) for x in findings.items)
    # no row leaves without a finding: the raw layer reports each unusable row to the site
    raw_findings = validate_raw_lab(raw, study, "SITE02", {"M1": "02-001"})
    # specimen numbers only pseudonymised: printf A2 | openssl dgst -sha256 -hmac "$DEFAULT_KEY", 16 hex digits
    spec = "SPEC-ACEF5A99176214B8"
    assert sorted((x.rule, x.record, x.subjid) for x in raw_findings) == [
        ("RAW-LIS-DATETIME", f"line 3, specimen {spec}", "02-001"),
        ("RAW-LIS-DATETIME", f"line 5, specimen {spec}", "02-001"),
        ("RAW-LIS-UNKNOWN-TEST", f"line 2, specimen {spec}", "02-001")]


def test_unreadable_files_are_blocking(study, tmp_path):
    bad = tmp_path / "LIS_SITE01_20180107.csv"
    bad.write_bytes(b"\xff\xfe\x00garbage\x81")
    with pytest.raises(LabFileError, match="not readable as gb18030"):
        read_lab_file(bad, "SITE01", study.sites["SITE01"].lab, Findings())
    wrong = site2(tmp_path, "labs_2018-03-15.csv", [])
    wrong.write_text("Patient,Accession\n", encoding="utf-8")
    with pytest.raises(LabFileError, match="header"):
        read_lab_file(wrong, "SITE02", study.sites["SITE02"].lab, Findings())


def test_values_stripped_ranges_split_blank_lines_skipped(study, tmp_path):
    f = site1(tmp_path, "LIS_SITE01_20180105.csv", [
        "0010000001,张三,S1,2018/01/05 07:30,总胆红素,\u3000290.7\u3000,μmol/L, 3.4-20.5 ,↑,2018/01/05 10:30",
        "",
        ",,,,,,,,,\u3000",
        "0010000001,张三,S1,2018/01/05 07:30,甲胎蛋白,5.1,ng/mL,5-,,2018/01/05 10:30",
        "0010000001,,S1,2018/01/05 07:30,白蛋白,30,g/L,-5-10,,2018/01/5 9:30",
        "0010000001,张三,S1"])
    findings, names = Findings(), set()
    rows = read_lab_file(f, "SITE01", study.sites["SITE01"].lab, findings, names).to_pydict()
    # lines 3 and 4 are blank (nothing but whitespace, U+3000 included); line 7 has 3 of 10 fields
    assert rows["SRCLINE"] == [2, 5, 6]
    assert [(x.rule, x.record) for x in findings.items] == [("LIS-RECORD-SHAPE", "line 7")]
    # every value stripped of Unicode whitespace (str.strip: U+3000 is whitespace)
    assert rows["RESULT"] == ["290.7", "5.1", "30"]
    # RANGE split at its first "-"; without a high part the whole text is the high limit
    assert list(zip(rows["RANGE_LOW"], rows["RANGE_HIGH"], strict=True)) == [
        ("3.4", "20.5"), ("", "5-"), ("", "5-10")]
    # %d and %H accept one digit (strptime): 2018/01/5 9:30 is 5 January 09:30
    assert rows["REPORTDTC"] == ["2018-01-05T10:30", "2018-01-05T10:30", "2018-01-05T09:30"]
    assert rows["SITEID"] == ["SITE01"] * 3 and rows["SRCFILE"] == [f.name] * 3
    assert "NAME" not in rows and names == {("0010000001", "张三")}


def test_whitespace_stripped_is_what_str_strip_strips():
    # Python's own definition (str.isspace over every code point), not a list copied from the code.
    from transforms.ingest.lab import WHITESPACE

    assert set(WHITESPACE) == {c for c in map(chr, range(0x110000)) if c.isspace()}
