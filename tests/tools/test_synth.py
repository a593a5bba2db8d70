"""Tests of the synthetic trial generator (cdiscflow_tools.synth) against the study's export contracts."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from lxml import etree

from transforms.config import load_study
from cdiscflow_tools.synth import AE_TERMS, CM_TERMS, TRUTH_FILE, synthesize, verbatim_dictionary
from odm_schema import odm_xsd

NS = {"o": "http://www.cdisc.org/ns/odm/v1.3"}
METADATA = load_study("nct03668171").metadata_path  # what the generator reads too
SHARED_STUDY = Path(__file__).resolve().parents[3] / "shared" / "study" / "NCT03668171"
HEADER01 = "病历号,姓名,标本号,采样时间,检验项目,结果,单位,参考范围,异常标志,报告时间"
HEADER02 = "PatientID,AccessionNo,CollectedAt,TestCode,TestName,Result,Units,RefLow,RefHigh,Flag,Status,ResultedAt"
SITE01_TESTS = {"总胆红素", "直接胆红素", "丙氨酸氨基转移酶", "天门冬氨酸氨基转移酶", "白蛋白", "肌酐",
                "国际标准化比值", "凝血酶原时间", "凝血酶原活动度", "钠", "白细胞计数", "血小板计数", "血红蛋白",
                "血氨", "甲胎蛋白"}
SITE02_TESTS = {"TBIL", "DBIL", "ALT", "AST", "ALB", "CREA", "INR", "PT", "PTA", "NA", "WBC", "PLT", "HGB", "NH3",
                "AFP"}
PLANTED_KINDS = {"invalid_codelist_value", "invalid_date", "lis_unknown_test", "lis_orphan_specimen",
                 "stratum_meld_mismatch", "visit_out_of_window", "ae_end_before_start", "infusion_out_of_order",
                 "implausible_lab_value", "identifier_in_free_text", "fixed_in_later_snapshot"}
N = 30


# ---- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def drop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("drop")
    synthesize(out, subjects=N, snapshots=2)
    return out


@pytest.fixture(scope="module")
def clean_drop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clean")
    synthesize(out, subjects=N, snapshots=1, unblinded=False, plant_errors=False)
    return out


@pytest.fixture(scope="module")
def metadata() -> dict:
    """An independent reading of metadata.xml (not the generator's own loader)."""
    root = etree.parse(str(METADATA)).getroot()
    mdv = root.find("o:Study/o:MetaDataVersion", NS)
    md: dict = {"events": {}, "forms": {}, "groups": {}, "items": {}, "codelists": {}}
    for ev in mdv.findall("o:StudyEventDef", NS):
        md["events"][ev.get("OID")] = {r.get("FormOID") for r in ev.findall("o:FormRef", NS)}
    for f in mdv.findall("o:FormDef", NS):
        md["forms"][f.get("OID")] = {r.get("ItemGroupOID") for r in f.findall("o:ItemGroupRef", NS)}
    for g in mdv.findall("o:ItemGroupDef", NS):
        md["groups"][g.get("OID")] = {r.get("ItemOID") for r in g.findall("o:ItemRef", NS)}
    for it in mdv.findall("o:ItemDef", NS):
        cl = it.find("o:CodeListRef", NS)
        md["items"][it.get("OID")] = (it.get("DataType"), None if cl is None else cl.get("CodeListOID"))
    for cl in mdv.findall("o:CodeList", NS):
        md["codelists"][cl.get("OID")] = {c.get("CodedValue") for c in cl.findall("o:CodeListItem", NS)}
    return md


def truth_of(out: Path) -> dict:
    return json.loads((out / TRUTH_FILE).read_text(encoding="utf-8"))


def odm_files(out: Path) -> list[Path]:
    return sorted((out / "edc").glob("*.xml"))


def item_rows(path: Path):
    """Yield (subject, event, form, group, group repeat, item element) for every ItemData."""
    root = etree.parse(str(path)).getroot()
    for sd in root.iterfind("o:ClinicalData/o:SubjectData", NS):
        for se in sd.iterfind("o:StudyEventData", NS):
            for fd in se.iterfind("o:FormData", NS):
                for ig in fd.iterfind("o:ItemGroupData", NS):
                    for it in ig.iterfind("o:ItemData", NS):
                        yield (sd.get("SubjectKey"), se.get("StudyEventOID"), fd.get("FormOID"),
                               ig.get("ItemGroupOID"), ig.get("ItemGroupRepeatKey"), it)


def conforms(data_type: str, value: str) -> bool:
    try:
        if data_type == "date":
            return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)) and bool(date.fromisoformat(value))
        if data_type == "partialDate":
            if not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", value):
                return False
            parts = [int(p) for p in value.split("-")] + [1, 1]
            return bool(date(parts[0], parts[1], parts[2]))
        if data_type == "datetime":
            return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?", value)) and bool(
                datetime.fromisoformat(value))
        if data_type == "integer":
            return bool(re.fullmatch(r"-?\d+", value))
        if data_type == "float":
            return bool(re.fullmatch(r"-?\d+(\.\d+)?", value))
    except ValueError:
        return False
    return True


