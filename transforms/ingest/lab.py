"""Read one site's daily LIS files into a staged table of lab results (patient names dropped)."""
from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
import io
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa

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


class LabFileError(ValueError):
    """A lab file that cannot be read at all (blocking)."""


def _iso(value: str, fmt: str) -> str | None:
    try:
        return datetime.strptime(value.strip(), fmt).strftime("%Y-%m-%dT%H:%M")
    except ValueError:
        return None


def read_lab_file(path: Path, site: str, cfg: LabSourceConfig, findings: Findings,
                  names: set[tuple[str, str]] | None = None) -> pd.DataFrame:
    """Parse one LIS file into rows as printed; an unreadable file raises LabFileError, a malformed record is a finding."""
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
    rows: list[dict[str, str | int | None]] = []
    try:
        records = list(enumerate(reader, start=2))
    except csv.Error as exc:
        raise LabFileError(f"{path.name}: line {reader.line_num} is not CSV the contract describes "
                           f"({csv_problem(exc)})") from exc
    for line_no, values in records:
        if not values or all(not v.strip() for v in values):
            continue
        record = f"line {line_no}"
        if len(values) != len(fields):
            findings.add(Finding(ERROR, "LIS-RECORD-SHAPE", path.name, record, "",
                                 f"record has {len(values)} fields, the contract has {len(fields)} (truncated or malformed)",
                                 site=site))
            continue
        row = dict(zip(fields, (v.strip() for v in values), strict=True))
        name = row.pop("NAME", None)  # identifying: kept apart, only to scrub free text later
        if name:
            names.add((row.get("MRN", ""), name))
        spec = row.get("SPECID", "")
        if "RANGE" in row:
            lo, _, hi = row["RANGE"].partition("-")
            row["RANGE_LOW"], row["RANGE_HIGH"] = (lo, hi) if hi else ("", row["RANGE"])
        rows.append({
            "SITEID": site, "MRN": row.get("MRN", ""), "SPECID": spec,
            "COLLDTM": row.get("COLLDTM", ""), "REPORTDTM": row.get("REPORTDTM", ""),
            "COLLDTC": _iso(row.get("COLLDTM", ""), cfg.datetime_format),
            "REPORTDTC": _iso(row.get("REPORTDTM", ""), cfg.datetime_format),
            "TEST": row.get("TEST", ""), "RESULT": row.get("RESULT", ""), "UNIT": row.get("UNIT", ""),
            "RANGE_LOW": row.get("RANGE_LOW", ""), "RANGE_HIGH": row.get("RANGE_HIGH", ""),
            "FLAG": row.get("FLAG", ""), "STATUS": row.get("STATUS", ""), "SRCFILE": path.name, "SRCLINE": line_no,
        })
    df = pd.DataFrame(rows, columns=PRINTED)
    return df.astype({c: "string" for c in PRINTED if c != "SRCLINE"} | {"SRCLINE": "int64"})


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
    winner = {tuple(k): (f, int(n), s in cancelled) for *k, f, n, s in
              current[[*VERSION_KEY, "SRCFILE", "SRCLINE", "STATUS"]].itertuples(index=False, name=None)}
    for i, r in ordered.drop(index=current.index).iterrows():
        won = winner.get((r["SPECID"], r["TEST"], r["COLLDTC"]))
        stats["pending_only"] += won is None
        findings.add(_superseded_finding(r, won, bool(pending.loc[i]), shown(r["SPECID"])))
    return current.sort_values(["SRCFILE", "SRCLINE"]).reset_index(drop=True), stats


def _superseded_finding(row: pd.Series, won: tuple[str, int, bool] | None, pending: bool, spec: str) -> Finding:
    """Why a LIS row is not a record of its own: replaced by a later report, or still pending."""
    what = f"{row['TEST']} of specimen {spec} collected {row['COLLDTC']}"
    if won is None:
        rule, message = "LIS-PENDING", f"{what}: no result reported yet (pending)"
    elif pending:
        rule, message = "LIS-SUPERSEDED", f"{what}: pending row; the current report is {won[0]} line {won[1]}"
    else:
        by = "withdrawn by the cancellation" if won[2] else "superseded by the later report"
        rule, message = "LIS-SUPERSEDED", f"{what}: {by} in {won[0]} line {won[1]}"
    return Finding(INFO, rule, row["SRCFILE"], f"line {int(row['SRCLINE'])}, specimen {spec}", "result",
                   message, site=row["SITEID"], domain="LB", key=f"{row['SRCFILE']} specimen {spec} "
                   f"{row['TEST']} {row['COLLDTC']} {row['REPORTDTC']}")


@dataclass
class ReadLabFile:
    """What reading one LIS file gives: its rows as printed, its record-level findings, its MRN -> name pairs."""

    rows: pa.Table
    findings: Findings
    names: pa.Table


def read_lab_file_tables(path: Path, site: str, cfg: LabSourceConfig) -> ReadLabFile:
    """Read one LIS file into Arrow tables (the unit the staged cache stores)."""
    findings, names = Findings(), set()
    df = read_lab_file(path, site, cfg, findings, names)
    rows = pa.Table.from_pandas(df, preserve_index=False).cast(PRINTED_SCHEMA).replace_schema_metadata(None)
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
    rows = pa.concat_tables([r.rows for r in reads]) if reads else PRINTED_SCHEMA.empty_table()
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
