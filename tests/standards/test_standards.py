"""Tests for transforms.standards: SDTMIG 3.4 metadata and CDISC SDTM CT 2025-03-25.

Expected values were checked by hand against the SDTMIG v3.4 domain specification tables and
against the NCI EVS SDTM Terminology file of 2025-03-25, not copied from the package's CSVs.
"""

from __future__ import annotations

import csv
import io
import lzma
from importlib import resources

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from transforms.standards import (
    CT_VERSION,
    SDTMIG_VERSION,
    arrow_schema,
    codelist,
    codelist_names,
    dataset_meta,
    domains,
    is_term,
    paired_codelist,
    paired_test_name,
    pyarrow_type,
    term_code,
    variable_meta,
)

REQUIRED_DOMAINS = {
    "DM", "SUPPQUAL", "IE", "MH", "EX", "VS", "LB", "AE", "CM", "DS",
    "SV", "SE", "RS", "FA", "PR", "DD", "TA", "TE", "TV", "TI", "TS",
}  # fmt: skip
TRIAL_DESIGN = {"TA", "TE", "TV", "TI", "TS"}


def _var(domain: str, name: str):
    return {v.name: v for v in variable_meta(domain)}[name]


# --- SDTMIG metadata -------------------------------------------------------------------------


def test_versions() -> None:
    assert SDTMIG_VERSION == "3.4"
    assert CT_VERSION == "2025-03-25"


def test_all_requested_domains_present() -> None:
    assert REQUIRED_DOMAINS <= set(domains())


def test_lbstresn() -> None:
    v = _var("LB", "LBSTRESN")
    assert v.label == "Numeric Result/Finding in Standard Units"
    assert v.type == "Num"
    assert v.core == "Exp"
    assert pyarrow_type(v) == pa.float64()


def test_dm_rfxstdtc_and_order() -> None:
    v = _var("DM", "RFXSTDTC")
    assert v.label == "Date/Time of First Study Treatment"
    assert v.type == "Char"
    names = [v.name for v in variable_meta("DM")]
    assert names[:8] == [
        "STUDYID", "DOMAIN", "USUBJID", "SUBJID", "RFSTDTC", "RFENDTC", "RFXSTDTC", "RFXENDTC",
    ]  # fmt: skip
    assert names[-3:] == ["COUNTRY", "DMDTC", "DMDY"]
    assert [v.order for v in variable_meta("DM")] == list(range(1, len(names) + 1))


def test_dm_controlled_variables() -> None:
    assert _var("DM", "SEX").codelist == "SEX"
    assert _var("DM", "SEX").core == "Req"
    assert _var("DM", "AGEU").codelist == "AGEU"
    assert _var("DM", "ARMNRS").codelist == "ARMNULRS"
    assert _var("DM", "AGE").type == "Num"


def test_ae_required_variables() -> None:
    req = {v.name for v in variable_meta("AE") if v.core == "Req"}
    assert req == {"STUDYID", "DOMAIN", "USUBJID", "AESEQ", "AETERM", "AEDECOD"}
    assert _var("AE", "AESER").codelist == "NY"
    assert _var("AE", "AESEV").codelist == "AESEV"
    assert _var("AE", "AEOUT").codelist == "OUT"


def test_selected_labels() -> None:
    expected = {
        ("LB", "LBTESTCD"): "Lab Test or Examination Short Name",
        ("LB", "LBORNRLO"): "Reference Range Lower Limit in Orig Unit",
        ("LB", "LBSTRESC"): "Character Result/Finding in Std Format",
        ("VS", "VSTESTCD"): "Vital Signs Test Short Name",
        ("VS", "VSDTC"): "Date/Time of Measurements",
        ("AE", "AESDISAB"): "Persist or Signif Disability/Incapacity",
        ("CM", "CMTRT"): "Reported Name of Drug, Med, or Therapy",
        ("DS", "DSTERM"): "Reported Term for the Disposition Event",
        ("MH", "MHTERM"): "Reported Term for the Medical History",
        ("EX", "EXTRT"): "Name of Treatment",
        ("SV", "SVSTDTC"): "Start Date/Time of Observation",
        ("RS", "RSTESTCD"): "Assessment Short Name",
        ("FA", "FAOBJ"): "Object of the Observation",
        ("DD", "DDTESTCD"): "Death Detail Assessment Short Name",
        ("TS", "TSPARMCD"): "Trial Summary Parameter Short Name",
        ("TI", "IETESTCD"): "Incl/Excl Criterion Short Name",
        ("SUPPQUAL", "QNAM"): "Qualifier Variable Name",
    }
    for (domain, name), label in expected.items():
        assert _var(domain, name).label == label, (domain, name)


