"""Read one site's daily LIS files into a staged table of lab results (patient names dropped)."""
from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms.cdisc.findings import ERROR, INFO, Finding, Findings
from transforms.config import LabSourceConfig
from transforms.ingest.cache import StagedCache, cache_key, code_version

CANONICAL = ["MRN", "SPECID", "COLLDTM", "TEST", "TESTNAME", "RESULT", "UNIT", "RANGE", "RANGE_LOW",
             "RANGE_HIGH", "FLAG", "STATUS", "REPORTDTM"]
STAGED = ["SITEID", "MRN", "SPECID", "COLLDTC", "REPORTDTC", "TEST", "RESULT", "UNIT", "RANGE_LOW",
          "RANGE_HIGH", "FLAG", "STATUS", "SRCFILE", "SRCLINE"]
# Every well-formed row as printed (times unparsed too): what the raw GX suite validates.
PRINTED = ["SITEID", "MRN", "SPECID", "COLLDTM", "REPORTDTM", *STAGED[3:]]
PRINTED_SCHEMA = pa.schema([(c, pa.string()) for c in PRINTED[:-1]] + [("SRCLINE", pa.int64())])
NAMES_SCHEMA = pa.schema([("MRN", pa.string()), ("NAME", pa.string())])
# What str.strip() strips (every character whose isspace() is true): LIS values are stripped as
# Arrow columns, with the same result.
WHITESPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008" \
             "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


class LabFileError(ValueError):
    """A lab file that cannot be read at all (blocking)."""


def _iso(value: str, fmt: str) -> str | None:
    try:
        return datetime.strptime(value.strip(), fmt).strftime("%Y-%m-%dT%H:%M")
    except ValueError:
        return None


def read_lab_file(path: Path, site: str, cfg: LabSourceConfig, findings: Findings,
                  names: set[tuple[str, str]] | None = None) -> pa.Table:
    """One LIS file as printed (an Arrow table, PRINTED_SCHEMA); unreadable: LabFileError; a malformed record: a finding."""
    names = set() if names is None else names
    data = path.read_bytes()
    try:
        text = data.decode(cfg.encoding)
    except UnicodeDecodeError as exc:
        raise LabFileError(f"{path.name}: not readable as {cfg.encoding} (byte {exc.start})") from exc
    if "\x00" in text:
        # A text export never holds NUL: a damaged file (e.g. zero-filled after a crash while written).
        line = text[: text.index("\x00")].count("\n") + 1
        raise LabFileError(f"{path.name}: line {line} holds a NUL character (a damaged or binary file)")
    if cfg.encoding.lower().replace("-", "") in ("utf8", "utf8sig"):
        text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise LabFileError(f"{path.name}: line 1 is not CSV the contract describes ({csv_problem(exc)})") from exc
    expected = list(cfg.columns)
    if header is None:
        raise LabFileError(f"{path.name}: empty file (no header row)")
    if [h.strip() for h in header] != expected:
        raise LabFileError(f"{path.name}: {header_problem(header, expected)}")
    fields = [cfg.columns[h] for h in expected]
    try:
        records = list(reader)
    except csv.Error as exc:
        raise LabFileError(f"{path.name}: line {reader.line_num} is not CSV the contract describes "
                           f"({csv_problem(exc)})") from exc
    # Record i is reported as line i + 2 (the header is line 1).
    shaped = np.fromiter(map(len, records), dtype=np.int64, count=len(records)) == len(fields)
    for i in np.flatnonzero(~shaped).tolist():  # the few records of another width: a blank line, or a finding
        values = records[i]
        if values and any(v.strip() for v in values):
            findings.add(Finding(ERROR, "LIS-RECORD-SHAPE", path.name, f"line {i + 2}", "",
                                 f"record has {len(values)} fields, the contract has {len(fields)} "
                                 "(truncated or malformed)", site=site))
    kept = records if shaped.all() else list(itertools.compress(records, shaped.tolist()))
    n, width = len(kept), len(fields)
    # One Arrow array of every value, column after column; stripped at once, as str.strip() strips.
    cells = pc.utf8_trim(pa.array(list(itertools.chain.from_iterable(zip(*kept, strict=True))), pa.string()),
                         WHITESPACE)
    blank = (pc.binary_length(cells).to_numpy() == 0).reshape(width, n).all(axis=0)
    read = {f: cells.slice(j * n, n) for j, f in enumerate(fields)}
    lines = pa.array(np.flatnonzero(shaped)[~blank] + 2, pa.int64())
    if blank.any():
        keep = pa.array(~blank)
        read = {f: c.filter(keep) for f, c in read.items()}
    return _printed_table(read, lines, site, path.name, cfg.datetime_format, names)


