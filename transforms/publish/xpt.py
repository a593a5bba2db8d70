"""SAS XPT v5 copies of the SDTM datasets, for validators and submission tools that read no Parquet.

Decisions (the README's "XPT" section says the same for the analyst):

- **Encoding: UTF-8.** XPT v5 has no encoding field, so the bytes are what the reader assumes.
  The datasets carry Chinese verbatim text (AETERM, CMTRT, MHTERM, ...), which no single-byte
  SAS encoding can hold; the CDISC rules engine and pyreadstat read XPT as UTF-8 by default, and
  SAS reads it in a session started with ``ENCODING=UTF-8``. Every length and limit is counted
  in UTF-8 bytes (a Chinese character takes 3).
- **Text longer than 200 bytes is split, never truncated** (SDTMIG 3.4 section 4.5.3.2): the
  variable keeps the first piece and each further piece becomes a SUPP-- record with QNAM
  ``<variable>1``, ``<variable>2``, ... (last character replaced by the digit for 8-character
  names) and QLABEL ``<label> 1`` ...; TS gets TSVAL1..TSVALn columns (TS assumption), a long
  SUPP-- QVAL gets further records ``<QNAM>1``... Pieces break at the last space that fits (the
  space is the boundary: XPT drops trailing blanks and CORE-000867 forbids leading ones), or at a
  character boundary in text without spaces. Only the XPT copy is split; the Parquet keeps the
  whole text. Names, labels, --TEST/--TESTCD/IETEST, identifiers and timing variables cannot be
  split: an over-long value there raises XptLimitError naming dataset, variable and record.
- **Deterministic bytes.** ReadStat stamps the write time into the library and member headers
  (created and modified, ``ddMMMyy:hh:mm:ss``); those four fields are overwritten with midnight
  of the data cut (the SAS epoch 01JAN60 when there is none), so the same data give the same file.
- Num variables are written as doubles (IBM 370 floats in XPT: exact for every double in range);
  a value outside the IBM range would change silently, so it raises instead.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pyreadstat

from transforms.publish.parquet import read_labels
from transforms.standards.metadata import dataset_meta, variable_meta

XPT_ENCODING = "utf-8"
MAX_NAME = 8
MAX_LABEL = 40
MAX_CHAR_BYTES = 200
# Outside these magnitudes an IBM 370 double overflows or underflows to 0: not a faithful copy.
_IBM_MAX = 16.0 ** 63
_IBM_MIN = 16.0 ** -65
_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,7}$")
_STAMP = re.compile(rb"^\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d$")
# Offsets of the 16-byte timestamps in a one-member XPT v5 file: the library header's second and
# third 80-byte records, and the member descriptor's first and second (records 6 and 7).
_STAMP_OFFSETS = (80 + 64, 160, 400 + 64, 480)
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
# Classes whose long text goes to SUPP--; trial design datasets have no SUPP-- (only TS a rule).
_SUPP_CLASSES = {"EVENTS", "INTERVENTIONS", "FINDINGS", "FINDINGS ABOUT", "SPECIAL PURPOSE"}
_SUPP_COLUMNS = ["STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QLABEL", "QVAL", "QORIG",
                 "QEVAL"]
# Text from the LIS comes by electronic transfer; every other splittable text is typed on the eCRF.
_QORIG = {"LB": "eDT"}


class XptLimitError(ValueError):
    """A dataset that cannot be written as XPT v5 without losing or changing something."""


@dataclass(frozen=True)
class XptDataset:
    """One dataset ready for XPT: name, labels and a frame of str and float64 columns only."""

    name: str
    label: str
    labels: dict[str, str]
    frame: pd.DataFrame


def sas_stamp(data_cut: str | date | None) -> bytes:
    """The 16-byte XPT header timestamp for midnight of the data cut (SAS epoch when unknown)."""
    if not data_cut:
        day = date(1960, 1, 1)
    elif isinstance(data_cut, date):
        day = data_cut
    else:
        day = date.fromisoformat(str(data_cut)[:10])
    return f"{day.day:02d}{_MONTHS[day.month - 1]}{day.year % 100:02d}:00:00:00".encode("ascii")


def split_text(value: str, limit: int = MAX_CHAR_BYTES) -> list[str]:
    """Pieces of at most `limit` UTF-8 bytes: at the last space that fits, else at a character boundary."""
    pieces: list[str] = []
    rest = value
    while len(rest.encode(XPT_ENCODING)) > limit:
        fit = _chars_fitting(rest, limit)
        space = rest.rfind(" ", 0, fit + 1)
        cut = space if space > 0 else fit
        head = rest[:cut].rstrip(" ")
        if not head:  # a run of spaces longer than the limit: cut inside it
            head, cut = rest[:fit], fit
        pieces.append(head)
        rest = rest[cut:].lstrip(" ")
    pieces.append(rest)
    return pieces


def _chars_fitting(text: str, limit: int) -> int:
    size = 0
    for i, ch in enumerate(text):
        size += len(ch.encode(XPT_ENCODING))
        if size > limit:
            return i
    return len(text)


def byte_length(s: pd.Series) -> pd.Series:
    """The XPT byte count of each text of a column of str."""
    # Arrow strings are UTF-8 (XPT_ENCODING): their binary length is the XPT byte count, without
    # one Python encode per cell (10 M cells at 2,000 subjects).
    lengths = pc.binary_length(pa.array(s.to_numpy(dtype=object), type=pa.string()))
    return pd.Series(lengths.to_numpy(zero_copy_only=False), index=s.index, dtype="int64")


def _splittable(name: str, domain: str) -> bool:
    """Whether SDTMIG 4.5.3.2 lets a variable's long text continue in SUPP-- (not names, tests, keys, dates)."""
    if name.endswith(("TEST", "TESTCD")) or name == "IETEST":
        return False
    roles = {v.name: v.role for v in variable_meta(domain)}
    return roles.get(name, "") not in ("Identifier", "Timing")


