"""What a data manager reads when a nightly step fails: plain words, no subject identifiers.

Imported by the DAG files at parse time (the callback and the error class): standard library only.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger("cdiscflow.nightly")


class RejectedInput(Exception):
    """An input the run cannot use (an unreadable drop file, an invalid study folder): retrying cannot help."""


def _current_release(out: Path) -> str:
    from transforms.publish.release import current_release

    cur = current_release(out)
    return cur.name if cur is not None else "none yet"


def describe_failure(study_id: str, step: str, item: str, exc: BaseException | None, out: Path,
                     release_before: str | None = None) -> str:
    """One paragraph: which step failed, why in words, and which release readers get now.

    `release_before` is the release that was current when the run started, if known.
    """
    where = f'"{step}"' + (f" for {item}" if item else "")
    if isinstance(exc, RejectedInput):
        why = f"an input was rejected: {exc}. A copy of the file and the reason are in {out / 'quarantine'}"
    elif isinstance(exc, OSError):
        why = f"a file or network error that retries did not clear ({type(exc).__name__}: {exc})"
    elif exc is not None:
        # Other messages may quote data values, so only the kind of error goes into notifications.
        why = f"an unexpected {type(exc).__name__} (a problem in the data or the code; the traceback is above)"
    else:
        why = "the task was stopped from outside (killed, timed out or lost its worker)"
    current = _current_release(out)
    if release_before is not None and current not in (release_before, "none yet"):
        outcome = (f"This run had already published release {current} ({out / 'current'} points to it); "
                   "the next run removes what this one left in the staging folder.")
    else:
        outcome = f"No new release was published; {out / 'current'} still points to release {current}."
    return f"Nightly load of {study_id} failed at {where}: {why}. {outcome}"


def failure_callback(study_id: str, out_of: Callable[[str], Path]) -> Callable[[Mapping[str, Any]], None]:
    """An Airflow on_failure_callback that logs describe_failure() into the failed task's log."""

    def on_failure(context: Mapping[str, Any]) -> None:
        ti = context.get("ti") or context.get("task_instance")
        task = context.get("task")
        step = getattr(task, "task_display_name", None) or getattr(ti, "task_id", "?")
        item = getattr(ti, "rendered_map_index", None) or ""
        try:
            run = ti.xcom_pull(task_ids="land") if ti is not None else None
        except Exception:  # noqa: BLE001 -- a callback must never hide the failure it reports
            run = None
        out = Path(run["out"]) if run else out_of(study_id)
        before = (run.get("current_release") or "none yet") if run else None
        log.error(describe_failure(study_id, step, str(item), context.get("exception"), out, before))

    return on_failure
