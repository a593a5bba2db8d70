"""Free-text review for sharing: the project's scrubber with every identifier kind, and the redaction list."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from transforms.privacy.scrub import EXTRA_PATTERNS, Scrubber, describe


@dataclass(frozen=True)
class Redaction:
    """One redacted value, for the committee: where it was and which kinds fired, never the text."""

    dataset: str
    usubjid: str
    variable: str
    record: str
    kinds: str


def sharing_scrubber(identifiers: Iterable[str]) -> Scrubber:
    """The scrubber for shared data: the original participant ids plus names, dates, addresses and ID numbers."""
    return Scrubber(identifiers, extra=EXTRA_PATTERNS)


def redact(value: object, scrubber: Scrubber) -> tuple[object, str]:
    """A free-text value with identifiers replaced by [REDACTED], and the kinds removed in words ('' when none)."""
    if not isinstance(value, str) or not value:
        return value, ""
    text, kinds = scrubber.scrub(value)
    return (text, describe(kinds)) if kinds else (value, "")