def _record(df: pd.DataFrame, i: int, domain: str) -> str:
    """How an error names a record: USUBJID and --SEQ when there are, else the row number."""
    parts = [f"{k}={df.at[i, k]}" for k in ("USUBJID", f"{domain}SEQ", "QNAM", "TSPARMCD", "IDVARVAL")
             if k in df.columns and df.at[i, k] != ""]
    return f"row {i + 1}" + (f" ({', '.join(parts)})" if parts else "")


def _qnam(name: str, k: int) -> str:
    suffix = str(k)
    return name[: MAX_NAME - len(suffix)] + suffix


def _numbered_label(label: str, k: int) -> str:
    suffix = f" {k}"
    return label[: MAX_LABEL - len(suffix)] + suffix


def _text_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Char columns as str with '' for missing (XPT has no null text), Num columns as float64."""
    out = {}
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            out[col] = pd.to_numeric(s, errors="raise").astype("float64")
        else:
            text = s.astype(object).where(s.notna(), "")
            # A string column already holds str; anything else is written as its str().
            out[col] = text if isinstance(s.dtype, pd.StringDtype) else text.map(str).astype(object)
    return pd.DataFrame(out, index=range(len(df)))


def load_dataset(parquet_path: Path) -> XptDataset:
    """An SDTM Parquet dataset with its name and labels, shaped for XPT (nothing split yet)."""
    schema = pq.read_schema(parquet_path)
    name = (schema.metadata or {}).get(b"dataset", parquet_path.stem.encode()).decode().upper()
    label, labels = read_labels(parquet_path)
    frame = _text_frame(pd.read_parquet(parquet_path))
    return XptDataset(name, label, labels, frame)


def split_long_text(ds: XptDataset) -> tuple[XptDataset, pd.DataFrame]:
    """The dataset with every text cut to 200 bytes, and the SUPP-- records holding the rest."""
    df = ds.frame.copy()
    ds = XptDataset(ds.name, ds.label, dict(ds.labels), df)  # TSVALn labels are added to the copy
    extra: list[dict[str, str]] = []
    is_supp = ds.name.startswith("SUPP")
    domain = _parent_name(ds.name)
    for col in [c for c in df.columns if df[c].dtype == object]:
        long_rows = [i for i, n in enumerate(byte_length(df[col])) if n > MAX_CHAR_BYTES]
        if not long_rows:
            continue
        where = f"{ds.name}.{col}"
        if (is_supp and col != "QVAL") or (not is_supp and not _splittable(col, ds.name)):
            i = long_rows[0]
            raise XptLimitError(
                f"{where}: {len(df.at[i, col].encode(XPT_ENCODING))} bytes in {_record(df, i, domain)}; "
                f"XPT v5 allows {MAX_CHAR_BYTES} and SDTMIG 4.5.3.2 does not split {col}")
        if ds.name == "TS" and col == "TSVAL":
            df = split_into_columns(df, ds, col, long_rows)
            continue
        if not is_supp and dataset_meta(domain).class_ not in _SUPP_CLASSES:
            i = long_rows[0]
            raise XptLimitError(f"{where}: {len(df.at[i, col].encode(XPT_ENCODING))} bytes in "
                                f"{_record(df, i, domain)}; {ds.name} has no SUPP-- for the rest of the text")
        for i in long_rows:
            pieces = split_text(df.at[i, col])
            df.at[i, col] = pieces[0]
            extra.extend(_supp_records(df, i, ds, col, pieces[1:], is_supp))
    supp = pd.DataFrame(extra, columns=_SUPP_COLUMNS)
    return XptDataset(ds.name, ds.label, ds.labels, df), supp


def _supp_records(df: pd.DataFrame, i: int, ds: XptDataset, col: str, pieces: list[str],
                  is_supp: bool) -> list[dict[str, str]]:
    """SUPP-- records continuing record i's text: on the same parent record as the text they continue."""
    if is_supp:
        base = {c: df.at[i, c] for c in _SUPP_COLUMNS}
        name, label = df.at[i, "QNAM"], df.at[i, "QLABEL"]
    else:
        seq = f"{ds.name}SEQ"
        if seq in df.columns:
            idvar, idvarval = seq, f"{df.at[i, seq]:.15g}"
        elif ds.name == "DM":
            idvar, idvarval = "", ""
        else:
            raise XptLimitError(f"{ds.name}.{col}: long text in {_record(df, i, ds.name)} but no {seq} "
                                "for a SUPP-- record to point at")
        base = {"STUDYID": df.at[i, "STUDYID"], "RDOMAIN": ds.name, "USUBJID": df.at[i, "USUBJID"],
                "IDVAR": idvar, "IDVARVAL": idvarval, "QORIG": _QORIG.get(ds.name, "CRF"), "QEVAL": ""}
        name, label = col, ds.labels.get(col, col)
    return [{**base, "QNAM": _qnam(name, k), "QLABEL": _numbered_label(label, k), "QVAL": piece}
            for k, piece in enumerate(pieces, start=1)]


