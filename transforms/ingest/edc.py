"""Stream an ODM 1.3.2 ClinicalData snapshot into a long staged table of item values."""
from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from lxml import etree

from transforms.ingest.cache import StagedCache, cache_key, code_version
from transforms.odm.metadata import NS, StudyMetadata
from transforms.odm.safe_xml import iterparse_file
from transforms.odm.values import value_problem

_T = {name: f"{{{NS}}}{name}" for name in (
    "ODM", "ClinicalData", "SubjectData", "SiteRef", "StudyEventData", "FormData", "ItemGroupData", "ItemData")}

ITEM_COLUMNS = [
    "SUBJECTKEY", "SITEID", "EVENTOID", "EVENTREPEAT", "FORMOID", "FORMREPEAT",
    "IGOID", "IGREPEAT", "ITEMOID", "VALUE", "VALID", "SRCFILE", "SRCLINE",
]
ITEM_SCHEMA = pa.schema(
    [(c, pa.string()) for c in ITEM_COLUMNS[:10]]
    + [("VALID", pa.bool_()), ("SRCFILE", pa.string()), ("SRCLINE", pa.int64())]
)
CONTEXT_COLUMNS = ITEM_COLUMNS[:8]
NO_CONTEXT = [""] * len(CONTEXT_COLUMNS)  # what a column of the context is when not read (yet)
BATCH_ROWS = 200_000


class SnapshotError(ValueError):
    """A snapshot that cannot be read at all (blocking)."""


@dataclass
class EdcIngestResult:
    items: int
    subjects: int
    removed: int
    created: str = ""  # the ODM root's CreationDateTime


def edc_record(row: dict) -> str:
    """How a finding names an item's record: subject, event[repeat]/form[repeat]/group[repeat] (line)."""
    text = (f"SubjectKey={row['SUBJECTKEY']} {row['EVENTOID']}[{row['EVENTREPEAT']}]/"
            f"{row['FORMOID']}[{row['FORMREPEAT']}]/{row['IGOID']}[{row['IGREPEAT']}]")
    return f"{text} (line {row['SRCLINE']})" if row.get("SRCLINE") is not None else text


def ingest_snapshot(path: Path, meta: StudyMetadata, out: Path) -> EdcIngestResult:
    """Parse one snapshot without building a DOM and write its items to `out` (Parquet).

    Items removed with TransactionType="Remove" (at any level) are left out. Values are checked
    against the metadata; a bad value is kept with VALID=false (the raw suite reports it).
    """
    src = path.name
    tmp = out.with_suffix(".partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    # An item row is its context (subject, site, event, form, group and their repeats; one per group read)
    # and its own columns; contexts are joined to the items once per batch.
    contexts: list[tuple[str, ...]] = []
    at: list[int] = []  # each item's context: its place in `contexts`
    oids: list[str] = []
    values: list[str] = []
    valid: list[bool] = []
    lines: list[int] = []
    # A value's validity depends only on its item, its group and the value: checked once per distinct one.
    checked: dict[tuple[str | None, str, str], bool] = {}
    ctx: dict[str, str] = {}
    ctx_at: int | None = None  # the current context's place in `contexts` (None: changed since)
    group: str | None = None
    removed_depth: int | None = None
    depth = 0
    n_items = n_removed = 0
    subjects: set[str] = set()
    seen_root = False
    created = ""
    writer = pq.ParquetWriter(tmp, ITEM_SCHEMA, compression="zstd")

    def flush() -> None:
        if oids:
            writer.write_table(_item_table(contexts, at, oids, values, valid, src, lines))
            for column in (contexts, at, oids, values, valid, lines):
                column.clear()

    tags = tuple(_T.values())
    item_tag = _T["ItemData"]
    try:
        for event, el in iterparse_file(path, tags):
            tag = el.tag
            if tag == item_tag:
                if event == "start":
                    depth += 1
                    if removed_depth is None and el.get("TransactionType") == "Remove":
                        removed_depth = depth
                    continue
                if removed_depth is not None:
                    n_removed += 1
                    if removed_depth == depth:
                        removed_depth = None
                else:
                    if ctx_at is None:
                        contexts.append(tuple(map(ctx.get, CONTEXT_COLUMNS, NO_CONTEXT)))
                        ctx_at, group = len(contexts) - 1, ctx.get("IGOID")
                    oid = el.get("ItemOID", "")
                    value = el.get("Value")
                    if value is None:
                        value = el.text or ""
                    key = (group, oid, value)
                    ok = checked.get(key)
                    if ok is None:
                        ok = checked[key] = _fits(meta, group, oid, value)
                    at.append(ctx_at)
                    oids.append(oid)
                    values.append(value)
                    valid.append(ok)
                    lines.append(el.sourceline)
                    n_items += 1
                    if len(oids) >= BATCH_ROWS:
                        flush()
                        ctx_at = None
                depth -= 1
                el.clear(keep_tail=False)  # free what has been read: the document is never held whole
                continue
            if event == "start":
                depth += 1
                if tag == _T["ODM"]:
                    seen_root = True
                    created = el.get("CreationDateTime") or ""
                    if el.get("FileType") != "Snapshot":
                        raise SnapshotError(f"{src}: FileType is {el.get('FileType')!r}, expected 'Snapshot'")
                    continue
                if tag == _T["ClinicalData"]:
                    if el.get("StudyOID") != meta.study_oid or el.get("MetaDataVersionOID") != meta.metadata_version_oid:
                        raise SnapshotError(
                            f"{src} (line {el.sourceline}): ClinicalData is for study {el.get('StudyOID')!r} "
                            f"version {el.get('MetaDataVersionOID')!r}, expected {meta.study_oid!r} "
                            f"version {meta.metadata_version_oid!r}")
                    continue
                if el.get("TransactionType") == "Remove" and removed_depth is None:
                    removed_depth = depth
                if tag == _T["SubjectData"]:
                    ctx = {"SUBJECTKEY": el.get("SubjectKey", ""), "SITEID": ""}
                elif tag == _T["StudyEventData"]:
                    ctx.update(EVENTOID=el.get("StudyEventOID", ""), EVENTREPEAT=el.get("StudyEventRepeatKey") or "1")
                elif tag == _T["FormData"]:
                    ctx.update(FORMOID=el.get("FormOID", ""), FORMREPEAT=el.get("FormRepeatKey") or "1")
                elif tag == _T["ItemGroupData"]:
                    ctx.update(IGOID=el.get("ItemGroupOID", ""), IGREPEAT=el.get("ItemGroupRepeatKey") or "1")
                ctx_at = None
                continue
            # end events
            if tag == _T["SiteRef"] and "SUBJECTKEY" in ctx:
                ctx["SITEID"] = el.get("LocationOID", "")
                ctx_at = None
            elif tag == _T["SubjectData"]:
                if removed_depth is None:
                    subjects.add(ctx["SUBJECTKEY"])
                ctx = {}
                ctx_at = None
            if removed_depth is not None and removed_depth == depth:
                removed_depth = None
            depth -= 1
            # Free what has been read: the document is never held whole in memory.
            el.clear(keep_tail=False)
            parent = el.getparent()
            if parent is not None and tag in (_T["SubjectData"], _T["ItemGroupData"]):
                while el.getprevious() is not None:
                    del parent[0]
        if not seen_root:
            raise SnapshotError(f"{src}: not an ODM document")
        if not subjects:
            # A nightly snapshot holds the whole database: one without a subject is a broken export.
            raise SnapshotError(f"{src}: holds no subject data (none, or every SubjectData is removed)")
        flush()
        writer.close()
    except etree.XMLSyntaxError as exc:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise SnapshotError(f"{src}: not well-formed XML at {_xml_error(exc)}") from exc
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)
    return EdcIngestResult(items=n_items, subjects=len(subjects), removed=n_removed, created=created)


