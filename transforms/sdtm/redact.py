"""Removal of identifiers that site staff typed into free text."""
from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[REDACTED]"
# Seven or more digits, possibly grouped: telephone numbers and record numbers.
_LONG_NUMBER = re.compile(r"(?<!\d)\+?\d(?:[\s-]?\d){6,}(?!\d)")


def redact_identifiers(text: str, identifiers: Iterable[str]) -> tuple[str, int]:
    """Text with the subject's identifiers and phone-like numbers replaced; and how many were."""
    count = 0
    for ident in sorted({i for i in identifiers if i and len(i) >= 2}, key=len, reverse=True):
        if ident.isascii() and ident.isalpha() and len(ident) <= 4:
            # Initials: whole words only, or "ALLERGY" would lose its "LL".
            pattern = re.compile(rf"(?<![A-Za-z]){re.escape(ident)}(?![A-Za-z])")
        else:
            pattern = re.compile(re.escape(ident))
        text, n = pattern.subn(REDACTED, text)
        count += n
    text, n = _LONG_NUMBER.subn(REDACTED, text)
    return text, count + n
