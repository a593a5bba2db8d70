"""Report configuration of a study: pydantic models read from studies/<study>/reports/ (data, not code)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml

from transforms.config import ConfigModel, StudyConfig


class BaselineRow(ConfigModel):
    """One characteristic of the baseline table: an ADSL variable, its label and how it is summarised."""

    variable: str
    label: str
    summary: Literal["continuous", "categorical"]


class DispositionWording(ConfigModel):
    """Words of the disposition figure."""

    completed: str


class MortalityReport(ConfigModel):
    """The time-to-event section: the parameter (ADTTE PARAMCD) and the section's words.

    `note` is formatted with {horizon_days} (tte.yaml) and {day} (the landmark AVAL, horizon_days + 1).
    """

    paramcd: str
    title: str
    empty_title: str
    figure_title: str
    time_axis: str
    risk_table_title: str
    risk_table_every_days: int
    note: str


class RemissionReport(ConfigModel):
    """The responder section's words (the parameter is remission.yaml's)."""

    title: str
    criteria_title: str


class ToplineConfig(ConfigModel):
    """reports/topline.yaml: what the topline page reports and how it names it."""

    disposition: DispositionWording
    baseline: list[BaselineRow]
    mortality: MortalityReport
    remission: RemissionReport


def load_topline_config(study: StudyConfig) -> ToplineConfig:
    """Read and validate the study's topline configuration (once per file: the model is frozen)."""
    return _load_topline(study.study_file("reports/topline.yaml"))


@cache
def _load_topline(path: Path) -> ToplineConfig:
    return ToplineConfig.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
