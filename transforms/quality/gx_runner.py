"""Run committed Great Expectations suites (JSON under expectations/) on DataFrames, as findings."""
from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from transforms.quality.findings import Finding

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXPECTATIONS = PROJECT_ROOT / "expectations"


def suite_path(study_id: str, name: str) -> Path:
    """Where a study's suite is committed."""
    return EXPECTATIONS / study_id.lower() / f"{name}.json"


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


def validate(df: pd.DataFrame, suite_json: dict[str, Any], index_columns: list[str]) -> list[dict[str, Any]]:
    """Validate a DataFrame; one dict per failed expectation: its meta, and the failing rows' index columns."""
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
    batch = ds.add_dataframe_asset("frame").add_batch_definition_whole_dataframe("all").get_batch(
        batch_parameters={"dataframe": df})
    try:
        result = batch.validate(suite, result_format={"result_format": "COMPLETE",
                                                      "unexpected_index_column_names": index_columns})
    finally:
        ctx.data_sources.delete(name)
        ctx.suites.delete(name)
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


def findings_from(failed: list[dict[str, Any]], to_finding) -> list[Finding]:
    """Findings of failed expectations: one per failing row (or one for a table-level failure)."""
    out: list[Finding] = []
    for f in failed:
        rows = f["rows"] or [None]
        for row in rows:
            out.append(to_finding(f["meta"], f["kwargs"], row))
    return out
