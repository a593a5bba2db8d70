"""Interchange formats of a release: ADaM XPT, Dataset-JSON 1.1, Define-XML 2.1 and the data dictionary.

Expected values come from the standards (Dataset-JSON 1.1 JSON schema, Define-XML 2.1 XSD, CDISC CT
codes, SAS date arithmetic) and from the Parquet files of the release, never from the writer's output.
"""
from __future__ import annotations

import csv
import json
import re
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import jsonschema
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lxml import etree

from cdiscflow_tools.synth import synthesize
from transforms.pipeline.run import run_pipeline
from transforms.publish.dataset_json import dataset_json_schema
from transforms.publish.define_xml import define_schema_path
from transforms.publish.interchange import write_adam_xpt, write_interchange
from transforms.publish.xpt import read_xpt

N = 30
NOW = datetime(2026, 1, 1, tzinfo=UTC)
NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1",
      "xlink": "http://www.w3.org/1999/xlink"}
SAS_EPOCH = date(1960, 1, 1)


@pytest.fixture(scope="module")
def release(tmp_path_factory, study) -> Path:
    drop = tmp_path_factory.mktemp("drop")
    synthesize(drop, subjects=N, seed=11, snapshots=1, unblinded=True, plant_errors=True)
    return run_pipeline(drop, tmp_path_factory.mktemp("out"), study, now=NOW).release


@pytest.fixture(scope="module")
def blinded_release(tmp_path_factory, study, examples) -> Path:
    """The contracts' example drop: it has no randomization list, so its build is blinded."""
    return run_pipeline(examples, tmp_path_factory.mktemp("bout"), study, now=NOW).release


def parquets(release: Path) -> list[Path]:
    return sorted(release.glob("sdtm/*.parquet")) + sorted(release.glob("adam/*.parquet"))


def dataset_name(path: Path) -> str:
    return pq.read_schema(path).metadata[b"dataset"].decode()


def define(release: Path, standard: str) -> etree._Element:
    return etree.parse(str(release / standard / "define.xml")).getroot()


def test_every_dataset_has_a_dataset_json_valid_against_the_schema(release):
    validator = jsonschema.Draft201909Validator(dataset_json_schema())
    for path in parquets(release):
        doc = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        errors = [e.message for e in validator.iter_errors(doc)]
        assert not errors, (path.name, errors[:3])
        table = pq.read_table(path)
        assert doc["datasetJSONVersion"].startswith("1.1")
        assert doc["records"] == len(doc["rows"]) == table.num_rows, path.name
        assert [c["name"] for c in doc["columns"]] == table.column_names, path.name
        keys = [k for k in pq.read_schema(path).metadata[b"keys"].decode().split() if k in table.column_names]
        assert [c["name"] for c in sorted((c for c in doc["columns"] if "keySequence" in c),
                                          key=lambda c: c["keySequence"])] == keys, path.name
        for c in doc["columns"]:
            assert c["itemOID"] == f"IT.{dataset_name(path)}.{c['name']}"
            assert c["label"] == (table.schema.field(c["name"]).metadata[b"label"].decode() or c["name"])
        # Creation time is the data cut, not the wall clock.
        manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
        assert doc["datasetJSONCreationDateTime"] == f"{manifest['data_cut']}T00:00:00"


def test_dataset_json_values_are_the_parquet_values(release):
    adsl = pq.read_table(release / "adam" / "adsl.parquet")
    doc = json.loads((release / "adam" / "adsl.json").read_text(encoding="utf-8"))
    cols = {c["name"]: i for i, c in enumerate(doc["columns"])}
    col = doc["columns"][cols["TRTSDT"]]
    assert (col["dataType"], col["targetDataType"]) == ("date", "integer")
    expected = [None if d is None else d.isoformat() for d in adsl["TRTSDT"].to_pylist()]
    assert [r[cols["TRTSDT"]] for r in doc["rows"]] == expected
    assert [r[cols["USUBJID"]] for r in doc["rows"]] == adsl["USUBJID"].to_pylist()


