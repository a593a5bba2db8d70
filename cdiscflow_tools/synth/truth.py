"""The generator's ground truth (synth_truth.json): what tests compare the pipeline against.

It never holds an MRN, a name or initials, and planted identifiers are described, not copied.
"""

from __future__ import annotations

from typing import Any

from .course import Course
from .crf import OdmPlant, SubjectCrf, dtc
from .edc import Snapshot
from .population import Subject

# ODM plant kinds that are valid data (edge cases) rather than planted errors.
EDGE_PLANT_KINDS = {"item_removed"}

EDGE_KIND = {
    "death_84": "death_on_rand_plus_84", "death_85": "death_on_rand_plus_85",
    "transplant_death": "transplant_then_death", "untreated": "randomized_not_treated",
    "not_eligible": "randomized_not_eligible", "rand_day_before": "randomized_day_before_day1",
    "day1_lab_after_start": "day1_lab_after_infusion_start", "day1_lab_before_start": "day1_lab_before_infusion_start",
    "missed_infusion": "missed_infusion",
}


def _iso(d: Any) -> str | None:
    return None if d is None else d.isoformat()


def _final_values(group) -> dict[str, str | None]:
    return {i.oid: i.versions[-1][1] for i in group.items}


def subject_truth(s: Subject, course: Course, crf: SubjectCrf) -> dict[str, Any]:
    """Per-subject facts as they stand in the final snapshot."""
    visits: dict[str, str] = {}
    for v in course.visits:
        visits[f"{v.event}.{v.repeat}" if v.repeat else v.event] = v.day.isoformat()
    ex = [_final_values(g) for g in crf.groups if g.group == "IG.EX"]
    out: dict[str, Any] = {
        "site": s.site,
        "screening_date": s.screen_date.isoformat(),
        "screen_failure": s.screen_failure,
        "ieyn": s.ieyn,
        "ienm": list(s.ienm),
        "screening_meld": s.meld,
        "randomized": s.randomized,
        "visits": visits,
    }
    if not s.randomized:
        return out
    o = s.outcome
    out.update({
        "randno": s.randno, "rand_datetime": dtc(s.rand_dt), "arm": s.arm, "doselvl": s.doselvl,
        "stratum": s.stratum, "stratum_by_meld": s.stratum_by_meld, "day1": s.day1.isoformat(),
        "infusions": [e["I.EXSTDTC"] for e in ex if e.get("I.EXYN") == "Y"],
        "infusions_not_given": [g.event for g in crf.groups if g.group == "IG.EX"
                                and _final_values(g).get("I.EXYN") == "N"],
        "outcome": o.kind, "course": s.course_type,
        "death_date": _iso(o.death_date), "death_cause": o.dthcaus, "transplant_date": _iso(o.lt_date),
        "eos_status": o.eos_stat, "eos_date": _iso(course.eos_date), "last_known_alive": _iso(course.last_alive),
        "n_adverse_events": len(course.aes), "n_con_meds": len(course.cms),
        "roles": sorted(s.roles),
    })
    out["treated"] = bool(out["infusions"])
    return out


def edge_cases(s: Subject, course: Course) -> list[dict[str, Any]]:
    """Named SAP edge cases carried by this subject's roles."""
    out = []
    w0 = next((i for i in course.infusions if i.event == "SE.W0" and i.given), None)
    for role in s.roles:
        kind = EDGE_KIND.get(role)
        if kind is None:
            continue
        entry: dict[str, Any] = {"kind": kind, "subject": s.key, "rand_date": s.rand_dt.date().isoformat()}
        if role in ("death_84", "death_85", "transplant_death"):
            entry["death_date"] = _iso(s.outcome.death_date)
            entry["transplant_date"] = _iso(s.outcome.lt_date)
        elif role == "not_eligible":
            entry["ienm"] = list(s.ienm)
        elif role == "rand_day_before":
            entry["rand_datetime"] = dtc(s.rand_dt)
        elif role.startswith("day1_lab") and w0 is not None:
            draw = next(d for d in course.draws if d.label.startswith("DAY1"))
            entry.update({"site": s.site, "specimen": draw.specimen, "collected": dtc(draw.collected),
                          "infusion_start": dtc(w0.start)})
        elif role == "missed_infusion":
            entry["event"] = "SE.W2"
        out.append(entry)
    return out


def odm_plant_record(p: OdmPlant, snapshots: list[Snapshot]) -> dict[str, Any]:
    """A planted ODM error (or removal) with the snapshot files that hold it."""
    g = p.group
    present = [sn.name for sn in snapshots if sn.night >= g.entered and (p.until is None or sn.night < p.until)]
    rec: dict[str, Any] = {
        "kind": p.kind, "subject": p.subject, "site": p.site, "event": g.event, "form": g.form,
        "item_group": g.group, "item": p.item, "detail": p.detail,
        "file": present[-1] if present else None, "files": present,
    }
    if g.event_repeat is not None:
        rec["event_repeat_key"] = str(g.event_repeat)
    if g.group_repeat is not None:
        rec["item_group_repeat_key"] = str(g.group_repeat)
    if p.kind == "identifier_in_free_text":
        rec["identifier"] = p.extra.get("identifier")  # what kind, never the value
    else:
        rec["value"] = p.value
        rec["intended"] = p.intended
    if p.until is not None:
        rec["fixed_in"] = next((sn.name for sn in snapshots if sn.night >= p.until), None)
    if p.kind == "item_removed":
        removed_on = max(v[0] for v in next(i for i in g.items if i.oid == p.item).versions)
        rec["files"] = [sn.name for sn in snapshots if sn.night >= removed_on]
        rec["file"] = rec["files"][-1] if rec["files"] else None
    return rec
