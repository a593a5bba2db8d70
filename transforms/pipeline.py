"""The pipeline's steps, each reading and writing files so that any step can run alone."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import pandas as pd


import transforms
from transforms.config import StudyConfig
from transforms.ingest.edc import SnapshotError, ingest_snapshot
from transforms.ingest.lab import LabFileError, ingest_site_labs
from transforms.privacy.pseudonym import pseudonym_key, pseudonymise
from transforms.ingest.randomization import RandomizationFileError, ingest_randomization
from transforms.land.landing import (
    STAMP_FORMAT,
    DropError,
    LandedFile,
    Landing,
    printable,
    quarantine,
    quarantine_entry,
    scan_drop,
)
from transforms.odm.metadata import load_metadata
from transforms.odm.safe_xml import UnsafeXMLError
from transforms.publish.parquet import sdtm_table, write_frame, write_table
from transforms.publish.release import finish_release, new_release_dir, out_lock, sweep_stale_runs
from transforms.quality.findings import BLOCKING, ERROR, INFO, WARNING, Finding, Findings
from transforms.sdtm.build import BuiltDomain, build_domain, load_context, prepare, sdtm_domains
from transforms.sdtm.context import BuildContext
from transforms.sdtm.spec import load_spec


class BlockingInputError(RuntimeError):
    """An input file that cannot be read: the run stops and OUT/current stays as it was."""

    def __init__(self, landed: LandedFile | None, reason: str, path: str = "") -> None:
        path = landed.path if landed is not None else path
        name = printable(PurePosixPath(path).name)
        for prefix in (f"{name}: ", f"{printable(path)}: "):
            reason = reason.removeprefix(prefix)  # the readers' messages start with the name
        super().__init__(f"{printable(path)}: {reason}" if path else reason)
        self.landed = landed
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Workspace:
    """Where one run keeps its intermediate files (they hold identifiers: same care as landing)."""

    out: Path
    run_id: str

    @property
    def root(self) -> Path:
        """The run's private folder."""
        return self.out / ".staging" / self.run_id

    @property
    def staged(self) -> Path:
        """Staged source tables."""
        return self.root / "staged"

    @property
    def sdtm(self) -> Path:
        """SDTM datasets of the run, before publishing."""
        return self.root / "sdtm"

    @property
    def findings(self) -> Path:
        """Findings per step."""
        return self.root / "findings"

    @property
    def adam(self) -> Path:
        """ADaM datasets of the run, before publishing."""
        return self.root / "adam"

    @property
    def gx_results(self) -> Path:
        """GX validation results of the run (for the Data Docs)."""
        return self.root / "gx_results"

    @property
    def landing(self) -> Path:
        """The landing manifest."""
        return self.root / "landing.json"


def code_version() -> str:
    """Package version plus the git commit of the code, when known."""
    version = getattr(transforms, "__version__", "0")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=Path(__file__).parent,
                                capture_output=True, text=True, timeout=5, check=True).stdout.strip()
        return f"{version}+g{commit}"
    except (OSError, subprocess.SubprocessError):
        return version


def step_land(exports: Path, ws: Workspace, study: StudyConfig, now: datetime | None = None) -> Landing:
    """Find and fingerprint the drop's files; record the landing manifest and the drop's findings."""
    try:
        landing, findings = scan_drop(exports, study, now)
    except DropError as exc:
        quarantine_entry(exports.resolve(), exc.path, exc.reason, ws.out / "quarantine", copy=exc.copy)
        raise BlockingInputError(None, exc.reason, exc.path) from exc
    findings += previous_release_findings(landing, ws.out, study)
    landing.write(ws.landing)
    Findings(findings).write(ws.findings / "land.parquet")
    return landing