def test_adam_xpt_reads_back_equal(release):
    for path in sorted((release / "adam").glob("*.parquet")):
        df, meta = read_xpt(path.with_suffix(".xpt"))
        table = pq.read_table(path)
        assert meta.table_name == dataset_name(path)
        # Every Parquet column, in order; text over 200 bytes would add continuation columns <NAME>1...
        assert [c for c in df.columns if c in table.column_names] == table.column_names, path.name
        for f in table.schema:
            assert len(f.name) <= 8 and len(meta.column_names_to_labels[f.name].encode()) <= 40
            assert meta.column_names_to_labels[f.name] == f.metadata[b"label"].decode()[:40]
            got, want = df[f.name].tolist(), table[f.name].to_pylist()
            if pa.types.is_date32(f.type):
                assert meta.original_variable_types[f.name] == "DATE9"
                assert [None if pd.isna(v) else v for v in got] == want, (path.name, f.name)
            elif pa.types.is_timestamp(f.type):
                assert meta.original_variable_types[f.name] == "DATETIME20"
                assert [None if pd.isna(v) else pd.Timestamp(v).to_pydatetime() for v in got] == want, f.name
            elif pa.types.is_string(f.type):
                assert all(g == ("" if w is None else w) or w.startswith(g) and len(w.encode()) > 200
                           for g, w in zip(got, want, strict=True)), (path.name, f.name)
            else:
                assert [None if pd.isna(v) else v for v in got] == want, (path.name, f.name)


def test_adam_xpt_dates_are_sas_day_numbers(release):
    raw, _ = read_xpt(release / "adam" / "adsl.xpt")
    import pyreadstat
    numbers, _ = pyreadstat.read_xport(release / "adam" / "adsl.xpt", disable_datetime_conversion=True)
    for d, n in zip(raw["TRTSDT"], numbers["TRTSDT"], strict=True):
        if not pd.isna(n):
            assert SAS_EPOCH + timedelta(days=int(n)) == d


def test_adam_text_over_200_bytes_continues_in_numbered_columns(tmp_path):
    term = "肝" * 70 + " " + "性脑病" * 10  # 210 + 1 + 90 bytes in UTF-8
    schema = pa.schema([pa.field("USUBJID", pa.string(), metadata={"label": "Unique Subject Identifier"}),
                        pa.field("AETERM", pa.string(), metadata={"label": "Reported Term for the Adverse Event"}),
                        pa.field("ASTDT", pa.date32(), metadata={"label": "Analysis Start Date"})],
                       metadata={"dataset": "ADAE", "label": "Adverse Events Analysis Dataset", "keys": "USUBJID"})
    pq.write_table(pa.table([["S-1", "S-2"], [term, "ASCITES"], [date(2018, 1, 5), None]], schema=schema),
                   tmp_path / "adae.parquet")
    write_adam_xpt(tmp_path, "2019-01-01")
    df, meta = read_xpt(tmp_path / "adae.xpt")
    assert list(df.columns) == ["USUBJID", "AETERM", "AETERM1", "ASTDT"]
    assert df["AETERM"].tolist() == ["肝" * 66, "ASCITES"]  # 198 bytes: the next 3-byte character would not fit
    assert df["AETERM1"].tolist() == ["肝" * 4 + " " + "性脑病" * 10, ""]
    assert meta.column_names_to_labels["AETERM1"] == "Reported Term for the Adverse Event 1"
    assert df["ASTDT"].iloc[0] == date(2018, 1, 5) and pd.isna(df["ASTDT"].iloc[1])


@pytest.mark.parametrize("standard", ["sdtm", "adam"])
def test_define_validates_against_define_2_1_schema(release, standard):
    schema = etree.XMLSchema(etree.parse(str(define_schema_path())))
    doc = etree.parse(str(release / standard / "define.xml"))
    assert schema.validate(doc), [str(e) for e in list(schema.error_log)[:5]]


