"""Study configuration: one pydantic model family loaded from studies/<study>/ (data, not code).

This module holds the study-level models (study.yaml, visits, LIS test maps) and the loaders;
`transforms.config.adam` the ADaM settings and `transforms.config.quality` the quality settings.
A study is loaded once per process and folder (`load_study` is cached; the models are frozen).

A study folder may inherit from another: `extends: <study>` in its study.yaml merges the base's
study.yaml under its own (mappings key by key, anything else replaced), and every file the study
reads (`study_file`) is the study's own when its folder has it, else the base's. A new study that
differs from an existing one in a few places is a folder holding only those places.
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
# Settings about all studies (the default one); a study's own settings are in its folder.
STUDIES_INDEX = "studies.yaml"


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
    bases: tuple[Path, ...] = ()  # folders inherited through `extends`, nearest first
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
        return self.study_file(self.edc.metadata)

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
            for r in read_csv_rows(self.study_file("visits.csv"))
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
                ) for r in read_csv_rows(self.study_file(s.lab.test_map))}
                for site, s in self.sites.items() if s.lab is not None}

    @property
    def folders(self) -> tuple[Path, ...]:
        """The study's folder and the folders it inherits from, nearest first."""
        return (self.folder, *self.bases)

    def study_file(self, name: str) -> Path:
        """A file (or folder) of the study: its own folder's when there, else the nearest base's that has it."""
        return next((f / name for f in self.folders if (f / name).exists()), self.folder / name)

    def inherited_file(self, name: str) -> Path | None:
        """The file `name` the study would read without its own folder's copy (None when no base has it)."""
        return next((f / name for f in self.bases if (f / name).exists()), None)


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
    """The study to use when none is named: $CDISCFLOW_STUDY, else the only folder under studies/, else the
    `default` of studies/studies.yaml."""
    named = os.environ.get(STUDY_ENV)
    if named:
        return named
    folders = sorted(p.name for p in STUDIES_DIR.iterdir() if (p / "study.yaml").is_file())
    if len(folders) == 1:
        return folders[0]
    index = STUDIES_DIR / STUDIES_INDEX
    default = (yaml.safe_load(index.read_text(encoding="utf-8")) or {}).get("default") if index.is_file() else None
    if default:
        return str(default)
    raise ValueError(f"{len(folders)} studies under {STUDIES_DIR} ({', '.join(folders)}): "
                     f"name one with --study or ${STUDY_ENV}")


def load_study(study: str) -> StudyConfig:
    """Load and validate a study's configuration folder (once per folder: the model is frozen)."""
    return _load_study_folder(study_dir(study))


@cache
def _load_study_folder(folder: Path) -> StudyConfig:
    content, bases = _study_yaml(folder, ())
    return StudyConfig(folder=folder, bases=bases, **content)


def load_study_outline(folder: Path) -> StudyOutline:
    """The scheduling outline of a study folder (StudyOutline): only its study.yaml (and those it extends) is read."""
    content, _ = _study_yaml(folder, ())
    return StudyOutline(folder=folder, **content)


def _study_yaml(folder: Path, seen: tuple[Path, ...]) -> tuple[dict, tuple[Path, ...]]:
    # A study.yaml merged over the ones it extends; the bases' folders, nearest first.
    if folder in seen:
        raise ValueError(f"study folders extend each other in a cycle: {' -> '.join(map(str, (*seen, folder)))}")
    content = yaml.safe_load((folder / "study.yaml").read_text(encoding="utf-8")) or {}
    if not isinstance(content, dict):
        raise ValueError(f"{folder / 'study.yaml'} does not hold a mapping of settings")
    base_name = content.pop("extends", None)
    if base_name is None:
        return content, ()
    sibling = folder.parent / str(base_name).lower()  # a base beside the study first, then as `study_dir` finds it
    base = sibling if (sibling / "study.yaml").is_file() else study_dir(str(base_name))
    base_content, base_bases = _study_yaml(base, (*seen, folder))
    return merge_settings(base_content, content), (base, *base_bases)


def merge_settings(base: dict, override: dict) -> dict:
    """`override` over `base`: mappings merged key by key, any other value replaced."""
    out = dict(base)
    for key, value in override.items():
        out[key] = merge_settings(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            else value
    return out
