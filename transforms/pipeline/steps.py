"""The bodies of the pipeline's steps (see graph.py), each reading and writing files so that any step can run alone."""
from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path, PurePosixPath

import pandas as pd

from transforms.config import StudyConfig
from transforms.ingest.cache import StagedCache
from transforms.ingest.edc import SnapshotError, cached_snapshot
from transforms.ingest.lab import LabFileError, ingest_site_labs
from transforms.privacy.pseudonym import specimen_pseudonym
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
from transforms.cdisc.findings import BLOCKING, ERROR, WARNING, Finding, Findings
from transforms.sdtm.build import BuiltDomain, build_domain, load_context, prepare
from transforms.sdtm.context import BuildContext
from transforms.pipeline.graph import Step
from transforms.pipeline.workspace import Workspace


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


def step_land(exports: Path, ws: Workspace, study: StudyConfig, now: datetime | None = None) -> Landing:
    """Find and fingerprint the drop's files; record the landing manifest and the drop's findings."""
    try:
        landing, findings = scan_drop(exports, study, now)
    except DropError as exc:
        quarantine_entry(exports.resolve(), exc.path, exc.reason, ws.out / "quarantine", copy=exc.copy)
        raise BlockingInputError(None, exc.reason, exc.path) from exc
    findings += previous_release_findings(landing, ws.out, study)
    landing.write(ws.landing)
    Findings(findings).write(ws.findings_of("land"))
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
        ws.findings_of(f"blocking_{landed.name}"))
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


def staged_cache(ws: Workspace, study: StudyConfig) -> StagedCache | None:
    """The staged cache of OUT (None when the study or the run turns it off)."""
    return StagedCache(ws.staged_cache, ws.cache_used) if study.cache else None


def step_ingest_edc(ws: Workspace, study: StudyConfig) -> dict:
    """Stream the newest EDC snapshot into the staged EDC items."""
    landing = Landing.read(ws.landing)
    snap = landing.newest_snapshot()
    if snap is None:
        raise _reject(ws, landing, str(PurePosixPath(study.edc.snapshot_glob).parent),
                      f"no EDC snapshot named as the contract says ({study.edc.snapshot_glob})")
    meta = load_metadata(study.metadata_path)
    try:
        result = cached_snapshot(_checked_path(ws, landing, snap), snap.sha256, meta, study.metadata_path,
                                 ws.edc_items, staged_cache(ws, study))
    except (SnapshotError, UnsafeXMLError) as exc:
        raise _block(ws, snap, landing, str(exc)) from exc
    except OSError as exc:
        raise _block(ws, snap, landing, f"cannot be read ({exc.strerror or type(exc).__name__})") from exc
    Findings(snapshot_time_findings(snap, result.created)).write(ws.findings_of("edc_snapshot"))
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
    """Read all of one site's LIS files into its staged laboratory rows."""
    landing = Landing.read(ws.landing)
    files = landing.of("lab", site)
    cfg = study.sites[site].lab
    paths = [_checked_path(ws, landing, f) for f in files]
    try:
        stats, findings = ingest_site_labs(paths, site, cfg, set(study.lab_tests(site)),
                                           ws.lab_results(site), shown=specimen_pseudonym(study.study_id),
                                           cache=staged_cache(ws, study), digests={f.name: f.sha256 for f in files})
    except (LabFileError, OSError) as exc:
        message = str(exc) if isinstance(exc, LabFileError) else f"cannot be read ({exc.strerror or type(exc).__name__})"
        named = str(exc) if isinstance(exc, LabFileError) else (getattr(exc, "filename", None) or "")
        bad = next((f for f in files if str(named).startswith(f.name) or str(named).endswith(f.path)), None)
        if bad is None:
            raise _reject(ws, landing, f"lab/{site}", message) from exc
        raise _block(ws, bad, landing, message) from exc
    findings.write(ws.findings_of(f"lab_{site}"))
    return stats


def step_ingest_randomization(ws: Workspace, study: StudyConfig) -> dict:
    """Stage the unblinded randomization list when it has landed (else the build is blinded)."""
    landing = Landing.read(ws.landing)
    files = landing.of("randomization")
    target = ws.randomization
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
    findings.write(ws.findings_of("randomization"))
    return {"blinded": False, "entries": n}


