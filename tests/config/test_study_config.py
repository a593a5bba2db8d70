"""The study's configuration against CDISC CT 2025-03-25 and the eCRF (checked independently of the build)."""
from __future__ import annotations

import pytest

from transforms.config import read_csv_rows
from transforms.odm.metadata import load_metadata
from transforms.quality.suites import ct_extensions
from transforms.sdtm.spec import load_spec
from transforms.standards import ct
from transforms.standards.metadata import variable_meta



def test_codelist_maps_use_ct_terms(study):
    extensions = ct_extensions(study)
    for r in read_csv_rows(study.study_file("codelists.csv")):
        if r["CT_CODELIST"] and r["VALUE"] not in extensions.get(r["CT_CODELIST"], set()):
            assert ct.is_term(r["CT_CODELIST"], r["VALUE"]), r


def test_ct_extensions_extend_only_extensible_codelists(study):
    for name, values in ct_extensions(study).items():
        cl = ct.codelist(name)
        assert cl.extensible, name
        assert not values & set(cl.terms), (name, "already a CDISC term: not an extension")


def test_codelist_maps_cover_every_coded_value_of_the_ecrf(study):
    meta = load_metadata(study.metadata_path)
    spec = load_spec(study)
    for rule in spec.rules:
        if rule.algorithm == "ct" and rule.source.startswith("I."):
            cl = meta.codelist_of(rule.source)
            mapped = set(spec.codelists[rule.codelist])
            if rule.codelist == "DOSU":
                # 'Other' (9) has no CT unit and no specify field: it stays empty and is reported
                assert set(cl.decodes) - mapped == {"9"}
            else:
                assert set(cl.decodes) <= mapped, (rule.domain, rule.variable, set(cl.decodes) - mapped)


def test_constants_are_ct_terms(study):
    spec = load_spec(study)
    for rule in spec.rules:
        if rule.algorithm == "const" and rule.codelist:
            assert ct.is_term(rule.codelist, rule.source), rule


def test_spec_variables_exist_in_sdtmig(study):
    spec = load_spec(study)
    for rule in spec.rules:
        if rule.domain in ("*",) or rule.domain.startswith("SUPP"):
            continue
        names = {v.name for v in variable_meta(rule.domain)}
        assert rule.variable in names, rule


@pytest.mark.parametrize("site", ["SITE01", "SITE02"])
def test_lab_maps_against_ct_and_protocol_units(study, site):
    si = {"BILI": "umol/L", "BILDIR": "umol/L", "CREAT": "umol/L", "ALB": "g/L", "HGB": "g/L", "PLAT": "10^9/L",
          "WBC": "10^9/L", "SODIUM": "mmol/L", "INR": "RATIO", "PT": "s", "PTA": "%"}  # protocol.md SAP units
    tests = study.lab_tests(site)
    assert len(tests) == 15  # lis-export.md lists 15 tests per site
    for t in tests.values():
        assert ct.is_term("LBTESTCD", t.lbtestcd) and ct.paired_test_name("LBTESTCD", t.lbtestcd) == t.lbtest
        assert ct.is_term("SPECTYPE", t.lbspec)
        assert t.lbstresu is None or ct.is_term("UNIT", t.lbstresu)
        assert t.local_unit is None or ct.is_term("UNIT", t.local_unit)
        if t.lbtestcd in si:
            assert t.lbstresu == si[t.lbtestcd]


def test_site02_conversion_factors_are_protocol_factors(study):
    factors = {t.lbtestcd: t.factor for t in study.lab_tests("SITE02").values()}
    assert factors["BILI"] == factors["BILDIR"] == 17.1
    assert factors["CREAT"] == 88.4
    assert factors["ALB"] == factors["HGB"] == 10
    assert factors["PLAT"] == factors["WBC"] == factors["SODIUM"] == 1


def test_unit_aliases_land_on_ct_units(study):
    for alias, unit in study.unit_aliases.items():
        assert ct.is_term("UNIT", unit), alias


# TS parameters a submission needs whose value protocol.md gives (issue 8), and their CDISC CT value lists.
TS_CT_CODELIST = {"TPHASE": "TPHASE", "ADDON": "NY", "HLTSUBJI": "NY", "RANDOM": "NY", "ROUTE": "ROUTE",
                  "DOSU": "UNIT", "DOSFRQ": "FREQ", "TCNTRL": "TCNTRL", "TBLIND": "TBLIND", "SEXPOP": "SEXPOP",
                  "STYPE": "STYPE", "INTMODEL": "INTMODEL", "INTTYPE": "INTTYPE", "TTYPE": "TTYPE"}


