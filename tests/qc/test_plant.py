"""Fast tests of tests/qc/plant.py: the planted copy is a valid drop holding each edge case, the source is untouched.

Expected values come from the brief and the contracts (edc/export.md, edc/metadata.xml, lab/lis-export.md).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plant import newest_snapshot, plant_edge_cases  # noqa: E402

from transforms.config import load_study  # noqa: E402
from odm_schema import odm_xsd  # noqa: E402

NS = {"o": "http://www.cdisc.org/ns/odm/v1.3"}
HEADER01 = "病历号,姓名,标本号,采样时间,检验项目,结果,单位,参考范围,异常标志,报告时间"
HEADER02 = "PatientID,AccessionNo,CollectedAt,TestCode,TestName,Result,Units,RefLow,RefHigh,Flag,Status,ResultedAt"
CASES = {"specimen_reused_site01", "specimen_reused_site02", "ieyn_no_with_no_criterion", "ieyn_blank",
         "death_after_transplant", "death_on_r85", "ae_ended_before_dosing", "lab_at_infusion_minute",
         "partial_dates", "invalid_randno"}
DATE_RE = {"date": r"\d{4}-\d{2}-\d{2}", "partialDate": r"\d{4}(-\d{2}(-\d{2})?)?",
           "datetime": r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?"}
ROOT = Path(__file__).resolve().parents[2]


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str], dict[str, str]]:
    """(source drop, planted copy, cases, source hashes taken before planting)."""
    base = tmp_path_factory.mktemp("plant")
    src, dst = base / "drop", base / "planted"
    subprocess.run([sys.executable, "-m", "transforms.cli", "synth", "--subjects", "80", "--seed", "11",
                    "--out", str(src)], check=True, cwd=ROOT, capture_output=True)
    before = _hashes(src)
    return src, dst, plant_edge_cases(src, dst), before


def _safe_parse(path: Path) -> etree._ElementTree:
    return etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))


@pytest.fixture(scope="module")
def odm(planted) -> etree._Element:
    return _safe_parse(newest_snapshot(planted[1])).getroot()


def subject(odm: etree._Element, key: str) -> etree._Element:
    return odm.find(f".//o:SubjectData[@SubjectKey='{key}']", NS)


def item(el: etree._Element, oid: str) -> str | None:
    found = el.find(f".//o:ItemData[@ItemOID='{oid}']", NS)
    return None if found is None else found.get("Value")


def items(el: etree._Element, oid: str) -> list[str]:
    return [i.get("Value") for i in el.iterfind(f".//o:ItemData[@ItemOID='{oid}']", NS)]


def rand_date(sd: etree._Element) -> date:
    return date.fromisoformat(item(sd, "I.RANDDTC")[:10])


def first_infusion(sd: etree._Element) -> datetime:
    return min(datetime.fromisoformat(v) for v in items(sd, "I.EXSTDTC"))


def aes(sd: etree._Element) -> list[dict[str, str]]:
    return [{i.get("ItemOID"): i.get("Value") for i in g}
            for g in sd.iterfind(".//o:ItemGroupData[@ItemGroupOID='IG.AE']", NS)]


def visit_dates(sd: etree._Element) -> dict[str, date]:
    out = {}
    for ev in sd.findall("o:StudyEventData", NS):
        day = item(ev, "I.VSDAT") or item(ev, "I.CLDAT")
        if day and ev.get("StudyEventOID") != "SE.LOG":
            out[f"{ev.get('StudyEventOID')}.{ev.get('StudyEventRepeatKey') or ''}"] = date.fromisoformat(day)
    return out


def lis_rows(drop: Path, site: str, mrn: str | None) -> list[list[str]]:
    """A patient's rows (all rows with mrn None), file order, read straight from the files (lab/lis-export.md)."""
    out = []
    if site == "SITE01":
        for p in sorted((drop / "lab" / "SITE01").glob("LIS_SITE01_*.csv")):
            out += [r.split(",") for r in p.read_bytes().decode("gb18030").split("\r\n")[1:] if r]
    else:
        for p in sorted((drop / "lab" / "SITE02").glob("labs_*.csv")):
            out += [r.split(",") for r in p.read_bytes().decode("utf-8-sig").split("\n")[1:] if r]
    return [r for r in out if mrn is None or r[0] == mrn]


# ---- the copy as a whole --------------------------------------------------------------------------

