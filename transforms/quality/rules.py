"""The rule catalogue (rules.csv): what each finding's rule id means and who answers it, site or sponsor."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path

CATALOGUE = Path(__file__).with_name("rules.csv")
SITE, SPONSOR = "site", "sponsor"


@dataclass(frozen=True)
class Rule:
    """One rule id (or a pattern such as EC-ELIGIBILITY-*) of the catalogue."""

    rule: str
    audience: str
    category: str
    description: str


@lru_cache(maxsize=1)
def rule_catalogue() -> tuple[Rule, ...]:
    """Every rule of rules.csv, exact ids first, then patterns (in file order)."""
    with CATALOGUE.open(encoding="utf-8", newline="") as fh:
        rules = [Rule(r["RULE"], r["AUDIENCE"], r["CATEGORY"], r["DESCRIPTION"]) for r in csv.DictReader(fh)]
    return tuple(sorted(rules, key=lambda r: "*" in r.rule))


def rule_info(rule_id: str) -> Rule | None:
    """The catalogue entry of a rule id (an exact id wins over a pattern); None when the catalogue lacks it."""
    for r in rule_catalogue():
        if r.rule == rule_id or ("*" in r.rule and fnmatchcase(rule_id, r.rule)):
            return r
    return None


def audience(rule_id: str, site: str) -> str:
    """Who answers a query of this rule: the site, or the sponsor (unknown rules and site-less findings)."""
    r = rule_info(rule_id)
    return SITE if site and r is not None and r.audience == SITE else SPONSOR


def describe(rule_id: str) -> str:
    """The rule's description in words ('' when the catalogue lacks it)."""
    r = rule_info(rule_id)
    return r.description if r else ""