def previous_release_findings(landing: Landing, out: Path, study: StudyConfig) -> list[Finding]:
    """What the drop says against the current release: a file re-delivered with other content, a data cut going back."""
    from transforms.publish.release import current_release, read_manifest

    cur = current_release(out)
    try:
        manifest = read_manifest(cur) if cur is not None else {}
    except (OSError, ValueError):
        manifest = {}
    findings: list[Finding] = []
    before = {i.get("path"): i.get("sha256") for i in manifest.get("inputs", []) if isinstance(i, dict)}
    for f in landing.files:
        if f.path in before and before[f.path] != f.sha256:
            findings.append(Finding(ERROR, "DROP-REDELIVERED", printable(f.path), "", "",
                                    f"re-delivered under the same name with other content than in release {cur.name} "
                                    "(landed files must never change): the new content is used",
                                    key=f"drop {printable(f.path)}"))
    previous_cut = manifest.get("data_cut") or ""
    snap = landing.newest_snapshot()
    if snap is not None and previous_cut and data_cut(landing) < previous_cut:
        findings.append(Finding(WARNING, "EDC-SNAPSHOT-OLDER", snap.name, "", "",
                                f"the newest snapshot is dated {data_cut(landing)}, before the data cut {previous_cut} "
                                f"of release {cur.name}: the data cut goes back", key=f"drop {snap.path}"))
    return findings


def _block(ws: Workspace, landed: LandedFile, landing: Landing, reason: str) -> BlockingInputError:
    quarantine(landing, landed, reason, ws.out / "quarantine")
    Findings([Finding(BLOCKING, "FILE-UNREADABLE", landed.name, "", "", reason, site=landed.site)]).write(
        ws.findings / f"blocking_{landed.name}.parquet")
    return BlockingInputError(landed, reason)


def _reject(ws: Workspace, landing: Landing, path: str, reason: str) -> BlockingInputError:
    # A problem of the drop rather than of one file: only the reason goes to quarantine.
    quarantine_entry(Path(landing.exports), path, reason, ws.out / "quarantine", copy=False)
    return BlockingInputError(None, reason, path)


def _checked_path(ws: Workspace, landing: Landing, f: LandedFile) -> Path:
    try:
        return landing.path_of(f)
    except DropError as exc:
        raise _block(ws, f, landing, exc.reason) from exc


def step_ingest_edc(ws: Workspace, study: StudyConfig) -> dict:
    """Stream the newest EDC snapshot into staged/edc_items.parquet."""
    landing = Landing.read(ws.landing)
    snap = landing.newest_snapshot()
    if snap is None:
        raise _reject(ws, landing, str(PurePosixPath(study.edc.snapshot_glob).parent),
                      f"no EDC snapshot named as the contract says ({study.edc.snapshot_glob})")
    meta = load_metadata(study.metadata_path)
    try:
        result = ingest_snapshot(_checked_path(ws, landing, snap), meta, ws.staged / "edc_items.parquet")
    except (SnapshotError, UnsafeXMLError) as exc:
        raise _block(ws, snap, landing, str(exc)) from exc
    except OSError as exc:
        raise _block(ws, snap, landing, f"cannot be read ({exc.strerror or type(exc).__name__})") from exc
    Findings(snapshot_time_findings(snap, result.created)).write(ws.findings / "edc_snapshot.parquet")
    return {"snapshot": snap.path, "items": result.items, "subjects": result.subjects, "removed": result.removed}


def snapshot_time_findings(snap: LandedFile, created: str) -> list[Finding]:
    """A finding when the snapshot's name and its CreationDateTime do not name the same moment."""
    try:
        stamp = datetime.fromisoformat(created).strftime(STAMP_FORMAT) if created else ""
    except ValueError:
        stamp = ""
    if stamp == snap.stamp:
        return []
    said = f"CreationDateTime {created[:40]!r}" if created else "no CreationDateTime"
    return [Finding(WARNING, "EDC-SNAPSHOT-CREATION", snap.name, "ODM", "CreationDateTime",
                    f"the time stamp in the file name ({snap.stamp}) and the file's {said} differ: "
                    "the snapshot is chosen by its name", key=f"drop {snap.path}")]


def step_ingest_lab(ws: Workspace, study: StudyConfig, site: str) -> dict:
    """Read all of one site's LIS files into staged/lab_<site>.parquet."""
    landing = Landing.read(ws.landing)
    files = landing.of("lab", site)
    cfg = study.sites[site].lab
    paths = [_checked_path(ws, landing, f) for f in files]
    try:
        key = pseudonym_key(study.study_id)
        stats, findings = ingest_site_labs(paths, site, cfg, set(study.lab_tests(site)),
                                           ws.staged / f"lab_{site}.parquet",
                                           shown=lambda spec: pseudonymise(spec, key))
    except (LabFileError, OSError) as exc:
        message = str(exc) if isinstance(exc, LabFileError) else f"cannot be read ({exc.strerror or type(exc).__name__})"
        named = str(exc) if isinstance(exc, LabFileError) else (getattr(exc, "filename", None) or "")
        bad = next((f for f in files if str(named).startswith(f.name) or str(named).endswith(f.path)), None)
        if bad is None:
            raise _reject(ws, landing, f"lab/{site}", message) from exc
        raise _block(ws, bad, landing, message) from exc
    findings.write(ws.findings / f"lab_{site}.parquet")
    return stats


