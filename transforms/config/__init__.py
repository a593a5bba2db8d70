"""Study configuration: one pydantic model family loaded from studies/<study>/ (data, not code).

This module holds the study-level models (study.yaml, visits, LIS test maps) and the loaders;
`transforms.config.adam` the ADaM settings and `transforms.config.quality` the quality settings.
A study is loaded once per process and folder (`load_study` is cached; the models are frozen).
"""
from __future__ import annotations

import csv
import os
from functools import cache, cached_property
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

STUDIES_DIR = Path(__file__).resolve().parents[2] / "studies"
STUDY_ENV = "CDISCFLOW_STUDY"


class ConfigModel(BaseModel):
    """Base of every configuration model: unknown keys are errors, loaded models are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EdcConfig(ConfigModel):
    metadata: str
    snapshot_glob: str
    snapshot_name_pattern: str


class IdentifierConfig(ConfigModel):
    link_item: str
    items: list[str]


class LabStatusConfig(ConfigModel):
    final: list[str] = Field(default_factory=list)
    corrected: list[str] = Field(default_factory=list)
    cancelled: list[str] = Field(default_factory=list)


class LabSourceConfig(ConfigModel):
    glob: str
    # The whole file name as the contract spells it; a file the glob finds but this does not match
    # (`... - Copy.csv`) is reported, not read.
    name_pattern: str | None = None
    encoding: str
    columns: dict[str, str]
    datetime_format: str
    test_map: str
    status: LabStatusConfig | None = None


class SiteConfig(ConfigModel):
    country: str
    lab: LabSourceConfig | None = None


class RandomizationConfig(ConfigModel):
    file: str
    encoding: str = "utf-8-sig"
    key_item: str
    columns: dict[str, str]


class ArmConfig(ConfigModel):
    arm: str
    extrt: str
    dose_unit: str


class BlindedConfig(ConfigModel):
    armcd: str
    arm: str
    extrt: str


class ScreenFailureConfig(ConfigModel):
    armnrs: str


class ReferenceDates(ConfigModel):
    informed_consent: str
    exposure_start: str
    exposure_end: str
    exposure_given: str
    end_of_study: str
    death: str
    randomization: str
    randomization_number: str
    birth: str
    age: str


class EpochConfig(ConfigModel):
    before_exposure: str
    during_exposure: str
    after_exposure: str


class Visit(ConfigModel):
    event_oid: str
    visitnum: float | None
    visit: str
    visitdy: int | None
    window_lo: int | None
    window_hi: int | None
    date_items: list[str]


class LabTest(ConfigModel):
    local_test: str
    local_unit: str | None
    lbtestcd: str
    lbtest: str
    lbcat: str
    lbspec: str
    lbstresu: str | None
    factor: float


class StudyOutline(BaseModel):
    """What scheduling a study needs from its study.yaml (id, time zone, sites); the rest is not read.

    The Airflow DAG file builds each study's DAG from this at parse time; the tasks load the whole
    configuration (`load_study`) when they run, so an error elsewhere fails the run, not the DAG file.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    folder: Path
    study_id: str
    timezone: str
    sites: dict[str, SiteConfig]

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:  # an unknown zone fails here, not when the DAG's timetable is built
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class StudyConfig(ConfigModel):
    """The whole configuration of one study, as read from its folder."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    folder: Path
    study_id: str
    title: str
    protocol: str
    timezone: str
    edc: EdcConfig
    identifiers: IdentifierConfig
    sites: dict[str, SiteConfig]
    lab_result_text: dict[str, str] = Field(default_factory=dict)
    lab_cancelled_reason: str = "CANCELLED BY LABORATORY"
    randomization: RandomizationConfig
    arms: dict[str, ArmConfig]
    blinded: BlindedConfig
    screen_failure: ScreenFailureConfig
    reference_dates: ReferenceDates
    epochs: EpochConfig
    unit_aliases: dict[str, str] = Field(default_factory=dict)
    # Retention: releases kept after a publish (besides shared and locked ones); None keeps all.
    keep_releases: int | None = Field(default=None, ge=1)
    # Reuse what ingest made of a landed file on an earlier night (OUT/.cache/staged); false reads every file.
    cache: bool = True

    @property
    def metadata_path(self) -> Path:
        """Path of the study's ODM metadata (eCRF definition)."""
        return self.folder / self.edc.metadata

    @cached_property
    def visits(self) -> list[Visit]:
        """Planned and unscheduled visits, from visits.csv."""
        return [
            Visit(
                event_oid=r["EVENTOID"],
                visitnum=float(r["VISITNUM"]) if r["VISITNUM"] else None,
                visit=r["VISIT"],
                visitdy=int(r["VISITDY"]) if r["VISITDY"] else None,
                window_lo=int(r["WINDOW_LO"]) if r["WINDOW_LO"] else None,
                window_hi=int(r["WINDOW_HI"]) if r["WINDOW_HI"] else None,
                date_items=r["DATE_ITEMS"].split(),
            )
            for r in read_csv_rows(self.folder / "visits.csv")
        ]

    def lab_tests(self, site: str) -> dict[str, LabTest]:
        """The site's LIS test map, keyed by the local test name or code."""
        return self._lab_test_maps.get(site, {})

    @cached_property
    def _lab_test_maps(self) -> dict[str, dict[str, LabTest]]:
        # Read once per loaded study: every site's test map, keyed by the local test name or code.
        return {site: {r["LOCAL_TEST"]: LabTest(
                    local_test=r["LOCAL_TEST"],
                    local_unit=r["LOCAL_UNIT"] or None,
                    lbtestcd=r["LBTESTCD"],
                    lbtest=r["LBTEST"],
                    lbcat=r["LBCAT"],
                    lbspec=r["LBSPEC"],
                    lbstresu=r["LBSTRESU"] or None,
                    factor=float(r["FACTOR"]),
                ) for r in read_csv_rows(self.folder / s.lab.test_map)}
                for site, s in self.sites.items() if s.lab is not None}

    def study_file(self, name: str) -> Path:
        """A file of the study folder."""
        return self.folder / name


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a UTF-8 configuration CSV as dicts of strings (no NA guessing)."""
    with path.open(encoding="utf-8", newline="") as f:
        return [dict(r) for r in csv.DictReader(f)]


def study_dir(study: str) -> Path:
    """Folder of a configured study, by id (case-insensitive) or path."""
    p = Path(study)
    if p.is_dir():
        return p.resolve()
    candidate = STUDIES_DIR / study.lower()
    if candidate.is_dir():
        return candidate
    raise FileNotFoundError(f"no study configuration '{study}' (looked in {STUDIES_DIR})")


def default_study() -> str:
    """The study to use when none is named: $CDISCFLOW_STUDY, else the only folder under studies/."""
    named = os.environ.get(STUDY_ENV)
    if named:
        return named
    folders = sorted(p.name for p in STUDIES_DIR.iterdir() if (p / "study.yaml").is_file())
    if len(folders) != 1:
        raise ValueError(f"{len(folders)} studies under {STUDIES_DIR} ({', '.join(folders)}): "
                         f"name one with --study or ${STUDY_ENV}")
    return folders[0]


def load_study(study: str) -> StudyConfig:
    """Load and validate a study's configuration folder (once per folder: the model is frozen)."""
    return _load_study_folder(study_dir(study))


@cache
def _load_study_folder(folder: Path) -> StudyConfig:
    return StudyConfig(folder=folder, **_study_yaml(folder))


def load_study_outline(folder: Path) -> StudyOutline:
    """The scheduling outline of a study folder (StudyOutline): only its study.yaml is read."""
    return StudyOutline(folder=folder, **_study_yaml(folder))


def _study_yaml(folder: Path) -> dict:
    content = yaml.safe_load((folder / "study.yaml").read_text(encoding="utf-8"))
    if not isinstance(content, dict):
        raise ValueError(f"{folder / 'study.yaml'} does not hold a mapping of settings")
    return content
