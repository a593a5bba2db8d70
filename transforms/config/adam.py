"""ADaM configuration of a study: pydantic models read from studies/<study>/adam/ (data, not code)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import ConfigDict, Field

from transforms.config import ConfigModel, StudyConfig, read_csv_rows
from transforms.standards.metadata import domain_variables


@dataclass(frozen=True)
class Window:
    """One analysis window on the relative-day axis: [lo, hi] around a target day."""

    avisitn: float
    avisit: str
    target: int
    lo: int
    hi: int


@dataclass(frozen=True)
class MeldSpec:
    """The MELD formula of a protocol: coefficients on ln(mg/dL), floors, caps and rounding."""

    coef_creatinine: float
    coef_bilirubin: float
    coef_inr: float
    intercept: float
    floor: float
    creatinine_cap: float
    scale: float
    round_decimals: int
    score_cap: float


@dataclass(frozen=True)
class DateSource:
    """A dated fact that ends a subject's time to event: where it comes from and how it is described."""

    column: str
    description: str
    srcdom: str
    srcvar: str
    srcseq: str | None = None
    censor_date_description: str | None = None


class Source(ConfigModel):
    """Where a fact is in SDTM: a domain (or SUPP-- QNAM), record filters and the variable to take."""

    domain: str
    variable: str | None = None
    where: dict[str, str] = Field(default_factory=dict)
    exclude: dict[str, list[str]] = Field(default_factory=dict)
    qnam: str | None = None
    completed: str | None = None
    description: str | None = None
    # The ADSL variables this fact fills, by role (value, number, date, flag, count): a study's own
    # (sponsor-defined) variable names are configuration, not code.
    adsl: dict[str, str] = Field(default_factory=dict)


class Treatment(ConfigModel):
    name: str
    number: int


class AgeGroup(ConfigModel):
    label: str
    number: int
    lo: float
    hi: float


class PerProtocol(ConfigModel):
    """PPROTFL: ITT, the eligibility answer (a SUPP-- QNAM) equal to `eligible`, no criterion not met, all infusions."""

    infusions: int
    eligibility: Source
    eligible: str = "Y"


class LastKnownAlive(ConfigModel):
    """LSTALVDT: the latest complete date among the sources; after a death, at least the day before it."""

    contact: Source
    dates: list[str]
    day_before_death: bool = True


class AdslConfig(ConfigModel):
    """adam.yaml: the SDTM sources of ADSL and the study's groupings."""

    treatment_start: Source
    treatment_end: Source
    informed_consent: Source
    death: Source
    randomization: Source
    end_of_study: Source
    last_known_alive: LastKnownAlive
    liver_transplant: Source
    death_cause: Source
    etiology: Source
    ethnic_group: Source
    stratum: Source
    planned_dose: Source
    per_protocol: PerProtocol
    baseline_he: Source
    exposure: Source
    meld_variables: dict[Literal["baseline", "screening"], str]
    screening_visit: str
    treatments: dict[str, Treatment]
    dose_unit: str
    age_groups: list[AgeGroup]


class MeldComponent(ConfigModel):
    paramcd: str
    unit: str
    per_mgdl: float


class MeldConfig(ConfigModel):
    """meld.yaml: the derived MELD parameter."""

    paramcd: str
    param: str
    paramn: int
    parcat1: str
    components: dict[str, MeldComponent]
    coefficients: dict[str, float]
    floor: float
    creatinine_cap: float
    scale: float
    round_decimals: int
    score_cap: float
    derivation: str

    def spec(self) -> MeldSpec:
        """The formula as the derivation takes it."""
        c = self.coefficients
        return MeldSpec(
            c["creatinine"],
            c["bilirubin"],
            c["inr"],
            c["intercept"],
            self.floor,
            self.creatinine_cap,
            self.scale,
            self.round_decimals,
            self.score_cap,
        )


class TteParameter(ConfigModel):
    paramcd: str
    param: str
    paramn: int
    # pydantic validates the derivation's own dataclass: one definition of a date source.
    events: list[DateSource]
    terminating: list[DateSource] = Field(default_factory=list)
    censors: list[DateSource] = Field(default_factory=list)


class HorizonSource(ConfigModel):
    description: str
    srcdom: str
    srcvar: str
    censor_date_description: str


class TteConfig(ConfigModel):
    """tte.yaml: time-to-event parameters."""

    start: str
    horizon_days: int | None
    censor_rule: Literal["earliest", "latest"]
    horizon: HorizonSource | None = None
    parameters: list[TteParameter]