def split_into_columns(df: pd.DataFrame, ds: XptDataset, col: str, long_rows: list[int]) -> pd.DataFrame:
    """TS assumption: TSVAL keeps 200 bytes, TSVAL1..TSVALn the rest, placed right after TSVAL."""
    pieces = {i: split_text(df.at[i, col]) for i in long_rows}
    width = max(len(p) for p in pieces.values()) - 1
    new_cols = {}
    for k in range(1, width + 1):
        new_cols[_qnam(col, k)] = ["" for _ in range(len(df))]
    for i, ps in pieces.items():
        df.at[i, col] = ps[0]
        for k, piece in enumerate(ps[1:], start=1):
            new_cols[_qnam(col, k)][i] = piece
    pos = df.columns.get_loc(col) + 1
    for offset, (name, values) in enumerate(new_cols.items()):
        df.insert(pos + offset, name, pd.Series(values, dtype=object))
        ds.labels[name] = _numbered_label(ds.labels.get(col, col), offset + 1)
    return df


def check_limits(ds: XptDataset) -> None:
    """Raise XptLimitError for anything XPT v5 cannot hold: names, labels, text bytes, numbers."""
    if not _NAME.match(ds.name):
        raise XptLimitError(f"dataset name {ds.name!r}: XPT v5 needs 1-{MAX_NAME} letters, digits or _")
    if len(ds.label.encode(XPT_ENCODING)) > MAX_LABEL:
        raise XptLimitError(f"{ds.name}: dataset label {ds.label!r} is longer than {MAX_LABEL} bytes")
    df = ds.frame
    for col in df.columns:
        if not _NAME.match(col):
            raise XptLimitError(f"{ds.name}.{col}: XPT v5 variable names are 1-{MAX_NAME} letters, digits or _")
        label = ds.labels.get(col, "")
        if len(label.encode(XPT_ENCODING)) > MAX_LABEL:
            raise XptLimitError(f"{ds.name}.{col}: label {label!r} is longer than {MAX_LABEL} bytes")
        if df[col].dtype == object:
            sizes = byte_length(df[col])
            if len(sizes) and sizes.max() > MAX_CHAR_BYTES:
                i = int(sizes.to_numpy().argmax())
                raise XptLimitError(f"{ds.name}.{col}: {sizes.iat[i]} bytes in {_record(df, i, ds.name)}; "
                                    f"XPT v5 allows {MAX_CHAR_BYTES}")
            continue
        v = np.abs(df[col].to_numpy(dtype="float64"))
        bad = np.flatnonzero(np.isinf(v) | (v >= _IBM_MAX) | ((v > 0) & (v < _IBM_MIN)))
        if len(bad):
            i = int(bad[0])
            raise XptLimitError(f"{ds.name}.{col}: {df[col].iat[i]!r} in {_record(df, i, ds.name)} is outside "
                                "the range of an XPT (IBM) double")