def _printed_table(read: dict[str, pa.Array], lines: pa.Array, site: str, source: str, fmt: str,
                   names: set[tuple[str, str]]) -> pa.Table:
    """The rows as printed from a file's stripped columns (by canonical name); NAME only goes to `names`."""
    n = len(lines)
    empty = pa.array([""] * n, pa.string())
    col = {c: read.get(c, empty) for c in CANONICAL}
    name = read.get("NAME")  # identifying: kept apart, only to scrub free text later
    if name is not None:
        named = pc.not_equal(name, "")
        names.update(zip(col["MRN"].filter(named).to_pylist(), name.filter(named).to_pylist(), strict=True))
    if "RANGE" in read:
        # As str.partition("-"): low before the first "-", high after it; no high means the whole text is high.
        parts = pc.extract_regex(col["RANGE"], r"(?s)^(?P<lo>[^-]*)-(?P<hi>.*)$")
        high = pc.fill_null(pc.struct_field(parts, "hi"), "")
        has_high = pc.not_equal(high, "")
        col["RANGE_LOW"] = pc.if_else(has_high, pc.fill_null(pc.struct_field(parts, "lo"), ""), "")
        col["RANGE_HIGH"] = pc.if_else(has_high, high, col["RANGE"])
    col["SITEID"], col["SRCFILE"] = pa.array([site] * n, pa.string()), pa.array([source] * n, pa.string())
    col["COLLDTC"], col["REPORTDTC"] = _iso_column(col["COLLDTM"], fmt), _iso_column(col["REPORTDTM"], fmt)
    col["SRCLINE"] = lines
    return pa.table([col[c] for c in PRINTED], schema=PRINTED_SCHEMA)


def _iso_column(printed: pa.Array, fmt: str) -> pa.Array:
    """_iso of every value, each distinct value parsed once (a file repeats a time on many rows)."""
    coded = pc.dictionary_encode(printed)
    return pa.array([_iso(v, fmt) for v in coded.dictionary.to_pylist()], pa.string()).take(coded.indices)


def header_problem(header: list[str], expected: list[str]) -> str:
    """Why a header row is not the contract's, naming only the contract's own column names.

    The row may be a data row (a file without its header): its cells are never quoted, as they can
    be an MRN or a patient name.
    """
    got = [h.strip() for h in header]
    missing = [c for c in expected if c not in got]
    if not missing and len(got) == len(expected):
        return "header row has the contract's columns in another order: " + ", ".join(expected)
    text = f"line 1 is not the contract's header row ({len(got)} columns, the contract has {len(expected)}"
    if missing:
        text += "; missing: " + ", ".join(missing)
    return text + ")"


def csv_problem(exc: csv.Error) -> str:
    """What is wrong with a CSV file in words (field size, NUL byte, quoting), never quoting its cells."""
    message = str(exc)
    if "field larger than field limit" in message:
        return f"a field is longer than {csv.field_size_limit()} characters"
    if "NUL" in message:
        return "a NUL byte"
    return "malformed quoting"


# One draw's result of one test: a correction re-sends the same specimen and test with a later report
# time (lis-export.md); the same specimen number with another collection time is another draw.
VERSION_KEY = ["SPECID", "TEST", "COLLDTC"]


