"""The rule catalogue (transforms/quality/rules.csv): every rule id has a description and an audience."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from transforms.quality.rules import SITE, SPONSOR, audience, describe, rule_catalogue, rule_info

ROOT = Path(__file__).resolve().parents[2]
# A rule id as the code writes it: an upper-case literal after rule=, as the rule argument of
# Finding(...) or _meta(...), in a (rule, severity, message) tuple, or assigned to a *_RULE constant.
LITERAL = re.compile(r'(?:rule=|_meta\(\s*|_drop_finding\(|Finding\(\s*(?:ERROR|WARNING|INFO|BLOCKING|severity), '
                     r'|rule, message = |\(|_RULE = )f?"([A-Z][A-Z0-9]*-[A-Z{][A-Z0-9{}\[\]._a-z-]*)"')


def _catalogued(rule_id: str) -> bool:
    return rule_info(rule_id) is not None and describe(rule_id) != ""


def test_every_rule_id_written_in_the_code_or_suites_is_catalogued():
    found = set()
    for p in (ROOT / "transforms").rglob("*.py"):
        for m in LITERAL.finditer(p.read_text(encoding="utf-8")):
            # f-string rule ids (EC-ELIGIBILITY-{code}, {d}-PLAUSIBLE, RAW-EDC-{...}) stand for their instances
            found.add(re.sub(r"\{[^}]*\}", "X", m.group(1)))
    for p in (ROOT / "studies").glob("*/expectations/*.json"):
        found |= {e["meta"]["rule_id"] for e in json.loads(p.read_text(encoding="utf-8"))["expectations"]}
    assert {"RAW-EDC-DATE", "LIS-ORPHAN", "SDTM-NATURAL-KEY", "EC-VISIT-WINDOW", "DROP-UNEXPECTED"} <= found
    dynamic = {"RAW-EDC-X", "X-PLAUSIBLE"}  # instances checked below
    assert not [r for r in sorted(found - dynamic) if not _catalogued(r)]
    for instance in ("RAW-EDC-INTEGER", "RAW-EDC-FLOAT", "LB-PLAUSIBLE", "EC-ELIGIBILITY-IN05"):
        assert _catalogued(instance), instance


def test_every_rule_of_a_synthetic_run_has_a_description(synthetic_release):
    findings = pd.read_csv(synthetic_release / "reports" / "findings.csv", dtype=str, keep_default_na=False)
    assert len(set(findings["RULE"])) >= 8  # the planted errors raise many rules
    assert not [r for r in sorted(set(findings["RULE"])) if not _catalogued(r)]


@pytest.mark.parametrize(("rule", "site", "expected"), [
    ("RAW-EDC-DATE", "SITE01", SITE),            # the site corrects the eCRF
    ("EC-ELIGIBILITY-IN05", "SITE01", SITE),     # a pattern of the catalogue
    ("LB-PLAUSIBLE", "SITE02", SITE),
    ("LIS-ORPHAN", "SITE01", SITE),
    ("CODING-UNCODED", "SITE01", SPONSOR),       # the sponsor's coder adds the term
    ("PRIVACY-FREE-TEXT", "SITE01", SPONSOR),
    ("SDTM-NATURAL-KEY", "SITE01", SPONSOR),     # written for SDTM programmers
    ("RAW-LIS-UNKNOWN-TEST", "SITE01", SPONSOR),  # the sponsor maps the test
    ("RAW-EDC-DATE", "", SPONSOR),                # no site to send it to
    ("NOT-A-RULE", "SITE01", SPONSOR),            # unknown: the sponsor looks first
])
def test_who_answers_a_query(rule, site, expected):
    assert audience(rule, site) == expected


def test_catalogue_rows_are_complete_and_unique():
    rules = rule_catalogue()
    assert len({r.rule for r in rules}) == len(rules)
    assert all(r.audience in (SITE, SPONSOR) and r.category and r.description.endswith(".") for r in rules)
