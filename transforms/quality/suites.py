"""Build the study's GX suites (raw EDC, raw LIS per site, SDTM per domain) from its metadata.

The suites are generated from the study's own data (eCRF metadata, lab maps, SDTMIG metadata, CT)
and committed as GX JSON under studies/<study>/expectations/; a test keeps the committed files in step.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transforms.config import StudyConfig, read_csv_rows
from transforms.quality.added_columns import joined
from transforms.odm.metadata import load_metadata
from transforms.sdtm.build import sdtm_domains
from transforms.quality.gx_runner import expectations_dir
from transforms.sdtm.spec import load_spec
from transforms.standards import ct
from transforms.standards.metadata import dataset_meta, variable_meta

ERROR, WARNING = "error", "warning"
ISO8601 = (r"^\d{4}(?:-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12]\d|3[01])"
           r"(?:T(?:[01]\d|2[0-3])(?::[0-5]\d(?::[0-5]\d)?)?)?)?)?$")
RESULT_PATTERN = r"^(?:\s*[-+]?\d+(?:\.\d+)?\s*|\s*(?:<=|>=|<|>|≤|≥)\s*\d+(?:\.\d+)?\s*)$"


def _exp(etype: str, meta: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    if "row_condition" in kwargs:
        kwargs["condition_parser"] = "pandas"
    return {"type": etype, "kwargs": kwargs, "meta": meta}


def _meta(rule: str, field: str, message: str, severity: str = ERROR, show_value: bool = True) -> dict[str, Any]:
    return {"rule_id": rule, "field": field, "message": message, "severity": severity, "show_value": show_value}


def _suite(name: str, expectations: list[dict[str, Any]], notes: str,
           added_columns: dict[str, Any] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"great_expectations_version": "1.24.1"}
    if added_columns:
        meta["added_columns"] = added_columns
    return {"name": name, "expectations": expectations, "meta": meta, "notes": notes}


def raw_edc_suite(study: StudyConfig) -> dict[str, Any]:
    """Every ODM item value against its ItemDef (DataType, Length, CodeList) and every OID known.

    The per-item checks are grouped (a codelist, a data type, a maximum length: see added_columns.py),
    each item keeping its own message; items whose values are never shown (identifiers, free text) are
    in groups of their own ("-hidden", show_value false), so that the Data Docs never list their values.
    """
    meta = load_metadata(study.metadata_path)
    idents = set(study.identifiers.items)
    e = [
        _exp("expect_column_values_to_be_in_set", _meta("RAW-EDC-OID", "ItemOID", "This item is not defined in "
             "the eCRF (metadata.xml); the EDC export and the eCRF version disagree."),
             column="ITEMOID", value_set=sorted(meta.items)),
        _exp("expect_column_values_to_be_in_set", _meta("RAW-EDC-OID", "StudyEventOID", "This visit (study event) "
             "is not defined in the eCRF."), column="EVENTOID", value_set=sorted(meta.events)),
        _exp("expect_column_values_to_be_in_set", _meta("RAW-EDC-OID", "FormOID", "This form is not defined in "
             "the eCRF."), column="FORMOID", value_set=sorted(meta.forms)),
        _exp("expect_column_values_to_be_in_set", _meta("RAW-EDC-SITE", "SiteRef", "The subject is not assigned "
             "to a known site."), column="SITEID", value_set=sorted(meta.locations)),
        _exp("expect_compound_columns_to_be_unique", _meta("RAW-EDC-DUPLICATE", "ItemOID", "The same item of the "
             "same form and repeat is exported twice; only the last value is used. Please remove the duplicate."),
             column_list=["SUBJECTKEY", "EVENTOID", "EVENTREPEAT", "FORMOID", "FORMREPEAT", "IGOID", "IGREPEAT",
                          "ITEMOID"]),
        _exp("expect_column_values_to_be_in_set", _meta("RAW-EDC-ITEM-GROUP", "ItemOID", "This item was "
             "entered in an item group of the eCRF that does not contain it."), column="IGITEM",
             value_set=sorted(joined(g.oid, i) for g in meta.item_groups.values() for i in g.item_oids)),
    ]
    for structural in e:
        # These name the OID in FIELD; the item's value may be anything (an MRN, a name): never shown.
        structural["meta"]["show_value"] = False
    groups: dict[str, dict[str, str]] = {}  # check group -> item OID -> message
    answers: dict[str, list[str]] = {}

    def put(group: str, oid: str, message: str, show: bool) -> str:
        group += "" if show else "-hidden"
        groups.setdefault(group, {})[oid] = message
        return group

    for oid, item in sorted(meta.items.items()):
        show = oid not in idents and not (item.datatype == "text" and item.codelist_oid is None)
        q = f"'{item.question}'"
        cl = meta.codelist_of(oid)
        if cl is not None:
            allowed = ", ".join(f"{k} ({v})" for k, v in cl.decodes.items())
            group = put("codelist", oid, f"The answer to {q} is not one of the eCRF choices: {allowed}.", show)
            answers.setdefault(group, []).extend(joined(oid, code) for code in cl.decodes)
        elif item.datatype in ("integer", "float"):
            put(item.datatype, oid, f"{q} must be a {'whole ' if item.datatype == 'integer' else ''}number "
                "(decimal point '.').", show)
        elif item.datatype == "date":
            put("date", oid, f"{q} must be a real calendar date written YYYY-MM-DD.", show)
        elif item.datatype == "partialDate":
            put("partialDate", oid, f"{q} must be a real date written YYYY, YYYY-MM or YYYY-MM-DD.", show)
        elif item.datatype == "datetime":
            put("datetime", oid, f"{q} must be a real date and time written YYYY-MM-DDThh:mm.", show)
        if item.datatype == "text" and cl is None and item.length:
            put(f"length-{item.length}", oid, f"{q} is longer than the {item.length} characters the eCRF allows.",
                False)
    for group, messages in sorted(groups.items()):
        e.extend(_item_group_expectations(group, messages, answers.get(group, [])))
    added = {"CHECK": {"check_of": "ITEMOID"}, "ANSWER": {"joined": ["ITEMOID", "VALUE"]},
             "IGITEM": {"joined": ["IGOID", "ITEMOID"]}}
    return _suite("raw_edc_items", e, "Layer 1: the EDC snapshot's items against the eCRF (metadata.xml).", added)


# eCRF data types written at one of several lengths: rule, pattern, strftime format per length.
PARTIAL_FORMATS = {
    "partialDate": ("RAW-EDC-DATE", r"^\d{4}(?:-\d{2}(?:-\d{2})?)?$", {7: "%Y-%m", 10: "%Y-%m-%d"}),
    "datetime": ("RAW-EDC-DATETIME", r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?$",
                 {16: "%Y-%m-%dT%H:%M", 19: "%Y-%m-%dT%H:%M:%S"}),
}


def _item_group_expectations(group: str, messages: dict[str, str], answers: list[str]) -> list[dict[str, Any]]:
    """The expectations of one check group of eCRF items (rows selected by the added CHECK column)."""
    kind = group.removesuffix("-hidden")
    show = kind == group
    cond = f'CHECK=="{group}"'

    def m(rule: str) -> dict[str, Any]:
        return _meta(rule, "ItemOID", "Per item: see messages.", show_value=show) | {"check": group,
                                                                                      "messages": messages}
    if kind == "codelist":
        return [_exp("expect_column_values_to_be_in_set", m("RAW-EDC-CODELIST"), column="ANSWER",
                     value_set=sorted(answers), row_condition=cond)]
    if kind in ("integer", "float"):
        pattern = r"^-?\d+$" if kind == "integer" else r"^-?\d+(?:\.\d+)?$"
        return [_exp("expect_column_values_to_match_regex", m(f"RAW-EDC-{kind.upper()}"), column="VALUE",
                     regex=pattern, row_condition=cond)]
    if kind == "date":
        return [_exp("expect_column_values_to_match_strftime_format", m("RAW-EDC-DATE"), column="VALUE",
                     strftime_format="%Y-%m-%d", row_condition=cond)]
    if kind in PARTIAL_FORMATS:
        # the pattern first, then each written length as the real date or time it must be
        rule, pattern, formats = PARTIAL_FORMATS[kind]
        return [_exp("expect_column_values_to_match_regex", m(rule), column="VALUE", regex=pattern,
                     row_condition=cond),
                *[_exp("expect_column_values_to_match_strftime_format", m(rule), column="VALUE", strftime_format=fmt,
                       row_condition=f"{cond} and VALUE.str.len()=={n}") for n, fmt in formats.items()]]
    length = int(kind.removeprefix("length-"))
    return [_exp("expect_column_value_lengths_to_be_between", m("RAW-EDC-LENGTH"), column="VALUE", min_value=0,
                 max_value=length, row_condition=cond)]


def raw_lab_suite(study: StudyConfig, site: str) -> dict[str, Any]:
    """A site's LIS rows: parsable times, known tests, the expected unit per test, a readable result."""
    lab = study.sites[site].lab
    tests = study.lab_tests(site)
    fmt = lab.datetime_format
    shown = fmt.replace("%Y", "YYYY").replace("%m", "MM").replace("%d", "DD").replace("%H", "HH").replace("%M", "MM")
    e = [
        _exp("expect_column_values_to_match_strftime_format", _meta("RAW-LIS-DATETIME", "collection time",
             f"The collection time must be written {shown}."), column="COLLDTM", strftime_format=fmt),
        _exp("expect_column_values_to_match_strftime_format", _meta("RAW-LIS-DATETIME", "report time",
             f"The report time must be written {shown}."), column="REPORTDTM", strftime_format=fmt),
        _exp("expect_column_values_to_be_in_set", _meta("RAW-LIS-UNKNOWN-TEST", "test", "This test is not in the "
             f"study's laboratory map for {site}; it cannot be reported until it is mapped."),
             column="TEST", value_set=sorted(tests)),
        _exp("expect_column_values_to_match_regex_list", _meta("RAW-LIS-RESULT", "result", "The result is neither "
             "a number, a limit such as <0.5 or >1000, nor a known comment."), column="RESULT",
             regex_list=[RESULT_PATTERN, r"^$", *[f"^{_re(t)}$" for t in sorted(study.lab_result_text)]],
             match_on="any"),
    ]
    messages: dict[str, str] = {}
    units: set[str] = set()
    for name, t in sorted(tests.items()):
        allowed = {"" if t.local_unit is None else t.local_unit}
        allowed |= {alias for alias, unit in study.unit_aliases.items() if unit == t.local_unit}
        units |= {joined(name, u) for u in allowed}
        messages[name] = (f"The unit of {t.lbtest} ({name}) must be {t.local_unit or 'empty'}; results in another "
                          "unit cannot be converted.")
    if messages:
        e.append(_exp("expect_column_values_to_be_in_set", _meta("RAW-LIS-UNIT", "unit", "Per test: see messages.")
                      | {"check": "unit", "messages": messages}, column="TESTUNIT", value_set=sorted(units),
                      row_condition='CHECK=="unit"'))
    if lab.status:
        codes = sorted({*lab.status.final, *lab.status.corrected, *lab.status.cancelled})
        e.append(_exp("expect_column_values_to_be_in_set", _meta("RAW-LIS-STATUS", "status",
                      f"The result status must be one of {', '.join(codes)}."), column="STATUS", value_set=codes))
    added = {"CHECK": {"check_of": "TEST"}, "TESTUNIT": {"joined": ["TEST", "UNIT"]}}
    return _suite(f"raw_lab_{site.lower()}", e, f"Layer 1: {site} LIS rows against lis-export.md and the lab map.",
                  added)