def step_validate_raw_edc(ws: Workspace, study: StudyConfig) -> dict[str, int]:
    """Raw layer (GX) on the staged EDC items: findings/raw_edc.parquet."""
    from transforms.quality.validate import validate_raw_edc

    from transforms.privacy.scrub import drop_scrubber

    findings = validate_raw_edc(pd.read_parquet(ws.edc_items), study, ws.gx_results,
                                drop_scrubber(study, ws.staged))
    Findings(findings).write(ws.findings_of("raw_edc"))
    return {"findings": len(findings)}


def step_validate_raw_lab(ws: Workspace, study: StudyConfig, site: str) -> dict[str, int]:
    """Raw layer (GX) on one site's LIS rows: findings/raw_lab_<site>.parquet."""
    from transforms.ingest.lab import printed_path
    from transforms.quality.validate import validate_raw_lab

    items = pd.read_parquet(ws.edc_items, columns=["SITEID", "SUBJECTKEY", "ITEMOID", "VALUE"])
    links = items[(items["ITEMOID"] == study.identifiers.link_item) & (items["SITEID"] == site)]
    subject_of_mrn = dict(zip(links["VALUE"].str.strip(), links["SUBJECTKEY"], strict=True))
    from transforms.privacy.scrub import drop_scrubber

    findings = validate_raw_lab(pd.read_parquet(printed_path(ws.lab_results(site))), study, site,
                                subject_of_mrn, ws.gx_results, drop_scrubber(study, ws.staged))
    Findings(findings).write(ws.findings_of(f"raw_lab_{site}"))
    return {"findings": len(findings)}


def step_validate_sdtm_dataset(ws: Workspace, study: StudyConfig, dataset: str) -> dict[str, int]:
    """SDTM layer (GX) on one built dataset: findings/sdtm_gx_<dataset>.parquet."""
    from transforms.quality.sdtm_data import SdtmData
    from transforms.quality.validate import validate_sdtm_dataset

    path = ws.sdtm / f"{dataset.lower()}.parquet"
    findings = validate_sdtm_dataset(path, ws.lineage / path.name, study,
                                     SdtmData(ws.sdtm_build, study.study_id).site_of, ws.gx_results) if path.exists() else []
    Findings(findings).write(ws.findings_of(f"sdtm_gx_{dataset.lower()}"))
    return {"findings": len(findings)}


def step_validate_sdtm_domain(ws: Workspace, study: StudyConfig, domain: str) -> dict[str, dict]:
    """SDTM layer (GX) on one domain and its SUPP-- dataset, as far as they were built."""
    return {f"validate_sdtm_{name}": step_validate_sdtm_dataset(ws, study, name)
            for name in (domain.lower(), f"supp{domain.lower()}") if (ws.sdtm / f"{name}.parquet").exists()}


def step_check_sdtm(ws: Workspace, study: StudyConfig) -> dict[str, int]:
    """Cross-dataset SDTM checks and the clinical edit checks: findings/sdtm_checks.parquet."""
    from transforms.quality.edit_checks import run_edit_checks
    from transforms.quality.sdtm_checks import run_sdtm_checks
    from transforms.quality.sdtm_data import SdtmData

    data = SdtmData(ws.sdtm_build, study.study_id)
    findings = [*run_sdtm_checks(data), *run_edit_checks(data, study)]
    Findings(findings).write(ws.findings_of("sdtm_checks"))
    return {"findings": len(findings)}


def step_build_adam_dataset(ws: Workspace, study: StudyConfig, dataset: str) -> dict[str, int]:
    """Build one ADaM dataset from the run's SDTM into the workspace."""
    from transforms.adam.build import build_adam_dataset

    return build_adam_dataset(dataset, ws.sdtm, ws.adam, study)


def data_cut(landing: Landing) -> str:
    """The data cut: the date of the newest EDC snapshot (ISO 8601)."""
    snap = landing.newest_snapshot()
    if snap is None or not snap.stamp:
        return ""
    return datetime.strptime(snap.stamp, "%Y%m%dT%H%M%S").date().isoformat()


