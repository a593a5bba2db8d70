"""Deterministic Parquet writing with the SDTM dataset and variable metadata inside the file."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from transforms.standards.metadata import SDTMIG_VERSION, dataset_meta, domain_variables, pyarrow_type

WRITE_OPTIONS = {"compression": "zstd", "compression_level": 3, "use_dictionary": True, "write_statistics": True,
                 "data_page_version": "2.0", "version": "2.6"}


def sdtm_table(df: pd.DataFrame, domain: str) -> pa.Table:
    """An Arrow table of an SDTM dataset: SDTMIG types, labels and SDTM types in the field metadata."""
    meta = {v.name: v for v in domain_variables(domain)}
    fields = []
    for col in df.columns:
        v = meta[col]
        fields.append(pa.field(col, pyarrow_type(v), nullable=True,
                               metadata={"label": v.label, "sdtm_type": v.type, "core": v.core}))
    schema = pa.schema(fields)
    ds = dataset_meta(domain)
    label = ds.label
    schema = schema.with_metadata({
        "dataset": domain, "label": label, "class": ds.class_, "structure": ds.structure,
        "standard": f"SDTMIG {SDTMIG_VERSION}", "keys": " ".join(ds.keys),
    })
    arrays = [pa.array(df[c].astype(object).where(df[c].notna(), None).tolist(), type=f.type)
              for c, f in zip(df.columns, fields, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


def write_table(table: pa.Table, path: Path) -> None:
    """Write a table with fixed writer options (same data -> same bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp, **WRITE_OPTIONS)
    os.replace(tmp, path)  # a reader never sees half a file


def write_frame(df: pd.DataFrame, path: Path, metadata: dict[str, str] | None = None) -> None:
    """Write a plain DataFrame (lineage, findings) deterministically, with optional schema metadata."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata(metadata or {})
    write_table(table, path)


def read_labels(path: Path) -> tuple[str, dict[str, str]]:
    """(dataset label, variable labels) stored in an SDTM Parquet file."""
    schema = pq.read_schema(path)
    md = {k.decode(): v.decode() for k, v in (schema.metadata or {}).items()}
    labels = {f.name: (f.metadata or {}).get(b"label", b"").decode() for f in schema}
    return md.get("label", ""), labels


__all__ = ["sdtm_table", "write_table", "write_frame", "read_labels", "json"]
