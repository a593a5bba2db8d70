"""Run committed Great Expectations suites (JSON under studies/<study>/expectations/) on DataFrames, as findings."""
from __future__ import annotations

import html
import json
import logging
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from transforms.cdisc.findings import Finding
from transforms.config import StudyConfig
from transforms.privacy.scrub import Scrubber
from transforms.quality.added_columns import add_columns

EXPECTATIONS = "expectations"


def expectations_dir(study: StudyConfig) -> Path:
    """The study's own committed GX suites folder: studies/<study>/expectations/."""
    return study.folder / EXPECTATIONS


def expectations_dirs(study: StudyConfig) -> tuple[Path, ...]:
    """The suites folders of the study and of the studies it extends, farthest base first (a nearer suite wins)."""
    return tuple(f / EXPECTATIONS for f in reversed(study.folders) if (f / EXPECTATIONS).is_dir())


@lru_cache(maxsize=4)
def suites_context(folders: tuple[Path, ...]):
    """A file-backed GX context whose expectation store is a private copy of the study's committed suites.

    A copy, because GX writes a store id file into its store folder and studies/ stays read-only;
    the suites of an inherited study are copied first, the study's own over them.
    """
    import atexit
    import shutil
    import tempfile

    import great_expectations as gx
    import yaml

    root = Path(tempfile.mkdtemp(prefix="cdiscflow-gx-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    store = root / "suites"
    for folder in folders:
        shutil.copytree(folder, store, ignore=shutil.ignore_patterns(".*"), dirs_exist_ok=True)
    gx.get_context(mode="file", project_root_dir=str(root))
    cfg_path = root / "gx" / "great_expectations.yml"
    cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
    cfg["stores"]["expectations_store"]["store_backend"]["base_directory"] = str(store)
    cfg["analytics_enabled"] = False
    cfg_path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    return gx.get_context(mode="file", project_root_dir=str(root))


def load_suite(study: StudyConfig, name: str) -> dict[str, Any]:
    """A committed suite, read through the file-backed context, as JSON; every expectation accounted for."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        suite = suites_context(expectations_dirs(study)).suites.get(name)
    raw = read_suite(suite_path(study, name))
    if len(suite.expectations) != len(raw["expectations"]):
        raise RuntimeError(f"suite {name}: {len(suite.expectations)} of {len(raw['expectations'])} expectations "
                           "loaded (an expectation type GX does not know is dropped silently)")
    return raw


def suite_path(study: StudyConfig, name: str) -> Path:
    """Where a study's suite is committed (its own, else the inherited one)."""
    return study.study_file(f"{EXPECTATIONS}/{name}.json")


def read_suite(path: Path) -> dict[str, Any]:
    """A suite's JSON (GX's own serialization), read-only."""
    return json.loads(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _context():
    # Validation runs in an ephemeral context: mutating one file-backed context from parallel
    # workers corrupts it (engineering notes); the committed JSON stays the single source.
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return ctx


_COLUMN_EXPECTATION = re.compile(r"expect_(column|compound_columns|multicolumn|select_column)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def suite_columns(suite_json: dict[str, Any], columns: list[str], index_columns: list[str]) -> list[str] | None:
    """The columns a suite's expectations, row conditions and index read, in the frame's order; None when
    an expectation may read the whole table (GX pandas copies every column for each row condition)."""
    wanted = set(index_columns)
    for e in suite_json["expectations"]:
        if not _COLUMN_EXPECTATION.match(e["type"]):
            return None
        kw = e["kwargs"]
        wanted |= {kw[k] for k in ("column", "column_A", "column_B") if k in kw}
        wanted |= set(kw.get("column_list") or ())
        wanted |= set(_NAME.findall(str(kw.get("row_condition") or "")))
    return [c for c in columns if c in wanted]


def validate(df: pd.DataFrame, suite_json: dict[str, Any], index_columns: list[str],
             result_path: Path | None = None, scrubber: Scrubber | None = None) -> list[dict[str, Any]]:
    """Validate a DataFrame; one dict per failed expectation: its meta, and the failing rows' index columns.

    With `result_path`, GX's validation result is also written there (JSON) for the Data Docs, with
    the values redacted as redact_result() says.
    """
    import warnings

    import great_expectations as gx

    ctx = _context()
    with warnings.catch_warnings():
        # String row conditions are deprecated in GX 1.9+ but still supported; they keep suites plain JSON.
        warnings.simplefilter("ignore", DeprecationWarning)
        suite = gx.ExpectationSuite(**{k: v for k, v in suite_json.items() if k != "id"})
    expected = len(suite_json["expectations"])
    if len(suite.expectations) != expected:
        raise RuntimeError(f"suite {suite.name}: {len(suite.expectations)} of {expected} expectations loaded")
    name = f"{suite.name}-{len(ctx.suites.all())}"
    suite.name = name
    suite = ctx.suites.add(suite)
    ds = ctx.data_sources.add_pandas(name)
    frame = add_columns(df, suite_json)
    read = suite_columns(suite_json, list(frame.columns), index_columns)
    batch = ds.add_dataframe_asset("frame").add_batch_definition_whole_dataframe("all").get_batch(
        batch_parameters={"dataframe": frame if read is None else frame[read]})
    try:
        result = batch.validate(suite, result_format={"result_format": "COMPLETE",
                                                      "unexpected_index_column_names": index_columns})
    finally:
        ctx.data_sources.delete(name)
        ctx.suites.delete(name)
    if result_path is not None:
        result_path.parent.mkdir(parents=True, exist_ok=True)
        payload = result.to_json_dict()
        payload["suite_name"] = suite_json["name"]
        for r in payload["results"]:
            redact_result(r, scrubber or Scrubber())
        result_path.write_text(json.dumps(payload, default=str), encoding="utf-8")
    failed = []
    for r in result.results:
        if r.success:
            continue
        if r.exception_info and r.exception_info.get("raised_exception"):
            raise RuntimeError(f"expectation {r.expectation_config.type} failed to run: "
                               f"{r.exception_info.get('exception_message')}")
        failed.append({"meta": dict(r.expectation_config.meta or {}), "kwargs": dict(r.expectation_config.kwargs),
                       "rows": list(r.result.get("unexpected_index_list") or [])})
    return failed


# Per-row lists of a result: the index lists name rows by their values (an EDC item's VALUE, a
# specimen), so they never reach the Data Docs; the findings and queries trace the rows instead.
_ROW_LISTS = ("unexpected_index_list", "unexpected_index_query", "partial_unexpected_index_list", "unexpected_rows")
_VALUE_LISTS = ("unexpected_list", "partial_unexpected_list", "partial_unexpected_counts")


def redact_result(result: dict[str, Any], scrubber: Scrubber) -> dict[str, Any]:
    """One expectation's result made fit for the Data Docs, in place.

    Row lists are dropped; unexpected values are kept only where the suite shows them in findings
    (meta show_value: never for identifier or free-text fields), each one scrubbed and HTML-escaped
    (GX renders them as markup).
    """
    body = result.get("result") or {}
    for k in _ROW_LISTS:
        body.pop(k, None)
    meta = (result.get("expectation_config") or {}).get("meta") or {}
    if not meta.get("show_value", True):
        for k in _VALUE_LISTS:
            body.pop(k, None)
        if "observed_value" in body:  # a list or a dict of observed values is as revealing as a string
            body["observed_value"] = "(hidden)"
        return result

    def safe(value: Any) -> Any:
        # Compound-key expectations report dicts of values: every string leaf is scrubbed and escaped.
        if isinstance(value, str):
            return html.escape(scrubber.scrub(value)[0])
        if isinstance(value, dict):
            return {k: safe(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [safe(v) for v in value]
        return value

    for k in ("unexpected_list", "partial_unexpected_list", "partial_unexpected_counts", "observed_value"):
        if k in body:
            body[k] = safe(body[k])
    return result


def findings_from(failed: list[dict[str, Any]], to_finding) -> list[Finding]:
    """Findings of failed expectations: one per failing row (or one for a table-level failure)."""
    out: list[Finding] = []
    for f in failed:
        rows = f["rows"] or [None]
        for row in rows:
            out.append(to_finding(f["meta"], f["kwargs"], row))
    return out


def build_data_docs(study: StudyConfig, results_dir: Path, target: Path, run_name: str) -> Path | None:
    """Render GX Data Docs (suites and this run's results) into `target`; returns its index page."""
    import datetime as dt
    import shutil

    from great_expectations.core import ExpectationSuiteValidationResult
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier, ValidationResultIdentifier)

    results = sorted(results_dir.glob("*.json")) if results_dir.exists() else []
    if not results:
        return None
    ctx = suites_context(expectations_dirs(study))
    run_id = RunIdentifier(run_name=run_name, run_time=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    for p in results:
        payload = json.loads(p.read_text(encoding="utf-8"))
        name = payload["suite_name"]
        key = ValidationResultIdentifier(expectation_suite_identifier=ExpectationSuiteIdentifier(name=name),
                                         run_id=run_id, batch_identifier=p.stem)
        ctx.validation_results_store.set(key, ExpectationSuiteValidationResult(**payload))
    site = Path(ctx.build_data_docs()["local_site"].removeprefix("file://"))
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(site.parent, target)
    shutil.rmtree(site.parent, ignore_errors=True)
    from transforms.quality.data_docs import make_offline

    make_offline(target, results)  # no CDN, no tracking image, no scripts: readable offline
    return target / "index.html"