def _re(text: str) -> str:
    import re
    return re.escape(text)


# CT that depends on another variable (a test code set per category) or covers only
# qualitative results: checked elsewhere, not as one value set.
CONDITIONAL_CT = ("STRESC", "ORRES", "RSTESTCD", "RSTEST")
# Required variables whose emptiness the build already reports in words a site understands
# (CODING-UNCODED: the verbatim term is not in the coding table).
REPORTED_BY_BUILD = {"AEDECOD"}


def ct_extensions(study: StudyConfig) -> dict[str, set[str]]:
    """Reviewed sponsor terms of extensible codelists (quality/ct_extensions.csv)."""
    path = study.study_file("quality/ct_extensions.csv")
    out: dict[str, set[str]] = {}
    for r in read_csv_rows(path) if path.exists() else []:
        out.setdefault(r["CODELIST"], set()).add(r["VALUE"])
    return out


def sdtm_suite(study: StudyConfig, domain: str) -> dict[str, Any]:
    """One SDTM dataset: required/expected variables, CT values, ISO 8601 dates, keys, no Day 0, limits."""
    extensions = ct_extensions(study)
    e = []
    variables = variable_meta(domain)
    for v in variables:
        if v.core in ("Req", "Exp"):
            e.append(_exp("expect_column_to_exist", _meta("SDTM-VAR-PRESENT", v.name,
                          f"{domain}.{v.name} ({v.core}) must be in the dataset."), column=v.name))
        if v.core == "Req" and v.name not in REPORTED_BY_BUILD:
            e.append(_exp("expect_column_values_to_not_be_null", _meta("SDTM-REQ-NULL", v.name,
                          f"{domain}.{v.name} is required and may not be empty."), column=v.name))
    return {"variables": {v.name: v for v in variables}, "expectations": e, "extensions": extensions}


