"""New identifiers for shared data: participants numbered in a secret order, other ids as keyed pseudonyms."""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field


def _mac(secret: bytes, purpose: str, value: str) -> bytes:
    return hmac.new(secret, purpose.encode("utf-8") + b"\x00" + value.encode("utf-8"), hashlib.sha256).digest()


@dataclass(frozen=True)
class SubjectKey:
    """Original -> new participant identifiers and date offsets (the key that never goes into the package)."""

    usubjid: dict[str, str]
    subjid: dict[str, str]
    offset: dict[str, int]
    original_subjid: dict[str, str] = field(default_factory=dict)

    def new_usubjid(self, original: str) -> str:
        """The new USUBJID of an original one."""
        return self.usubjid[original]


def subject_key(usubjids: set[str], subjids: dict[str, str], studyid: str, prefix: str, secret: bytes,
                offsets: dict[str, int]) -> SubjectKey:
    """Participants numbered 1..N in the order of HMAC(secret, USUBJID): the number says nothing of site or order of entry."""
    ordered = sorted(usubjids, key=lambda u: _mac(secret, "subject-order", u))
    width = max(4, len(str(len(ordered))))
    new_subjid = {u: f"{prefix}{i:0{width}d}" for i, u in enumerate(ordered, start=1)}
    return SubjectKey(usubjid={u: f"{studyid}-{s}" for u, s in new_subjid.items()}, subjid=new_subjid,
                      offset=offsets, original_subjid=dict(subjids))


def pseudonym_id(secret: bytes, value: str) -> str:
    """A reference id (specimen, accession, record id) replaced by 'ID-' and 16 hex digits of HMAC(secret, value)."""
    return "ID-" + _mac(secret, "reference-id", value.strip()).hex()[:16].upper()


def site_codes(sites: set[str], mode: str, secret: bytes, pooled_value: str, prefix: str) -> dict[str, str]:
    """Original site id -> shared value: one pooled value, neutral codes in a secret order, or the id itself."""
    if mode == "pool":
        return {s: pooled_value for s in sites}
    if mode == "keep":
        return {s: s for s in sites}
    ordered = sorted(sites, key=lambda s: _mac(secret, "site-order", s))
    return {s: f"{prefix}{i:02d}" for i, s in enumerate(ordered, start=1)}