def prepared_context(ws: Workspace, study: StudyConfig) -> BuildContext:
    """The SDTM build context with the shared preparation done and its findings written."""
    ctx = prepare(load_context(study, ws.staged), ws.staged)
    # Findings of the shared preparation (linking, visits) are the same whichever domain runs it.
    ctx.findings.write(ws.findings_of("sdtm_prepare"))
    return replace(ctx, findings=Findings())


def step_build_domain(ws: Workspace, study: StudyConfig, domain: str, ctx: BuildContext | None = None) -> dict[str, int]:
    """Build one SDTM domain into the workspace (with its SUPP-- and lineage); returns row counts.

    ctx: a context from `prepared_context`, shared by the domains of one run.
    """
    landing = Landing.read(ws.landing)
    ctx = replace(ctx or prepared_context(ws, study), findings=Findings())  # this domain's findings only
    b = build_domain(ctx, ws.staged, domain, data_cut(landing))
    ctx.findings.write(ws.findings_of(f"sdtm_{domain.lower()}"))
    for stale in ws.sdtm.glob(f"*{domain.lower()}.parquet") if ws.sdtm.exists() else []:
        if stale.name in (f"{domain.lower()}.parquet", f"supp{domain.lower()}.parquet"):
            stale.unlink()
    if b.data.empty:
        return {domain.lower(): 0}  # SDTM submits no empty datasets
    return _write_domain(ws, b)


def _write_domain(ws: Workspace, b: BuiltDomain) -> dict[str, int]:
    name = b.domain.lower()
    write_table(sdtm_table(b.data, b.domain), ws.sdtm / f"{name}.parquet")
    counts = {name: len(b.data)}
    if b.supp is not None:
        supp = f"SUPP{b.domain}"
        write_table(sdtm_table(b.supp, supp), ws.sdtm / f"{supp.lower()}.parquet")
        counts[supp.lower()] = len(b.supp)
    if "USUBJID" in b.lineage:
        write_frame(b.lineage, ws.lineage / f"{name}.parquet", {"dataset": b.domain})
    return counts


def cleanup(ws: Workspace) -> None:
    """Remove the run's staging folder (it holds identifiers) once the release is published."""
    shutil.rmtree(ws.root, ignore_errors=True)


class StepBodies:
    """The graph's work steps (ingest to ADaM) bound to one run's workspace and study.

    Each returns what its graph.Step says: {record name: statistics} for the manifest, or
    {dataset: rows}. Domains built through one instance share one SDTM build context.
    """

    def __init__(self, ws: Workspace, study: StudyConfig, core: bool = False) -> None:
        self.ws, self.study, self.core = ws, study, core  # core: whether CDISC CORE runs
        self._ctx: BuildContext | None = None

    def run(self, step: Step, item: str | None = None) -> dict:
        """Run one instance of a step (item: its site or domain)."""
        from transforms.pipeline.core_steps import step_core, step_merge_core, step_write_xpt

        ws, study = self.ws, self.study
        if step.dataset is not None:
            return step_build_adam_dataset(ws, study, step.dataset)
        bodies: dict[str, Callable[[], dict]] = {
            "ingest_edc": lambda: {"ingest_edc": step_ingest_edc(ws, study)},
            "ingest_labs": lambda: {f"ingest_lab_{item}": step_ingest_lab(ws, study, item)},
            "ingest_randomization": lambda: {"ingest_randomization": step_ingest_randomization(ws, study)},
            "validate_raw_edc": lambda: {"validate_raw_edc": step_validate_raw_edc(ws, study)},
            "validate_raw_lab": lambda: {f"validate_raw_lab_{item}": step_validate_raw_lab(ws, study, item)},
            "build_sdtm": lambda: step_build_domain(ws, study, item, self._context()),
            "validate_sdtm": lambda: step_validate_sdtm_domain(ws, study, item),
            "check_sdtm": lambda: {"check_sdtm": step_check_sdtm(ws, study)},
            "write_xpt": lambda: {"write_xpt": step_write_xpt(ws, study)},
            "core": lambda: step_core(ws, item) if self.core else {},
            "merge_core": lambda: step_merge_core(ws),
        }
        return bodies[step.id]()

    def _context(self) -> BuildContext:
        if self._ctx is None:
            self._ctx = prepared_context(self.ws, self.study)
        return self._ctx
