"""The study's de-identification rules: the per-variable rule table and the sharing settings, validated.

The rule table (studies/<study>/share/deid_rules.csv) is read top to bottom; the first row whose
dataset and variable patterns (shell wildcards, upper case) match a variable decides its rule. There is
no catch-all: a variable no row matches stops the package, so a new variable never leaks by default.
A value-level variable (QVAL of a SUPP-- dataset, TSVAL of TS) is looked up per parameter, as
`QVAL:<QNAM>` or `TSVAL:<TSPARMCD>`, so a new supplemental qualifier needs its own row too.
"""
from __future__ import annotations

import csv
import re
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from transforms.config import ConfigModel

RULE_FILE = "share/deid_rules.csv"
CONFIG_FILE = "share/share.yaml"
DOCS_FOLDER = "docs"

# The PhUSE de-identification standard's rule types, as this project names them.
RuleName = Literal["keep", "remove", "recode_subject", "recode_id", "offset_date", "study_day", "age_cap",
                   "pool_site", "redact_free_text", "idvarval"]
RULE_MEANING: dict[str, str] = {
    "keep": "kept as is (reviewed: not identifying)",
    "remove": "removed (a direct identifier, or a value-level record dropped)",
    "recode_subject": "replaced by the participant's new random identifier",
    "recode_id": "replaced by a keyed pseudonym (same value, same pseudonym within the package)",
    "offset_date": "shifted by the participant's date offset (or removed when study days replace dates)",
    "study_day": "kept: a day relative to the participant's own dates, unchanged by the shift",
    "age_cap": "ages above the cap set to the cap + 1, read as 'cap + 1 or older'",
    "pool_site": "site pooled or recoded as configured",
    "redact_free_text": "free text: names, phone numbers, ID numbers, dates, e-mails, addresses redacted",
    "idvarval": "treated by the rule of the variable IDVAR names",
}
# Value-level variables and the variable that names each value's parameter (SDTMIG 3.4 SUPP-- and TS).
VALUE_KEYS = {"QVAL": "QNAM", "TSVAL": "TSPARMCD"}
_PATTERN = re.compile(r"^[A-Z0-9_*?]+(?::[A-Z0-9_*?]+)?$")


class ShareError(Exception):
    """Nothing was shared: a usage error, a release that cannot be shared or data no rule covers safely (exit 2)."""


class RuleError(ShareError):
    """The rule table or the sharing settings cannot be used."""


class Rule(ConfigModel):
    """One row of the rule table."""

    dataset: str
    variable: str
    rule: RuleName
    comment: str = Field(min_length=1)
    line: int

    @field_validator("dataset", "variable")
    @classmethod
    def _pattern(cls, value: str) -> str:
        if not _PATTERN.match(value):
            raise ValueError(f"'{value}' is not an upper-case name or wildcard pattern (A-Z 0-9 _ * ?, optional :PARAM)")
        return value

    def matches(self, dataset: str, variable: str) -> bool:
        """Whether this row applies to `variable` of `dataset`."""
        return fnmatchcase(dataset.upper(), self.dataset) and fnmatchcase(variable.upper(), self.variable)


class RuleTable(ConfigModel):
    """The ordered rule table."""

    rules: list[Rule]

    def resolve(self, dataset: str, variable: str) -> Rule | None:
        """The first row matching `variable` of `dataset`, or None (which stops the package)."""
        return next((r for r in self.rules if r.matches(dataset, variable)), None)


class OffsetRange(ConfigModel):
    """Range of the per-participant date offset in days (both ends included; 0 excluded so no date stays)."""

    min_days: int
    max_days: int

    @model_validator(mode="after")
    def _no_zero(self) -> OffsetRange:
        if self.min_days > self.max_days:
            raise ValueError("offset_days: min_days is above max_days")
        if self.min_days <= 0 <= self.max_days:
            raise ValueError("offset_days: the range must not contain 0 (a participant's dates would stay unshifted)")
        return self


class SiteSharing(ConfigModel):
    """How site identity is shared: pooled into one value, recoded to neutral codes, or kept."""

    mode: Literal["pool", "recode", "keep"]
    pooled_value: str = "POOLED"
    recode_prefix: str = "SITE-"


class KAnonymity(ConfigModel):
    """Quasi-identifiers whose combinations are counted per participant (k-anonymity)."""

    dataset: str = "DM"
    quasi_identifiers: list[str] = Field(min_length=1)
    age_variable: str = "AGE"
    age_breaks: list[int] = Field(min_length=1)
    threshold: int = Field(ge=2)

    @field_validator("age_breaks")
    @classmethod
    def _increasing(cls, value: list[int]) -> list[int]:
        if value != sorted(set(value)):
            raise ValueError("age_breaks must increase")
        return value


class ShareConfig(ConfigModel):
    """The study's sharing settings (share.yaml)."""

    date_mode: Literal["offset", "study_day"]
    offset_days: OffsetRange
    sites: SiteSharing
    age_cap: int = Field(89, ge=1)
    subject_prefix: str = Field("P", pattern=r"^[A-Z]{1,4}$")
    kanon: KAnonymity
    citation: str = Field(min_length=1)
    contact: str = Field(min_length=1)
    conditions: str = Field(min_length=1)


def load_rules(path: Path) -> RuleTable:
    """The rule table of a CSV file (columns dataset, variable, rule, comment); RuleError names the bad line."""
    if not path.is_file():
        raise RuleError(f"no rule table: {path}")
    try:
        return _read_rule_table(path)
    except UnicodeDecodeError:
        raise RuleError(f"{path.name}: not UTF-8 text") from None


def _read_rule_table(path: Path) -> RuleTable:
    rows = []
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if set(reader.fieldnames or []) != {"dataset", "variable", "rule", "comment"}:
            raise RuleError(f"{path.name}: the columns must be dataset, variable, rule, comment")
        for line, raw in enumerate(reader, start=2):
            if None in raw:
                raise RuleError(f"{path.name} line {line}: more than 4 fields (quote a comment that holds a comma)")
            try:
                rows.append(Rule(line=line, **{k: (v or "").strip() for k, v in raw.items()}))
            except ValidationError as exc:
                raise RuleError(f"{path.name} line {line}: {_first_error(exc)}") from None
    if not rows:
        raise RuleError(f"{path.name}: the rule table is empty")
    return RuleTable(rules=rows)


def load_share_config(path: Path) -> ShareConfig:
    """The sharing settings of a YAML file; RuleError says what is wrong."""
    if not path.is_file():
        raise RuleError(f"no sharing settings: {path}")
    try:
        return ShareConfig(**(yaml.safe_load(path.read_text(encoding="utf-8")) or {}))
    except (ValidationError, yaml.YAMLError, TypeError, UnicodeDecodeError) as exc:
        detail = _first_error(exc) if isinstance(exc, ValidationError) else str(exc)
        raise RuleError(f"{path.name}: {detail}") from None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