def step_ingest_randomization(ws: Workspace, study: StudyConfig) -> dict:
    """Stage the unblinded randomization list when it has landed (else the build is blinded)."""
    landing = Landing.read(ws.landing)
    files = landing.of("randomization")
    target = ws.staged / "randomization.parquet"
    target.unlink(missing_ok=True)
    if not files:
        return {"blinded": True}
    try:
        n, findings = ingest_randomization(_checked_path(ws, landing, files[0]), study, target)
    except RandomizationFileError as exc:
        raise _block(ws, files[0], landing, str(exc)) from exc
    except OSError as exc:
        # An unreadable list must never quietly turn an unblinded study blinded again.
        raise _block(ws, files[0], landing, f"cannot be read ({exc.strerror or type(exc).__name__})") from exc
    findings.write(ws.findings / "randomization.parquet")
    return {"blinded": False, "entries": n}


def step_validate_raw_edc(ws: Workspace, study: StudyConfig) -> dict[str, int]:
    """Raw layer (GX) on the staged EDC items: findings/raw_edc.parquet."""
    from transforms.quality.validate import validate_raw_edc

    from transforms.privacy.scrub import drop_scrubber

    findings = validate_raw_edc(pd.read_parquet(ws.staged / "edc_items.parquet"), study, ws.gx_results,
                                drop_scrubber(study, ws.staged))
    Findings(findings).write(ws.findings / "raw_edc.parquet")
    return {"findings": len(findings)}


def step_validate_raw_lab(ws: Workspace, study: StudyConfig, site: str) -> dict[str, int]:
    """Raw layer (GX) on one site's LIS rows: findings/raw_lab_<site>.parquet."""
    from transforms.ingest.lab import raw_path
    from transforms.quality.validate import validate_raw_lab

    items = pd.read_parquet(ws.staged / "edc_items.parquet", columns=["SITEID", "SUBJECTKEY", "ITEMOID", "VALUE"])
    links = items[(items["ITEMOID"] == study.identifiers.link_item) & (items["SITEID"] == site)]
    subject_of_mrn = dict(zip(links["VALUE"].str.strip(), links["SUBJECTKEY"], strict=True))
    from transforms.privacy.scrub import drop_scrubber

    findings = validate_raw_lab(pd.read_parquet(raw_path(ws.staged / f"lab_{site}.parquet")), study, site,
                                subject_of_mrn, ws.gx_results, drop_scrubber(study, ws.staged))
    Findings(findings).write(ws.findings / f"raw_lab_{site}.parquet")
    return {"findings": len(findings)}


def step_validate_sdtm_dataset(ws: Workspace, study: StudyConfig, dataset: str) -> dict[str, int]:
    """SDTM layer (GX) on one built dataset: findings/sdtm_gx_<dataset>.parquet."""
    from transforms.quality.sdtm_data import SdtmData
    from transforms.quality.validate import validate_sdtm_dataset

    path = ws.sdtm / "sdtm" / f"{dataset.lower()}.parquet"
    findings = validate_sdtm_dataset(path, ws.sdtm / "lineage" / path.name, study,
                                     SdtmData(ws.sdtm, study.study_id).site_of, ws.gx_results) if path.exists() else []
    Findings(findings).write(ws.findings / f"sdtm_gx_{dataset.lower()}.parquet")
    return {"findings": len(findings)}


def step_check_sdtm(ws: Workspace, study: StudyConfig) -> dict[str, int]:
    """Cross-dataset SDTM checks and the clinical edit checks: findings/sdtm_checks.parquet."""
    from transforms.quality.edit_checks import run_edit_checks
    from transforms.quality.sdtm_checks import run_sdtm_checks
    from transforms.quality.sdtm_data import SdtmData

    data = SdtmData(ws.sdtm, study.study_id)
    findings = [*run_sdtm_checks(data), *run_edit_checks(data, study)]
    Findings(findings).write(ws.findings / "sdtm_checks.parquet")
    return {"findings": len(findings)}


