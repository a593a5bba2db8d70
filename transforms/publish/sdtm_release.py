"""Reading an SDTM release (or a run's staged SDTM): one Parquet file per domain, lineage beside it."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from transforms.standards.metadata import variable_meta


class SdtmRelease:
    """The SDTM datasets of `sdtm_dir` (and their lineage in the sibling `lineage/`), each read once."""

    def __init__(self, sdtm_dir: Path) -> None:
        self.dir = Path(sdtm_dir)
        self._cache: dict[str, pd.DataFrame] = {}

    def path(self, domain: str) -> Path:
        """Where the dataset of a domain is (or would be)."""
        return self.dir / f"{domain.lower()}.parquet"

    def has(self, domain: str) -> bool:
        """Whether the release holds the dataset (SDTM publishes no empty datasets)."""
        return self.path(domain).exists()

    def get(self, domain: str) -> pd.DataFrame:
        """A domain as a DataFrame; a domain the release does not hold is an empty frame with SDTMIG columns."""
        key = domain.upper()
        if key not in self._cache:
            if self.has(key):
                df = pd.read_parquet(self.path(key))
            else:
                df = pd.DataFrame(
                    {v.name: pd.Series(dtype="string" if v.type == "Char" else "Float64") for v in variable_meta(key)}
                )
            self._cache[key] = df
        return self._cache[key].copy()

    def domains(self) -> list[str]:
        """Datasets present, upper-case names."""
        return sorted(p.stem.upper() for p in self.dir.glob("*.parquet"))

    def lineage(self, domain: str) -> pd.DataFrame | None:
        """The lineage of a domain (source file and record of each row), None when there is none."""
        p = self.dir.parent / "lineage" / f"{domain.lower()}.parquet"
        return pd.read_parquet(p) if p.exists() else None
