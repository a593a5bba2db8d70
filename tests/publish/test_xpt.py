"""SAS XPT v5 copies of the SDTM datasets: limits in bytes, long text split per SDTMIG 4.5.3.2, same bytes twice."""
from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from transforms.pipeline.run import run_pipeline
from transforms.publish.parquet import read_labels, sdtm_table, write_table
from transforms.publish.xpt import (
    MAX_CHAR_BYTES,
    XptDataset,
    XptLimitError,
    check_limits,
    read_xpt,
    sas_stamp,
    split_text,
    write_release_xpt,
    write_xpt,
)

STUDY = "NCT03668171"
CHINESE = "头晕伴恶心"  # 5 characters, 15 bytes in UTF-8


def _parquet(folder: Path, domain: str, rows: list[dict]) -> Path:
    path = folder / f"{domain.lower()}.parquet"
    write_table(sdtm_table(pd.DataFrame(rows), domain), path)
    return path


def _ae(folder: Path, terms: list[str]) -> Path:
    rows = [{"STUDYID": STUDY, "DOMAIN": "AE", "USUBJID": f"{STUDY}-01-00{i + 1}", "AESEQ": 1, "AETERM": t,
             "AESTDTC": f"2018-01-0{i + 1}", "AESTDY": (i - 1) if i != 1 else None}
            for i, t in enumerate(terms)]
    return _parquet(folder, "AE", rows)


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def test_round_trip_names_labels_values_chinese_and_missing(tmp_path):
    pq = _ae(tmp_path, ["Headache", CHINESE, ""])
    assert write_xpt(pq, tmp_path / "ae.xpt", "2019-11-21") == ["AE"]
    df, meta = read_xpt(tmp_path / "ae.xpt")
    label, labels = read_labels(pq)
    assert meta.table_name == "AE" and meta.file_label == label == "Adverse Events"
    assert list(df.columns) == list(labels) and meta.column_names_to_labels == labels
    assert df["AETERM"].tolist() == ["Headache", CHINESE, ""]          # XPT has no null text
    assert meta.variable_storage_width["AETERM"] == _bytes(CHINESE)    # lengths count bytes, not characters
    assert meta.readstat_variable_types["AESEQ"] == "double"           # int64 in Parquet, double in XPT
    assert df["AESTDY"].iloc[0] == -1 and math.isnan(df["AESTDY"].iloc[1]) and df["AESTDY"].iloc[2] == 1


def test_same_input_same_bytes_and_header_dated_at_the_data_cut(tmp_path):
    pq = _ae(tmp_path, ["Headache"])
    write_xpt(pq, tmp_path / "a.xpt", "2019-11-21")
    time.sleep(1.1)  # ReadStat stamps the write time to the second
    write_xpt(pq, tmp_path / "b.xpt", "2019-11-21")
    a, b = (tmp_path / "a.xpt").read_bytes(), (tmp_path / "b.xpt").read_bytes()
    assert a == b
    assert a.count(b"21NOV19:00:00:00") == 4 and sas_stamp(None) == b"01JAN60:00:00:00"
    _, meta = read_xpt(tmp_path / "a.xpt")
    assert meta.creation_time == datetime(2019, 11, 21)


def test_split_text_fits_bytes_and_breaks_between_words_or_characters():
    words = " ".join(["hepatic"] * 60)
    pieces = split_text(words)
    assert all(_bytes(p) <= MAX_CHAR_BYTES for p in pieces)
    assert " ".join(pieces) == words and not any(p.startswith(" ") or p.endswith(" ") for p in pieces)
    chinese = "肝" * 150  # 450 bytes, no spaces
    pieces = split_text(chinese)
    assert [_bytes(p) for p in pieces] == [198, 198, 54] and "".join(pieces) == chinese
    assert split_text("short") == ["short"]


def test_long_text_continues_in_supp_records_per_sdtmig_4_5_3_2(tmp_path):
    long_term = "肝" * 100 + " " + "x" * 150  # 451 bytes
    pq = _ae(tmp_path, ["Headache", long_term])
    supp_rows = [{"STUDYID": STUDY, "RDOMAIN": "AE", "USUBJID": f"{STUDY}-01-001", "IDVAR": "AESEQ",
                  "IDVARVAL": "1", "QNAM": "AETRTEM", "QLABEL": "Treatment Emergent Flag", "QVAL": "Y",
                  "QORIG": "Derived"}]
    _parquet(tmp_path, "SUPPAE", supp_rows)
    assert write_xpt(pq, tmp_path / "ae.xpt") == ["AE", "SUPPAE"]
    ae, _ = read_xpt(tmp_path / "ae.xpt")
    supp, meta = read_xpt(tmp_path / "suppae.xpt")
    assert ae["AETERM"].tolist() == ["Headache", "肝" * 66]  # 198 bytes: a 67th character would make 201
    cont = supp[supp["QNAM"].str.startswith("AETERM")]
    assert cont["QNAM"].tolist() == ["AETERM1", "AETERM2"]
    assert cont["QLABEL"].tolist() == ["Reported Term for the Adverse Event 1", "Reported Term for the Adverse Event 2"]
    assert (cont[["USUBJID", "IDVAR", "IDVARVAL"]].drop_duplicates().values.tolist()
            == [[f"{STUDY}-01-002", "AESEQ", "1"]])
    assert ae["AETERM"][1] + "".join(cont["QVAL"].iloc[:1]) + " " + cont["QVAL"].iloc[1] == long_term
    assert "AETRTEM" in supp["QNAM"].tolist() and meta.table_name == "SUPPAE"
    # Writing the SUPP-- from its own Parquet gives the same file: the order of calls does not matter.
    first = (tmp_path / "suppae.xpt").read_bytes()
    assert write_xpt(tmp_path / "suppae.parquet", tmp_path / "suppae.xpt") == ["SUPPAE"]
    assert (tmp_path / "suppae.xpt").read_bytes() == first
    pd.testing.assert_frame_equal(pd.read_parquet(pq)[["AETERM"]].iloc[[1]].reset_index(drop=True),
                                  pd.DataFrame({"AETERM": [long_term]}), check_dtype=False)  # Parquet keeps it whole