ADAM_DATASETS = ("adsl", "adlb", "adtte", "adrs", "adae")  # ADSL first: the others take its variables


def step_build_adam_dataset(ws: Workspace, study: StudyConfig, dataset: str) -> dict[str, int]:
    """Derive one ADaM dataset from the run's SDTM into the workspace."""
    from transforms.adam import build as adam

    builder = getattr(adam, f"build_{dataset.lower()}")
    return builder(ws.sdtm / "sdtm", ws.adam, study)


def built_datasets(ws: Workspace) -> list[str]:
    """Datasets built into the workspace (lower-case names)."""
    return sorted(p.stem for p in (ws.sdtm / "sdtm").glob("*.parquet"))


def data_cut(landing: Landing) -> str:
    """The data cut: the date of the newest EDC snapshot (ISO 8601)."""
    snap = landing.newest_snapshot()
    if snap is None or not snap.stamp:
        return ""
    return datetime.strptime(snap.stamp, "%Y%m%dT%H%M%S").date().isoformat()


def step_build_domain(ws: Workspace, study: StudyConfig, domain: str, ctx: BuildContext | None = None) -> dict[str, int]:
    """Build one SDTM domain into the workspace (with its SUPP-- and lineage); returns row counts."""
    landing = Landing.read(ws.landing)
    ctx = ctx or load_context(study, ws.staged)
    fresh_prepare = ctx.dm_records is None
    prepare(ctx, ws.staged)
    if fresh_prepare:
        # Findings of the shared preparation (linking, visits) are the same whichever domain runs it.
        ctx.findings.write(ws.findings / "sdtm_prepare.parquet")
        ctx.findings = Findings()
    b = build_domain(ctx, ws.staged, domain, data_cut(landing))
    ctx.findings.write(ws.findings / f"sdtm_{domain.lower()}.parquet")
    ctx.findings = Findings()
    for stale in (ws.sdtm / "sdtm").glob(f"*{domain.lower()}.parquet") if (ws.sdtm / "sdtm").exists() else []:
        if stale.name in (f"{domain.lower()}.parquet", f"supp{domain.lower()}.parquet"):
            stale.unlink()
    if b.data.empty:
        return {domain.lower(): 0}  # SDTM submits no empty datasets
    return _write_domain(ws.sdtm, b)


def step_build_sdtm(ws: Workspace, study: StudyConfig, progress: Callable[[str], None] = lambda _: None) -> dict[str, int]:
    """Build every SDTM domain into the workspace; returns row counts per dataset."""
    ctx = load_context(study, ws.staged)
    counts: dict[str, int] = {}
    for domain in sdtm_domains(ctx.spec):
        progress(f"build {domain}")
        counts.update(step_build_domain(ws, study, domain, ctx))
    return counts


def _write_domain(folder: Path, b: BuiltDomain) -> dict[str, int]:
    name = b.domain.lower()
    write_table(sdtm_table(b.data, b.domain), folder / "sdtm" / f"{name}.parquet")
    counts = {name: len(b.data)}
    if b.supp is not None:
        supp = f"SUPP{b.domain}"
        write_table(sdtm_table(b.supp, supp), folder / "sdtm" / f"{supp.lower()}.parquet")
        counts[supp.lower()] = len(b.supp)
    if "USUBJID" in b.lineage:
        write_frame(b.lineage, folder / "lineage" / f"{name}.parquet", {"dataset": b.domain})
    return counts


def collect_findings(ws: Workspace) -> Findings:
    """All findings of the run's steps."""
    out = Findings()
    for p in sorted(ws.findings.glob("*.parquet")):
        out.extend(Findings.read(p))
    return out


def input_fingerprint(landing: Landing) -> str:
    """One SHA-256 over the names and contents of every landed input."""
    h = hashlib.sha256()
    for f in sorted(landing.files, key=lambda f: f.path):
        h.update(f"{f.path}\0{f.sha256}\n".encode())
    return h.hexdigest()