def test_structural_rules_every_domain() -> None:
    for domain in domains():
        variables = variable_meta(domain)
        names = [v.name for v in variables]
        assert len(names) == len(set(names)), f"duplicate variable in {domain}"
        assert [v.order for v in variables] == list(range(1, len(variables) + 1)), domain
        for v in variables:
            assert 1 <= len(v.name) <= 8, (domain, v.name)
            assert v.name.isupper() and v.name.replace("_", "").isalnum(), (domain, v.name)
            assert 0 < len(v.label) <= 40, (domain, v.name, v.label)
            assert v.type in {"Char", "Num"}, (domain, v.name)
            assert v.core in {"Req", "Exp", "Perm"}, (domain, v.name)
            assert v.role, (domain, v.name)
            assert v.codelist == (v.codelists[0] if v.codelists else None)
        assert names[0] == "STUDYID"
        if domain == "CO":  # SDTMIG 3.4 section 5.1: RDOMAIN sits between DOMAIN and USUBJID
            assert names[1:4] == ["DOMAIN", "RDOMAIN", "USUBJID"], domain
        elif domain not in TRIAL_DESIGN | {"SUPPQUAL"}:
            assert names[1:3] == ["DOMAIN", "USUBJID"], domain
        if "DOMAIN" in names:
            # the DOMAIN value itself must be a CT term for non-SUPP domains
            assert is_term("DOMAIN", domain), domain


def test_every_codelist_named_exists_in_ct() -> None:
    names = set(codelist_names())
    for domain in domains():
        for v in variable_meta(domain):
            for cl in v.codelists:
                assert cl in names, (domain, v.name, cl)


def test_multi_codelist_variables() -> None:
    assert _var("DS", "DSDECOD").codelists == ("NCOMPLT", "PROTMLST", "OTHEVENT")
    assert _var("RS", "RSCAT").codelists == ("ONCRSCAT", "CCCAT")


def test_dataset_meta() -> None:
    dm = dataset_meta("DM")
    assert (dm.label, dm.class_, dm.structure) == (
        "Demographics",
        "SPECIAL PURPOSE",
        "One record per subject",
    )
    assert dm.keys == ("STUDYID", "USUBJID")
    assert dataset_meta("lb").label == "Laboratory Test Results"
    assert dataset_meta("AE").class_ == "EVENTS"
    assert dataset_meta("CM").class_ == "INTERVENTIONS"
    assert dataset_meta("TS").class_ == "TRIAL DESIGN"
    assert dataset_meta("RS").label == "Disease Response and Clin Classification"
    for domain in domains():
        meta = dataset_meta(domain)
        names = {v.name for v in variable_meta(domain)}
        assert set(meta.keys) <= names, domain
        if domain != "SUPPQUAL":
            assert len(meta.label) <= 40, domain


def test_supp_domains_use_suppqual() -> None:
    supp = [v.name for v in variable_meta("SUPPAE")]
    assert supp == [
        "STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL",
        "QNAM", "QLABEL", "QVAL", "QORIG", "QEVAL",
    ]  # fmt: skip
    assert supp == [v.name for v in variable_meta("SUPPQUAL")]
    meta = dataset_meta("SUPPDM")
    assert meta.label == "Supplemental Qualifiers for DM"
    assert meta.class_ == "RELATIONSHIP"


def test_unknown_domain_raises() -> None:
    with pytest.raises(KeyError):
        variable_meta("ZZ")


def test_variable_meta_returns_copy() -> None:
    first = variable_meta("AE")
    first.clear()
    assert variable_meta("AE")


def test_pyarrow_types() -> None:
    assert pyarrow_type(_var("AE", "AETERM")) == pa.string()
    assert pyarrow_type(_var("AE", "AESTDY")) == pa.int64()
    assert pyarrow_type(_var("AE", "AEPTCD")) == pa.int64()
    assert pyarrow_type(_var("TA", "TAETORD")) == pa.int64()
    assert pyarrow_type(_var("LB", "VISITDY")) == pa.int64()
    # this project numbers --SEQ 1..n; unplanned VISITNUM values (e.g. 3.1) need decimals
    assert pyarrow_type(_var("LB", "LBSEQ")) == pa.int64()
    assert pyarrow_type(_var("LB", "VISITNUM")) == pa.float64()
    assert pyarrow_type(_var("DM", "AGE")) == pa.float64()


