"""ADaM variable metadata (ADaMIG 1.3, SDTMIG 3.4 for copied variables, sponsor variables) and the writer."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd
import pyarrow as pa

from transforms.config.adam import AdamConfig, DatasetSpec, adam_variable_origin
from transforms.publish.parquet import write_table
from transforms.standards.metadata import variable_meta

ADAMIG_VERSION = "1.3"
_PLACEHOLDERS = {"xx": r"\d{2}", "zz": r"\d{2}", "y": r"\d{1,2}", "w": r"\d{1,2}"}
# Whole-number ADaM variables are int64 (as --DY/--SEQ are in this project's SDTM); dates are date32
# (*DT) and local date-times timestamp[s] (*DTM), never strings; every other Num is float64.
_INTEGER = re.compile(r"^(?:ASEQ|CNSR|SRCSEQ|TRTDURD|NINFUS|AWTARGET|AWLO|AWHI|AWTDIFF|[A-Z]*DY|[A-Z]{2}SEQ)$")


@dataclass(frozen=True)
class AdamVariable:
    """Name, label, type (Char/Num) and the reference that defines it (ADaMIG 1.3 section, SDTMIG domain, sponsor).

    The reference is not the variable's Define-XML origin: that (Predecessor, Derived, Assigned) is
    `transforms.config.adam.adam_variable_origin`, from the dataset's configuration.
    """

    name: str
    label: str
    type: str
    reference: str


@lru_cache(maxsize=1)
def _adamig() -> dict[str, list[tuple[re.Pattern[str], str, str, str, str]]]:
    text = resources.files("transforms.standards").joinpath("adamig_1_3_variables.csv").read_text(encoding="utf-8")
    out: dict[str, list] = {}
    for r in csv.DictReader(io.StringIO(text)):
        name = r["VARIABLE"]
        pattern, token = name, None
        for ph, rx in _PLACEHOLDERS.items():
            if ph in name and name.replace(ph, "").isupper():
                pattern, token = name.replace(ph, f"(?P<n>{rx})"), ph
                break
        out.setdefault(r["STRUCTURE"], []).append(
            (re.compile(f"^{pattern}$"), token or "", r["LABEL"], r["TYPE"], r["SOURCE"])
        )
    return out


def adamig_variable(structure: str, name: str) -> AdamVariable | None:
    """The ADaMIG definition of a variable in a structure (ADSL, BDS, OCCDS), placeholders filled in."""
    for rx, token, label, typ, source in _adamig().get(structure, []):
        m = rx.match(name)
        if m:
            if token:
                label = re.sub(rf"\b{token}\b", m["n"], label)
            return AdamVariable(name, label, typ, source)
    return None


def variable_definition(name: str, spec: DatasetSpec, cfg: AdamConfig) -> AdamVariable:
    """ADaMIG first (the dataset's structure, then ADSL), then SDTMIG for copied variables, then the sponsor's."""
    for structure in (spec.structure, "ADSL"):
        v = adamig_variable(structure, name)
        if v:
            return v
    for domain in spec.sdtm:
        for v in variable_meta(domain):
            if v.name == name:
                return AdamVariable(name, v.label, v.type, f"SDTMIG 3.4 {domain}")
    if name in cfg.variables:
        c = cfg.variables[name]
        return AdamVariable(name, c.label, c.type, "sponsor")
    raise KeyError(f"no ADaMIG, SDTMIG or sponsor definition for {name} (add it to adam/variables.csv)")


def arrow_type(v: AdamVariable) -> pa.DataType:
    """Parquet type of an ADaM variable."""
    if v.type == "Char":
        return pa.string()
    if v.name.endswith("DTM"):
        return pa.timestamp("ms")
    if v.name.endswith("DT"):
        return pa.date32()
    return pa.int64() if _INTEGER.match(v.name) else pa.float64()


def _values(s: pd.Series, typ: pa.DataType) -> list:
    if pa.types.is_date32(typ):
        return [None if pd.isna(x) else pd.Timestamp(x).date() for x in s.tolist()]
    if pa.types.is_timestamp(typ):
        return [None if pd.isna(x) else pd.Timestamp(x).to_pydatetime() for x in s.tolist()]
    if pa.types.is_int64(typ):
        return [None if pd.isna(x) else int(x) for x in s.tolist()]
    if pa.types.is_float64(typ):
        return [None if pd.isna(x) else float(x) for x in s.tolist()]
    return [None if pd.isna(x) else str(x) for x in s.tolist()]


def _field_metadata(name: str, dataset: str, v: AdamVariable, cfg: AdamConfig) -> dict[str, str]:
    """A variable's Parquet field metadata: label, type, Define-XML origin (and predecessor) and defining reference."""
    origin, predecessor = adam_variable_origin(name, dataset, cfg.datasets)
    meta = {"label": v.label, "adam_type": v.type, "origin": origin, "reference": v.reference}
    return meta | ({"predecessor": predecessor} if predecessor else {})


def adam_table(
    df: pd.DataFrame, dataset: str, cfg: AdamConfig, extra_metadata: dict[str, str] | None = None
) -> pa.Table:
    """An Arrow table of an ADaM dataset in configured variable order and key order, metadata inside."""
    spec = cfg.datasets[dataset]
    missing = [c for c in spec.variables if c not in df.columns]
    if missing:
        raise KeyError(f"{dataset}: builder did not derive {missing}")
    data = df[spec.variables].sort_values(spec.keys, kind="stable", na_position="first").reset_index(drop=True)
    fields, arrays = [], []
    for name in spec.variables:
        v = variable_definition(name, spec, cfg)
        typ = arrow_type(v)
        fields.append(
            pa.field(name, typ, nullable=True, metadata=_field_metadata(name, dataset, v, cfg))
        )
        arrays.append(pa.array(_values(data[name], typ), type=typ))
    meta = {
        "dataset": dataset,
        "label": spec.label,
        "structure": spec.structure,
        "standard": f"ADaMIG {ADAMIG_VERSION}",
        "keys": " ".join(spec.keys),
    }
    meta.update(extra_metadata or {})
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields).with_metadata(meta))


def write_adam(
    df: pd.DataFrame, dataset: str, adam_dir: Path, cfg: AdamConfig, extra_metadata: dict[str, str] | None = None
) -> int:
    """Write adam_dir/<dataset>.parquet deterministically; returns the row count."""
    table = adam_table(df, dataset, cfg, extra_metadata)
    write_table(table, adam_dir / f"{dataset.lower()}.parquet")
    return table.num_rows


def derivations_metadata(notes: dict[str, str]) -> dict[str, str]:
    """Schema metadata entry describing derived parameters (PARAMCD -> algorithm)."""
    return {"derivations": json.dumps(notes, ensure_ascii=False, sort_keys=True)}