def step_publish(ws: Workspace, study: StudyConfig, counts: dict[str, int], steps: dict[str, dict],
                 now: datetime | None = None, core: bool = False) -> Path:
    """Assemble the release (datasets, lineage, reports, manifest) and switch OUT/current to it."""
    from transforms.publish.release import current_release

    landing = Landing.read(ws.landing)
    now = now or datetime.now(UTC)
    fingerprint = input_fingerprint(landing)
    release_id = unused_release_id(ws.out, f"{now.strftime('%Y%m%dT%H%M%SZ')}-{fingerprint[:8]}")
    previous = current_release(ws.out)
    tmp = new_release_dir(ws.out, release_id)
    try:
        _assemble_release(ws, study, counts, steps, now, core, landing, fingerprint, release_id, previous, tmp)
    except BaseException:
        # Disk full, killed, a bug: a half-written release must not stay (nor fill the disk again).
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return finish_release(ws.out, tmp, release_id)


def unused_release_id(out: Path, base: str) -> str:
    """The release id, with -2, -3 ... when a release of the same second and inputs exists already."""
    release_id, n = base, 1
    while (out / "releases" / release_id).exists() or (out / "releases" / f".{release_id}.partial").exists():
        n += 1
        release_id = f"{base}-{n}"
    return release_id


def _assemble_release(ws: Workspace, study: StudyConfig, counts: dict[str, int], steps: dict[str, dict],
                      now: datetime, core: bool, landing: Landing, fingerprint: str, release_id: str,
                      previous: Path | None, tmp: Path) -> None:
    from transforms.config.quality import load_edit_check_config
    from transforms.quality.queries import build_queries, read_previous_queries, write_queries
    from transforms.quality.report import write_quality_report
    from transforms.quality.sdtm_data import SdtmData

    shutil.copytree(ws.sdtm / "sdtm", tmp / "sdtm")
    from transforms.publish.xpt import XPT_ENCODING, write_release_xpt

    # Once every dataset is there: a parent's text over 200 bytes continues in its SUPP-- (XPT only).
    xpt_datasets = write_release_xpt(tmp / "sdtm", data_cut(landing))
    shutil.copytree(ws.sdtm / "lineage", tmp / "lineage")
    if ws.adam.exists():
        shutil.copytree(ws.adam, tmp / "adam")
    from transforms.privacy.scrub import drop_scrubber, scrub_findings

    findings = scrub_findings(collect_findings(ws), drop_scrubber(study, ws.staged))  # privacy: last guard
    reports = tmp / "reports"
    reports.mkdir()
    findings_df = findings.to_frame()
    from transforms.quality.queries import defuse_formula, xml_safe

    findings_df.fillna("").astype(str).map(lambda v: defuse_formula(xml_safe(v))).to_csv(
        reports / "findings.csv", index=False, encoding="utf-8", lineterminator="\n")
    core_result, core_error = None, None
    if core:
        from transforms.quality.core import run_core

        try:
            core_result = run_core(tmp / "sdtm", reports / "core.json", study)
        except Exception as exc:  # noqa: BLE001 - an external checker's failure must not stop a release
            core_error = f"{type(exc).__name__}: {str(exc)[:300]}"
    queries = build_queries(findings, read_previous_queries(previous), data_cut(landing))
    write_queries(queries, reports)
    snap = landing.newest_snapshot()
    by_sev = {s: sum(1 for f in findings.items if f.severity == s) for s in (BLOCKING, ERROR, WARNING, INFO)}
    manifest = {
        "study": study.study_id,
        "release": release_id,
        "created_utc": now.isoformat(timespec="seconds"),
        "code_version": code_version(),
        "standard": "SDTMIG 3.4; CDISC CT 2025-03-25",
        "blinded": not landing.of("randomization"),
        "data_cut": data_cut(landing),
        "previous_release": previous.name if previous else None,
        "input_fingerprint": fingerprint,
        "inputs": [{"path": f.path, "source": f.source, "site": f.site, "sha256": f.sha256, "bytes": f.bytes,
                    "used": f.source != "edc" or f == snap} for f in landing.files],
        "datasets": dict(sorted(counts.items())),
        "xpt": {"format": "SAS XPORT v5", "encoding": XPT_ENCODING, "datasets": xpt_datasets},
        "core": ({"engine": core_result.engine, **core_result.status_counts(), "issues": len(core_result.issues),
                  "open_issues": len(core_result.open_issues)} if core_result
                 else {"error": core_error} if core_error else None),
        "findings": {"blocking": by_sev[BLOCKING], "non_blocking": by_sev[ERROR] + by_sev[WARNING],
                     "by_severity": by_sev},
        "queries": {s: int((queries["STATUS"] == s).sum()) for s in ("new", "open", "resolved")},
        "steps": steps,
    }
    from transforms.quality.gx_runner import build_data_docs

    docs = build_data_docs(study, ws.gx_results, reports / "gx", release_id)
    cfg = load_edit_check_config(study)
    visits = [(v.visitnum, v.visit) for v in study.visits if v.visitnum is not None]
    write_quality_report(reports / "quality.html", manifest=manifest, queries=queries, findings=findings_df,
                         data=SdtmData(tmp, study.study_id), visits=visits,
                         completeness_items=cfg.completeness, out=ws.out,
                         core=core_result.summary() if core_result else None,
                         gx_docs="gx/index.html" if docs else None)
    if (tmp / "adam").exists():
        from transforms.reports.topline import write_topline

        write_topline(tmp / "adam", reports / "topline.html", study, blinded=manifest["blinded"])
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def cleanup(ws: Workspace) -> None:
    """Remove the run's staging folder (it holds identifiers) once the release is published."""
    shutil.rmtree(ws.root, ignore_errors=True)