def snapshot_cache_key(path: Path, sha256: str, metadata_path: Path) -> str:
    """The staged cache's key of a snapshot: its content, name, the eCRF metadata and this code."""
    code = code_version((__name__, "transforms.odm.metadata", "transforms.odm.values", "transforms.odm.safe_xml"),
                        (metadata_path,))
    return cache_key(source="edc", sha256=sha256, name=path.name, code=code)


def cached_snapshot(path: Path, sha256: str | None, meta: StudyMetadata, metadata_path: Path, out: Path,
                    cache: StagedCache | None) -> EdcIngestResult:
    """ingest_snapshot, or its item table from the cache when this snapshot was read before (a re-run)."""
    if cache is None or sha256 is None:
        return ingest_snapshot(path, meta, out)
    key = snapshot_cache_key(path, sha256, metadata_path)
    entry = cache.get(key)
    if entry is not None:
        try:
            result = EdcIngestResult(**entry.meta)
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(".partial")
            shutil.copyfile(entry.file("items.parquet"), tmp)
            os.replace(tmp, out)
            return result
        except (OSError, TypeError):
            pass  # unusable despite its manifest: read the snapshot again
    result = ingest_snapshot(path, meta, out)
    try:
        cache.put(key, {"items.parquet": out}, asdict(result))
    except OSError:
        pass  # the cache only saves time: a snapshot it cannot keep (disk full) is read again next time
    return result


def _xml_error(exc: etree.XMLSyntaxError) -> str:
    # iterparse may report a generic "no element found (line 0)"; the error log holds the real first error
    # (e.g. an undeclared entity), which must stop the file rather than leave an item empty.
    first = next(iter(exc.error_log), None) if exc.error_log else None
    if first is not None and first.line:
        return f"line {first.line}: {first.message}"
    return f"line {exc.lineno}: {exc.msg}"


def _fits(meta: StudyMetadata, group: str | None, oid: str, value: str) -> bool:
    """Whether an item value fits the eCRF: a known item, of its group (when the group is known), a valid value."""
    item = meta.items.get(oid)
    # A value that does not fit the eCRF is kept but not mapped; the raw suite (quality) reports it.
    if item is None:
        return False
    if group in meta.item_groups and oid not in meta.item_groups[group].item_oids:
        return False
    return value_problem(item, meta.codelist_of(oid), value) is None


def _item_table(contexts: list[tuple[str, ...]], at: list[int], oids: list[str], values: list[str],
                valid: list[bool], src: str, lines: list[int]) -> pa.Table:
    """A batch of item rows: each item's context taken from the batch's contexts by its place."""
    places = pa.array(at, pa.int64())
    context = [pa.array(c, pa.string()).take(places) for c in zip(*contexts, strict=True)]
    return pa.table([*context, pa.array(oids, pa.string()), pa.array(values, pa.string()), pa.array(valid, pa.bool_()),
                     pa.repeat(pa.scalar(src, pa.string()), len(oids)), pa.array(lines, pa.int64())],
                    schema=ITEM_SCHEMA)
