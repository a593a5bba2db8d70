"""The SDTM build context: builders return what they produce; only `prepare` assembles the shared part."""
from __future__ import annotations

from datetime import UTC, datetime

from transforms.pipeline.graph import STAGED
from transforms.pipeline.run import cli_steps
from transforms.pipeline.steps import StepBodies, step_land
from transforms.pipeline.workspace import Workspace
from transforms.sdtm.build import build_domain, load_context, prepare


def test_prepare_returns_a_prepared_copy_and_builders_leave_the_context_alone(study, examples, tmp_path):
    ws = Workspace(tmp_path / "out", "run")
    step_land(examples, ws, study, datetime(2026, 1, 1, tzinfo=UTC))
    bodies = StepBodies(ws, study)
    for step, item in cli_steps(study):
        if step.id in STAGED:
            bodies.run(step, item)
    ctx = load_context(study, ws.staged)
    prepared = prepare(ctx, ws.staged)
    assert not ctx.prepared
    assert (ctx.dm_records, ctx.lb_records, ctx.visits, ctx.reference) == (None, None, None, None)
    assert prepared.prepared and prepare(prepared, ws.staged) is prepared
    # Every DM subject has its reference dates (RFSTDTC etc., SDTMIG DM), keyed by the EDC SubjectKey.
    assert set(prepared.reference.index) == set(prepared.dm_records["_SUBJECTKEY"])
    before = {k: id(v) for k, v in vars(prepared).items()}
    build_domain(prepared, ws.staged, "SE", "2026-01-01")
    assert {k: id(v) for k, v in vars(prepared).items()} == before