def test_ts_parameters_and_their_ct(study):
    rows = read_csv_rows(study.study_file("trial_design/ts.csv"))
    by_code = {r["TSPARMCD"]: r for r in rows}
    for r in rows:
        assert ct.is_term("TSPARMCD", r["TSPARMCD"]), r
        assert r["TSPARM"] == ct.paired_test_name("TSPARMCD", r["TSPARMCD"]), r
        assert bool(r["TSVAL"]) != bool(r["TSVALNF"]), r  # exactly one of value and null flavor
        if r["TSVCDREF"] == "CDISC CT":
            cl = TS_CT_CODELIST[r["TSPARMCD"]]
            assert ct.term_code(cl, r["TSVAL"]) == r["TSVALCD"] and r["TSVCDVER"] == ct.CT_VERSION, r
    # values as protocol.md states them
    assert by_code["TPHASE"]["TSVAL"] == "NOT APPLICABLE"           # registry phase "Not Applicable"
    assert by_code["SPONSOR"]["TSVAL"] == "Xijing Hospital of Digestive Diseases"
    assert (by_code["ADDON"]["TSVAL"], by_code["HLTSUBJI"]["TSVAL"]) == ("N", "N")
    assert by_code["FCNTRY"]["TSVAL"] == "CHN" and by_code["FCNTRY"]["TSVCDREF"] == "ISO 3166-1 alpha-3"
    assert (by_code["ROUTE"]["TSVAL"], by_code["DOSU"]["TSVAL"], by_code["DOSFRQ"]["TSVAL"]) == (
        "INTRAVENOUS", "10^6/kg", "EVERY WEEK")                       # one infusion per week, peripheral vein
    assert by_code["COMPTRT"]["TSVAL"] == "Placebo" and by_code["TRT"]["TSVAL"] == "Mesenchymal stem cells"
    assert by_code["CURTRT"]["TSVALNF"] == "NA"                      # not an add-on study
    # protocol.md gives only planned completion dates: no actual study end date
    assert by_code["SENDTC"]["TSVAL"] == "" and by_code["SENDTC"]["TSVALNF"] == "UNK"
    for code in ("OBJPRIM", "OBJSEC", "OUTMSPRI", "OUTMSSEC", "THERAREA", "INDIC", "PLANSUB", "TTYPE", "AGEMIN",
                 "AGEMAX", "SEXPOP", "NARMS", "STYPE", "TCNTRL", "RANDOM", "TBLIND", "DOSE"):
        assert by_code[code]["TSVAL"], code


def test_mh_categories_split_the_liver_history(study):
    """CORE-000365: MHCAT must not put every record in one group; MHSCAT never repeats MHCAT (CORE-000237)."""
    spec = load_spec(study)
    cat = {r.record: r.source for r in spec.domain_rules("MH") if r.variable == "MHCAT"}
    scat = {r.record: r.source for r in spec.domain_rules("MH") if r.variable == "MHSCAT"}
    assert cat == {"ETIOLOGY": "CHRONIC LIVER DISEASE", "CIRRHOSIS": "CHRONIC LIVER DISEASE",
                   "DECOMPENSATION": "ACUTE DECOMPENSATION", "OTHER": "GENERAL MEDICAL HISTORY"}
    assert scat == {"ETIOLOGY": "ETIOLOGY", "CIRRHOSIS": "CIRRHOSIS"}
    assert all(scat[r] != cat[r] for r in scat)
def _ascii_unit(text: str) -> str:
    # the same unit written otherwise: micro as the Greek letter or the micro sign, cubic mm = uL
    return text.replace("μ", "u").replace("µ", "u").replace("cumm", "uL")


def test_unit_aliases_respell_never_convert(study):
    # LBORRESU is the unit the laboratory printed, only in its CT spelling: every alias is the CT
    # submission value of which the printed unit is a listed synonym (UNIT, C71620), e.g. ng/mL is a
    # synonym of ug/L; or the same unit in ASCII (μmol/L is umol/L; K/uL is CT's K/cumm of 10^9/L).
    unit_terms = ct.codelist("UNIT").terms
    for printed, unit in study.unit_aliases.items():
        spellings = {_ascii_unit(x) for x in (unit, *unit_terms[unit].synonyms)}
        assert _ascii_unit(printed) in spellings, (printed, unit)