def sdtm_value_expectations(domain: str, columns: list[str], extensions: dict[str, set[str]],
                            limits: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Value-level expectations for the columns a dataset has."""
    e = []
    meta = {v.name: v for v in variable_meta(domain)}
    for name in columns:
        v = meta.get(name)
        if v is None:
            continue
        if (v.codelist and v.codelist in ct.codelist_names() and not name.endswith(CONDITIONAL_CT)):
            cl = ct.codelist(v.codelist)
            allowed = set(cl.terms) | (extensions.get(v.codelist, set()) if cl.extensible else set())
            for other in v.codelists[1:]:
                if other in ct.codelist_names():
                    allowed |= set(ct.codelist(other).terms) | extensions.get(other, set())
            e.append(_exp("expect_column_values_to_be_in_set", _meta(
                "SDTM-CT", name, f"{domain}.{name} must be a term of CDISC codelist {v.codelist}"
                + (" (extensible: sponsor terms are reviewed in quality/ct_extensions.csv)" if cl.extensible else "")
                + ".",
                severity=ERROR if not cl.extensible else WARNING), column=name, value_set=sorted(allowed)))
        if name.endswith("DTC"):
            e.append(_exp("expect_column_values_to_match_regex", _meta("SDTM-ISO8601", name,
                          f"{domain}.{name} must be an ISO 8601 date/time (partial dates allowed)."),
                          column=name, regex=ISO8601))
        if name.endswith(("DY", "STDY", "ENDY")) and name != "VISITDY" and v.type == "Num":
            e.append(_exp("expect_column_values_to_not_be_in_set", _meta("SDTM-DAY0", name,
                          f"{domain}.{name}: there is no study day 0."), column=name, value_set=[0]))
    seq = f"{domain}SEQ"
    if seq in columns and "USUBJID" in columns:
        e.append(_exp("expect_compound_columns_to_be_unique", _meta("SDTM-KEY", seq,
                      f"USUBJID + {seq} must identify one {domain} record."), column_list=["USUBJID", seq]))
    keys = [k for k in dataset_meta(domain).keys if k in columns]
    if len(keys) > 1 and keys != ["STUDYID", "USUBJID", seq]:
        e.append(_exp("expect_compound_columns_to_be_unique", _meta("SDTM-NATURAL-KEY", " ".join(keys),
                      f"The natural key {' + '.join(keys)} should identify one {domain} record.", severity=WARNING),
                      column_list=keys))
    for lim in (x for x in limits if x["DOMAIN"] == domain):
        d, test = lim["DOMAIN"], lim["TESTCD"]
        e.append(_exp("expect_column_values_to_be_between", _meta(f"{d}-PLAUSIBLE", f"{d}STRESN",
                      f"{test} outside {lim['LOW']}-{lim['HIGH']} {lim['UNIT']} is not a plausible value; "
                      "please check the source document."),
                      column=f"{d}STRESN", min_value=float(lim["LOW"]), max_value=float(lim["HIGH"]),
                      row_condition=f'{d}TESTCD=="{test}"'))
    return e


def sdtm_suites(study: StudyConfig, domains_columns: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """SDTM suites for the datasets and columns a release has."""
    limits_path = study.study_file("quality/limits.csv")
    limits = read_csv_rows(limits_path) if limits_path.exists() else []
    out = {}
    for domain, columns in sorted(domains_columns.items()):
        base = sdtm_suite(study, domain)
        exps = base["expectations"] + sdtm_value_expectations(domain, columns, base["extensions"], limits)
        out[f"sdtm_{domain.lower()}"] = _suite(f"sdtm_{domain.lower()}", exps,
                                               f"Layer 2: SDTMIG 3.4 {domain} conformance and plausibility.")
    return out


def all_suites(study: StudyConfig) -> dict[str, dict[str, Any]]:
    """Every suite of the study, by name."""
    suites = {"raw_edc_items": raw_edc_suite(study)}
    for site, cfg in sorted(study.sites.items()):
        if cfg.lab:
            suites[f"raw_lab_{site.lower()}"] = raw_lab_suite(study, site)
    spec = load_spec(study)
    domains = sdtm_domains(spec)
    with_supp = {d: [v.name for v in variable_meta(d)] for d in domains}
    for d in sorted({r.domain for r in spec.rules if r.domain.startswith("SUPP")}):
        with_supp[d] = [v.name for v in variable_meta("SUPPQUAL")]
    suites.update(sdtm_suites(study, with_supp))
    return suites


def write_suites(study: StudyConfig) -> list[Path]:
    """Write every suite of the study as GX JSON (sorted keys, stable) into studies/<study>/expectations/.

    A study that extends another gets only the suites that differ from the inherited ones.
    """
    folder = expectations_dir(study)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, suite in all_suites(study).items():
        p = folder / f"{name}.json"
        text = json.dumps(suite, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
        inherited = study.inherited_file(f"{folder.name}/{p.name}")
        if inherited is not None and inherited.read_text(encoding="utf-8") == text:
            p.unlink(missing_ok=True)
            continue
        p.write_text(text, encoding="utf-8")
        paths.append(p)
    return paths