# The CLI's run ids (see run_pipeline); the DAG's workspaces are named <study>__<run> and swept by the DAG.
CLI_RUN_ID = re.compile(r"\d{8}T\d{12}Z")


def step_names(study: StudyConfig) -> list[str]:
    """Names of the steps run_pipeline reports, in order."""
    labs = [f"ingest labs {s}" for s, c in sorted(study.sites.items()) if c.lab]
    domains = sdtm_domains(load_spec(study))
    return ["land", "ingest EDC", *labs, "ingest randomization", "validate raw",
            *[f"build {d}" for d in domains], "validate SDTM", *[f"derive {d.upper()}" for d in ADAM_DATASETS],
            "publish"]


@dataclass
class RunResult:
    release: Path
    counts: dict[str, int]
    findings: Findings
    blinded: bool


def run_pipeline(exports: Path, out: Path, study: StudyConfig,
                 progress: Callable[[str], None] = lambda _: None, now: datetime | None = None,
                 core: bool = False) -> RunResult:
    """Land, ingest, build and publish; raises BlockingInputError and leaves OUT/current untouched.

    One run at a time per OUT (OutputBusyError otherwise); the run's staging folder is removed on
    every way out, and what killed runs left behind (staging, partial releases) at the next start.
    """
    now = now or datetime.now(UTC)
    out = out.resolve()
    with out_lock(out):
        sweep_stale_runs(out, CLI_RUN_ID)
        ws = Workspace(out, now.strftime("%Y%m%dT%H%M%S%fZ"))
        try:
            return _run_steps(exports, ws, study, progress, now, core)
        finally:
            cleanup(ws)


def _run_steps(exports: Path, ws: Workspace, study: StudyConfig, progress: Callable[[str], None],
               now: datetime, core: bool) -> RunResult:
    if ws.root.exists():
        shutil.rmtree(ws.root)
    steps: dict[str, dict] = {}
    progress("land")
    landing = step_land(exports, ws, study, now)
    steps["land"] = {"files": len(landing.files)}
    progress("ingest EDC")
    steps["ingest_edc"] = step_ingest_edc(ws, study)
    for site, cfg in sorted(study.sites.items()):
        if cfg.lab:
            progress(f"ingest labs {site}")
            steps[f"ingest_lab_{site}"] = step_ingest_lab(ws, study, site)
    progress("ingest randomization")
    steps["ingest_randomization"] = step_ingest_randomization(ws, study)
    progress("validate raw")
    steps["validate_raw_edc"] = step_validate_raw_edc(ws, study)
    for site, cfg in sorted(study.sites.items()):
        if cfg.lab:
            steps[f"validate_raw_lab_{site}"] = step_validate_raw_lab(ws, study, site)
    counts = step_build_sdtm(ws, study, progress)
    progress("validate SDTM")
    for name in built_datasets(ws):
        steps[f"validate_sdtm_{name}"] = step_validate_sdtm_dataset(ws, study, name)
    steps["check_sdtm"] = step_check_sdtm(ws, study)
    for name in ADAM_DATASETS:
        progress(f"derive {name.upper()}")
        counts.update(step_build_adam_dataset(ws, study, name))
    progress("publish")
    findings = collect_findings(ws)
    release = step_publish(ws, study, counts, steps, now, core=core)
    return RunResult(release, counts, findings, steps["ingest_randomization"]["blinded"])