def write_dataset(ds: XptDataset, xpt_path: Path, data_cut: str | date | None = None,
                  variable_format: dict[str, str] | None = None) -> None:
    """Write one dataset as XPT v5 (checked against the limits, header timestamps fixed; SAS formats if given)."""
    check_limits(ds)
    xpt_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = xpt_path.with_name(f".{xpt_path.name}.tmp")
    pyreadstat.write_xport(ds.frame, tmp, file_label=ds.label,
                           column_labels=[ds.labels.get(c, "") for c in ds.frame.columns],
                           table_name=ds.name, file_format_version=5,
                           **({"variable_format": variable_format} if variable_format else {}))
    data = bytearray(tmp.read_bytes())
    stamp = sas_stamp(data_cut)
    for at in _STAMP_OFFSETS:
        if not _STAMP.match(bytes(data[at:at + 16])):
            tmp.unlink()
            raise RuntimeError(f"{xpt_path.name}: no XPT timestamp at byte {at}; has the XPT writer changed?")
        data[at:at + 16] = stamp
    tmp.write_bytes(bytes(data))
    tmp.replace(xpt_path)


def _supp_name(name: str) -> str:
    return name if name.startswith("SUPP") else f"SUPP{name}"


def _parent_name(name: str) -> str:
    return name.removeprefix("SUPP")


def _merged_supp(folder: Path, parent: str) -> XptDataset | None:
    """SUPP<parent> as XPT gets it: its Parquet records, its own long QVALs split, plus the parent's overflow."""
    supp_name = _supp_name(parent)
    parent_path = folder / f"{parent.lower()}.parquet"
    overflow = pd.DataFrame(columns=_SUPP_COLUMNS)
    if parent_path.exists():
        _, overflow = split_long_text(load_dataset(parent_path))
    supp_path = folder / f"{supp_name.lower()}.parquet"
    if supp_path.exists():
        supp, own = split_long_text(load_dataset(supp_path))
        extra = pd.concat([own, overflow], ignore_index=True)
    elif overflow.empty:
        return None
    else:
        meta = {v.name: v.label for v in variable_meta(supp_name)}
        supp = XptDataset(supp_name, dataset_meta(supp_name).label, meta, pd.DataFrame(columns=_SUPP_COLUMNS))
        extra = overflow
    if extra.empty:
        return supp
    frame = pd.concat([supp.frame, extra[list(supp.frame.columns)]], ignore_index=True)
    frame = frame.sort_values("USUBJID", kind="stable", ignore_index=True).astype(object)
    qnams = frame.groupby(["USUBJID", "IDVAR", "IDVARVAL", "QNAM"]).size()
    if (qnams > 1).any():
        dup = qnams[qnams > 1].index[0]
        raise XptLimitError(f"{supp_name}: split text would repeat QNAM {dup[3]} for {dup[0]} {dup[1]}={dup[2]}; "
                            "the SUPP-- already holds a qualifier of that name")
    return XptDataset(supp.name, supp.label, supp.labels, frame)


def write_xpt(parquet_path: Path, xpt_path: Path, data_cut: str | date | None = None) -> list[str]:
    """Write an SDTM Parquet dataset as XPT v5; returns the datasets written (long text also writes SUPP--)."""
    folder = parquet_path.parent
    ds = load_dataset(parquet_path)
    parent = _parent_name(ds.name)
    written = []
    if ds.name.startswith("SUPP"):
        supp = _merged_supp(folder, parent)
        assert supp is not None
        write_dataset(supp, xpt_path, data_cut)
        return [supp.name]
    cut, overflow = split_long_text(ds)
    write_dataset(cut, xpt_path, data_cut)
    written.append(cut.name)
    if not overflow.empty:
        supp = _merged_supp(folder, parent)
        assert supp is not None
        write_dataset(supp, xpt_path.parent / f"{supp.name.lower()}.xpt", data_cut)
        written.append(supp.name)
    return written


def write_release_xpt(sdtm_dir: Path, data_cut: str | date | None = None, out_dir: Path | None = None) -> list[str]:
    """Write every `<name>.parquet` of a folder as `<name>.xpt` (beside it, or in out_dir); returns the names."""
    written: list[str] = []
    for path in sorted(sdtm_dir.glob("*.parquet")):
        if path.stem.upper() in written:
            continue  # a SUPP-- its parent already wrote with the overflow of long text
        names = write_xpt(path, (out_dir or sdtm_dir) / f"{path.stem}.xpt", data_cut)
        written.extend(n for n in names if n not in written)
    return written


def read_xpt(xpt_path: Path) -> tuple[pd.DataFrame, pyreadstat.metadata_container]:
    """Read an XPT written here back (UTF-8), as pyreadstat gives it."""
    return pyreadstat.read_xport(xpt_path, encoding=XPT_ENCODING)
