"""Findings: one row per problem seen in the input, naming file, record and field."""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

BLOCKING = "blocking"
ERROR = "error"
WARNING = "warning"
# A record's routine fate that nobody needs to act on (a result superseded by its correction, still
# pending): recorded so that no input record leaves without a finding, never raised as a query.
INFO = "info"

COLUMNS = ["SEVERITY", "RULE", "SITE", "SUBJID", "VISIT", "DOMAIN", "SOURCE", "RECORD", "KEY", "FIELD", "VALUE",
           "MESSAGE"]
_LINE = re.compile(r"\s*\(line \d+\)|line \d+,\s*")


@dataclass(frozen=True)
class Finding:
    """A problem in the input; VALUE is never an identifier (MRN, initials, name)."""

    severity: str
    rule: str
    source: str
    record: str
    field: str
    message: str
    value: str = ""
    site: str = ""
    subjid: str = ""
    visit: str = ""
    domain: str = ""
    key: str = ""

    def as_row(self) -> dict[str, str]:
        """The finding as a row of the findings table (KEY filled from the record when not given)."""
        d = asdict(self)
        d["key"] = self.stable_key
        return {c: d[c.lower()] for c in COLUMNS}

    @property
    def stable_key(self) -> str:
        """What identifies the finding's record across nights: no snapshot name, no line number."""
        if self.key:
            return self.key
        record = _LINE.sub("", self.record).strip(", ")
        return record if self.source.endswith(".xml") else f"{self.source} {record}".strip()

    @property
    def query_id(self) -> str:
        """Stable id of the query this finding raises: the same problem keeps its id night after night."""
        basis = "|".join((self.rule, self.site, self.subjid, self.stable_key, self.field))
        return "Q" + hashlib.sha256(basis.encode()).hexdigest()[:10].upper()

    def __str__(self) -> str:
        where = f"{self.source}" + (f", {self.record}" if self.record else "") + (
            f", field {self.field}" if self.field else "")
        return f"[{self.rule}] {where}: {self.message}"


@dataclass
class Findings:
    """An ordered collection of findings with a stable table form."""

    items: list[Finding] = field(default_factory=list)

    def add(self, finding: Finding) -> None:
        """Record one finding."""
        self.items.append(finding)

    def extend(self, other: "Findings | list[Finding]") -> None:
        """Record several findings."""
        self.items.extend(other.items if isinstance(other, Findings) else other)

    @property
    def blocking(self) -> list[Finding]:
        """Findings that stop a release."""
        return [f for f in self.items if f.severity == BLOCKING]

    def to_frame(self) -> pd.DataFrame:
        """The findings as a DataFrame sorted for stable output."""
        df = pd.DataFrame([f.as_row() for f in self.items], columns=COLUMNS, dtype="string")
        return df.sort_values(COLUMNS, kind="stable").reset_index(drop=True)

    def write(self, path: Path) -> None:
        """Write the findings as Parquet."""
        path.parent.mkdir(parents=True, exist_ok=True)
        # Parallel tasks may write the same file (the shared preparation): replace it whole.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self.to_frame().to_parquet(tmp, index=False)
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> "Findings":
        """Read findings written by write()."""
        if not path.exists():
            return cls()
        df = pd.read_parquet(path).fillna("")
        return cls([Finding(**{c.lower(): str(r[c]) for c in COLUMNS if c in df}) for _, r in df.iterrows()])
