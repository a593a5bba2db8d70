"""Deployment settings read from the environment, and the studies a deployment schedules.

Imported by the DAG files at parse time: keep it to the standard library and the study configuration.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from transforms.config import STUDIES_DIR, StudyOutline, load_study_outline

PROJECT_ROOT = STUDIES_DIR.parent
DEFAULT_CRON = "0 2 * * *"
log = logging.getLogger("cdiscflow.nightly")


@dataclass(frozen=True)
class StudyEntry:
    """A study the deployment schedules: the outline of its configuration read when the DAG file is parsed."""

    outline: StudyOutline

    @property
    def study_id(self) -> str:
        """The study's id."""
        return self.outline.study_id

    @property
    def folder(self) -> Path:
        """The study's configuration folder."""
        return self.outline.folder

    @property
    def timezone(self) -> str:
        """The study's time zone (of its nightly schedule)."""
        return self.outline.timezone

    @property
    def key(self) -> str:
        """Lower-case id used in DAG ids, asset URIs and folder names."""
        return self.study_id.lower()


def studies_root() -> Path:
    """Folder holding one sub-folder per study (CDISCFLOW_STUDIES, default the project's studies/)."""
    return Path(os.environ.get("CDISCFLOW_STUDIES") or STUDIES_DIR)


def configured_studies(root: Path | None = None) -> list[StudyEntry]:
    """Every study folder under the studies root whose study.yaml outlines a study, sorted by id.

    A folder whose outline cannot be read is left out with an error line, so that one broken study
    does not take the other studies' DAGs down with it.
    """
    root = root or studies_root()
    found = []
    for yml in sorted(root.glob("*/study.yaml")):
        try:
            found.append(StudyEntry(load_study_outline(yml.parent.resolve())))
        except (OSError, ValueError, ValidationError, yaml.YAMLError) as exc:
            reason = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()) \
                if isinstance(exc, ValidationError) else str(exc)
            log.error("Study folder %s is not scheduled: its study.yaml is not valid (%s)", yml.parent, reason)
    return sorted(found, key=lambda s: s.key)


def _study_path(variable: str, default: str, study_id: str) -> Path:
    # "{study}" lets one setting serve several studies; without it the folder is used as is.
    template = os.environ.get(variable) or default
    return Path(template.replace("{study}", study_id.lower())).expanduser().resolve()


def landing_dir(study_id: str) -> Path:
    """Where a study's nightly drop lands (CDISCFLOW_LANDING, `{study}` replaced by the study key)."""
    return _study_path("CDISCFLOW_LANDING", str(PROJECT_ROOT / "landing" / "{study}"), study_id)


def output_dir(study_id: str) -> Path:
    """Where a study's releases go (CDISCFLOW_OUT, `{study}` replaced by the study key)."""
    return _study_path("CDISCFLOW_OUT", str(PROJECT_ROOT / "out" / "{study}"), study_id)


def nightly_cron(study_id: str) -> str:
    """Cron expression of the nightly run, in the study's time zone (default 02:00 every day)."""
    return (os.environ.get(f"CDISCFLOW_NIGHTLY_CRON_{study_id.upper()}")
            or os.environ.get("CDISCFLOW_NIGHTLY_CRON") or DEFAULT_CRON)


def heavy_pool() -> str:
    """Airflow pool for the memory-heavy steps (ingest, build); default_pool unless a deployment sets one."""
    return os.environ.get("CDISCFLOW_POOL") or "default_pool"


def heavy_queue() -> str:
    """Celery queue for the memory-heavy steps, so they can go to bigger workers."""
    return os.environ.get("CDISCFLOW_QUEUE") or "default"


def asset_uri(study_id: str, layer: str) -> str:
    """URI of the Airflow Asset a layer (sdtm, adam) of a study's releases is published as."""
    return f"cdiscflow://{study_id.lower()}/{layer}"


def workspace_name(study_id: str, run_id: str) -> str:
    """A file-system-safe staging folder name for one DAG run of one study."""
    return f"{study_id.lower()}__{re.sub(r'[^A-Za-z0-9_.-]+', '_', run_id)}"
