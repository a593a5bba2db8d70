"""Where one run keeps its intermediate files: every staged file's name, once."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Workspace:
    """The run's private folder under OUT/.staging (its files hold identifiers: same care as landing)."""

    out: Path
    run_id: str

    @property
    def root(self) -> Path:
        """The run's private folder."""
        return self.out / ".staging" / self.run_id

    @property
    def landing(self) -> Path:
        """The landing manifest."""
        return self.root / "landing.json"

    @property
    def staged_cache(self) -> Path:
        """What ingest made of each landed file, kept across runs (holds identifiers: private, never released)."""
        return self.out / ".cache" / "staged"

    @property
    def cache_used(self) -> Path:
        """The staged cache entries this run read or wrote (one empty file per key), for pruning at publish."""
        return self.root / "cache_used"

    @property
    def staged(self) -> Path:
        """Staged source tables (the ingest steps write them, the SDTM build reads them)."""
        return self.root / "staged"

    @property
    def edc_items(self) -> Path:
        """The newest EDC snapshot's item values."""
        return self.staged / "edc_items.parquet"

    def lab_results(self, site: str) -> Path:
        """One site's laboratory rows."""
        return self.staged / f"lab_{site}.parquet"

    @property
    def randomization(self) -> Path:
        """The unblinded randomization list, when it has landed."""
        return self.staged / "randomization.parquet"

    @property
    def sdtm_build(self) -> Path:
        """The built SDTM as a release lays it out (sdtm/ and lineage/), before publishing."""
        return self.root / "sdtm"

    @property
    def sdtm(self) -> Path:
        """SDTM datasets of the run."""
        return self.sdtm_build / "sdtm"

    @property
    def lineage(self) -> Path:
        """Lineage of the run's SDTM datasets."""
        return self.sdtm_build / "lineage"

    @property
    def core(self) -> Path:
        """CDISC CORE's raw report of each dataset it ran on (<DOMAIN>.json), or why it failed (<DOMAIN>.error)."""
        return self.root / "core"

    @property
    def adam(self) -> Path:
        """ADaM datasets of the run."""
        return self.root / "adam"

    @property
    def findings(self) -> Path:
        """Findings per step."""
        return self.root / "findings"

    def findings_of(self, name: str) -> Path:
        """One step's findings."""
        return self.findings / f"{name}.parquet"

    @property
    def gx_results(self) -> Path:
        """GX validation results of the run (for the Data Docs)."""
        return self.root / "gx_results"
