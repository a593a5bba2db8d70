"""SDTM datasets as the quality checks read them: each record traced to its source file and record."""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

import pandas as pd

from transforms.cdisc.findings import Finding
from transforms.publish.sdtm_release import SdtmRelease


class SdtmData(SdtmRelease):
    """The SDTM datasets under `root/sdtm` (lineage under `root/lineage`) as findings see them: traced to source."""

    def __init__(self, root: Path, study_id: str) -> None:
        super().__init__(root / "sdtm")
        self.study_id = study_id
        self._sources: dict[str, dict[tuple[str, str], tuple[str, str]]] = {}

    @cached_property
    def site_of(self) -> dict[str, str]:
        """USUBJID -> SITEID."""
        dm = self.get("DM")
        return dict(zip(dm["USUBJID"], dm["SITEID"], strict=True)) if not dm.empty else {}

    def source(self, domain: str) -> dict[tuple[str, str], tuple[str, str]]:
        """(USUBJID, record key) -> (source file, record); the key is --SEQ or the natural key.

        Read once per domain: every finding about a record looks its source up here.
        """
        if domain not in self._sources:
            lin = self.lineage(domain)
            if lin is None:
                self._sources[domain] = {}
            else:
                keys = [c for c in lin.columns if c not in ("STUDYID", "USUBJID", "SRCFILE", "SRCRECORD")]
                texts = record_keys(lin, keys)
                # Later rows win on a repeated key, as a dict built row by row would have it.
                self._sources[domain] = dict(zip(zip(lin["USUBJID"], texts, strict=True),
                                                 zip(lin["SRCFILE"], lin["SRCRECORD"], strict=True), strict=True))
        return self._sources[domain]

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


def _key_value(v: object) -> str:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return ""
    return v if isinstance(v, str) else f"{float(v):g}"


def record_key(row: pd.Series | dict, keys: list[str]) -> str:
    """A record's key as text, the same whether read from a dataset or from its lineage."""
    return " ".join(f"{k}={_key_value(row.get(k))}" for k in keys)


def record_keys(df: pd.DataFrame, keys: list[str]) -> list[str]:
    """`record_key` of every row of `df`, column by column."""
    columns = [[f"{k}={_key_value(v)}" for v in df[k].tolist()] if k in df else [f"{k}="] * len(df) for k in keys]
    return [" ".join(parts) for parts in zip(*columns, strict=True)] if columns else [""] * len(df)