@pytest.mark.parametrize("standard", ["sdtm", "adam"])
def test_define_describes_every_dataset_and_variable(release, standard):
    root = define(release, standard)
    items = {i.get("OID"): i for i in root.iterfind(".//odm:ItemDef", NS)}
    groups = {g.get("Name"): g for g in root.iterfind(".//odm:ItemGroupDef", NS)}
    files = sorted((release / standard).glob("*.parquet"))
    assert set(groups) == {dataset_name(p) for p in files}
    for path in files:
        schema = pq.read_schema(path)
        g = groups[dataset_name(path)]
        assert g.find("odm:Description/odm:TranslatedText", NS).text == schema.metadata[b"label"].decode()
        refs = [items[r.get("ItemOID")] for r in g.iterfind("odm:ItemRef", NS)]
        assert [i.get("Name") for i in refs] == schema.names, path.name
        for item, f in zip(refs, schema, strict=True):
            assert item.find("odm:Description/odm:TranslatedText", NS).text == f.metadata[b"label"].decode()
            if item.get("DataType") == "text":
                assert 1 <= int(item.get("Length")) <= 200
        leaf = g.find("def:leaf", NS).get(f"{{{NS['xlink']}}}href")
        assert (release / standard / leaf).exists()
        keys = [r for r in g.iterfind("odm:ItemRef", NS) if r.get("KeySequence")]
        assert [items[r.get("ItemOID")].get("Name") for r in sorted(keys, key=lambda r: int(r.get("KeySequence")))] \
            == [k for k in schema.metadata[b"keys"].decode().split() if k in schema.names]


def origin_of(root: etree._Element, oid: str) -> tuple[str, str]:
    o = root.find(f".//odm:ItemDef[@OID='{oid}']/def:Origin", NS)
    text = o.find("odm:Description/odm:TranslatedText", NS)
    return o.get("Type"), (text.text if text is not None else "")


def test_origins_follow_the_mapping_spec_and_the_adam_configuration(release):
    sdtm, adam = define(release, "sdtm"), define(release, "adam")
    assert origin_of(sdtm, "IT.DM.SEX")[0] == "Collected"  # typed on the Demographics form
    assert origin_of(sdtm, "IT.DM.AGEU")[0] == "Assigned"  # a constant, YEARS
    assert origin_of(sdtm, "IT.TS.TSVAL")[0] == "Protocol"
    assert origin_of(sdtm, "IT.LB.LBSTRESN")[0] == "Derived"  # SI conversion
    assert origin_of(sdtm, "IT.LB.LBORRES")[0] == "Collected"  # as the LIS reported it
    assert origin_of(adam, "IT.ADSL.SEX") == ("Predecessor", "DM.SEX")
    assert origin_of(adam, "IT.ADLB.SUBJID") == ("Predecessor", "ADSL.SUBJID")
    assert origin_of(adam, "IT.ADLB.LBSEQ") == ("Predecessor", "LB.LBSEQ")
    assert origin_of(adam, "IT.ADTTE.PARAMCD")[0] == "Assigned"
    assert origin_of(adam, "IT.ADTTE.CNSR")[0] == "Derived"
    allowed = {"Collected", "Derived", "Assigned", "Protocol", "Predecessor"}
    for root in (sdtm, adam):
        assert {o.get("Type") for o in root.iterfind(".//def:Origin", NS)} <= allowed
        assert not [t.text for t in root.iterfind(".//def:Origin//odm:TranslatedText", NS) if "ADaMIG" in t.text]
    # Every derived variable's method is in words, reachable from its ItemRef.
    methods = {m.get("OID"): m.find("odm:Description/odm:TranslatedText", NS).text
               for m in adam.iterfind(".//odm:MethodDef", NS)}
    ref = adam.find(".//odm:ItemGroupDef[@Name='ADTTE']/odm:ItemRef[@ItemOID='IT.ADTTE.AVAL']", NS)
    assert "STARTDT" in methods[ref.get("MethodOID")]