def test_every_case_has_its_own_existing_subject(planted, odm) -> None:
    cases = planted[2]
    assert set(cases) == CASES
    assert len(set(cases.values())) == len(cases)
    for key in cases.values():
        assert subject(odm, key) is not None
        assert item(subject(odm, key), "I.RANDNO") is not None  # every case is a randomized subject


def test_source_drop_unchanged(planted) -> None:
    src, _, _, before = planted
    assert _hashes(src) == before


def test_only_the_newest_snapshot_is_edited(planted) -> None:
    src, dst, _, _ = planted
    changed = {k for k, v in _hashes(dst).items() if _hashes(src).get(k) != v}
    edc = {k for k in changed if k.startswith("edc")}
    assert edc == {str(newest_snapshot(dst).relative_to(dst))}
    raw = newest_snapshot(dst).read_bytes()
    assert raw.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    raw.decode("utf-8")


def test_lis_files_keep_encoding_and_header(planted) -> None:
    dst = planted[1]
    for p in sorted((dst / "lab" / "SITE01").glob("*.csv")):
        raw = p.read_bytes()
        assert raw.endswith(b"\r\n") and raw.count(b"\n") == raw.count(b"\r\n"), p.name
        assert raw.decode("gb18030").split("\r\n")[0] == HEADER01, p.name
    for p in sorted((dst / "lab" / "SITE02").glob("*.csv")):
        raw = p.read_bytes()
        assert b"\r" not in raw, p.name
        assert raw.decode("utf-8-sig").split("\n")[0] == HEADER02, p.name


def test_case_subjects_hold_only_legal_values(planted, odm) -> None:
    """Every item of a case subject is an item of the metadata, coded values are codelist values and
    dates follow edc/export.md."""
    md = _safe_parse(load_study("nct03668171").metadata_path).getroot()
    types = {d.get("OID"): d.get("DataType") for d in md.iterfind(".//o:ItemDef", NS)}
    codes = {cl.get("OID"): {c.get("CodedValue") for c in cl.iterfind("o:CodeListItem", NS)}
             for cl in md.iterfind(".//o:CodeList", NS)}
    coded = {d.get("OID"): codes[d.find("o:CodeListRef", NS).get("CodeListOID")]
             for d in md.iterfind(".//o:ItemDef", NS) if d.find("o:CodeListRef", NS) is not None}
    for key in planted[2].values():
        for it in subject(odm, key).iterfind(".//o:ItemData", NS):
            oid, value = it.get("ItemOID"), it.get("Value")
            assert oid in types, (key, oid)
            if oid in coded:
                assert value in coded[oid], (key, oid, value)
            if types[oid] in DATE_RE:
                assert re.fullmatch(DATE_RE[types[oid]], value), (key, oid, value)




def test_newest_snapshot_validates_against_odm_1_3_2(planted) -> None:
    xsd = odm_xsd()
    if xsd is None:
        pytest.skip("ODM 1.3.2 XSD not available (pip install odmlib, or set ODM_XSD)")
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    doc = _safe_parse(newest_snapshot(planted[1]))
    assert schema.validate(doc), schema.error_log.last_error


# ---- one test per case ----------------------------------------------------------------------------

@pytest.mark.parametrize("site,test,fmt,status_col", [("SITE01", "总胆红素", "%Y/%m/%d %H:%M", None),
                                                       ("SITE02", "TBIL", "%m/%d/%Y %H:%M", 10)])
def test_specimen_reused(planted, odm, site, test, fmt, status_col) -> None:
    """The same specimen and test collected twice, two days apart, with two different results."""
    sd = subject(odm, planted[2][f"specimen_reused_{site.lower()}"])
    assert sd.find("o:SiteRef", NS).get("LocationOID") == site
    spec, coll, tcol, res = (2, 3, 4, 5) if site == "SITE01" else (1, 2, 3, 5)
    rows = [r for r in lis_rows(planted[1], site, item(sd, "I.MRN")) if r[tcol] == test]
    by_specimen: dict[str, list[list[str]]] = {}
    for r in rows:
        by_specimen.setdefault(r[spec], []).append(r)
    reused = [rs for rs in by_specimen.values() if len({r[coll] for r in rs}) == 2]
    assert len(reused) == 1
    first, second = sorted(reused[0], key=lambda r: datetime.strptime(r[coll], fmt))
    assert datetime.strptime(second[coll], fmt) - datetime.strptime(first[coll], fmt) == timedelta(days=2)
    assert datetime.strptime(first[coll], fmt) > first_infusion(sd)
    assert first[res] != second[res]
    if status_col is not None:
        assert first[status_col] == second[status_col] == "F"