def read_site01(path: Path) -> list[list[str]]:
    text = path.read_bytes().decode("gb18030")
    return list(csv.reader(io.StringIO(text, newline="")))


def read_site02(path: Path) -> list[list[str]]:
    text = path.read_bytes().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline="")))


def all_lis_rows(out: Path) -> dict[str, list[tuple[str, list[str]]]]:
    rows: dict[str, list[tuple[str, list[str]]]] = {"SITE01": [], "SITE02": []}
    for p in sorted((out / "lab" / "SITE01").glob("*.csv")):
        rows["SITE01"] += [(p.name, r) for r in read_site01(p)[1:]]
    for p in sorted((out / "lab" / "SITE02").glob("*.csv")):
        rows["SITE02"] += [(p.name, r) for r in read_site02(p)[1:]]
    return rows


# ---- layout and determinism ----------------------------------------------------------------------
def test_files_are_named_per_contract(drop: Path) -> None:
    edc = [p.name for p in odm_files(drop)]
    assert len(edc) == 2
    assert all(re.fullmatch(r"NCT03668171_ODM_\d{8}T\d{6}\.xml", n) for n in edc)
    nights = [datetime.strptime(n[16:31], "%Y%m%dT%H%M%S").date() for n in edc]
    assert nights[1] - nights[0] == timedelta(days=1)
    s01 = [p.name for p in (drop / "lab" / "SITE01").iterdir()]
    s02 = [p.name for p in (drop / "lab" / "SITE02").iterdir()]
    assert s01 and all(re.fullmatch(r"LIS_SITE01_\d{8}\.csv", n) for n in s01)
    assert s02 and all(re.fullmatch(r"labs_\d{4}-\d{2}-\d{2}\.csv", n) for n in s02)
    assert (drop / "randomization" / "unblinded_randomization_list.csv").is_file()
    assert (drop / TRUTH_FILE).is_file()