def test_codelists_hold_the_ct_terms_used(release):
    root = define(release, "sdtm")
    sex = root.find(".//odm:CodeList[@OID='CL.SEX']", NS)
    assert sex.find("odm:Alias", NS).get("Name") == "C66731"  # CDISC CT Sex codelist
    terms = {i.get("CodedValue"): i.find("odm:Alias", NS).get("Name") for i in sex.iterfind("odm:EnumeratedItem", NS)}
    used = set(pd.read_parquet(release / "sdtm" / "dm.parquet")["SEX"].dropna())
    assert set(terms) == used
    assert {k: v for k, v in {"F": "C16576", "M": "C20197"}.items() if k in used} == terms
    # Value-level metadata for LB by test code: one where clause per LBTESTCD in the data.
    tests = set(pd.read_parquet(release / "sdtm" / "lb.parquet")["LBTESTCD"].dropna())
    vl = root.find(".//def:ValueListDef[@OID='VL.LB.LBSTRESN']", NS)
    where = {r.find("def:WhereClauseRef", NS).get("WhereClauseOID") for r in vl.iterfind("odm:ItemRef", NS)}
    assert where == {f"WC.LB.LBTESTCD.{t}" for t in tests}
    assert root.find(".//odm:ItemDef[@OID='IT.LB.LBSTRESN']/def:ValueListRef", NS) is not None


def test_blinded_release_reveals_no_arm(blinded_release, study):
    assert json.loads((blinded_release / "manifest.json").read_text(encoding="utf-8"))["blinded"] is True
    arms = set(study.arms) | {a.arm for a in study.arms.values()} | {a.extrt for a in study.arms.values()}
    for standard in ("sdtm", "adam"):
        root = define(blinded_release, standard)
        coded = {i.get("CodedValue") for i in root.iter(f"{{{NS['odm']}}}CodeListItem", f"{{{NS['odm']}}}EnumeratedItem")}
        assert not coded & arms
        texts = [t.text or "" for t in root.iter(f"{{{NS['odm']}}}TranslatedText")
                 if t.getparent().getparent().tag in (f"{{{NS['odm']}}}MethodDef", f"{{{NS['def']}}}CommentDef")]
        leaked = [t for t in texts for a in arms if re.search(rf"(?<!\w){re.escape(a)}(?!\w)", t)]
        assert not leaked
    dictionary = (blinded_release / "reports" / "data_dictionary.csv").read_text(encoding="utf-8")
    assert not [a for a in arms if re.search(rf"(?<![\w-]){re.escape(a)}(?![\w-])", dictionary)]


def test_dictionary_lists_every_variable(release):
    with (release / "reports" / "data_dictionary.csv").open(encoding="utf-8") as f:
        rows = {(r["DATASET"], r["VARIABLE"]) for r in csv.DictReader(f)}
    expected = {(dataset_name(p), n) for p in parquets(release) for n in pq.read_schema(p).names}
    assert rows == expected
    page = (release / "reports" / "data_dictionary.html").read_text(encoding="utf-8")
    assert "<script" not in page and "http" not in page.split("<body>")[0]
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    files = set(manifest["interchange"]["files"])
    assert {"sdtm/define.xml", "adam/define.xml", "adam/adsl.xpt", "sdtm/dm.json", "adam/adtte.json",
            "reports/data_dictionary.html", "reports/data_dictionary.csv"} <= files
    assert all((release / f).exists() for f in files)
    assert "href='data_dictionary.html'" in (release / "reports" / "quality.html").read_text(encoding="utf-8")