class CriterionSource(ConfigModel):
    domain: str
    paramcd: str | None = None
    where: dict[str, str] = Field(default_factory=dict)
    value: str | None = None


class Criterion(ConfigModel):
    paramcd: str
    param: str
    crit: str
    kind: Literal["alive_not_transplanted", "value", "any_of", "all_of"]
    source: CriterionSource | None = None
    op: str | None = None
    threshold: float | str | None = None
    times_reference: str | None = None
    of: list[str] = Field(default_factory=list)
    in_overall: bool = True


class RemissionConfig(ConfigModel):
    """remission.yaml: the responder endpoint and its criteria."""

    paramcd: str
    param: str
    paramn: int
    avisit: str
    horizon_days: int
    criteria: list[Criterion]


class AdaeConfig(ConfigModel):
    """adae.yaml: treatment emergence, date imputation and groupings."""

    treatment_emergent_end_window_days: int | None
    start_imputation: Literal["first"]
    end_imputation: Literal["last"]
    end_ceiling: list[str]
    severity: dict[str, int]
    relationship_groups: dict[str, list[str]]
    relationship_group_numbers: dict[str, int]


class DatasetSpec(ConfigModel):
    label: str
    structure: str
    keys: list[str]
    sdtm: list[str]
    variables: list[str]


class LabParameter(ConfigModel):
    paramcd: str
    lbtestcd: str
    param: str
    paramn: int
    parcat1: str


class CustomVariable(ConfigModel):
    name: str
    label: str
    type: Literal["Char", "Num"]
    note: str


class AdamConfig(ConfigModel):
    """Everything of studies/<study>/adam/."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    folder: Path
    adsl: AdslConfig
    windows: list[Window]
    lab_parameters: list[LabParameter]
    meld: MeldConfig
    tte: TteConfig
    remission: RemissionConfig
    adae: AdaeConfig
    datasets: dict[str, DatasetSpec]
    variables: dict[str, CustomVariable]


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_adam_config(study: StudyConfig) -> AdamConfig:
    """Read and validate the study's ADaM configuration folder (once per study folder: the model is frozen)."""
    return _load_adam_folder(study.study_file("adam"))


@cache
def _load_adam_folder(folder: Path) -> AdamConfig:
    windows = [
        Window(float(r["AVISITN"]), r["AVISIT"], int(r["TARGET"]), int(r["LO"]), int(r["HI"]))
        for r in read_csv_rows(folder / "windows.csv")
    ]
    params = [
        LabParameter(
            paramcd=r["PARAMCD"],
            lbtestcd=r["LBTESTCD"],
            param=r["PARAM"],
            paramn=int(r["PARAMN"]),
            parcat1=r["PARCAT1"],
        )
        for r in read_csv_rows(folder / "lab_parameters.csv")
    ]
    custom = {
        r["VARIABLE"]: CustomVariable(name=r["VARIABLE"], label=r["LABEL"], type=r["TYPE"], note=r["NOTE"])
        for r in read_csv_rows(folder / "variables.csv")
    }
    return AdamConfig(
        folder=folder,
        adsl=AdslConfig(**_yaml(folder / "adam.yaml")),
        windows=windows,
        lab_parameters=params,
        meld=MeldConfig(**_yaml(folder / "meld.yaml")),
        tte=TteConfig(**_yaml(folder / "tte.yaml")),
        remission=RemissionConfig(**_yaml(folder / "remission.yaml")),
        adae=AdaeConfig(**_yaml(folder / "adae.yaml")),
        datasets={k: DatasetSpec(**v) for k, v in _yaml(folder / "datasets.yaml").items()},
        variables=custom,
    )


# Define-XML 2.1 origin types: set by the sponsor (parameter names, criteria) or computed.
_ADAM_ASSIGNED = re.compile(r"^(?:PARAM|PARAMCD|PARAMN|PARCAT\d+|CRIT\d+|AWU)$")


def adam_variable_origin(name: str, dataset: str, specs: dict[str, DatasetSpec]) -> tuple[str, str | None]:
    """(origin type, predecessor) of an ADaM variable: copied from ADSL or SDTM is Predecessor, else Derived/Assigned."""
    spec = specs[dataset]
    if dataset != "ADSL" and "ADSL" in specs and name in specs["ADSL"].variables:
        return "Predecessor", f"ADSL.{name}"
    for domain in spec.sdtm:
        if any(v.name == name for v in domain_variables(domain)):
            return "Predecessor", f"{domain}.{name}"
    if _ADAM_ASSIGNED.match(name):
        return "Assigned", None
    return "Derived", None