def test_same_arguments_give_identical_bytes(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    synthesize(a, subjects=25, seed=7, snapshots=2)
    synthesize(b, subjects=25, seed=7, snapshots=2)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    synthesize(c := tmp_path / "c", subjects=25, seed=8, snapshots=2)
    assert (c / TRUTH_FILE).read_bytes() != (a / TRUTH_FILE).read_bytes()


def test_study_metadata_is_the_shared_one() -> None:
    assert not (Path(__file__).resolve().parents[2] / "transforms" / "synth" / "metadata.xml").exists()
    shared = SHARED_STUDY / "edc" / "metadata.xml"
    if not shared.is_file():
        pytest.skip("no ../shared beside the repository")
    assert shared.read_bytes() == METADATA.read_bytes()


# ---- EDC -----------------------------------------------------------------------------------------
def test_odm_files_parse_and_use_only_metadata_oids_and_values(drop: Path, metadata: dict) -> None:
    truth = truth_of(drop)
    planted = {(p["subject"], p["item"], p.get("value")) for p in truth["planted_errors"] if "item" in p}
    bad = []
    for path in odm_files(drop):
        root = etree.parse(str(path)).getroot()
        assert root.tag == f"{{{NS['o']}}}ODM"
        assert root.get("ODMVersion") == "1.3.2" and root.get("FileType") == "Snapshot"
        stamp = datetime.strptime(path.name[16:31], "%Y%m%dT%H%M%S")
        assert root.get("CreationDateTime") == stamp.isoformat() + "+08:00"
        assert root.get("FileOID") == f"NCT03668171.EXPORT.{path.name[16:31]}"
        cd = root.find("o:ClinicalData", NS)
        assert (cd.get("StudyOID"), cd.get("MetaDataVersionOID")) == ("NCT03668171", "MDV.1")
        for subject, event, form, group, _, it in item_rows(path):
            assert form in metadata["events"][event]
            assert group in metadata["forms"][form]
            oid = it.get("ItemOID")
            assert oid in metadata["groups"][group]
            if it.get("TransactionType") == "Remove":
                assert it.get("Value") is None
                continue
            value = it.get("Value")
            data_type, codelist = metadata["items"][oid]
            ok = conforms(data_type, value) and (codelist is None or value in metadata["codelists"][codelist])
            if not ok:
                bad.append((subject, oid, value))
    assert bad, "the planted codelist and date errors should be there"
    assert all(b in planted for b in bad), [b for b in bad if b not in planted]


def test_clean_drop_conforms_fully(clean_drop: Path, metadata: dict) -> None:
    (path,) = odm_files(clean_drop)
    for _, _, _, _, _, it in item_rows(path):
        if it.get("TransactionType") == "Remove":
            continue
        data_type, codelist = metadata["items"][it.get("ItemOID")]
        value = it.get("Value")
        assert conforms(data_type, value), (it.get("ItemOID"), value)
        assert codelist is None or value in metadata["codelists"][codelist], (it.get("ItemOID"), value)
    truth = truth_of(clean_drop)
    assert truth["planted_errors"] == []
    assert not (clean_drop / "randomization").exists()


def test_subjects_and_screen_failures(drop: Path) -> None:
    root = etree.parse(str(odm_files(drop)[-1])).getroot()
    subjects = root.findall("o:ClinicalData/o:SubjectData", NS)
    assert len(subjects) == N
    truth = truth_of(drop)["subjects"]
    for sd in subjects:
        key = sd.get("SubjectKey")
        assert re.fullmatch(r"0[12]-\d{3}", key)
        assert sd.find("o:SiteRef", NS).get("LocationOID") == "SITE" + key[:2]
        has_rand = sd.find(".//o:FormData[@FormOID='F.RAND']", NS) is not None
        assert has_rand == truth[key]["randomized"]
        if truth[key]["screen_failure"]:
            ieyn = sd.find(".//o:ItemData[@ItemOID='I.IEYN']", NS).get("Value")
            assert ieyn == "N" and sd.findall(".//o:ItemGroupData[@ItemGroupOID='IG.IENM']", NS)
    assert sum(t["screen_failure"] for t in truth.values()) >= 3


def test_later_snapshot_fixes_and_removes(drop: Path) -> None:
    old, new = odm_files(drop)
    fixed = next(p for p in truth_of(drop)["planted_errors"] if p["kind"] == "fixed_in_later_snapshot")
    assert fixed["files"] == [old.name] and fixed["fixed_in"] == new.name

    def value(path: Path, subject: str, item: str) -> list[str | None]:
        return [it.get("Value") for s, _, _, _, _, it in item_rows(path) if s == subject and it.get("ItemOID") == item]

    assert fixed["value"] in value(old, fixed["subject"], "I.WEIGHT")
    assert fixed["value"] not in value(new, fixed["subject"], "I.WEIGHT")
    removed = next(e for e in truth_of(drop)["edge_cases"] if e["kind"] == "item_removed")
    assert removed["files"] == [new.name]
    marks = [it for s, _, _, _, _, it in item_rows(new) if s == removed["subject"] and it.get("TransactionType")]
    assert [(m.get("ItemOID"), m.get("TransactionType")) for m in marks] == [("I.CMENDAT", "Remove")]




def test_odm_validates_against_odm_1_3_2_xsd(drop: Path) -> None:
    xsd = odm_xsd()
    if xsd is None:
        pytest.skip("ODM 1.3.2 XSD not available (pip install odmlib==0.2.1, or set ODM_XSD)")
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    for path in odm_files(drop):
        assert schema.validate(etree.parse(str(path))), schema.error_log.last_error


# ---- LIS -----------------------------------------------------------------------------------------
def test_site01_files_are_gb18030_crlf_with_exact_header(drop: Path) -> None:
    truth = truth_of(drop)
    unknown = {p["test"] for p in truth["planted_errors"] if p["kind"] == "lis_unknown_test" and p["site"] == "SITE01"}
    units = set()
    for path in sorted((drop / "lab" / "SITE01").glob("*.csv")):
        raw = path.read_bytes()
        raw.decode("gb18030")
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")  # Chinese text in GB18030 is not valid UTF-8
        assert raw.endswith(b"\r\n") and raw.count(b"\n") == raw.count(b"\r\n")
        rows = read_site01(path)
        assert ",".join(rows[0]) == HEADER01
        day = path.name[11:19]
        for r in rows[1:]:
            assert len(r) == 10
            assert re.fullmatch(r"\d{10}", r[0]) and 2 <= len(r[1]) <= 3
            assert re.fullmatch(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}", r[3])
            assert r[9].replace("/", "")[:8] == day
            assert r[4] in SITE01_TESTS or r[4] in unknown
            assert r[8] in ("", "↑", "↓")
            units.add(r[6])
    assert {"μmol/L", "umol/L"} <= units


def test_site02_files_have_exact_header_and_statuses(drop: Path) -> None:
    boms = Counter()
    statuses = Counter()
    truth = truth_of(drop)
    unknown = {p["test"] for p in truth["planted_errors"] if p["kind"] == "lis_unknown_test" and p["site"] == "SITE02"}
    for path in sorted((drop / "lab" / "SITE02").glob("*.csv")):
        raw = path.read_bytes()
        boms[raw.startswith(b"\xef\xbb\xbf")] += 1
        rows = read_site02(path)
        assert ",".join(rows[0]) == HEADER02
        day = datetime.strptime(path.name[5:15], "%Y-%m-%d").strftime("%m/%d/%Y")
        for r in rows[1:]:
            assert len(r) == 12
            assert re.fullmatch(r"M\d{6}", r[0]) and re.fullmatch(r"A\d{9}", r[1])
            assert re.fullmatch(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}", r[2]) and r[11][:10] == day
            assert r[3] in SITE02_TESTS or r[3] in unknown
            assert r[9] in ("", "H", "L", "HH", "LL") and r[10] in ("F", "C", "X")
            statuses[r[10]] += 1
    assert boms[True] and boms[False]
    assert statuses["F"] and statuses["C"] and statuses["X"]


def test_lab_rows_link_to_subjects_except_planted_orphans(drop: Path) -> None:
    mrns = {it.get("Value") for _, _, _, _, _, it in item_rows(odm_files(drop)[-1]) if it.get("ItemOID") == "I.MRN"}
    planted = truth_of(drop)["planted_errors"]
    orphans = {(p["site"], p["specimen"]) for p in planted if p["kind"] == "lis_orphan_specimen"}
    assert {site for site, _ in orphans} == {"SITE01", "SITE02"}
    for site, rows in all_lis_rows(drop).items():
        for _, r in rows:
            if r[0] not in mrns:
                assert (site, r[2] if site == "SITE01" else r[1]) in orphans


def test_lis_resends_supersede_with_a_later_report(drop: Path) -> None:
    events = truth_of(drop)["lab_events"]
    assert events
    lis = all_lis_rows(drop)
    for e in events:
        site = e["site"]
        spec_col, test_col, rep_col = (2, 4, 9) if site == "SITE01" else (1, 3, 11)
        fmt = "%Y/%m/%d %H:%M" if site == "SITE01" else "%m/%d/%Y %H:%M"
        matches = [(f, r) for f, r in lis[site] if r[spec_col] == e["specimen"] and r[test_col] == e["test"]]
        first = [r for f, r in matches if f == e["first_file"]]
        later = [r for f, r in matches if f == e["file"]]
        assert first and later, e
        assert datetime.strptime(later[-1][rep_col], fmt) > datetime.strptime(first[0][rep_col], fmt)
        if site == "SITE02":
            expected = {"correction": "C", "cancellation": "X", "pending_then_final": "F"}[e["kind"]]
            assert later[-1][10] == expected
            if e["kind"] == "pending_then_final":
                assert first[0][5] == "" and later[-1][5] != ""


def test_clean_drop_lis_has_no_planted_rows(clean_drop: Path) -> None:
    items = item_rows(odm_files(clean_drop)[0])
    mrns = {it.get("Value") for _, _, _, _, _, it in items if it.get("ItemOID") == "I.MRN"}
    for site, rows in all_lis_rows(clean_drop).items():
        for _, r in rows:
            assert r[0] in mrns
            test = r[4] if site == "SITE01" else r[3]
            assert test in (SITE01_TESTS if site == "SITE01" else SITE02_TESTS)
            if test in ("国际标准化比值", "INR") and r[5]:
                assert float(r[5]) < 10


# ---- randomization --------------------------------------------------------------------------------
def test_unblinded_list_covers_all_numbers_with_balanced_blocks(drop: Path) -> None:
    text = (drop / "randomization" / "unblinded_randomization_list.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["RANDNO", "ARMCD", "DOSELVL"]
    truth = truth_of(drop)["subjects"]
    used = {t["randno"]: t for t in truth.values() if t["randomized"]}
    listed = {r["RANDNO"]: r for r in rows}
    assert set(used) <= set(listed) and len(listed) == len(used) + 20
    per_stratum: dict[int, Counter] = defaultdict(Counter)
    for r in rows:
        assert r["ARMCD"] in ("MSC", "PBO")
        if r["ARMCD"] == "PBO":
            assert r["DOSELVL"] == "0"
        else:
            assert 0.1 <= float(r["DOSELVL"]) <= 1.0
        if r["RANDNO"] in used:
            assert used[r["RANDNO"]]["arm"] == r["ARMCD"]
            per_stratum[used[r["RANDNO"]]["stratum"]][r["ARMCD"]] += 1
    for counts in per_stratum.values():
        assert abs(counts["MSC"] - counts["PBO"]) <= 3  # at most half of the largest block


def _meld(crea_mg: float, bili_mg: float, inr: float) -> int:
    mi = (0.957 * math.log(min(max(crea_mg, 1), 4)) + 0.378 * math.log(max(bili_mg, 1))
          + 1.120 * math.log(max(inr, 1)) + 0.643)
    return min(40, int(Decimal(repr(mi)).quantize(Decimal("0.1"), ROUND_HALF_UP) * 10))


def test_stratum_agrees_with_screening_meld_except_planted(drop: Path) -> None:
    truth = truth_of(drop)
    mismatch = {p["subject"] for p in truth["planted_errors"] if p["kind"] == "stratum_meld_mismatch"}
    assert len(mismatch) == 1
    root = etree.parse(str(odm_files(drop)[-1])).getroot()
    mrn_of = {sd.get("SubjectKey"): sd.find(".//o:ItemData[@ItemOID='I.MRN']", NS).get("Value")
              for sd in root.iterfind("o:ClinicalData/o:SubjectData", NS)}
    screening: dict[str, dict[str, str]] = defaultdict(dict)
    for site, rows in all_lis_rows(drop).items():
        for _, r in rows:
            collected = r[3] if site == "SITE01" else r[2]
            test = r[4] if site == "SITE01" else r[3]
            screening[(r[0], collected)][test] = r[5]
    for key, t in truth["subjects"].items():
        if not t["randomized"]:
            continue
        day = date.fromisoformat(t["screening_date"])
        prefix = day.strftime("%Y/%m/%d") if t["site"] == "SITE01" else day.strftime("%m/%d/%Y")
        vals = next(v for (mrn, c), v in sorted(screening.items()) if mrn == mrn_of[key] and c.startswith(prefix))
        if t["site"] == "SITE01":
            meld = _meld(float(vals["肌酐"]) / 88.4, float(vals["总胆红素"]) / 17.1, float(vals["国际标准化比值"]))
        else:
            meld = _meld(float(vals["CREA"]), float(vals["TBIL"]), float(vals["INR"]))
        assert meld == t["screening_meld"], key
        expected = 1 if 17 <= meld <= 22 else 2
        assert (t["stratum"] == expected) != (key in mismatch), key


# ---- truth, planted errors, edge cases -----------------------------------------------------------
def test_planted_errors_are_recorded_and_present(drop: Path) -> None:
    planted = truth_of(drop)["planted_errors"]
    assert {p["kind"] for p in planted} >= PLANTED_KINDS
    assert sum(p["kind"] == "identifier_in_free_text" for p in planted) >= 2
    lis = all_lis_rows(drop)
    for p in planted:
        assert p["file"], p
        if p["kind"] in ("lis_unknown_test", "lis_orphan_specimen", "implausible_lab_value"):
            col = 2 if p["site"] == "SITE01" else 1
            assert any(f == p["file"] and r[col] == p["specimen"] for f, r in lis[p["site"]]), p
        elif "value" in p and p["value"] is not None:
            values = [it.get("Value") for s, _, _, _, _, it in item_rows(drop / "edc" / p["file"])
                      if s == p["subject"] and it.get("ItemOID") == p["item"]]
            assert p["value"] in values, p


def _free_text_identifiers(out: Path) -> list[tuple[dict, str, str, str, set[str]]]:
    """Each planted identifier_in_free_text with its text, the subject's MRN and initials, and the
    names the subject's site-01 LIS rows carry (none at site 02)."""
    last = odm_files(out)[-1]
    rows = list(item_rows(last))
    ids = {(s, it.get("ItemOID")): it.get("Value") for s, _, _, _, _, it in rows
           if it.get("ItemOID") in ("I.MRN", "I.INITIALS")}
    names: dict[str, set[str]] = defaultdict(set)
    for _, r in all_lis_rows(out)["SITE01"]:
        names[r[0]].add(r[1])
    found = []
    for p in truth_of(out)["planted_errors"]:
        if p["kind"] != "identifier_in_free_text":
            continue
        assert "value" not in p and p["identifier"] in ("patient name", "initials", "telephone number"), p
        (text,) = [it.get("Value") for s, _, _, g, rep, it in rows if s == p["subject"] and g == p["item_group"]
                   and rep == p.get("item_group_repeat_key") and it.get("ItemOID") == p["item"]]
        mrn = ids[(p["subject"], "I.MRN")]
        found.append((p, text, mrn, ids[(p["subject"], "I.INITIALS")], names.get(mrn, set())))
    return found


@pytest.mark.parametrize("seed", [None, 37])  # 37: both name roles fall on site-02 subjects, Chinese text
def test_identifiers_in_free_text_are_ones_the_pipeline_knows(drop: Path, tmp_path: Path, seed: int | None) -> None:
    """Only site 01's LIS files carry names, so a name is planted only there; site 02 gets initials."""
    out = drop
    if seed is not None:
        synthesize(out := tmp_path / "drop", subjects=N, seed=seed, snapshots=1)
    found = _free_text_identifiers(out)
    assert {p["identifier"] for p, *_ in found} >= {"initials", "telephone number"}
    for p, text, _, initials, names in found:
        if p["identifier"] == "patient name":
            assert p["site"] == "SITE01" and any(n in text for n in names), p
        elif p["identifier"] == "initials":
            assert p["site"] == "SITE02", p
            assert initials in re.split(r"[\s()（）]+", text), p
        else:
            assert re.search(r"(?<!\d)1[358]\d{9}(?!\d)", text), p
        shown = {"patient name": "the patient's name", "initials": "the patient's initials"}
        assert p["detail"].endswith(shown.get(p["identifier"], p["identifier"])), p


def test_truth_holds_no_identifiers(drop: Path) -> None:
    text = (drop / TRUTH_FILE).read_text(encoding="utf-8")
    root = etree.parse(str(odm_files(drop)[-1])).getroot()
    for oid in ("I.MRN", "I.INITIALS"):
        for it in root.iterfind(f".//o:ItemData[@ItemOID='{oid}']", NS):
            assert f'"{it.get("Value")}"' not in text
    for _, r in all_lis_rows(drop)["SITE01"]:
        assert r[1] not in text and r[0] not in text
    assert not re.search(r"1[358]\d{9}", text), "no telephone number may be copied into the truth"


def test_sap_edge_cases_are_present(drop: Path) -> None:
    truth = truth_of(drop)
    kinds = {e["kind"]: e for e in truth["edge_cases"]}
    for k in ("death_on_rand_plus_84", "death_on_rand_plus_85", "transplant_then_death",
              "day1_lab_after_infusion_start", "day1_lab_before_infusion_start", "randomized_not_treated",
              "randomized_not_eligible", "missed_infusion", "item_removed"):
        assert k in kinds, k
    for k, days in (("death_on_rand_plus_84", 84), ("death_on_rand_plus_85", 85)):
        e = kinds[k]
        assert date.fromisoformat(e["death_date"]) - date.fromisoformat(e["rand_date"]) == timedelta(days=days)
        assert truth["subjects"][e["subject"]]["death_date"] == e["death_date"]
    lt = truth["subjects"][kinds["transplant_then_death"]["subject"]]
    assert lt["transplant_date"] < lt["death_date"]
    after, before = kinds["day1_lab_after_infusion_start"], kinds["day1_lab_before_infusion_start"]
    assert after["collected"] > after["infusion_start"] and before["collected"] < before["infusion_start"]
    assert truth["subjects"][kinds["randomized_not_treated"]["subject"]]["infusions"] == []


def test_population_is_clinically_plausible(tmp_path: Path) -> None:
    synthesize(tmp_path, subjects=300, snapshots=1, unblinded=False)
    subjects = truth_of(tmp_path)["subjects"].values()
    randomized = [s for s in subjects if s["randomized"]]
    assert 0.10 <= 1 - len(randomized) / len(subjects) <= 0.20
    dead12 = [s for s in randomized
              if s["death_date"] and date.fromisoformat(s["death_date"]) <= datetime.fromisoformat(
                  s["rand_datetime"]).date() + timedelta(days=84)]
    assert 0.2 <= len(dead12) / len(randomized) <= 0.4
    transplanted = [s for s in randomized if s["transplant_date"]]
    assert 0.02 <= len(transplanted) / len(randomized) <= 0.12
    for s in randomized:
        assert s["eos_status"] and s["eos_date"] and s["last_known_alive"]
        if s["death_date"]:
            assert s["last_known_alive"] <= s["death_date"]
    assert {s["site"] for s in subjects} == {"SITE01", "SITE02"}


def test_vocabulary_covers_both_languages() -> None:
    assert len(AE_TERMS) >= 25 and len(CM_TERMS) >= 18
    d = verbatim_dictionary()
    assert d["Entecavir"][1] == d["恩替卡韦"][1] == "ENTECAVIR"
    assert d["发热"] == d["Fever"]
