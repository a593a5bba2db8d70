"""Quality configuration of a study: pydantic models read from studies/<study>/quality/ (data, not code)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field

from transforms.config import ConfigModel, StudyConfig


class StratumCheck(ConfigModel):
    """The randomization stratum (a SUPPDM QNAM) and the MELD range each stratum means."""

    qnam: str
    ranges: dict[str, tuple[float, float]]


class TestLimit(ConfigModel):
    """One test of an any-of criterion: the value must be at most `max` or at least `min`."""

    test: str
    min: float | None = None
    max: float | None = None


class EligibilityCheck(ConfigModel):
    """An eligibility criterion the screening data can re-check."""

    check: Literal["age", "lab_min", "any_of", "meld"]
    min: float | None = None
    max: float | None = None
    test: str | None = None
    tests: list[TestLimit] = Field(default_factory=list)
    note: str | None = None


class EligibilityAnswer(ConfigModel):
    """The eCRF answer "Were all eligibility criteria met?": its SUPPDM QNAM, item, form, and screen-failure DSDECOD."""

    qnam: str
    item: str
    form: str
    screen_failure_dsdecod: str


class CompletenessItem(ConfigModel):
    """A key result whose completeness per scheduled visit the quality report shows."""

    domain: str
    test: str
    # VISIT names where the protocol schedules the result; None: every scheduled visit. Elsewhere "n/a".
    visits: list[str] | None = None


class EditCheckConfig(ConfigModel):
    """quality/edit_checks.yaml; a study without the file gets only the checks that need no configuration."""

    stratum: StratumCheck | None = None
    eligibility: dict[str, EligibilityCheck] = Field(default_factory=dict)
    eligibility_answer: EligibilityAnswer | None = None
    completeness: list[CompletenessItem] = Field(default_factory=list)


def load_edit_check_config(study: StudyConfig) -> EditCheckConfig:
    """The study's edit-check configuration (once per study folder: the model is frozen)."""
    return _load_edit_checks(study.study_file("quality/edit_checks.yaml"))


@cache
def _load_edit_checks(path: Path) -> EditCheckConfig:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    return EditCheckConfig(**(raw or {}))
