"""Cells of the CSV and xlsx files a release writes: text a spreadsheet shows as text, never runs as a formula."""
from __future__ import annotations

import re

# OWASP CSV injection: a cell starting with one of these is a formula to a spreadsheet program.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def is_formula_like(text: str) -> bool:
    """True for text a spreadsheet would run as a formula (a plain signed number such as -3.5 is not)."""
    return text.startswith(FORMULA_START) and not _NUMBER.fullmatch(text)


def defuse_formula(text: str) -> str:
    """A cell text a spreadsheet shows as text: a leading single quote before = + - @ tab CR."""
    return "'" + text if is_formula_like(text) else text
