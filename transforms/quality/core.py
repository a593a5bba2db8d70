"""CDISC CORE, the open rules engine, on a release's XPT files: offline, every SDTMIG 3.4 rule, reviewed exceptions.

The engine (PyPI cdisc-rules-engine 0.17.1) needs Python 3.12, so it lives in its own virtualenv
(`.venv-core`, made by `make core-setup`) and runs as a subprocess of tools/core_runner.py; this
module prepares its inputs, reads its JSON report, applies the study's reviewed exceptions
(`studies/<study>/quality/core_exceptions.yaml`) and writes the report. The rules are the engine's
cache files, committed xz-compressed in `core_cache/` and checked against their SHA-256 by the runner: nothing is fetched and nothing is read from outside
the repository. Issue rows carry what the engine reports (rule, dataset, row, USUBJID, --SEQ,
the values of the variables the rule looked at); the SDTM datasets hold no MRN, initials or
names, so neither does the report.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import yaml

from transforms.config import StudyConfig, default_study, load_study
from transforms.standards.metadata import dataset_meta

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "tools" / "core_runner.py"
CORE_VENV = ROOT / ".venv-core"
STANDARD = "sdtmig/3-4"
ISSUE_COLUMNS = ["RULE", "DATASET", "ROW", "USUBJID", "SEQ", "VARIABLES", "VALUES", "MESSAGE", "EXCEPTED"]
# Worst first: a rule's status is the worst of its per-dataset statuses.
STATUS_ORDER = ("issue reported", "execution error", "success", "skipped")


class CoreUnavailable(RuntimeError):
    """The engine's virtualenv is missing: run `make core-setup`."""


@dataclass(frozen=True)
class CoreException:
    """A reviewed exception: the rule is wrong or inapplicable for this study (never "not fixed yet")."""

    rule: str
    comment: str
    dataset: str = ""
    where: dict[str, str] = field(default_factory=dict)

    def matches(self, issue: dict[str, Any]) -> bool:
        """Whether the exception covers one issue row (rule, dataset and every `where` regex on its values)."""
        if issue["RULE"] != self.rule or (self.dataset and issue["DATASET"] != self.dataset):
            return False
        values = json.loads(issue["VALUES"]) if issue["VALUES"] else {}
        return all(re.fullmatch(_pattern(rx, values), _text(values.get(var))) for var, rx in self.where.items())


_REF = re.compile(r"\{([A-Z][A-Z0-9_.*]*)(?::(\d+))?\}")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _pattern(rx: str, values: dict[str, Any]) -> str:
    """A `where` regex with {VAR} / {VAR:N} replaced by the (first N characters of the) escaped reported value."""
    def sub(m: re.Match[str]) -> str:
        text = _text(values.get(m.group(1)))
        return re.escape(text[: int(m.group(2))] if m.group(2) else text)
    return _REF.sub(sub, rx)


@dataclass
class CoreResult:
    """What one CORE run found: every issue (excepted or not), rule statuses, execution errors, time."""

    report: Path
    issues: pd.DataFrame
    rule_status: dict[str, str]
    execution_errors: list[dict[str, str]]
    seconds: float
    engine: str
    unused_exceptions: list[CoreException]

    @property
    def open_issues(self) -> pd.DataFrame:
        """Issues no reviewed exception covers: each one is something to fix in the SDTM build."""
        return self.issues[self.issues["EXCEPTED"] == ""]

    def status_counts(self) -> dict[str, int]:
        """How many rules ended in each status."""
        return {s: sum(1 for v in self.rule_status.values() if v == s) for s in STATUS_ORDER}

    def summary(self) -> pd.DataFrame:
        """Issues counted by rule and dataset (for the quality report)."""
        return issue_summary(self.issues)


def core_python(venv: Path = CORE_VENV) -> Path | None:
    """The interpreter of the engine's virtualenv, if it has been set up."""
    python = venv / "bin" / "python"
    return python if python.exists() else None


