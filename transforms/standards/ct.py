"""CDISC SDTM Controlled Terminology (NCI EVS release 2025-03-25), shipped inside this package.

The NCI EVS "SDTM Terminology.txt" file is tab separated: a row with an empty "Codelist Code"
is a codelist (its "CDISC Submission Value" is the codelist short name, e.g. UNIT), every other
row is a term of the codelist it names. Source credit, as NCI asks: "CDISC Controlled
Terminology, maintained and distributed by NCI Enterprise Vocabulary Services".
"""

from __future__ import annotations

import csv
import lzma
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from collections.abc import Mapping

__all__ = [
    "CT_VERSION",
    "Codelist",
    "Term",
    "codelist",
    "codelist_names",
    "is_term",
    "paired_codelist",
    "paired_test_name",
    "term_code",
]

CT_VERSION = "2025-03-25"
_CT_FILE = f"sdtm-terminology-{CT_VERSION}.txt.xz"
_NCI_CODE_RE = re.compile(r"^C\d+$")

# Column positions in the NCI EVS file; checked against the header at load time.
_HEADER = (
    "Code",
    "Codelist Code",
    "Codelist Extensible (Yes/No)",
    "Codelist Name",
    "CDISC Submission Value",
    "CDISC Synonym(s)",
    "CDISC Definition",
    "NCI Preferred Term",
)


@dataclass(frozen=True, slots=True)
class Term:
    """One term of a codelist: NCI code, CDISC synonyms and NCI preferred term."""

    code: str
    synonyms: tuple[str, ...]
    preferred_term: str


@dataclass(frozen=True, slots=True)
class Codelist:
    """A CDISC codelist keyed by submission value (case-sensitive, as CDISC requires)."""

    name: str  # short name / CDISC submission value of the codelist, e.g. "UNIT"
    code: str  # NCI code of the codelist, e.g. "C71620"
    long_name: str  # e.g. "Unit"
    extensible: bool
    terms: Mapping[str, Term] = field(repr=False)

    def value_for_code(self, code: str) -> str | None:
        """Return the submission value whose NCI code is `code`, or None."""
        return _code_index(self.name).get(code)


@dataclass(frozen=True, slots=True)
class _Store:
    by_name: Mapping[str, Codelist]
    by_code: Mapping[str, Codelist]
    # NCI term code -> names of codelists containing it; used to find TESTCD/TEST partners.
    lists_with_term: Mapping[str, tuple[str, ...]]


@lru_cache(maxsize=1)
def _store() -> _Store:
    resource = resources.files(__package__).joinpath(_CT_FILE)
    with resource.open("rb") as raw, lzma.open(raw, "rt", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        header = tuple(next(reader))
        if header != _HEADER:
            raise ValueError(f"Unexpected CT header in {_CT_FILE}: {header}")
        heads: dict[str, tuple[str, str, bool]] = {}  # codelist code -> (name, long, ext)
        terms: dict[str, dict[str, Term]] = {}
        lists_with_term: dict[str, list[str]] = {}
        for code, list_code, ext, long_name, value, synonyms, _definition, pt in reader:
            if not list_code:
                heads[code] = (value, long_name, ext == "Yes")
                terms.setdefault(code, {})
                continue
            syn = tuple(s.strip() for s in synonyms.split(";") if s.strip())
            terms.setdefault(list_code, {})[value] = Term(code, syn, pt)
            lists_with_term.setdefault(code, []).append(list_code)

    by_name: dict[str, Codelist] = {}
    by_code: dict[str, Codelist] = {}
    for list_code, (name, long_name, ext) in heads.items():
        cl = Codelist(name, list_code, long_name, ext, MappingProxyType(terms[list_code]))
        by_name[name] = cl
        by_code[list_code] = cl
    names = {
        term: tuple(heads[c][0] for c in codes) for term, codes in lists_with_term.items()
    }
    return _Store(MappingProxyType(by_name), MappingProxyType(by_code), MappingProxyType(names))


@lru_cache(maxsize=None)
def codelist(name: str) -> Codelist:
    """Return a codelist by short name (e.g. "UNIT") or NCI code (e.g. "C71620")."""
    store = _store()
    key = name.strip()
    found = store.by_code.get(key) if _NCI_CODE_RE.match(key) else store.by_name.get(key)
    if found is None:
        raise KeyError(f"Codelist {name!r} is not in SDTM CT {CT_VERSION}")
    return found


def codelist_names() -> tuple[str, ...]:
    """Return the short names of all codelists in the shipped CT release."""
    return tuple(_store().by_name)


def is_term(codelist_name: str, value: str) -> bool:
    """Return True if `value` is a submission value of the codelist (exact, case-sensitive)."""
    return value in codelist(codelist_name).terms


def term_code(codelist_name: str, value: str) -> str | None:
    """Return the NCI code of a submission value in the codelist, or None if absent."""
    term = codelist(codelist_name).terms.get(value)
    return term.code if term else None


@lru_cache(maxsize=None)
def _code_index(name: str) -> Mapping[str, str]:
    return MappingProxyType({t.code: value for value, t in codelist(name).terms.items()})


def _name_guesses(name: str) -> tuple[str, ...]:
    # CDISC's naming habits for code/name pairs: LBTESTCD/LBTEST, DTHDXCD/DTHDX,
    # ONCRTSCD/ONCRTS, and the QRS style WHEG01TC/WHEG01TN.
    guesses = []
    if name.endswith("CD"):
        guesses.append(name[:-2])
    if name.endswith("TC"):
        guesses.append(name[:-2] + "TN")
    return tuple(guesses)


@lru_cache(maxsize=None)
def paired_codelist(testcd_codelist: str) -> str:
    """Return the name codelist paired with a code codelist (LBTESTCD -> LBTEST)."""
    source = codelist(testcd_codelist)
    store = _store()
    overlap: Counter[str] = Counter()
    for term in source.terms.values():
        for other in store.lists_with_term.get(term.code, ()):
            if other != source.name:
                overlap[other] += 1
    values = {t.code: v for v, t in source.terms.items()}
    guesses = _name_guesses(source.name)

    def differs(other: str) -> bool:
        # A partner holds names, not the same codes again (FATESTCD is no partner of D1FATSCD).
        cand = codelist(other)
        return any(cand.value_for_code(c) not in (None, v) for c, v in values.items())

    candidates = [o for o in overlap if differs(o)]
    if not candidates:
        raise KeyError(f"No paired name codelist found for {source.name}")

    def common_prefix(other: str) -> int:
        n = 0
        for a, b in zip(source.name, other):
            if a != b:
                break
            n += 1
        return n

    # The pair shares the same NCI term codes: prefer CDISC's naming convention, then the
    # largest overlap, then the longest shared name prefix.
    return max(candidates, key=lambda o: (o in guesses, overlap[o], common_prefix(o)))


def paired_test_name(testcd_codelist: str, testcd: str) -> str:
    """Return the test name sharing the test code's NCI code (LBTESTCD BILI -> "Bilirubin")."""
    code = term_code(testcd_codelist, testcd)
    if code is None:
        raise KeyError(f"{testcd!r} is not a term of {testcd_codelist} in SDTM CT {CT_VERSION}")
    partner = paired_codelist(testcd_codelist)
    name = codelist(partner).value_for_code(code)
    if name is None:
        raise KeyError(f"{testcd!r} ({code}) has no term in {partner}")
    return name
