"""Build the ADaM datasets of a release from its SDTM Parquet files: one writer per dataset (one Airflow task).

Each writer reads SDTM and the ADaM files of the datasets it needs (declared in
`transforms.adam.datasets`), builds the dataset (`build_<dataset>` of its module) and writes it;
`WRITERS` binds every declared dataset to its writer and is what `build_adam_dataset` dispatches on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from transforms.adam.adae import build_adae
from transforms.adam.adlb import build_adlb
from transforms.adam.adrs import build_adrs
from transforms.adam.adsl import build_adsl
from transforms.adam.adtte import build_adtte
from transforms.config.adam import AdamConfig, load_adam_config
from transforms.adam.datasets import ADAM_DATASETS
from transforms.adam.metadata import derivations_metadata, write_adam
from transforms.config import StudyConfig
from transforms.publish.sdtm_release import SdtmRelease


def _read(adam_dir: Path, dataset: str) -> pd.DataFrame:
    """An ADaM file written by an earlier step, with dates back as datetime64 for the derivations."""
    df = pd.read_parquet(adam_dir / f"{dataset.lower()}.parquet")
    for col in df.columns:
        if col.endswith("DT") or col.endswith("DTM"):
            df[col] = pd.to_datetime(df[col]).astype("datetime64[s]")
    return df


def _blinding(adsl: pd.DataFrame, study: StudyConfig) -> dict[str, str]:
    blinded = bool((adsl["ARMCD"] == study.blinded.armcd).any())
    return {"blinded": "true" if blinded else "false"}


def write_adsl(sdtm_dir: Path, adam_dir: Path, study: StudyConfig, cfg: AdamConfig | None = None) -> dict[str, int]:
    """ADSL from SDTM."""
    cfg = cfg or load_adam_config(study)
    adsl = build_adsl(SdtmRelease(sdtm_dir), study, cfg)
    return {"adsl": write_adam(adsl, "ADSL", adam_dir, cfg, _blinding(adsl, study))}


def write_adlb(sdtm_dir: Path, adam_dir: Path, study: StudyConfig, cfg: AdamConfig | None = None) -> dict[str, int]:
    """ADLB from SDTM and ADSL."""
    cfg = cfg or load_adam_config(study)
    adsl = _read(adam_dir, "ADSL")
    adlb = build_adlb(SdtmRelease(sdtm_dir), adsl, cfg)
    notes = derivations_metadata({cfg.meld.paramcd: " ".join(cfg.meld.derivation.split())})
    return {"adlb": write_adam(adlb, "ADLB", adam_dir, cfg, notes)}


def write_adtte(sdtm_dir: Path, adam_dir: Path, study: StudyConfig, cfg: AdamConfig | None = None) -> dict[str, int]:
    """ADTTE from ADSL's dates (and SDTM PR for the transplantation's sequence number)."""
    cfg = cfg or load_adam_config(study)
    adtte = build_adtte(_read(adam_dir, "ADSL"), cfg, SdtmRelease(sdtm_dir))
    return {"adtte": write_adam(adtte, "ADTTE", adam_dir, cfg)}


def write_adrs(sdtm_dir: Path, adam_dir: Path, study: StudyConfig, cfg: AdamConfig | None = None) -> dict[str, int]:
    """ADRS from SDTM RS, ADSL and ADLB."""
    cfg = cfg or load_adam_config(study)
    adrs = build_adrs(SdtmRelease(sdtm_dir), _read(adam_dir, "ADSL"), _read(adam_dir, "ADLB"), cfg)
    return {"adrs": write_adam(adrs, "ADRS", adam_dir, cfg)}


def write_adae(sdtm_dir: Path, adam_dir: Path, study: StudyConfig, cfg: AdamConfig | None = None) -> dict[str, int]:
    """ADAE from SDTM AE and ADSL."""
    cfg = cfg or load_adam_config(study)
    adae = build_adae(SdtmRelease(sdtm_dir), _read(adam_dir, "ADSL"), cfg)
    return {"adae": write_adam(adae, "ADAE", adam_dir, cfg)}


Writer = Callable[[Path, Path, StudyConfig, AdamConfig | None], dict[str, int]]

WRITERS: dict[str, Writer] = {
    "ADSL": write_adsl,
    "ADLB": write_adlb,
    "ADTTE": write_adtte,
    "ADRS": write_adrs,
    "ADAE": write_adae,
}
if WRITERS.keys() != ADAM_DATASETS.keys():
    raise RuntimeError(f"ADaM datasets without a writer or writers without a declaration: "
                       f"{sorted(WRITERS.keys() ^ ADAM_DATASETS.keys())}")


def build_adam_dataset(dataset: str, sdtm_dir: Path, adam_dir: Path, study: StudyConfig,
                       cfg: AdamConfig | None = None) -> dict[str, int]:
    """One ADaM dataset (its inputs already built into adam_dir); row counts."""
    return WRITERS[dataset.upper()](sdtm_dir, adam_dir, study, cfg)


def build_adam(sdtm_dir: Path, adam_dir: Path, study: StudyConfig) -> dict[str, int]:
    """Every ADaM dataset of the release, in dependency order; returns row counts per dataset."""
    cfg = load_adam_config(study)
    adam_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for dataset in ADAM_DATASETS:
        counts.update(build_adam_dataset(dataset, sdtm_dir, adam_dir, study, cfg))
    return counts
