"""Interchange formats and metadata of a release (or of a share package of the same layout).

From folder/sdtm/*.parquet and folder/adam/*.parquet (labels in the Parquet field metadata) and the
study folder alone: ADaM SAS XPT v5 beside the ADaM Parquet, Dataset-JSON 1.1 of every SDTM and ADaM
dataset, one Define-XML 2.1 per standard (sdtm/define.xml, adam/define.xml) and the data dictionary
rendered from them (reports/data_dictionary.html and .csv). The SDTM XPT files are written by
`transforms.publish.xpt.write_release_xpt` (the define points at them when they are there, else at the
Dataset-JSON). Every time stamp is the data cut, so the same inputs give the same bytes.
"""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from transforms.config import StudyConfig
from transforms.publish.data_dictionary import write_data_dictionary
from transforms.publish.dataset_json import write_dataset_json
from transforms.publish.define_xml import write_define
from transforms.publish.describe import blind, describe_adam, describe_sdtm
from transforms.publish.parquet import read_labels
from transforms.publish.xpt import MAX_CHAR_BYTES, XptDataset, byte_length, split_into_columns, write_dataset

SAS_EPOCH = datetime(1960, 1, 1)
SAS_EPOCH_DAYS = (date(1970, 1, 1) - SAS_EPOCH.date()).days  # Arrow counts from 1970-01-01
SAS_EPOCH_SECONDS = SAS_EPOCH_DAYS * 86400
DICTIONARY_HTML = "reports/data_dictionary.html"
DICTIONARY_CSV = "reports/data_dictionary.csv"


def adam_xpt_dataset(parquet_path: Path) -> tuple[XptDataset, dict[str, str]]:
    """An ADaM Parquet dataset shaped for XPT v5, and the SAS formats of its numeric dates (DATE9., DATETIME20.)."""
    table = pq.read_table(parquet_path)
    md = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    label, labels = read_labels(parquet_path)
    out, formats = {}, {}
    for f in table.schema:
        col = table[f.name]
        if pa.types.is_date32(f.type):
            # ADaM *DT: a numeric SAS date (days since 1960-01-01) shown with DATE9. (ADaMIG 1.3 section 3.1.2)
            formats[f.name] = "DATE9"
            out[f.name] = _sas_number(pc.cast(col, pa.int32()), SAS_EPOCH_DAYS)
        elif pa.types.is_timestamp(f.type):
            # ADaM *DTM: a numeric SAS datetime (seconds since 1960-01-01 00:00) shown with DATETIME20.
            formats[f.name] = "DATETIME20"
            out[f.name] = _sas_datetime(col)
        elif pa.types.is_string(f.type):
            out[f.name] = pd.Series(pc.fill_null(col, "").to_numpy(zero_copy_only=False), dtype=object)
        else:
            out[f.name] = _sas_number(col, 0)
    frame = pd.DataFrame(out, index=range(table.num_rows))
    ds = XptDataset(md.get("dataset", parquet_path.stem.upper()), label, dict(labels), frame)
    return _continue_long_text(ds), formats


def _sas_number(col: pa.ChunkedArray, offset: int) -> pd.Series:
    """A numeric column as float64 (missing as NaN), `offset` added."""
    values = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
    return pd.Series(values + offset if offset else values, dtype="float64")


def _sas_datetime(col: pa.ChunkedArray) -> pd.Series:
    """Timestamps as SAS datetimes; whole seconds in integer arithmetic (exact), anything finer as Python does."""
    try:
        seconds = pc.cast(pc.cast(col, pa.timestamp("s", col.type.tz)), pa.int64())  # raises on a fraction
    except pa.ArrowInvalid:
        return pd.Series([None if v is None else (v - SAS_EPOCH).total_seconds() for v in col.to_pylist()],
                         dtype="float64")
    return _sas_number(pc.add(seconds, SAS_EPOCH_SECONDS), 0)


def _continue_long_text(ds: XptDataset) -> XptDataset:
    """Text over 200 bytes continues in <NAME>1, <NAME>2 ... right after it (as TS's TSVAL1..n; ADaM has no SUPP--)."""
    df = ds.frame
    for col in [c for c in df.columns if df[c].dtype == object]:
        long_rows = [int(i) for i in np.flatnonzero(byte_length(df[col]).to_numpy() > MAX_CHAR_BYTES)]
        if long_rows:
            df = split_into_columns(df, ds, col, long_rows)
    return XptDataset(ds.name, ds.label, ds.labels, df)


def write_adam_xpt(adam_dir: Path, data_cut: str | date | None) -> list[Path]:
    """Write every ADaM <name>.parquet as <name>.xpt beside it: numeric SAS dates with DATE9./DATETIME20."""
    written = []
    for path in sorted(adam_dir.glob("*.parquet")):
        ds, formats = adam_xpt_dataset(path)
        xpt_path = path.with_suffix(".xpt")
        write_dataset(ds, xpt_path, data_cut, variable_format=formats)
        written.append(xpt_path)
    return written


def write_sdtm_define(sdtm: Path, study: StudyConfig, *, data_cut: str, blinded: bool) -> Path:
    """sdtm/define.xml alone, as write_interchange writes it (what CDISC CORE reads beside the XPT files)."""
    desc = describe_sdtm(sdtm, study, blinded)
    blind(desc, study)
    write_define(desc, study, _created(data_cut), sdtm / "define.xml")
    return sdtm / "define.xml"


def _created(data_cut: str) -> str:
    return f"{str(data_cut)[:10]}T00:00:00"


def write_interchange(folder: Path, study: StudyConfig, *, data_cut: str, blinded: bool) -> list[str]:
    """Write ADaM XPT, Dataset-JSON 1.1 (SDTM and ADaM), define.xml per standard and the data dictionary for the Parquet datasets in folder/sdtm and folder/adam; return the relative paths written."""
    created = _created(data_cut)
    written: list[Path] = []
    defines: list[Path] = []
    adam = folder / "adam"
    if adam.is_dir() and any(adam.glob("*.parquet")):
        written += write_adam_xpt(adam, data_cut)
    for sub, describe in (("sdtm", describe_sdtm), ("adam", describe_adam)):
        path = folder / sub
        if not (path.is_dir() and any(path.glob("*.parquet"))):
            continue
        desc = describe(path, study, blinded)
        blind(desc, study)
        written += write_dataset_json(desc, study, created)
        define = path / "define.xml"
        write_define(desc, study, created, define)
        written.append(define)
        defines.append(define)
    if defines:
        html_path, csv_path = folder / DICTIONARY_HTML, folder / DICTIONARY_CSV
        write_data_dictionary(defines, html_path, csv_path, f"{study.study_id} data dictionary")
        written += [html_path, csv_path]
    return [p.relative_to(folder).as_posix() for p in written]
