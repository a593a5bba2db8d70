"""The IPD sharing package of a published release: de-identified SDTM and ADaM, report, README, checksums.

The package is written to a staging folder beside PKG and renamed into place only when complete; the
key (original -> new participant ids and date offsets) goes to a separate file that may not lie inside
PKG. Same release + same secret -> the same bytes.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from transforms.config import StudyConfig
from transforms.privacy.scrub import Scrubber
from transforms.land.landing import sha256_of
from transforms.publish.interchange import write_interchange
from transforms.publish.parquet import write_table
from transforms.publish.retention import PIN_SHARED
from transforms.publish.cells import defuse_formula
from transforms.share.apply import Context, VariableReport, deidentify, missing_rules
from transforms.share.dates import subject_offset
from transforms.share.freetext import Redaction, sharing_scrubber
from transforms.share.ids import SubjectKey, site_codes, subject_key
from transforms.share.kanon import k_anonymity
from transforms.share.readme import readme_text
from transforms.share.report import write_report
from transforms.share.rules import (CONFIG_FILE, DOCS_FOLDER, RULE_FILE, RuleTable, ShareConfig, ShareError,
                                    load_rules, load_share_config)

SECRET_ENV = "CDISCFLOW_SHARE_SECRET"
MIN_SECRET_BYTES = 16
LAYERS = ("sdtm", "adam")
SUMS = "SHA256SUMS"


@dataclass(frozen=True)
class ShareResult:
    """What was shared, in numbers a person checks (no identifier)."""

    package: Path
    participants: int
    datasets: int
    redactions: int
    min_k: int
    below_threshold: int
    files: int


def read_secret(secret_file: Path | None) -> bytes:
    """The sharing secret: the file's content, else $CDISCFLOW_SHARE_SECRET; ShareError when neither holds one."""
    if secret_file is not None:
        try:
            secret = secret_file.read_bytes().strip()
        except OSError as exc:
            raise ShareError(f"cannot read the secret file: {exc.strerror}") from None
    else:
        secret = os.environ.get(SECRET_ENV, "").strip().encode("utf-8")
    if len(secret) < MIN_SECRET_BYTES:
        raise ShareError(f"no sharing secret: give --secret-file or set {SECRET_ENV} (at least {MIN_SECRET_BYTES} "
                         "bytes; keep it with the key file, never in the package)")
    return secret


def verify_release(release: Path) -> dict:
    """The release's manifest, once its datasets match it (names, rows, and file hashes where it lists them)."""
    try:
        manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ShareError(f"{release} is no published release (manifest.json: {exc})") from None
    if manifest.get("blinded") is not False:
        raise ShareError("the release is blinded (or does not say it is unblinded): a sharing package is built "
                         "only from an unblinded release after database lock")
    listed = dict(manifest.get("datasets") or {})
    found = {p.stem: p for layer in LAYERS for p in sorted((release / layer).glob("*.parquet"))}
    if set(listed) != set(found):
        raise ShareError(f"the release's files do not match its manifest: datasets only in the manifest "
                         f"{sorted(set(listed) - set(found))}, only on disk {sorted(set(found) - set(listed))}")
    for name, path in found.items():
        if pq.ParquetFile(path).metadata.num_rows != listed[name]:
            raise ShareError(f"the release's {name} does not match its manifest (row count differs)")
    for rel, digest in sorted((manifest.get("files") or {}).items()):
        if sha256_of(release / rel) != (digest.get("sha256") if isinstance(digest, dict) else digest):
            raise ShareError(f"the release's {rel} does not match the hash in its manifest")
    return manifest


