"""Read access to a set of SDTM datasets and their lineage (a workspace or a release)."""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

import pandas as pd

from transforms.cdisc.findings import Finding


class SdtmData:
    """SDTM datasets under `root/sdtm`, lineage under `root/lineage`, loaded on demand."""

    def __init__(self, root: Path, study_id: str) -> None:
        self.root = root
        self.study_id = study_id
        self._cache: dict[str, pd.DataFrame] = {}

    def has(self, domain: str) -> bool:
        """Whether the dataset exists (SDTM publishes no empty datasets)."""
        return (self.root / "sdtm" / f"{domain.lower()}.parquet").exists()

    def get(self, domain: str) -> pd.DataFrame:
        """A dataset (empty when absent)."""
        if domain not in self._cache:
            p = self.root / "sdtm" / f"{domain.lower()}.parquet"
            self._cache[domain] = pd.read_parquet(p) if p.exists() else pd.DataFrame()
        return self._cache[domain]

    def domains(self) -> list[str]:
        """Datasets present, upper-case names."""
        return sorted(p.stem.upper() for p in (self.root / "sdtm").glob("*.parquet"))

    @cached_property
    def site_of(self) -> dict[str, str]:
        """USUBJID -> SITEID."""
        dm = self.get("DM")
        return dict(zip(dm["USUBJID"], dm["SITEID"], strict=True)) if not dm.empty else {}

    def source(self, domain: str) -> dict[tuple[str, str], tuple[str, str]]:
        """(USUBJID, record key) -> (source file, record); the key is --SEQ or the natural key."""
        p = self.root / "lineage" / f"{domain.lower()}.parquet"
        if not p.exists():
            return {}
        lin = pd.read_parquet(p)
        keys = [c for c in lin.columns if c not in ("STUDYID", "USUBJID", "SRCFILE", "SRCRECORD")]
        return {(r["USUBJID"], record_key(r, keys)): (r["SRCFILE"], r["SRCRECORD"]) for _, r in lin.iterrows()}

    def finding(self, domain: str, row: pd.Series, *, rule: str, field: str, message: str, value: str = "",
                severity: str = "error") -> Finding:
        """A finding about one SDTM record, traced to its source file and record."""
        usubjid = str(row.get("USUBJID", ""))
        keys = [f"{domain}SEQ"] if f"{domain}SEQ" in row else [k for k in ("VISITNUM",) if k in row]
        seq_text = record_key(row, keys)
        srcfile, srcrec = self.source(domain).get((usubjid, seq_text), ("", ""))
        visit = row.get("VISIT")
        return Finding(severity=severity, rule=rule, source=srcfile or f"sdtm/{domain.lower()}.parquet",
                       record=srcrec or f"USUBJID={usubjid} {seq_text}", field=field, message=message,
                       value=value, site=self.site_of.get(usubjid, ""),
                       subjid=usubjid.removeprefix(f"{self.study_id}-"),
                       visit="" if visit is None or pd.isna(visit) else str(visit), domain=domain,
                       key=f"{domain} {srcrec}" if srcrec else "")


def record_key(row: pd.Series | dict, keys: list[str]) -> str:
    """A record's key as text, the same whether read from a dataset or from its lineage."""
    parts = []
    for k in keys:
        v = row.get(k)
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            v = ""
        elif not isinstance(v, str):
            v = f"{float(v):g}"
        parts.append(f"{k}={v}")
    return " ".join(parts)