def test_dictionary_escapes_labels_and_output_is_deterministic(release, study, tmp_path):
    for sub in ("sdtm", "adam"):
        shutil.copytree(release / sub, tmp_path / sub, ignore=shutil.ignore_patterns("*.json", "*.xml", "*.xpt")
                        if sub == "adam" else shutil.ignore_patterns("*.json", "*.xml"))
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    again = write_interchange(tmp_path, study, data_cut=manifest["data_cut"], blinded=False)
    assert sorted(again) == sorted(manifest["interchange"]["files"])
    assert [f for f in again if (tmp_path / f).read_bytes() != (release / f).read_bytes()] == []
    # A planted label: the page shows it as text, the CSV does not let a spreadsheet run it.
    path = tmp_path / "sdtm" / "dm.parquet"
    table = pq.read_table(path)
    f0 = table.schema.field("SEX")
    planted = table.schema.set(table.schema.get_field_index("SEX"),
                               f0.with_metadata({**f0.metadata, b"label": b"<script>alert(1)</script>"}))
    age = planted.field("AGE")
    planted = planted.set(planted.get_field_index("AGE"), age.with_metadata({**age.metadata, b"label": b"=1+1"}))
    pq.write_table(table.cast(planted), path)
    write_interchange(tmp_path, study, data_cut=manifest["data_cut"], blinded=False)
    page = (tmp_path / "reports" / "data_dictionary.html").read_text(encoding="utf-8")
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    with (tmp_path / "reports" / "data_dictionary.csv").open(encoding="utf-8") as f:
        labels = {r["VARIABLE"]: r["LABEL"] for r in csv.DictReader(f) if r["DATASET"] == "DM"}
    assert labels["SEX"] == "<script>alert(1)</script>" and labels["AGE"] == "'=1+1"


def test_adam_parquet_fields_record_the_define_origin_not_a_guide_section(release):
    """ADaMIG 1.3 / Define-XML 2.1: ADSL.AGE is copied from DM (Predecessor); TRTSDT is derived from EX."""
    fields = {f.name: {k.decode(): v.decode() for k, v in f.metadata.items()}
              for f in pq.read_schema(release / "adam" / "adsl.parquet")}
    assert fields["AGE"]["origin"] == "Predecessor" and fields["AGE"]["predecessor"] == "DM.AGE"
    assert fields["TRTSDT"]["origin"] == "Derived" and "predecessor" not in fields["TRTSDT"]
    assert all(f["origin"] in {"Predecessor", "Derived", "Assigned"} for f in fields.values())
    adtte = {f.name: f.metadata[b"origin"].decode() for f in pq.read_schema(release / "adam" / "adtte.parquet")}
    assert adtte["PARAMCD"] == "Assigned" and adtte["AVAL"] == "Derived"


def test_dataset_json_text_is_json_dumps_of_the_document(tmp_path, study):
    # The file's rows are written column-wise (Arrow kernels); json.dumps of the document is what they stand for.
    from transforms.publish.dataset_json import _dumps, dataset_json, dataset_json_text
    from transforms.publish.describe import Dataset, Description, Variable

    table = pa.table({
        "TEXT": pa.array(['plain', 'quote " and \\ back', "中文 é", None, "\\\"", "", "x\u2028y", "\x7f"]),
        "CTRL": pa.array(["tab\there", "new\nline", None, "\x01", "a", "b", "c", "d"]),  # escaped one by one
        "LARGE": pa.array(['a "large" string', None, "é", "", "b", "c", "d", "e"], pa.large_string()),
        "NUM": pa.array([1.0, -0.0, 0.0, 1e-07, 12345678901234567.0, float("nan"), None, 0.1 + 0.2]),
        "INT": pa.array([1, -2, None, 0, 2**40, 7, 8, 9], pa.int64()),
        "DT": pa.array([date(2018, 1, 2), None, date(1999, 12, 31), date(2020, 2, 29)] * 2, pa.date32()),
        "DTM": pa.array([datetime(2018, 1, 2, 3, 4, 5, 678), None] * 4, pa.timestamp("us")),
        "FLAG": pa.array([True, False, None] + [True] * 5),
    })
    pq.write_table(table, tmp_path / "xx.parquet")
    variables = [Variable(name=c, label=c, data_type="text", json_type="string", length=None, json_length=None)
                 for c in table.column_names]
    ds = Dataset("XX", "Test", "FINDINGS", "One record per row", [], "xx.json", table.num_rows, variables)
    desc = Description("SDTM", "SDTMIG", "3.4", tmp_path, [ds], {}, False)
    doc = dataset_json(ds, desc, study, "2019-03-26T00:00:00")
    assert dataset_json_text(ds, desc, study, "2019-03-26T00:00:00") == _dumps(doc)
    second = dict(zip(table.column_names, doc["rows"][1], strict=True))
    assert [second["TEXT"], second["NUM"], second["INT"]] == ['quote " and \\ back', -0.0, -2]