def test_ieyn_no_with_no_criterion(planted, odm) -> None:
    sd = subject(odm, planted[2]["ieyn_no_with_no_criterion"])
    assert items(sd, "I.IEYN") == ["N"]
    assert sd.find(".//o:ItemGroupData[@ItemGroupOID='IG.IENM']", NS) is None


def test_ieyn_blank(planted, odm) -> None:
    sd = subject(odm, planted[2]["ieyn_blank"])
    assert sd.find(".//o:ItemData[@ItemOID='I.IEYN']", NS) is None
    assert item(sd, "I.IEDAT") is not None  # the form is there, the question unanswered


def test_death_after_transplant(planted, odm) -> None:
    sd = subject(odm, planted[2]["death_after_transplant"])
    r = rand_date(sd)
    assert (item(sd, "I.LTYN"), item(sd, "I.LTDAT")) == ("Y", (r + timedelta(days=20)).isoformat())
    death = (r + timedelta(days=40)).isoformat()
    assert item(sd, "I.DTHDAT") == death
    assert (item(sd, "I.EOSSTAT"), item(sd, "I.EOSDAT")) == ("2", death)
    assert all(d < r + timedelta(days=20) for d in visit_dates(sd).values())
    assert any(ae.get("I.AEOUT") == "5" and ae.get("I.AEENDAT") == death for ae in aes(sd))


def test_death_on_r85(planted, odm) -> None:
    sd = subject(odm, planted[2]["death_on_r85"])
    r = rand_date(sd)
    death = r + timedelta(days=85)
    assert item(sd, "I.DTHDAT") == death.isoformat()
    assert (item(sd, "I.EOSSTAT"), item(sd, "I.EOSDAT")) == ("2", death.isoformat())
    assert date.fromisoformat(item(sd, "I.LSTALDAT")) <= r + timedelta(days=84)
    visits = visit_dates(sd)
    assert "SE.W12." not in visits
    assert all(d <= r + timedelta(days=84) for d in visits.values())
    site = sd.find("o:SiteRef", NS).get("LocationOID")
    coll, fmt = (3, "%Y/%m/%d %H:%M") if site == "SITE01" else (2, "%m/%d/%Y %H:%M")
    assert all(datetime.strptime(row[coll], fmt).date() <= r + timedelta(days=84)
               for row in lis_rows(planted[1], site, item(sd, "I.MRN")))


def test_ae_ended_before_dosing(planted, odm) -> None:
    sd = subject(odm, planted[2]["ae_ended_before_dosing"])
    first = first_infusion(sd).date()
    assert first.day >= 3
    matches = [ae for ae in aes(sd) if ae.get("I.AESTDAT") == f"{first:%Y-%m}" and ae.get("I.AEENDAT")
               and len(ae["I.AEENDAT"]) == 10 and date.fromisoformat(ae["I.AEENDAT"]) < first]
    assert len(matches) == 1
    assert matches[0]["I.AEONGO"] == "N"


def test_lab_at_infusion_minute(planted, odm) -> None:
    sd = subject(odm, planted[2]["lab_at_infusion_minute"])
    site = sd.find("o:SiteRef", NS).get("LocationOID")
    start = first_infusion(sd)
    if site == "SITE01":
        spec, coll, tcol, rep, fmt, tests = 2, 3, 4, 9, "%Y/%m/%d %H:%M", {"总胆红素", "肌酐", "国际标准化比值"}
    else:
        spec, coll, tcol, rep, fmt, tests = 1, 2, 3, 11, "%m/%d/%Y %H:%M", {"TBIL", "CREA", "INR"}
    rows = [r for r in lis_rows(planted[1], site, item(sd, "I.MRN")) if r[coll] == start.strftime(fmt)]
    assert {r[tcol] for r in rows} >= tests
    at_minute = [r for r in rows if r[tcol] in tests]
    specimens = {r[spec] for r in at_minute}
    assert len(specimens) == 1
    assert all(datetime.strptime(r[rep], fmt).date() == start.date() for r in at_minute)
    # The specimen number is new: no other row of the site carries it.
    everyone = lis_rows(planted[1], site, None)
    assert sum(r[spec] in specimens for r in everyone) == len(at_minute)


def test_partial_dates(planted, odm) -> None:
    sd = subject(odm, planted[2]["partial_dates"])
    year = f"{first_infusion(sd):%Y}"
    matches = [ae for ae in aes(sd) if ae.get("I.AESTDAT") == year]
    assert len(matches) == 1
    assert "I.AEENDAT" not in matches[0]
