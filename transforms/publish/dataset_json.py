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


def dataset_json(ds: Dataset, desc: Description, study: StudyConfig, created: str, rows: bool = True) -> dict:
    """One dataset as a Dataset-JSON 1.1 object; `created` (the data cut) is its creation time (without its rows: rows=False)."""
    table = pq.read_table(_parquet(ds, desc)) if rows else None
    records = table.num_rows if table is not None else pq.read_metadata(_parquet(ds, desc)).num_rows
    doc = {
        "datasetJSONCreationDateTime": created,
        "datasetJSONVersion": DATASET_JSON_VERSION,
        "fileOID": f"{study.study_id}.{desc.standard}.{ds.name}",
        "originator": "cdiscflow",
        "sourceSystem": {"name": "cdiscflow", "version": getattr(transforms, "__version__", "0")},
        "studyOID": study.study_id,
        "metaDataVersionOID": f"MDV.{study.study_id}.{desc.standard}",
        "metaDataRef": "define.xml",
        "itemGroupOID": f"IG.{ds.name}",
        "records": records,
        "name": ds.name,
        "label": ds.label,
        "columns": [_column(ds, v) for v in ds.variables],
    }
    if table is not None:
        columns = [table[v.name].to_pylist() for v in ds.variables]
        doc["rows"] = [[_value(c[i]) for c in columns] for i in range(records)]
    return doc


def _parquet(ds: Dataset, desc: Description) -> Path:
    return desc.folder / f"{ds.leaf.rsplit('.', 1)[0]}.parquet"


def _dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _json_cells(col: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """Each cell of a column as the JSON text _dumps writes for it, made a whole column at a time."""
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        if pc.any(pc.match_substring_regex(col, r"[\x00-\x1f]")).as_py():
            return pa.array([_dumps(v) for v in col.to_pylist()], pa.string())  # control characters: rare
        text = pc.replace_substring(pc.replace_substring(col, "\\", "\\\\"), '"', '\\"')
        quote, nothing = pa.scalar('"', t), pa.scalar("", t)  # string or large_string alike
        return pc.fill_null(pc.binary_join_element_wise(quote, text, quote, nothing), "null")
    if pa.types.is_integer(t):
        return pc.fill_null(pc.cast(col, pa.string()), "null")
    if pa.types.is_float64(t):
        # Python's shortest repr of each distinct number (Arrow writes 1.0 as "1"), distinct by its bits (-0.0).
        bits = pc.if_else(pc.is_nan(col), pa.scalar(None, t), col).combine_chunks().view(pa.int64())
        distinct = pc.unique(bits.drop_null())
        written = pa.array([_dumps(v) for v in distinct.view(pa.float64()).to_pylist()], pa.string())
        return pc.fill_null(pc.take(written, pc.index_in(bits, value_set=distinct)), "null")
    if pa.types.is_date32(t):
        return pc.fill_null(pc.binary_join_element_wise('"', pc.strftime(col, "%Y-%m-%d"), '"', ""), "null")
    if pa.types.is_timestamp(t) and t.tz is None:
        seconds = pc.cast(col, pa.timestamp("s"), safe=False)  # isoformat(timespec="seconds") drops the fraction
        return pc.fill_null(pc.binary_join_element_wise('"', pc.strftime(seconds, "%Y-%m-%dT%H:%M:%S"), '"', ""),
                            "null")
    return pa.array([_dumps(_value(v)) for v in col.to_pylist()], pa.string())


def dataset_json_text(ds: Dataset, desc: Description, study: StudyConfig, created: str) -> str:
    """dataset_json() as the JSON text written to the file (compact, UTF-8), its rows built column-wise."""
    doc = dataset_json(ds, desc, study, created, rows=False)
    if not ds.variables or not doc["records"]:
        return _dumps(dataset_json(ds, desc, study, created))
    table = pq.read_table(_parquet(ds, desc), columns=[v.name for v in ds.variables])
    # One text type for every column (a share package may hold large_string columns).
    cells = [pc.cast(pa.chunked_array([c]) if isinstance(c, pa.Array) else c, pa.large_string())
             for c in (_json_cells(table[v.name]) for v in ds.variables)]
    del table
    text = {s: pa.scalar(s, pa.large_string()) for s in ("[", ",", "]", "")}
    rows = pc.binary_join_element_wise(text["["], pc.binary_join_element_wise(*cells, text[","]), text["]"], text[""])
    del cells
    return _dumps(doc)[:-1] + ',"rows":[' + ",".join(rows.to_pylist()) + "]}"  # rows: the document's last key


def write_dataset_json(desc: Description, study: StudyConfig, created: str) -> list[Path]:
    """Write <name>.json beside each <name>.parquet of the description's folder; returns the files."""
    written = []
    for ds in desc.datasets:
        path = desc.folder / f"{ds.name.lower()}.json"
        path.write_text(dataset_json_text(ds, desc, study, created) + "\n", encoding="utf-8")
        written.append(path)
    return written