def share_release(release: Path, pkg: Path, key_out: Path, study: StudyConfig, secret: bytes) -> ShareResult:
    """Build the sharing package of `release` in `pkg` and the key file `key_out`; ShareError when refused."""
    release, pkg, key_out = release.resolve(), pkg.resolve(), key_out.resolve()
    manifest = verify_release(release)
    if manifest.get("study") != study.study_id:
        raise ShareError(f"the release is of study {manifest.get('study')}, not {study.study_id}")
    if pkg.exists() and (not pkg.is_dir() or any(pkg.iterdir())):
        raise ShareError(f"{pkg} exists and is not an empty folder: a package is written only into a new one")
    if key_out.is_relative_to(pkg) or key_out.is_relative_to(release):
        raise ShareError("--key-out must lie outside the package (and outside the release): the key is never shared")
    if key_out.is_dir():
        raise ShareError(f"--key-out {key_out} is a folder; name the key file")
    rules = load_rules(study.study_file(RULE_FILE))
    cfg = load_share_config(study.study_file(CONFIG_FILE))
    datasets = {p.stem.upper(): (layer, pq.read_table(p)) for layer in LAYERS
                for p in sorted((release / layer).glob("*.parquet"))}
    missing = missing_rules({n: t for n, (_, t) in datasets.items()}, rules)
    if missing:
        raise ShareError(f"no de-identification rule for {', '.join(missing)}: add a row to {RULE_FILE} "
                         "(a variable without a rule is never shared by default)")
    key = _subject_key(datasets, study, cfg, secret)
    ids = set(key.usubjid) | set(key.original_subjid.values())
    ctx = Context(rules=rules, cfg=cfg, secret=secret, key=key, sites=_sites(datasets, rules, cfg, secret),
                  scrubber=sharing_scrubber(ids), id_guard=Scrubber(ids))
    pkg.parent.mkdir(parents=True, exist_ok=True)
    stage = pkg.parent / f".{pkg.name}.staging"
    key_tmp = key_out.parent / f".{key_out.name}.tmp"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        result = _write_package(stage, datasets, ctx, study, rules, manifest)
        key_out.parent.mkdir(parents=True, exist_ok=True)
        _write_key(key_tmp, key)
        if pkg.exists():
            pkg.rmdir()  # empty, checked above
        stage.rename(pkg)
        try:
            os.replace(key_tmp, key_out)
        except BaseException:
            shutil.rmtree(pkg, ignore_errors=True)  # the sponsor must hold the key of every package it ships
            raise
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        key_tmp.unlink(missing_ok=True)
        raise
    pin_shared_release(release, pkg)
    return ShareResult(package=pkg, **result)


def pin_shared_release(release: Path, pkg: Path) -> None:
    """Mark the release as shared (retention never prunes it): one line per package, by its SHA256SUMS digest."""
    digest = hashlib.sha256((pkg / "SHA256SUMS").read_bytes()).hexdigest()
    pin = release.resolve() / PIN_SHARED
    lines = pin.read_text(encoding="utf-8").splitlines() if pin.exists() else []
    if f"package {digest}" not in lines:
        pin.write_text("\n".join([*lines, f"package {digest}"]) + "\n", encoding="utf-8")


def _subject_key(datasets: dict[str, tuple[str, pa.Table]], study: StudyConfig, cfg: ShareConfig,
                 secret: bytes) -> SubjectKey:
    """New ids and offsets for every participant any dataset names."""
    usubjids: set[str] = set()
    for _, table in datasets.values():
        if "USUBJID" in table.column_names:
            usubjids |= {u for u in table.column("USUBJID").to_pylist() if u}
    subjids: dict[str, str] = {}
    if "DM" in datasets:
        dm = datasets["DM"][1]
        subjids = dict(zip(dm.column("USUBJID").to_pylist(), dm.column("SUBJID").to_pylist(), strict=True))
    offsets = {u: subject_offset(secret, u, cfg.offset_days.min_days, cfg.offset_days.max_days) for u in usubjids}
    return subject_key(usubjids, subjids, study.study_id, cfg.subject_prefix, secret, offsets)


def _sites(datasets: dict[str, tuple[str, pa.Table]], rules: RuleTable, cfg: ShareConfig,
           secret: bytes) -> dict[str, str]:
    sites: set[str] = set()
    for name, (_, table) in datasets.items():
        for var in table.column_names:
            rule = rules.resolve(name, var)
            if rule is not None and rule.rule == "pool_site":
                sites |= {str(v) for v in table.column(var).to_pylist() if v is not None}
    return site_codes(sites, cfg.sites.mode, secret, cfg.sites.pooled_value, cfg.sites.recode_prefix)