@lru_cache(maxsize=1)
def _runner() -> ModuleType:
    # The runner is a script for the 3.12 venv; its stdlib-only helpers (checksummed cache loading) serve here too.
    spec = importlib.util.spec_from_file_location("core_runner", RUNNER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@lru_cache(maxsize=2)
def rule_ids(standard: str = STANDARD) -> tuple[str, ...]:
    """The CORE rule ids of a standard in the committed rule cache (430 for sdtmig/3-4)."""
    return tuple(_runner().load_cache("rules_dictionary.pkl")[standard])


def load_exceptions(study: StudyConfig) -> list[CoreException]:
    """The study's reviewed exception list (quality/core_exceptions.yaml: rule, optional dataset and where, comment)."""
    path = study.study_file("quality/core_exceptions.yaml")
    entries = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else []
    entries = entries or []
    return [CoreException(rule=e["rule"], comment=" ".join(str(e.get("comment", "")).split()),
                          dataset=e.get("dataset", ""), where=dict(e.get("where") or {})) for e in entries]


def dataset_classes(xpt_dir: Path) -> dict[str, str]:
    """SDTMIG class of each dataset in the folder, the one piece of library metadata the runner gets."""
    return {p.stem.upper(): dataset_meta(p.stem.upper()).class_ for p in sorted(xpt_dir.glob("*.xpt"))}


def issues_from_report(engine_report: dict[str, Any], exceptions: list[CoreException]) -> pd.DataFrame:
    """One row per issue the engine reported, EXCEPTED holding the covering exception's rule id (or '')."""
    rows = []
    for rule in engine_report["rules"]:
        for res in rule["results"]:
            if res.get("executionStatus") != "issue reported":
                continue
            for err in res.get("errors", []):
                values = {k: err.get("value", {})[k] for k in sorted(err.get("value", {}))}
                rows.append({
                    "RULE": rule["core_id"], "DATASET": err.get("dataset") or res.get("dataset") or "",
                    "ROW": err.get("row", ""), "USUBJID": err.get("USUBJID", ""), "SEQ": err.get("SEQ", ""),
                    "VARIABLES": " ".join(res.get("variables") or []),
                    "VALUES": json.dumps(values, ensure_ascii=False, default=str), "MESSAGE": rule["message"],
                })
    for row in rows:
        hit = next((e for e in exceptions if e.matches(row)), None)
        row["EXCEPTED"] = hit.rule if hit else ""
    df = pd.DataFrame(rows, columns=ISSUE_COLUMNS)
    return df.sort_values(["RULE", "DATASET"], kind="stable", ignore_index=True)


def rule_statuses(engine_report: dict[str, Any]) -> dict[str, str]:
    """Each rule's worst per-dataset status ('execution error' also when the rule crashed)."""
    out = {}
    for rule in engine_report["rules"]:
        seen = {r.get("executionStatus") for r in rule["results"]}
        if rule.get("crash"):
            seen.add("execution error")
        out[rule["core_id"]] = next((s for s in STATUS_ORDER if s in seen), "skipped")
    return out


def execution_errors(engine_report: dict[str, Any]) -> list[dict[str, str]]:
    """Rule and dataset of every execution error, with the engine's message (what coverage is missing)."""
    out = []
    for rule in engine_report["rules"]:
        if rule.get("crash"):
            out.append({"rule": rule["core_id"], "dataset": "", "message": rule["crash"]})
        for res in rule["results"]:
            if res.get("executionStatus") == "execution error":
                msg = next((e.get("message", "") for e in res.get("errors", [])), res.get("message") or "")
                out.append({"rule": rule["core_id"], "dataset": res.get("dataset") or "", "message": msg})
    return out


def issue_summary(issues: pd.DataFrame) -> pd.DataFrame:
    """Issues by rule and dataset: how many, how many excepted, and the rule's message."""
    if issues.empty:
        return pd.DataFrame(columns=["RULE", "DATASET", "ISSUES", "EXCEPTED", "MESSAGE"])
    g = issues.assign(X=issues["EXCEPTED"] != "").groupby(["RULE", "DATASET"], sort=True)
    return pd.DataFrame({"ISSUES": g.size(), "EXCEPTED": g["X"].sum().astype(int),
                         "MESSAGE": g["MESSAGE"].first()}).reset_index()


def run_engine(xpt_dir: Path, report_out: Path, *, python: Path | None = None, jobs: int | None = None,
               rules: list[str] | None = None, datasets: list[str] | None = None,
               timeout: float = 3600) -> dict[str, Any]:
    """Run tools/core_runner.py in the engine's virtualenv on a folder of XPT files; returns its JSON report.

    datasets: run the rules on these only (the folder's other datasets stay readable for the rules
    that look across datasets: DM's dates, a SUPP--'s parent, the list of the study's domains).
    """
    python = python or core_python()
    if python is None:
        raise CoreUnavailable(f"{CORE_VENV} does not exist: run `make core-setup` (Python 3.12 needed)")
    with tempfile.TemporaryDirectory() as tmp:
        classes = Path(tmp) / "classes.json"
        classes.write_text(json.dumps(dataset_classes(xpt_dir)), encoding="utf-8")
        cmd = [str(python), str(RUNNER), "--xpt-dir", str(xpt_dir), "--out", str(report_out),
               "--dataset-classes", str(classes), "--jobs", str(jobs or min(4, os.cpu_count() or 1))]
        for r in rules or []:
            cmd += ["--rule", r]
        for d in datasets or []:
            cmd += ["--dataset", d]
        # The engine reads .env files and CDISC_LIBRARY_API_KEY from the environment: give it neither.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CDISC_", "REDIS_"))}
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=tmp, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"CORE runner failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(report_out.read_text(encoding="utf-8"))


def run_core(xpt_dir: Path, report: Path, study: StudyConfig, *, python: Path | None = None,
             jobs: int | None = None, rules: list[str] | None = None, timeout: float = 3600) -> CoreResult:
    """Run every SDTMIG 3.4 rule on the XPT files, apply the study's exceptions, write report (.json) and issues (.csv)."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        engine_report = run_engine(xpt_dir, Path(tmp) / "engine.json", python=python, jobs=jobs, rules=rules, timeout=timeout)
    return core_result(engine_report, report, study, round(time.perf_counter() - start, 1))


def core_result(engine_report: dict[str, Any], report: Path, study: StudyConfig, seconds: float) -> CoreResult:
    """The engine's report with the study's exceptions applied, written as report (.json) and issues (.csv)."""
    reviewed = load_exceptions(study)
    issues = issues_from_report(engine_report, reviewed)
    statuses = rule_statuses(engine_report)
    errors = execution_errors(engine_report)
    rows = issues.to_dict(orient="records")
    result = CoreResult(report, issues, statuses, errors, seconds, engine_report["engine"],
                        [e for e in reviewed if not any(e.matches(r) for r in rows)])
    write_report(result, engine_report, reviewed)
    return result


def merge_engine_reports(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One engine report from runs on disjoint datasets of one folder (run_engine's `datasets`), as one run
    on the whole folder gives it: each rule's results in the folder's dataset order, a rule that crashed
    on any dataset crashed; seconds are the runs' sum."""
    order = {name.removesuffix(".xpt").upper(): i for i, name in enumerate(parts[0]["datasets"])}
    parts = sorted(parts, key=lambda p: min(order[d] for d in p["checked"]))
    rules = []
    for i, first in enumerate(parts[0]["rules"]):
        mine = [p["rules"][i] for p in parts]
        assert all(r["core_id"] == first["core_id"] for r in mine), "the runs ran different rules"
        crash = next((r["crash"] for r in mine if r["crash"]), "")
        by_dataset = {d: res for r in mine for d, res in r["results_by_dataset"].items()}
        results = [] if crash else [res for d in sorted(by_dataset, key=order.__getitem__) for res in by_dataset[d]]
        rules.append({**{k: first[k] for k in ("core_id", "description", "message")},
                      "seconds": round(sum(r["seconds"] for r in mine), 3), "crash": crash, "results": results})
    return {**{k: parts[0][k] for k in ("engine", "python", "standard", "datasets", "jobs", "dataset_classes")},
            "seconds": round(sum(p["seconds"] for p in parts), 1), "checked": sorted({d for p in parts for d in p["checked"]}, key=order.__getitem__),
            "rules": rules}


def write_report(result: CoreResult, engine_report: dict[str, Any], reviewed: list[CoreException]) -> None:
    """reports/core.json (summary, rule statuses, issues, execution errors, exceptions) and core_issues.csv."""
    issues = result.issues
    rows = issues.to_dict(orient="records")
    doc = {
        "engine": engine_report["engine"], "python": engine_report["python"], "standard": engine_report["standard"],
        "seconds": result.seconds, "jobs": engine_report["jobs"], "datasets": engine_report["datasets"],
        "summary": {"rules": len(result.rule_status), **result.status_counts(), "issues": len(issues),
                    "open_issues": len(result.open_issues), "excepted_issues": int((issues["EXCEPTED"] != "").sum())},
        "rules": [{"rule": r["core_id"], "status": result.rule_status[r["core_id"]], "description": r["description"],
                   "seconds": r["seconds"]} for r in engine_report["rules"]],
        "issues_by_rule": result.summary().to_dict(orient="records"),
        "issues": issues.to_dict(orient="records"),
        "execution_errors": result.execution_errors,
        "exceptions": [{"rule": e.rule, "dataset": e.dataset, "where": e.where, "comment": e.comment,
                        "issues_matched": sum(1 for r in rows if e.matches(r))} for e in reviewed],
    }
    result.report.parent.mkdir(parents=True, exist_ok=True)
    result.report.write_text(json.dumps(doc, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    issues.to_csv(issues_csv(result.report), index=False, encoding="utf-8", lineterminator="\n")


def issues_csv(report: Path) -> Path:
    """Where the issue listing of a report goes (beside it)."""
    return report.with_name(f"{report.stem}_issues.csv")


def read_summary(report: Path) -> pd.DataFrame:
    """Issues by rule and dataset from a written report (what the quality page shows)."""
    doc = json.loads(report.read_text(encoding="utf-8"))
    return pd.DataFrame(doc["issues_by_rule"], columns=["RULE", "DATASET", "ISSUES", "EXCEPTED", "MESSAGE"])


def main(argv: list[str] | None = None) -> int:
    """`python -m transforms.quality.core RELEASE --report PATH`: CORE on a release; exit 1 on open issues."""
    from transforms.publish.xpt import write_release_xpt

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("release", type=Path, help="a release folder (or OUT/current)")
    ap.add_argument("--report", type=Path, required=True, help="the JSON report (issues CSV beside it)")
    ap.add_argument("--jobs", type=int)
    ap.add_argument("--study", help="study id or folder (default: $CDISCFLOW_STUDY, else the only study)")
    args = ap.parse_args(argv)
    sdtm = args.release / "sdtm"
    with tempfile.TemporaryDirectory() as tmp:
        xpt_dir = sdtm
        if not any(sdtm.glob("*.xpt")):  # an older release: XPT in a scratch folder, the release stays untouched
            manifest = json.loads((args.release / "manifest.json").read_text(encoding="utf-8"))
            xpt_dir = Path(tmp)
            write_release_xpt(sdtm, manifest.get("data_cut"), out_dir=xpt_dir)
        result = run_core(xpt_dir, args.report, load_study(args.study or default_study()), jobs=args.jobs)
    counts = result.status_counts()
    print(f"{result.engine}: {len(result.rule_status)} rules in {result.seconds} s; "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"{len(result.issues)} issues, {len(result.open_issues)} not covered by an exception -> {result.report}")
    summary = result.summary()
    if not summary.empty:
        print(summary.to_string(index=False, max_colwidth=70))
    for e in result.unused_exceptions:
        print(f"exception {e.rule} {e.dataset} covered no issue this time")
    return 1 if len(result.open_issues) else 0


if __name__ == "__main__":
    sys.exit(main())