def resolve_lab_versions(df: pd.DataFrame, cfg: LabSourceConfig, findings: Findings | None = None,
                         shown: Callable[[str], str] = str) -> tuple[pd.DataFrame, dict[str, int]]:
    """Current row per draw (specimen, test, collection time): the latest report wins.

    A cancellation is current when it is the latest report: it stays, to become a record with no result.
    A row with an empty result is pending; it never replaces a result and is not itself a result.
    Every row that is not current leaves an informational finding naming the row that replaced it;
    `shown` is how a specimen number may appear in a finding (its pseudonym: it can be built from an MRN).
    """
    findings = Findings() if findings is None else findings
    cancelled = set(cfg.status.cancelled) if cfg.status else set()
    ordered = df.sort_values([*VERSION_KEY, "REPORTDTC", "SRCFILE", "SRCLINE"], kind="stable")
    is_cancel = ordered["STATUS"].isin(cancelled)
    pending = (ordered["RESULT"].fillna("") == "") & ~is_cancel
    decisive = ordered[~pending]
    current = decisive.groupby(VERSION_KEY, sort=False).tail(1)
    stats = {"rows": len(df), "pending_only": 0, "superseded": len(decisive) - len(current),
             "cancelled": int(current["STATUS"].isin(cancelled).sum()), "current": len(current)}
    rest = ordered.drop(index=current.index)
    # The current row of each other row's draw (-1: none, every row of the draw is pending).
    at = pd.MultiIndex.from_frame(current[VERSION_KEY]).get_indexer(pd.MultiIndex.from_frame(rest[VERSION_KEY]))
    stats["pending_only"] = int((at < 0).sum())
    won = current.iloc[at[at >= 0]]
    winners = iter([(f, int(n), s in cancelled) for f, n, s in
                    zip(*[won[c].tolist() for c in ("SRCFILE", "SRCLINE", "STATUS")], strict=True)])
    about = [rest[c].tolist() for c in ("TEST", "SPECID", "COLLDTC", "REPORTDTC", "SRCFILE", "SRCLINE", "SITEID")]
    findings.extend([_superseded_finding(*row, next(winners) if i >= 0 else None, was_pending, shown)
                     for *row, i, was_pending in zip(*about, at.tolist(), pending.drop(index=current.index).tolist(),
                                                     strict=True)])
    return current.sort_values(["SRCFILE", "SRCLINE"]).reset_index(drop=True), stats


def _superseded_finding(test: str, specid: str, colldtc: str, reportdtc: str, source: str, line: int, site: str,
                        won: tuple[str, int, bool] | None, pending: bool, shown: Callable[[str], str]) -> Finding:
    """Why a LIS row is not a record of its own: replaced by a later report, or still pending."""
    spec = shown(specid)
    what = f"{test} of specimen {spec} collected {colldtc}"
    if won is None:
        rule, message = "LIS-PENDING", f"{what}: no result reported yet (pending)"
    elif pending:
        rule, message = "LIS-SUPERSEDED", f"{what}: pending row; the current report is {won[0]} line {won[1]}"
    else:
        by = "withdrawn by the cancellation" if won[2] else "superseded by the later report"
        rule, message = "LIS-SUPERSEDED", f"{what}: {by} in {won[0]} line {won[1]}"
    return Finding(INFO, rule, source, f"line {int(line)}, specimen {spec}", "result", message, site=site,
                   domain="LB", key=f"{source} specimen {spec} {test} {colldtc} {reportdtc}")


@dataclass
class ReadLabFile:
    """What reading one LIS file gives: its rows as printed, its record-level findings, its MRN -> name pairs."""

    rows: pa.Table
    findings: Findings
    names: pa.Table


def read_lab_file_tables(path: Path, site: str, cfg: LabSourceConfig) -> ReadLabFile:
    """Read one LIS file into Arrow tables (the unit the staged cache stores)."""
    findings, names = Findings(), set()
    rows = read_lab_file(path, site, cfg, findings, names)
    pairs = sorted(names)
    return ReadLabFile(rows, findings, pa.table({"MRN": [m for m, _ in pairs], "NAME": [n for _, n in pairs]},
                                                schema=NAMES_SCHEMA))


def lab_cache_key(path: Path, sha256: str, site: str, cfg: LabSourceConfig) -> str:
    """The staged cache's key of one LIS file: its content, name, site, the site's LIS contract and this code."""
    return cache_key(source="lab", sha256=sha256, name=path.name, site=site, config=cfg.model_dump_json(),
                     code=code_version((__name__, Findings.__module__)))


