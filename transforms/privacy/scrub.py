"""The one scrubber for free text: every subject's identifiers of the drop, plus identifier patterns.

Site staff type identifiers into free text (an AE term, a LIS result comment): their own patient's or
another's MRN, initials or name, a phone number, an e-mail address, a national ID number, a birth date.
Matching runs on the NFKC form of each character (full-width digits, brackets and @ count as their
ASCII forms) while the replacement is made in the original text, so untouched text keeps its spelling.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

REDACTED = "[REDACTED]"

IDENTIFIER, EMAIL, PHONE, NATIONAL_ID, BIRTH_DATE = "identifier", "e-mail", "phone number", "national ID", "birth date"
# Kinds a Scrubber looks for only when asked (`extra=`): sharing data outside the sponsor redacts any
# name-, date-, address- or ID-number-looking text, which inside the pipeline would hide real content.
NAME, DATE, ADDRESS, ID_NUMBER = "name", "date", "address", "ID number"

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+\s?@\s?[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
# Resident identity card: 17 digits and a check character (digit or X).
_NATIONAL_ID = re.compile(r"(?<![0-9A-Za-z])\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
                          r"(?![0-9A-Za-z])")
# Seven or more digits, optionally after +86/0086, grouped by spaces, dots, dashes or brackets.
_PHONE = re.compile(r"(?<![\dA-Za-z])(?:(?:\+|00)\d{1,3}[\s.\-]*)?(?:\(\s*\d{1,4}\s*\)[\s.\-]*)?\d(?:[\s.\-]*\d){6,}"
                    r"(?![\dA-Za-z])")
_DATE = r"\d{4}\s*[-./年]\s*\d{1,2}(?:\s*[-./月]\s*\d{1,2}\s*日?)?|\d{1,2}\s*[-./]\s*\d{1,2}\s*[-./]\s*\d{4}|\d{4}\s*年?"
_BIRTH_DATE = re.compile(r"(?i)(?:\bd\.?\s?o\.?\s?b\.?|\bdate\s+of\s+birth|\bbirth\s*date|\bborn(?:\s+on)?|\bbirthday"
                         r"|出生日期|出生于|出生|生日|生于)\s*[:：=]?\s*(?:" + _DATE + ")")
# A name after a title or a label ("Dr. Li Wei", "name: Wang Fang", "患者张伟", "李明先生"): a name alone
# cannot be told from a medical term without a dictionary, so names are found by their context.
_NAME = re.compile(r"(?i:\b(?:mr|mrs|ms|miss|dr|prof|mister|madam)\.?\s+)[A-Z][A-Za-z'\-]+(?:\s+[A-Z][A-Za-z'\-]+){0,2}"
                   r"|(?i:\b(?:patient\s+)?name\s*[:：=]\s*)[^\s,;]+(?:\s+[A-Z][A-Za-z'\-]+){0,2}"
                   r"|(?:姓名|患者|病人|家属)\s*[:：]?\s*[\u4e00-\u9fff]{2,4}"
                   r"|[\u4e00-\u9fff]{1,3}(?:先生|女士|小姐|医生|大夫|护士)")
# A calendar date or a year and month (HIPAA: every element of a date but the year identifies).
_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_ANY_DATE = re.compile(r"(?<!\d)(?:19|20)\d{2}\s*[-./年]\s*(?:0?[1-9]|1[0-2])(?!\d)(?:\s*(?:[-./]|月)\s*(?:0?[1-9]|[12]\d|3[01])"
                       r"(?!\d)\s*日?|\s*月)?"
                       r"|(?<!\d)\d{1,2}\s*[-./]\s*\d{1,2}\s*[-./]\s*(?:19|20)\d{2}(?!\d)"
                       r"|(?i:(?<![a-z0-9])\d{1,2}\s*" + _MONTHS + r"\s*(?:19|20)\d{2}(?!\d)"
                       r"|(?<![a-z])" + _MONTHS + r"\s+\d{1,2},?\s+(?:19|20)\d{2}(?!\d))")
_ADDRESS = re.compile(r"(?i:(?<![0-9a-z])\d+[a-z]?\s+(?:[a-z]+\s+){1,3}(?:street|road|avenue|lane|boulevard|drive|st|rd|ave)"
                      r"\b\.?)|[\u4e00-\u9fff]{1,12}(?:路|街|巷|弄|村)\s*\d+\s*号(?:\s*\d+\s*[室楼])?")
# A labelled number (MRN, hospital or ID number) or letters followed by six or more digits.
_ID_NUMBER = re.compile(r"(?i:\b(?:mrn|id|no|number|hospital\s+no)\s*[.:#：]?\s*)[A-Za-z]{0,3}\d{4,}(?![0-9])"
                        r"|(?:病历号|住院号|身份证号?|门诊号)\s*[:：]?\s*[A-Za-z]{0,3}\d{4,}"
                        r"|(?<![0-9A-Za-z])[A-Za-z]{1,3}\d{6,}(?![0-9A-Za-z])")
EXTRA_PATTERNS = {NAME: _NAME, DATE: _ANY_DATE, ADDRESS: _ADDRESS, ID_NUMBER: _ID_NUMBER}
# The non-ASCII characters an ASCII letter matches when case is ignored (re.IGNORECASE on str): a text holding
# one is matched against every identifier (tests/privacy scans all of Unicode for this list).
CASELESS_ASCII_LOOKALIKES = frozenset("\u0130\u0131\u017f\u212a")
_DATE_ONLY = re.compile(r"^(?:\d{4}[\s.\-/]\d{1,2}[\s.\-/]\d{1,2}|\d{1,2}[\s.\-/]\d{1,2}[\s.\-/]\d{4})$")


def _normalised(text: str) -> tuple[str, list[int]]:
    """NFKC form of `text` character by character, and for each normalised character its original index."""
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        n = unicodedata.normalize("NFKC", ch)
        out.append(n)
        where.extend([i] * len(n))
    return "".join(out), where


class Scrubber:
    """Removes identifiers from free text: all subjects' MRNs, initials and names, and identifier patterns."""

    def __init__(self, identifiers: Iterable[str] = (), extra: Iterable[str] = ()) -> None:
        idents = {unicodedata.normalize("NFKC", i).strip() for i in identifiers if isinstance(i, str)}
        idents = sorted((i for i in idents if len(i) >= 2), key=lambda i: (-len(i), i))
        parts: list[str] = []
        # Identifiers by their text (as matched: exactly, or lower-cased where case does not count): a text is
        # matched only against those it holds somewhere.
        exact: dict[str, list[int]] = {}
        folded: dict[str, list[int]] = {}
        for n, ident in enumerate(idents):
            if ident.isascii() and ident.isalpha() and len(ident) <= 4:
                # Initials: a whole upper-case word only, or "ALLERGY" would lose its "LL".
                parts.append(rf"(?<![A-Za-z]){re.escape(ident.upper())}(?![A-Za-z])")
                exact.setdefault(ident.upper(), []).append(n)
            elif ident.isascii():
                # An MRN or a Latin name: not as part of a longer number or word.
                parts.append(rf"(?i:(?<![0-9A-Za-z]){re.escape(ident)}(?![0-9A-Za-z]))")
                folded.setdefault(ident.lower(), []).append(n)
            else:
                parts.append(re.escape(ident))  # a Chinese name: no word boundaries in Chinese
                exact.setdefault(ident, []).append(n)
        self._parts, self._exact, self._folded = parts, exact, folded
        self._lengths = sorted({len(k) for k in (*exact, *folded)})
        self._every: re.Pattern[str] | None = None
        self._subsets: dict[tuple[int, ...], re.Pattern[str]] = {}
        self.size = len(idents)
        unknown = set(extra) - set(EXTRA_PATTERNS)
        if unknown:
            raise ValueError(f"unknown scrubber kinds: {sorted(unknown)}")
        self._extra = [(EXTRA_PATTERNS[k], k) for k in EXTRA_PATTERNS if k in set(extra)]

    def _identifier_pattern(self, norm: str) -> re.Pattern[str] | None:
        """The alternation of the identifiers that can occur in `norm`, in the order of the full one; None if none can.

        One regex of every identifier costs each text a pass per identifier (tens of thousands in a large
        study); leaving out those the text does not hold anywhere changes no match.
        """
        if not self._parts:
            return None
        lowered = norm.lower()
        if len(lowered) != len(norm) or not CASELESS_ASCII_LOOKALIKES.isdisjoint(norm):
            if self._every is None:
                self._every = re.compile("|".join(self._parts))
            return self._every
        found: set[int] = set()
        for size in self._lengths:
            for i in range(len(norm) - size + 1):
                for hit in (self._exact.get(norm[i:i + size]), self._folded.get(lowered[i:i + size])):
                    if hit:
                        found.update(hit)
        if not found:
            return None
        key = tuple(sorted(found))
        pattern = self._subsets.get(key)
        if pattern is None:
            if len(self._subsets) >= 4096:
                self._subsets.clear()
            pattern = self._subsets[key] = re.compile("|".join(self._parts[n] for n in key))
        return pattern

    def scrub(self, text: str) -> tuple[str, Counter[str]]:
        """`text` with every identifier replaced by [REDACTED]; and how many of each kind were removed."""
        kinds: Counter[str] = Counter()
        if not isinstance(text, str) or not text:
            return text, kinds
        norm, where = _normalised(text)
        spans: list[tuple[int, int, str]] = []
        patterns = [(self._identifier_pattern(norm), IDENTIFIER), (_EMAIL, EMAIL), (_BIRTH_DATE, BIRTH_DATE),
                    (_NATIONAL_ID, NATIONAL_ID), *self._extra, (_PHONE, PHONE)]
        for pattern, kind in patterns:
            if pattern is None:
                continue
            for m in pattern.finditer(norm):
                if kind == PHONE and _DATE_ONLY.match(m.group()):
                    continue  # a plain date such as 2018.01.05 is no phone number
                if any(m.start() < e and s < m.end() for s, e, _ in spans):
                    continue  # already inside an earlier, more specific match
                spans.append((m.start(), m.end(), kind))
        if not spans:
            return text, kinds
        out, last = [], 0
        for s, e, kind in sorted(spans):
            start, end = where[s], where[e - 1] + 1
            out.append(text[last:start])
            out.append(REDACTED)
            last = end
            kinds[kind] += 1
        out.append(text[last:])
        return "".join(out), kinds