def test_arrow_schema_parquet_round_trip(tmp_path) -> None:
    schema = arrow_schema("VS", ["STUDYID", "VSSEQ", "VSSTRESN", "VISITNUM", "VSDY", "DOMAIN"])
    assert schema.names == ["STUDYID", "DOMAIN", "VSSEQ", "VSSTRESN", "VISITNUM", "VSDY"]
    table = pa.Table.from_pydict(
        {
            "STUDYID": ["S1", "S1"],
            "DOMAIN": ["VS", "VS"],
            "VSSEQ": [1, 2],
            "VSSTRESN": [120.5, None],
            "VISITNUM": [1.0, 3.1],
            "VSDY": [1, None],
        },
        schema=schema,
    )
    path = tmp_path / "vs.parquet"
    pq.write_table(table, path)
    back = pq.read_table(path)
    assert back.schema.equals(schema, check_metadata=True)
    assert back.to_pydict() == table.to_pydict()
    assert back.schema.field("VSDY").metadata[b"label"] == b"Study Day of Vital Signs"
    with pytest.raises(KeyError):
        arrow_schema("VS", ["NOTAVAR"])


# --- Controlled terminology ----------------------------------------------------------------


def test_ct_terms_from_file() -> None:
    assert is_term("UNIT", "umol/L")
    assert not is_term("UNIT", "UMOL/L")  # submission values are case-sensitive
    assert is_term("LBTESTCD", "BILI")
    assert is_term("NCOMPLT", "LOST TO FOLLOW-UP")
    assert set(codelist("NY").terms) == {"Y", "N", "U", "NA"}
    assert term_code("NY", "Y") == "C49488"
    assert term_code("LBTESTCD", "BILI") == "C38037"
    assert term_code("UNIT", "not-a-unit") is None


def test_study_terms_listed_in_ct_readme() -> None:
    lab_codes = "BILI BILDIR CREAT INR PT PTA ALB ALT AST SODIUM WBC PLAT HGB AMMONIA AFP"
    for testcd in lab_codes.split():
        assert is_term("LBTESTCD", testcd), testcd
    for unit in ("umol/L", "g/L", "10^9/L", "mmol/L", "U/L", "%", "s", "mg/dL", "g/dL"):
        assert is_term("UNIT", unit), unit


def test_codelist_lookup() -> None:
    unit = codelist("UNIT")
    assert unit.code == "C71620"
    assert unit.extensible is True
    assert codelist("C71620") is unit
    assert codelist("LBTESTCD").code == "C65047"
    assert codelist("SEX").code == "C66731"
    assert codelist("NY").extensible is False
    assert unit.terms["umol/L"].preferred_term == "Micromole per Liter"
    with pytest.raises(KeyError):
        codelist("NOSUCHCL")


def test_paired_test_names() -> None:
    assert paired_test_name("LBTESTCD", "BILI") == "Bilirubin"
    assert paired_test_name("LBTESTCD", "ALT") == "Alanine Aminotransferase"
    assert paired_test_name("VSTESTCD", "SYSBP") == "Systolic Blood Pressure"
    assert paired_test_name("FATESTCD", "SEV") == "Severity/Intensity"
    assert paired_test_name("DTHDXCD", "PRCDTH") == "Primary Cause of Death"
    assert paired_test_name("TSPARMCD", "AGEMIN") == "Planned Minimum Age of Subjects"
    assert paired_codelist("WHEG01TC") == "WHEG01TN"
    assert paired_codelist("ONCRTSCD") == "ONCRTS"
    assert paired_codelist("DTHDXCD") == "DTHDX"
    with pytest.raises(KeyError):
        paired_test_name("LBTESTCD", "NOTATEST")


def test_ct_matches_raw_file_counts() -> None:
    # Independent reading of the shipped file: 1,158 codelists and 44,856 rows (NCI README).
    raw = resources.files("transforms.standards").joinpath(f"sdtm-terminology-{CT_VERSION}.txt.xz")
    text = lzma.decompress(raw.read_bytes()).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text), delimiter="\t"))[1:]
    assert len(rows) == 44856
    assert sum(1 for r in rows if r[1] == "") == 1158 == len(codelist_names())
    ny_rows = {r[4] for r in rows if r[1] == "C66742"}
    assert ny_rows == set(codelist("NY").terms)
