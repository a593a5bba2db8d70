"""CDISC Dataset-JSON 1.1 copies of the Parquet datasets (one file per dataset, deterministic bytes)."""
from __future__ import annotations

import json
import math
from datetime import date, datetime
from functools import cache
from importlib import resources
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import transforms
from transforms.config import StudyConfig
from transforms.publish.describe import Dataset, Description

DATASET_JSON_VERSION = "1.1.0"
SCHEMA_FILE = "dataset.schema.json"


@cache
def dataset_json_schema() -> dict:
    """The Dataset-JSON 1.1 JSON schema (copied from the CDISC rules engine; see the standards README)."""
    text = resources.files("transforms.standards").joinpath("schemas", SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def _value(v: object) -> object:
    """A cell as Dataset-JSON holds it: null for missing, ISO 8601 text for dates, numbers as numbers."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, datetime):
        return v.isoformat(timespec="seconds")
    if isinstance(v, date):
        return v.isoformat()
    return v


def _cells(col: pa.ChunkedArray) -> list:
    """A column's cells as _value gives them, converted a whole column at a time where Arrow can."""
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t) or pa.types.is_boolean(t):
        return col.to_pylist()
    if pa.types.is_floating(t):
        return pc.if_else(pc.is_nan(col), pa.scalar(None, t), col).to_pylist()
    return [_value(v) for v in col.to_pylist()]


def _column(ds: Dataset, v) -> dict:
    col: dict = {"itemOID": f"IT.{ds.name}.{v.name}", "name": v.name, "label": v.label or v.name,
                 "dataType": v.json_type}
    if v.json_type in ("date", "datetime"):
        col["targetDataType"] = "integer"  # numeric SAS date/datetime in the XPT (Dataset-JSON 1.1 section 3.2)
    if v.json_length:
        col["length"] = v.json_length
    if v.display_format:
        col["displayFormat"] = v.display_format
    if v.key_sequence:
        col["keySequence"] = v.key_sequence
    return col


def dataset_json(ds: Dataset, desc: Description, study: StudyConfig, created: str) -> dict:
    """One dataset as a Dataset-JSON 1.1 object; `created` (the data cut) is its creation time."""
    table = pq.read_table(desc.folder / f"{ds.leaf.rsplit('.', 1)[0]}.parquet")
    columns = [_cells(table[v.name]) for v in ds.variables]
    rows = [list(r) for r in zip(*columns, strict=True)] if columns else [[] for _ in range(table.num_rows)]
    return {
        "datasetJSONCreationDateTime": created,
        "datasetJSONVersion": DATASET_JSON_VERSION,
        "fileOID": f"{study.study_id}.{desc.standard}.{ds.name}",
        "originator": "cdiscflow",
        "sourceSystem": {"name": "cdiscflow", "version": getattr(transforms, "__version__", "0")},
        "studyOID": study.study_id,
        "metaDataVersionOID": f"MDV.{study.study_id}.{desc.standard}",
        "metaDataRef": "define.xml",
        "itemGroupOID": f"IG.{ds.name}",
        "records": table.num_rows,
        "name": ds.name,
        "label": ds.label,
        "columns": [_column(ds, v) for v in ds.variables],
        "rows": rows,
    }


def write_dataset_json(desc: Description, study: StudyConfig, created: str) -> list[Path]:
    """Write <name>.json beside each <name>.parquet of the description's folder; returns the files."""
    written = []
    for ds in desc.datasets:
        path = desc.folder / f"{ds.name.lower()}.json"
        text = json.dumps(dataset_json(ds, desc, study, created), ensure_ascii=False, allow_nan=False,
                          separators=(",", ":"))
        path.write_text(text + "\n", encoding="utf-8")
        written.append(path)
    return written
