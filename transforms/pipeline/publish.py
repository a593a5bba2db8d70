"""The publish step: assemble the release, one product at a time, then switch OUT/current to it atomically."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

import transforms
from transforms.config import StudyConfig
from transforms.land.landing import Landing
from transforms.pipeline.steps import data_cut
from transforms.ingest.cache import StagedCache
from transforms.pipeline.workspace import Workspace
from transforms.privacy.scrub import drop_scrubber, scrub_findings
from transforms.publish.interchange import DICTIONARY_HTML, write_interchange
from transforms.publish.release import current_release, finish_release, new_release_dir
from transforms.pipeline.core_steps import merged_core_report
from transforms.publish.xpt import XPT_ENCODING
from transforms.quality.core import CoreResult, core_result
from transforms.config.quality import load_edit_check_config
from transforms.cdisc.findings import BLOCKING, ERROR, INFO, WARNING, Findings
from transforms.quality.gx_runner import build_data_docs
from transforms.quality.queries import build_queries, defuse_formula, read_previous_queries, write_queries, xml_safe
from transforms.quality.report import write_quality_report
from transforms.quality.sdtm_data import SdtmData


@dataclass(frozen=True)
class Release:
    """The release being assembled: its id, its folder (still partial), and what it is made from."""

    ws: Workspace
    study: StudyConfig
    landing: Landing
    release_id: str
    folder: Path
    previous: Path | None
    now: datetime
    fingerprint: str

    @property
    def reports(self) -> Path:
        """The release's reports folder."""
        return self.folder / "reports"

    @property
    def blinded(self) -> bool:
        """A build without the randomization list is blinded."""
        return not self.landing.of("randomization")

    @property
    def data_cut(self) -> str:
        """The data cut of the release (ISO 8601 date)."""
        return data_cut(self.landing)


def step_publish(ws: Workspace, study: StudyConfig, counts: dict[str, int], steps: dict[str, dict],
                 now: datetime | None = None) -> Path:
    """Assemble the release (datasets, XPT, lineage, reports, CORE's report when it ran, manifest) and switch OUT/current to it."""
    landing = Landing.read(ws.landing)
    now = now or datetime.now(UTC)
    fingerprint = input_fingerprint(landing)
    release_id = unused_release_id(ws.out, f"{now.strftime('%Y%m%dT%H%M%SZ')}-{fingerprint[:8]}")
    previous = current_release(ws.out)
    tmp = new_release_dir(ws.out, release_id)
    try:
        _assemble_release(Release(ws, study, landing, release_id, tmp, previous, now, fingerprint), counts, steps)
    except BaseException:
        # Disk full, killed, a bug: a half-written release must not stay (nor fill the disk again).
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    release = finish_release(ws.out, tmp, release_id)
    prune_staged_cache(ws)
    return release


def prune_staged_cache(ws: Workspace) -> None:
    """Delete the staged cache entries none of the last runs used (the release is out: a failure only waits a night)."""
    try:
        StagedCache(ws.staged_cache, ws.cache_used).prune()
    except OSError:
        pass


def _assemble_release(release: Release, counts: dict[str, int], steps: dict[str, dict]) -> None:
    xpt_datasets = publish_datasets(release, steps["write_xpt"]["datasets"])
    findings, findings_df = publish_findings(release)
    # After reports/ exists: the data dictionary goes there.
    interchange = write_interchange(release.folder, release.study, data_cut=release.data_cut, blinded=release.blinded)
    core_result, core_error = publish_core(release, steps.get("core"))
    queries = publish_queries(release, findings)
    manifest = release_manifest(release, counts, steps, xpt_datasets, core_result, core_error, findings, queries)
    if manifest["core"] is not None:
        manifest["core"] |= {"seconds": steps["core"]["seconds"], "tasks": steps["core"]["tasks"]}
    manifest["interchange"] = {"dataset_json": "1.1", "define_xml": "2.1", "data_dictionary": DICTIONARY_HTML,
                               "files": interchange}
    docs = publish_data_docs(release)
    publish_quality_report(release, manifest, queries, findings_df, core_result, docs)
    if (release.folder / "adam").exists():
        publish_topline(release, manifest)
    (release.folder / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                                  encoding="utf-8")


def publish_topline(release: Release, manifest: dict) -> None:
    """reports/topline.html, when the statistics of the `reports` extra are installed (else the manifest says so)."""
    if importlib.util.find_spec("statsmodels") is None:
        manifest["topline"] = "not written: its statistics need the reports extra (pip install 'cdiscflow[reports]')"
        return
    from transforms.reports.topline import write_topline

    write_topline(release.folder / "adam", release.reports / "topline.html", release.study, blinded=manifest["blinded"])


def publish_datasets(release: Release, xpt_datasets: list[str]) -> list[str]:
    """SDTM (Parquet, and the XPT the write_xpt step wrote beside it), lineage and ADaM into the release; returns the XPT datasets."""
    ws, tmp = release.ws, release.folder
    shutil.copytree(ws.sdtm, tmp / "sdtm")
    shutil.copytree(ws.lineage, tmp / "lineage")
    if ws.adam.exists():
        shutil.copytree(ws.adam, tmp / "adam")
    return xpt_datasets