def describe(kinds: Counter[str]) -> str:
    """What a scrub removed, in words, without the values: '1 phone number, 2 identifier(s)'."""
    return ", ".join(f"{n} {k}{'(s)' if n > 1 else ''}" for k, n in sorted(kinds.items()))


def drop_identifiers(study, staged: Path) -> set[str]:
    """Every identifier of the drop: each subject's identifier items (MRN, initials) and the LIS's MRNs and names."""
    from transforms.ingest.lab import names_path, printed_path

    found: set[str] = set()
    items_path = staged / "edc_items.parquet"
    if items_path.exists():
        items = pd.read_parquet(items_path, columns=["ITEMOID", "VALUE"])
        found |= set(items.loc[items["ITEMOID"].isin(study.identifiers.items), "VALUE"].dropna().astype(str))
    for site in study.sites:
        staged_labs = staged / f"lab_{site}.parquet"
        p = names_path(staged_labs)
        if p.exists():
            names = pd.read_parquet(p)
            found |= set(names["MRN"].dropna().astype(str)) | set(names["NAME"].dropna().astype(str))
        r = printed_path(staged_labs)
        if r.exists():
            found |= set(pd.read_parquet(r, columns=["MRN"])["MRN"].dropna().astype(str))
    return {f.strip() for f in found if f and f.strip()}


