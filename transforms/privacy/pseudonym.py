"""Pseudonyms of specimen and accession numbers: a keyed hash, stable across nights.

A LIS specimen number may be built from the patient's MRN, and a plain hash of a short number can be
reversed by trying every number: the key makes that impossible without the study's secret. The
original number stays in the run's staging only.
"""
from __future__ import annotations

from collections.abc import Callable

import hashlib
import hmac
import os

import pandas as pd

KEY_ENV = "CDISCFLOW_PSEUDONYM_KEY"
# Used only when neither the environment nor the study configuration names a key (tests, demos):
# production sets CDISCFLOW_PSEUDONYM_KEY_<STUDY> or CDISCFLOW_PSEUDONYM_KEY (see README, Privacy).
DEFAULT_KEY = "cdiscflow-default-pseudonym-key (not secret: set CDISCFLOW_PSEUDONYM_KEY in production)"
PREFIX = "SPEC-"
DIGITS = 16  # 64 bits of the HMAC: no collision among a study's specimens in practice


def pseudonym_key(study_id: str, configured: str | None = None) -> bytes:
    """The study's secret: CDISCFLOW_PSEUDONYM_KEY_<STUDY>, else CDISCFLOW_PSEUDONYM_KEY, else the configured value, else the default."""
    env_study = f"{KEY_ENV}_{''.join(c if c.isalnum() else '_' for c in study_id.upper())}"
    key = os.environ.get(env_study) or os.environ.get(KEY_ENV) or configured or DEFAULT_KEY
    return key.encode("utf-8")


def pseudonymise(value: str, key: bytes) -> str:
    """SPEC- and the first 16 hex digits of HMAC-SHA256(key, value); empty stays empty."""
    if not isinstance(value, str) or not value.strip():
        return value
    return PREFIX + hmac.new(key, value.strip().encode("utf-8"), hashlib.sha256).hexdigest()[:DIGITS].upper()


def specimen_pseudonym(study_id: str, configured: str | None = None) -> Callable[[str], str]:
    """The study's specimen-number pseudonym, as one function: LB, lineage and every finding use this one."""
    key = pseudonym_key(study_id, configured)
    return lambda value: pseudonymise(value, key)


def pseudonymise_specimens(specids: pd.Series, study_id: str, configured: str | None = None) -> pd.Series:
    """A column of specimen/accession numbers replaced by their pseudonyms."""
    shown = specimen_pseudonym(study_id, configured)
    return specids.map(lambda v: shown(v) if isinstance(v, str) else v).astype(specids.dtype)