def publish_findings(release: Release) -> tuple[Findings, pd.DataFrame]:
    """reports/findings.csv: every finding of the run, scrubbed of the drop's identifiers."""
    findings = scrub_findings(collect_findings(release.ws), drop_scrubber(release.study, release.ws.staged))  # privacy: last guard
    release.reports.mkdir()
    findings_df = findings.to_frame()
    findings_df.fillna("").astype(str).map(lambda v: defuse_formula(xml_safe(v))).to_csv(
        release.reports / "findings.csv", index=False, encoding="utf-8", lineterminator="\n")
    return findings, findings_df


def publish_core(release: Release, summary: dict | None) -> tuple[CoreResult | None, str | None]:
    """reports/core.json from the CORE instances' merged report (merge_core's summary); what failed, if anything.

    (None, None) when CORE did not run. A failure is said, never raised: it must not stop a release.
    """
    if summary is None:
        return None, None
    failed: dict[str, list[str]] = {}
    for dataset, error in summary["errors"].items():
        failed.setdefault(error, []).append(dataset)
    problems = [f"{error} ({', '.join(datasets)})" for error, datasets in failed.items()]
    if summary["not_run"]:
        problems.append(f"no result (its task did not finish) for {', '.join(summary['not_run'])}")
    merged = merged_core_report(release.ws)
    result = None
    if merged is not None:
        try:
            result = core_result(json.loads(merged.read_text(encoding="utf-8")), release.reports / "core.json",
                                 release.study, summary["seconds"])
        except Exception as exc:  # noqa: BLE001 - as above
            problems.append(f"{type(exc).__name__}: {str(exc)[:300]}")
    return result, "; ".join(problems) or None


def publish_queries(release: Release, findings: Findings) -> pd.DataFrame:
    """reports/queries.csv and .xlsx: this release's queries, carried over from the previous release's."""
    queries = build_queries(findings, read_previous_queries(release.previous), release.data_cut)
    write_queries(queries, release.reports, release.study, release.data_cut)
    return queries


def release_manifest(release: Release, counts: dict[str, int], steps: dict[str, dict], xpt_datasets: list[str],
                     core_result: CoreResult | None, core_error: str | None, findings: Findings,
                     queries: pd.DataFrame) -> dict:
    """What manifest.json says of the release: inputs, datasets, checks, findings, queries, steps."""
    landing = release.landing
    snap = landing.newest_snapshot()
    by_sev = {s: sum(1 for f in findings.items if f.severity == s) for s in (BLOCKING, ERROR, WARNING, INFO)}
    return {
        "study": release.study.study_id,
        "release": release.release_id,
        "created_utc": release.now.isoformat(timespec="seconds"),
        "code_version": code_version(),
        "standard": "SDTMIG 3.4; CDISC CT 2025-03-25",
        "blinded": release.blinded,
        "data_cut": release.data_cut,
        "previous_release": release.previous.name if release.previous else None,
        "input_fingerprint": release.fingerprint,
        "inputs": [{"path": f.path, "source": f.source, "site": f.site, "sha256": f.sha256, "bytes": f.bytes,
                    "used": f.source != "edc" or f == snap} for f in landing.files],
        "datasets": dict(sorted(counts.items())),
        "xpt": {"format": "SAS XPORT v5", "encoding": XPT_ENCODING, "datasets": xpt_datasets},
        "core": ({"engine": core_result.engine, **core_result.status_counts(), "issues": len(core_result.issues),
                  "open_issues": len(core_result.open_issues), **({"error": core_error} if core_error else {})}
                 if core_result else {"error": core_error} if core_error else None),
        "findings": {"blocking": by_sev[BLOCKING], "non_blocking": by_sev[ERROR] + by_sev[WARNING],
                     "by_severity": by_sev},
        "queries": {s: int((queries["STATUS"] == s).sum()) for s in ("new", "open", "resolved")},
        "steps": steps,
    }


def publish_data_docs(release: Release) -> Path | None:
    """reports/gx/: the GX Data Docs of the run's validations; their index page, if any."""
    return build_data_docs(release.study, release.ws.gx_results, release.reports / "gx", release.release_id)


def publish_quality_report(release: Release, manifest: dict, queries: pd.DataFrame, findings_df: pd.DataFrame,
                           core_result: CoreResult | None, docs: Path | None) -> None:
    """reports/quality.html: the data manager's overview of the release."""
    study = release.study
    visits = [(v.visitnum, v.visit) for v in study.visits if v.visitnum is not None]
    write_quality_report(release.reports / "quality.html", manifest=manifest, queries=queries, findings=findings_df,
                         data=SdtmData(release.folder, study.study_id), visits=visits,
                         completeness_items=load_edit_check_config(study).completeness,
                         out=release.ws.out, core=core_result.summary() if core_result else None,
                         gx_docs="gx/index.html" if docs else None)


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


def unused_release_id(out: Path, base: str) -> str:
    """The release id, with -2, -3 ... when a release of the same second and inputs exists already."""
    release_id, n = base, 1
    while (out / "releases" / release_id).exists() or (out / "releases" / f".{release_id}.partial").exists():
        n += 1
        release_id = f"{base}-{n}"
    return release_id


def code_version() -> str:
    """Package version plus the git commit of the code, when known."""
    version = getattr(transforms, "__version__", "0")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=Path(__file__).parent,
                                capture_output=True, text=True, timeout=5, check=True).stdout.strip()
        return f"{version}+g{commit}"
    except (OSError, subprocess.SubprocessError):
        return version
