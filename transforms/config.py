"""Study configuration: pydantic models loaded from studies/<study>/ (data, not code)."""
from __future__ import annotations

import csv
from functools import cached_property
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

STUDIES_DIR = Path(__file__).resolve().parent.parent / "studies"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EdcConfig(_Model):
    metadata: str
    snapshot_glob: str
    snapshot_name_pattern: str


class IdentifierConfig(_Model):
    link_item: str
    items: list[str]


class LabStatusConfig(_Model):
    final: list[str] = Field(default_factory=list)
    corrected: list[str] = Field(default_factory=list)
    cancelled: list[str] = Field(default_factory=list)


class LabSourceConfig(_Model):
    glob: str
    # The whole file name as the contract spells it; a file the glob finds but this does not match
    # (`... - Copy.csv`) is reported, not read.
    name_pattern: str | None = None
    encoding: str
    columns: dict[str, str]
    datetime_format: str
    test_map: str
    status: LabStatusConfig | None = None


class SiteConfig(_Model):
    country: str
    lab: LabSourceConfig | None = None


class RandomizationConfig(_Model):
    file: str
    encoding: str = "utf-8-sig"
    key_item: str
    columns: dict[str, str]


class ArmConfig(_Model):
    arm: str
    extrt: str
    dose_unit: str


class BlindedConfig(_Model):
    armcd: str
    arm: str
    extrt: str


class ScreenFailureConfig(_Model):
    armnrs: str


class ReferenceDates(_Model):
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


class EpochConfig(_Model):
    before_exposure: str
    during_exposure: str
    after_exposure: str


class Visit(_Model):
    event_oid: str
    visitnum: float | None
    visit: str
    visitdy: int | None
    window_lo: int | None
    window_hi: int | None
    date_items: list[str]


class LabTest(_Model):
    local_test: str
    local_unit: str | None
    lbtestcd: str
    lbtest: str
    lbcat: str
    lbspec: str
    lbstresu: str | None
    factor: float


class StudyConfig(_Model):
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
        lab = self.sites[site].lab
        if lab is None:
            return {}
        rows = read_csv_rows(self.folder / lab.test_map)
        return {
            r["LOCAL_TEST"]: LabTest(
                local_test=r["LOCAL_TEST"],
                local_unit=r["LOCAL_UNIT"] or None,
                lbtestcd=r["LBTESTCD"],
                lbtest=r["LBTEST"],
                lbcat=r["LBCAT"],
                lbspec=r["LBSPEC"],
                lbstresu=r["LBSTRESU"] or None,
                factor=float(r["FACTOR"]),
            )
            for r in rows
        }

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


def load_study(study: str = "nct03668171") -> StudyConfig:
    """Load and validate a study's configuration folder."""
    folder = study_dir(study)
    raw = yaml.safe_load((folder / "study.yaml").read_text(encoding="utf-8"))
    return StudyConfig(folder=folder, **raw)
