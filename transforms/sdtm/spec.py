"""The study's SDTM mapping specification (sdtm_records.csv, sdtm_spec.csv, codelists.csv)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from transforms.config import StudyConfig, read_csv_rows
from transforms.sdtm.derivations import DERIVATIONS

ALGORITHMS = frozenset({
    "subject", "site", "item", "text", "decode", "decode_other", "ct", "const", "const_if",
    "dtc", "num", "lab", "derived",
})


class SpecError(ValueError):
    """The mapping specification is inconsistent."""


@dataclass(frozen=True)
class RecordTemplate:
    domain: str
    record: str
    item_group: str
    join: tuple[str, ...]
    when: str


@dataclass(frozen=True)
class VariableRule:
    domain: str
    record: str
    variable: str
    algorithm: str
    source: str
    codelist: str
    label: str


@dataclass(frozen=True)
class MappingSpec:
    """A study's mapping rules, as reviewed in its spec files."""

    records: tuple[RecordTemplate, ...]
    rules: tuple[VariableRule, ...]
    codelists: dict[str, dict[str, str]]
    codelist_ct: dict[str, str]

    @cached_property
    def domains(self) -> list[str]:
        """Domains with record templates, in spec order (SUPP-- excluded)."""
        seen: dict[str, None] = {}
        for r in self.records:
            seen.setdefault(r.domain, None)
        return list(seen)

    def templates(self, domain: str) -> list[RecordTemplate]:
        """Record templates of one domain."""
        return [r for r in self.records if r.domain == domain]

    def rules_for(self, domain: str, record: str) -> list[VariableRule]:
        """Variable rules of one record template, including the domain-wide (*) ones."""
        return [r for r in self.rules if r.domain == domain and r.record in (record, "*")]

    def domain_rules(self, domain: str) -> list[VariableRule]:
        """All variable rules naming one domain (not the study-wide derived ones)."""
        return [r for r in self.rules if r.domain == domain]

    def derived(self, domain: str) -> set[str]:
        """Names of derivations the spec asks for in a domain (with the study-wide ones)."""
        return {r.source for r in self.rules if r.algorithm == "derived" and r.domain in (domain, "*")}

    def derived_variables(self, domain: str, derivation: str) -> set[str]:
        """Variables of a domain the spec derives with one derivation (`--DY` of the `*` rows read as AEDY...)."""
        return {r.variable.replace("--", domain, 1) for r in self.rules
                if r.algorithm == "derived" and r.source == derivation and r.domain in (domain, "*")}

    def supp_rules(self, domain: str) -> list[VariableRule]:
        """Supplemental qualifier rules of a parent domain."""
        return [r for r in self.rules if r.domain == f"SUPP{domain}"]

    def map_value(self, codelist: str, coded: str) -> str | None:
        """Submission value of a coded value in a study codelist map."""
        return self.codelists[codelist].get(coded)


def load_spec(study: StudyConfig) -> MappingSpec:
    """Read and check the study's mapping specification."""
    records = tuple(
        RecordTemplate(r["DOMAIN"], r["RECORD"], r["ITEMGROUP"], tuple(r["JOIN"].split()), r["WHEN"].strip())
        for r in read_csv_rows(study.study_file("sdtm_records.csv"))
    )
    spec_path = study.study_file("sdtm_spec.csv")
    spec_rows = read_csv_rows(spec_path)
    check_derivations(spec_path, spec_rows)
    rules = tuple(
        VariableRule(r["DOMAIN"], r["RECORD"], r["VARIABLE"], r["ALGORITHM"], r["SOURCE"], r["CODELIST"], r["LABEL"])
        for r in spec_rows
    )
    maps: dict[str, dict[str, str]] = defaultdict(dict)
    ct: dict[str, str] = {}
    for r in read_csv_rows(study.study_file("codelists.csv")):
        maps[r["MAP"]][r["CODEDVALUE"]] = r["VALUE"]
        if r["CT_CODELIST"]:
            ct[r["MAP"]] = r["CT_CODELIST"]
    spec = MappingSpec(records, rules, dict(maps), ct)
    _check(spec)
    return spec


def check_derivations(path: Path, rows: list[dict[str, str]]) -> None:
    """Every `derived` row names a registered derivation (transforms/sdtm/derivations.py)."""
    for line, r in enumerate(rows, start=2):  # line 1 is the header
        if r["ALGORITHM"] == "derived" and r["SOURCE"] not in DERIVATIONS:
            raise SpecError(f"{path}: row {line} ({r['DOMAIN']}.{r['VARIABLE']}): unknown derivation "
                            f"{r['SOURCE']!r}; registered: {', '.join(sorted(DERIVATIONS))}")


def _check(spec: MappingSpec) -> None:
    known = {(r.domain, r.record) for r in spec.records}
    for rule in spec.rules:
        if rule.algorithm not in ALGORITHMS:
            raise SpecError(f"sdtm_spec.csv: {rule.domain}.{rule.variable}: unknown algorithm {rule.algorithm!r}")
        parent = rule.domain[4:] if rule.domain.startswith("SUPP") else rule.domain
        if rule.record != "*" and (parent, rule.record) not in known:
            raise SpecError(f"sdtm_spec.csv: {rule.domain}.{rule.variable}: no record template {rule.record!r}")
        if rule.algorithm == "ct" and rule.codelist not in spec.codelists:
            raise SpecError(f"sdtm_spec.csv: {rule.domain}.{rule.variable}: no codelist map {rule.codelist!r}")
        if rule.domain.startswith("SUPP") and (len(rule.variable) > 8 or not rule.label or len(rule.label) > 40):
            raise SpecError(f"sdtm_spec.csv: {rule.domain}.{rule.variable}: QNAM <= 8 and QLABEL 1-40 chars")
