"""Orchestrate one synthetic drop: population, randomization, EDC snapshots, LIS files, truth."""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path
from typing import Any

from . import course as course_mod
from . import crf as crf_mod
from . import population as pop
from . import randomization, roles
from .edc import SnapshotWriter, plan_snapshots
from .lis import LabWriter
from .metadata import STUDY, load_ecrf
from .truth import EDGE_PLANT_KINDS, edge_cases, odm_plant_record, subject_truth

TRUTH_FILE = "synth_truth.json"


def _plan_orphans(rng: random.Random, subjects: list[pop.Subject]) -> list[tuple[str, date, str]]:
    """One orphan specimen per site: on a mid-study day, for an MRN that no subject has."""
    used = {s.person.mrn for s in subjects}
    out = []
    for site in pop.SITES:
        days = sorted(s.screen_date for s in subjects if s.site == site)
        if not days:
            continue
        day = days[len(days) // 2]
        while True:
            mrn = f"001{rng.randrange(10**7):07d}" if site == "SITE01" else f"M{rng.randrange(100_000, 10**6)}"
            if mrn not in used:
                break
        out.append((site, day, mrn))
    return out


def synthesize(out_dir: Path, subjects: int = 200, seed: int = 20171210, snapshots: int = 2,
               unblinded: bool = True, plant_errors: bool = True, study: str = STUDY) -> dict[str, Any]:
    """Write a complete synthetic NCT03668171 drop (EDC, LIS, randomization, truth) into out_dir.

    `study` names the study folder whose eCRF (metadata.xml: study OID, items, lengths) the drop follows.
    """
    if subjects < 1 or snapshots < 1:
        raise ValueError("subjects and snapshots must be at least 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md = load_ecrf(study)
    rng = random.Random(seed)

    population = pop.enrol(rng, subjects, seed, md.sites)
    placed = roles.assign_roles(rng, population, plant_errors)
    for s in population:
        if s.roles:
            roles.apply_baseline_roles(seed, s)
    entries = randomization.allocate(rng, population)
    for s in population:
        if s.randomized:
            roles.decide_outcome(seed, s)
    cut = pop.data_cut(population)
    snaps = plan_snapshots(seed, cut, snapshots)
    orphans = _plan_orphans(rng, population) if plant_errors else []

    truth_subjects: dict[str, Any] = {}
    planted: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    labs = LabWriter(out_dir, seed)
    with SnapshotWriter(out_dir, snaps, md) as writer:
        for s in population:
            while orphans and orphans[0][0] == s.site and orphans[0][1] <= s.screen_date:
                labs.add_orphan(*orphans.pop(0))
            c = course_mod.simulate(seed, s)
            sc = crf_mod.build(md, s, c, seed, cut)
            writer.write_subject(s.key, s.site, sc.groups)
            labs.add_subject(s, c.draws, plant_errors)
            truth_subjects[s.key] = subject_truth(s, c, sc)
            for p in sc.plants:
                rec = odm_plant_record(p, snaps)
                if rec["files"]:  # an error fixed before the first exported night is in no file
                    (edges if p.kind in EDGE_PLANT_KINDS else planted).append(rec)
            edges += edge_cases(s, c)
        for orphan in orphans:
            labs.add_orphan(*orphan)
        labs.close()
    planted += labs.planted
    if unblinded:
        randomization.write_list(out_dir, entries)

    truth = {
        "study": md.study_oid,
        "generator": "cdiscflow_tools.synth",
        "parameters": {"subjects": subjects, "seed": seed, "snapshots": snapshots, "unblinded": unblinded,
                       "plant_errors": plant_errors},
        "data_cut": cut.isoformat(),
        "edc_files": [sn.name for sn in snaps],
        "randomization_numbers_issued": len(entries),
        "roles": dict(sorted(placed.items())),
        "roles_skipped": roles.skipped_roles(placed, plant_errors),
        "subjects": truth_subjects,
        "planted_errors": planted,
        "edge_cases": edges,
        "lab_events": labs.events,
    }
    (out_dir / TRUTH_FILE).write_text(json.dumps(truth, ensure_ascii=False, indent=1, sort_keys=False) + "\n",
                                      encoding="utf-8")
    return _summary(truth, labs, out_dir)


def _summary(truth: dict[str, Any], labs: LabWriter, out_dir: Path) -> dict[str, Any]:
    """Small counts for the CLI to print."""
    subs = truth["subjects"].values()
    return {
        "out_dir": str(out_dir),
        "data_cut": truth["data_cut"],
        "subjects": len(truth["subjects"]),
        "screen_failures": sum(1 for s in subs if s["screen_failure"]),
        "randomized": sum(1 for s in subs if s["randomized"]),
        "treated": sum(1 for s in subs if s.get("treated")),
        "deaths": sum(1 for s in subs if s.get("death_date")),
        "edc_files": len(truth["edc_files"]),
        "lab_files": {site: len(sink.files) for site, sink in labs.sinks.items()},
        "lab_rows": {site: sink.rows for site, sink in labs.sinks.items()},
        "planted_errors": len(truth["planted_errors"]),
        "edge_cases": len(truth["edge_cases"]),
        "roles_skipped": truth["roles_skipped"],
    }