def test_long_text_without_a_supp_parquet_creates_the_supp_xpt(tmp_path):
    pq = _ae(tmp_path, ["y" * 250])
    assert write_release_xpt(tmp_path) == ["AE", "SUPPAE"]
    supp, meta = read_xpt(tmp_path / "suppae.xpt")
    assert meta.file_label == "Supplemental Qualifiers for AE"
    assert supp[["QNAM", "QVAL", "QORIG"]].values.tolist() == [["AETERM1", "y" * 50, "CRF"]]
    assert not (tmp_path / "suppae.parquet").exists() and pq.exists()


def test_long_tsval_goes_to_tsval1_columns(tmp_path):
    title = "A " * 130  # 260 bytes
    rows = [{"STUDYID": STUDY, "DOMAIN": "TS", "TSSEQ": 1, "TSPARMCD": "TITLE", "TSPARM": "Trial Title",
             "TSVAL": title.strip()},
            {"STUDYID": STUDY, "DOMAIN": "TS", "TSSEQ": 1, "TSPARMCD": "NARMS", "TSPARM": "Planned Number of Arms",
             "TSVAL": "2"}]
    write_xpt(_parquet(tmp_path, "TS", rows), tmp_path / "ts.xpt")
    ts, meta = read_xpt(tmp_path / "ts.xpt")
    assert list(ts.columns)[list(ts.columns).index("TSVAL") + 1] == "TSVAL1"
    assert meta.column_names_to_labels["TSVAL1"] == "Parameter Value 1"
    assert ts["TSVAL1"].tolist()[1] == "" and (ts["TSVAL"][0] + " " + ts["TSVAL1"][0]) == title.strip()


def test_text_sdtmig_does_not_split_is_an_error_naming_dataset_variable_and_record(tmp_path):
    rows = [{"STUDYID": STUDY, "DOMAIN": "IE", "USUBJID": f"{STUDY}-01-007", "IESEQ": 1, "IETESTCD": "IN01",
             "IETEST": "入" * 70, "IECAT": "INCLUSION", "IEORRES": "N", "IESTRESC": "N"}]
    pq = _parquet(tmp_path, "IE", rows)
    with pytest.raises(XptLimitError, match=r"IE\.IETEST: 210 bytes in row 1 \(USUBJID=NCT03668171-01-007, IESEQ=1"):
        write_xpt(pq, tmp_path / "ie.xpt")
    assert not (tmp_path / "ie.xpt").exists()


def test_names_and_labels_beyond_xpt_limits_are_errors():
    frame = pd.DataFrame({"STUDYID": [STUDY]}, dtype=object)
    with pytest.raises(XptLimitError, match="dataset name"):
        check_limits(XptDataset("SUPPLEMENTAL", "x", {}, frame))
    with pytest.raises(XptLimitError, match="longer than 40 bytes"):
        check_limits(XptDataset("DM", "x", {"STUDYID": "标签" * 7}, frame))
    with pytest.raises(XptLimitError, match="variable names"):
        check_limits(XptDataset("DM", "x", {}, frame.rename(columns={"STUDYID": "STUDYIDEN"})))
    with pytest.raises(XptLimitError, match="IBM"):
        check_limits(XptDataset("VS", "x", {}, pd.DataFrame({"VSSTRESN": [1e-300]})))


def test_every_dataset_of_a_release_round_trips(study, examples, tmp_path):
    release = run_pipeline(examples, tmp_path / "out", study, now=datetime(2026, 1, 1, tzinfo=UTC)).release
    sdtm = release / "sdtm"
    names = write_release_xpt(sdtm, "2018-01-15")
    parquets = sorted(p.stem.upper() for p in sdtm.glob("*.parquet"))
    assert names == parquets
    for name in names:
        expected = pd.read_parquet(sdtm / f"{name.lower()}.parquet")
        got, meta = read_xpt(sdtm / f"{name.lower()}.xpt")
        assert meta.table_name == name and list(got.columns) == list(expected.columns)
        for col in expected.columns:
            if pd.api.types.is_numeric_dtype(expected[col]):
                pd.testing.assert_series_equal(got[col], expected[col].astype("float64"), check_names=False)
            else:
                assert got[col].tolist() == expected[col].fillna("").tolist(), (name, col)


def test_text_bytes_are_counted_in_utf8():
    # é is 2 bytes in UTF-8, 中 3 and a 1: the XPT 200-byte limit is on bytes, not characters.
    import pandas as pd

    from transforms.publish.xpt import XPT_ENCODING, byte_length

    assert XPT_ENCODING == "utf-8"
    assert byte_length(pd.Series(["é中a", "", "x" * 201], dtype=object, index=[5, 6, 7])).to_dict() == {5: 6, 6: 0, 7: 201}