def _write_package(stage: Path, datasets: dict[str, tuple[str, pa.Table]], ctx: Context, study: StudyConfig,
                   rules: RuleTable, manifest: dict) -> dict:
    reports: list[VariableReport] = []
    redactions: list[Redaction] = []
    shared: dict[str, tuple[str, pa.Table]] = {}
    for name, (layer, table) in datasets.items():
        out, reps, reds = deidentify(name, table, ctx)
        shared[name] = (layer, out)
        reports += reps
        redactions += reds
        write_table(out, stage / layer / f"{name.lower()}.parquet")
        (stage / layer / f"{name.lower()}.csv").write_bytes(csv_bytes(out))
    kcfg = ctx.cfg.kanon
    if kcfg.dataset not in shared:
        raise ShareError(f"k-anonymity dataset {kcfg.dataset} is not in the release")
    records, classes = k_anonymity(shared[kcfg.dataset][1].to_pandas(), kcfg)
    write_report(stage / "deid", reports, redactions, records, classes, ctx.cfg, rules, study)
    shutil.copyfile(study.study_file(RULE_FILE), stage / "deid" / "deid_rules.csv")
    docs = sorted(p for p in (study.study_file(DOCS_FOLDER)).glob("*") if p.is_file())
    for doc in docs:
        (stage / "docs").mkdir(exist_ok=True)
        shutil.copyfile(doc, stage / "docs" / doc.name)
    data_cut = str(manifest.get("data_cut") or "")[:4] or None
    _write_interchange(stage, study, data_cut)
    counts = {name: (layer, t.num_rows) for name, (layer, t) in shared.items()}
    (stage / "README.md").write_text(readme_text(study, ctx.cfg, counts, reports, redactions, classes,
                                                 [d.name for d in docs], len(ctx.key.usubjid)), encoding="utf-8")
    files = write_sums(stage)
    return {"participants": len(ctx.key.usubjid), "datasets": len(shared), "redactions": len(redactions),
            "min_k": int(records["K"].min()) if len(records) else 0,
            "below_threshold": int((records["K"] < kcfg.threshold).sum()), "files": files}


def _write_interchange(pkg: Path, study: StudyConfig, data_cut: str | None) -> None:
    """Dataset-JSON 1.1, ADaM XPT, Define-XML 2.1 and the data dictionary of the shared datasets."""
    # Time stamps: 1 January of the year after the data cut's. Later than every record, so no date of a
    # participant's or of the sponsor's calendar appears, and the same release gives the same bytes.
    year = int(data_cut) + 1 if data_cut and data_cut.isdigit() else 1970
    write_interchange(pkg, study, data_cut=f"{year}-01-01", blinded=False)


def csv_bytes(table: pa.Table) -> bytes:
    """A dataset as UTF-8 CSV: ISO 8601 dates, numbers as numbers, text cells formula-safe."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table.column_names)
    columns = [table.column(c).to_pylist() for c in table.column_names]
    for row in zip(*columns, strict=True):
        writer.writerow([_cell(v) for v in row])
    return buf.getvalue().encode("utf-8")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return defuse_formula(value)
    if isinstance(value, float):
        return f"{value:.15g}"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def write_sums(folder: Path) -> int:
    """SHA256SUMS over every file of `folder` (sha256sum -c format, sorted paths); the number of files listed."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != SUMS)
    lines = [f"{sha256_of(p)}  {p.relative_to(folder).as_posix()}\n" for p in files]
    (folder / SUMS).write_text("".join(lines), encoding="utf-8")
    return len(files)




def _write_key(path: Path, key: SubjectKey) -> None:
    """The never-shared key: original and new ids and each participant's date offset (owner-only permissions)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["USUBJID", "SUBJID", "SHARED_USUBJID", "SHARED_SUBJID", "DATE_OFFSET_DAYS"])
    for u in sorted(key.usubjid):
        writer.writerow([u, key.original_subjid.get(u, ""), key.usubjid[u], key.subjid[u], key.offset[u]])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        f.write(buf.getvalue())