def cached_lab_file(path: Path, sha256: str | None, site: str, cfg: LabSourceConfig,
                    cache: StagedCache | None) -> ReadLabFile:
    """One LIS file's tables: from the cache when this content was read before, else read (and stored)."""
    if cache is None or sha256 is None:
        return read_lab_file_tables(path, site, cfg)
    key = lab_cache_key(path, sha256, site, cfg)
    entry = cache.get(key)
    if entry is not None:
        try:
            with pa.OSFile(str(entry.file("rows.arrow"))) as src:
                rows = pa.ipc.open_file(src).read_all()
            if not rows.schema.equals(PRINTED_SCHEMA):
                raise ValueError("cached rows are not in the staged layout")
            return ReadLabFile(rows,
                               Findings([Finding(**f) for f in entry.meta["findings"]]),
                               pa.table(dict(zip(NAMES_SCHEMA.names, entry.meta["names"], strict=True)),
                                        schema=NAMES_SCHEMA))
        except (OSError, ValueError, KeyError, TypeError, pa.ArrowException):
            pass  # unreadable despite its manifest: read the file again
    read = read_lab_file_tables(path, site, cfg)
    # Findings and names are a few rows: they travel in the entry's manifest, beside the one table.
    meta = {"findings": [asdict(f) for f in read.findings.items], "names": list(read.names.to_pydict().values())}
    # Arrow IPC, not Parquet: a small table reads back several times faster, and it never leaves OUT/.cache.
    try:
        with cache.writing(key, meta) as folder, pa.OSFile(str(folder / "rows.arrow"), "wb") as sink, \
                pa.ipc.new_file(sink, PRINTED_SCHEMA) as writer:
            writer.write_table(read.rows)
    except OSError:
        pass  # the cache only saves time: a file it cannot keep (disk full) is read again next night
    return read


def ingest_site_labs(files: list[Path], site: str, cfg: LabSourceConfig, known_tests: set[str],
                     out: Path, shown: Callable[[str], str] = str, cache: StagedCache | None = None,
                     digests: Mapping[str, str] | None = None) -> tuple[dict[str, int], Findings]:
    """Read all of a site's LIS files in name order and write the current results to `out`.

    With a cache and the landed files' SHA-256 (digests: file name -> SHA-256), a file read on an
    earlier night is not read again: its rows, findings and names come from the cache.
    """
    findings = Findings()
    digests = digests or {}
    reads = [cached_lab_file(p, digests.get(p.name), site, cfg, cache) for p in sorted(files, key=lambda p: p.name)]
    for read in reads:
        findings.extend(read.findings)
    # One chunk: pandas works on each of a few hundred files' chunks one by one otherwise.
    rows = pa.concat_tables([r.rows for r in reads]).combine_chunks() if reads else PRINTED_SCHEMA.empty_table()
    printed = rows.to_pandas().astype({c: "string" for c in PRINTED if c != "SRCLINE"} | {"SRCLINE": "int64"})
    names = {pair for r in reads for pair in zip(*r.names.to_pydict().values(), strict=True)}
    out.parent.mkdir(parents=True, exist_ok=True)
    printed.to_parquet(printed_path(out), index=False)
    # Rows without a usable time or with an unmapped test cannot become results; the raw suite
    # (RAW-LIS-DATETIME, RAW-LIS-UNKNOWN-TEST) reports each of them to the site.
    usable = printed["COLLDTC"].notna() & printed["REPORTDTC"].notna() & printed["TEST"].isin(known_tests)
    df = printed.loc[usable, STAGED].reset_index(drop=True)
    stats_unusable = int((~usable).sum())
    current, stats = resolve_lab_versions(df, cfg, findings, shown)
    stats["unusable"] = stats_unusable
    tmp = out.with_suffix(".partial")
    current.to_parquet(tmp, index=False)
    tmp.replace(out)
    pd.DataFrame(sorted(names), columns=["MRN", "NAME"], dtype="string").to_parquet(names_path(out), index=False)
    stats["files"] = len(files)
    return stats, findings


def names_path(staged_labs: Path) -> Path:
    """Where a site's MRN -> patient name pairs are staged (for scrubbing free text only)."""
    return staged_labs.with_name(staged_labs.stem + "_names.parquet")


def printed_path(staged_labs: Path) -> Path:
    """Where a site's LIS rows as printed (names dropped) are staged for validation."""
    return staged_labs.with_name(staged_labs.stem + "_printed.parquet")