def drop_scrubber(study, staged: Path) -> Scrubber:
    """The scrubber that knows every identifier of the staged drop."""
    return Scrubber(drop_identifiers(study, staged))


def scrub_column(values: pd.Series, scrubber: Scrubber) -> tuple[pd.Series, dict[object, Counter[str]]]:
    """A text column scrubbed; and, per index of a changed value, what was removed."""
    out = values.copy()
    changed: dict[object, Counter[str]] = {}
    # Each distinct text once (lab results and coded answers repeat thousands of times); only the rows
    # holding a value the scrubber changes are visited one by one.
    scrubbed = {v: scrubber.scrub(v) for v in pd.unique(values.dropna()) if isinstance(v, str) and v}
    hits = {v: res for v, res in scrubbed.items() if res[1]}
    if not hits:
        return out, changed
    for i, v in values[values.isin(list(hits))].items():
        text, kinds = hits[v]
        out[i] = text
        changed[i] = Counter(kinds)
    return out, changed


def scrub_findings(findings, scrubber: Scrubber):
    """Findings whose VALUE and MESSAGE pass the scrubber (the last guard before reports and queries)."""
    from dataclasses import replace

    from transforms.cdisc.findings import Findings

    out = Findings()
    seen: dict[str, tuple] = {}  # messages and values repeat across thousands of findings: scrub each once

    def scrub(text):
        if not isinstance(text, str):
            return scrubber.scrub(text)
        if text not in seen:
            seen[text] = scrubber.scrub(text)
        return seen[text]

    for f in findings.items:
        value, kinds = scrub(f.value)
        message, more = scrub(f.message)
        out.add(replace(f, value=value, message=message) if kinds or more else f)
    return out
