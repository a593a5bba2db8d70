"""Pick the subjects that carry the SAP edge cases and the planted data errors.

A role names one deliberate feature of the drop. Edge-case roles are valid data and are placed in
every drop; `err_*` roles are data errors, placed only when errors are planted. A role may force
the subject's outcome (e.g. a death exactly on randomization date + 84 days) and touches a set of
"aspects" of the subject's data, so two roles on one subject never edit the same thing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from . import population as pop
from .population import Subject


@dataclass(frozen=True)
class RoleSpec:
    """What a role needs: a forced outcome kind (or None), the aspects it touches, and a site."""

    outcome: str | None
    aspects: frozenset[str]
    site: str | None = None


def _spec(outcome: str | None, *aspects: str, site: str | None = None) -> RoleSpec:
    return RoleSpec(outcome, frozenset(aspects), site)


EDGE_ROLES: dict[str, RoleSpec] = {
    "death_84": _spec("death_84", "outcome"),
    "death_85": _spec("death_85", "outcome"),
    "transplant_death": _spec("transplant_death", "outcome"),
    "untreated": _spec("untreated", "outcome"),
    "not_eligible": _spec(None, "ie"),
    "rand_day_before": _spec(None, "rand"),
    "day1_lab_after_start": _spec("completed", "day1lab"),
    "day1_lab_before_start": _spec("completed", "day1lab"),
    "missed_infusion": _spec("completed", "ex_w2"),
    "item_removed": _spec(None, "cm_end"),
}

PLANTED_ROLES: dict[str, RoleSpec] = {
    "err_codelist": _spec(None, "ae0"),
    "err_ae_end": _spec(None, "ae1"),
    "err_free_phone": _spec(None, "ae2"),
    "err_free_name": _spec(None, "cm_name"),
    "err_free_name_mh": _spec(None, "mh"),
    "err_stratum": _spec(None, "strat"),
    "err_date_impossible": _spec("completed", "vs_w8"),
    "err_date_format": _spec("completed", "clin_w4"),
    "err_window_w4": _spec("completed", "w4", "clin_w4", "lab_w4"),
    "err_window_w12": _spec("completed", "w12"),
    "err_infusion_order": _spec("completed", "ex_w1"),
    "err_inr": _spec("completed", "lab_w4"),
    "err_lis_unknown_01": _spec(None, "lab_extra", site="SITE01"),
    "err_lis_unknown_02": _spec(None, "lab_extra", site="SITE02"),
    # Visible only with two or more snapshots; placed anyway so the data never depend on the count.
    "err_fixed_later": _spec(None, "vs_scr"),
}

# Roles that need more than one AE make the subject have at least this many non-fatal AEs.
AE_ROLE_INDEX = {"err_codelist": 0, "err_ae_end": 1, "err_free_phone": 2}


def _fits(spec: RoleSpec, s: Subject, forced: dict[str, str], touched: dict[str, set[str]]) -> bool:
    """Tell whether a subject can take a role without clashing with its roles so far."""
    if spec.site is not None and s.site != spec.site:
        return False
    if touched.get(s.key, set()) & spec.aspects:
        return False
    have = forced.get(s.key)
    return spec.outcome is None or have is None or have == spec.outcome


def assign_roles(rng: random.Random, subjects: list[Subject], plant_errors: bool) -> dict[str, str]:
    """Assign each role to one randomized subject (fresh subjects first); return role -> SubjectKey.

    Roles that find no fitting subject (very small drops) are left out and reported as skipped.
    """
    specs = {**EDGE_ROLES, **PLANTED_ROLES} if plant_errors else dict(EDGE_ROLES)
    pool = [s for s in subjects if s.randomized]
    rng.shuffle(pool)
    forced: dict[str, str] = {}
    touched: dict[str, set[str]] = {}
    placed: dict[str, str] = {}
    for role, spec in specs.items():
        fresh = [s for s in pool if s.key not in touched]
        for s in fresh + pool:
            if _fits(spec, s, forced, touched):
                placed[role] = s.key
                s.roles.append(role)
                touched.setdefault(s.key, set()).update(spec.aspects)
                if spec.outcome is not None:
                    forced[s.key] = spec.outcome
                break
    return placed


def skipped_roles(placed: dict[str, str], plant_errors: bool) -> list[str]:
    """Roles that were wanted but could not be placed."""
    wanted = list(EDGE_ROLES) + (list(PLANTED_ROLES) if plant_errors else [])
    return [r for r in wanted if r not in placed]


def apply_baseline_roles(seed: int, s: Subject) -> None:
    """Apply the roles that change screening or randomization data (before allocation)."""
    rng = pop.subject_rng(seed, s.key, "roles")
    if "not_eligible" in s.roles:
        pop.make_ineligible(rng, s)
    if "rand_day_before" in s.roles and s.rand_dt.date() == s.day1:
        if s.day1 - s.screen_date < timedelta(days=2):
            s.day1 += timedelta(days=1)
        pop.set_randomization_time(rng, s, day_before=True)
    if "err_stratum" in s.roles:
        s.stratum = 3 - s.stratum_by_meld


def forced_outcome(rng: random.Random, s: Subject) -> pop.Outcome | None:
    """The outcome a role imposes on the subject, or None when its roles impose none."""
    kinds = [spec.outcome for r, spec in {**EDGE_ROLES, **PLANTED_ROLES}.items() if r in s.roles and spec.outcome]
    if not kinds:
        return None
    r = s.rand_dt.date()
    kind = kinds[0]
    if kind in ("death_84", "death_85"):
        days = 84 if kind == "death_84" else 85
        return pop.Outcome("death", death_date=r + timedelta(days=days), dthcaus="1")
    if kind == "transplant_death":
        lt_date = r + timedelta(days=rng.randint(20, 35))
        return pop.Outcome("transplant_death", death_date=lt_date + timedelta(days=rng.randint(10, 30)),
                           lt_date=lt_date, dthcaus="2")
    if kind == "untreated":
        return pop.Outcome("untreated_withdrawal", stop_date=s.day1)
    return pop.Outcome("completed")


def decide_outcome(seed: int, s: Subject) -> None:
    """Fix the subject's outcome (forced by a role, else drawn) and latent clinical course."""
    rng = pop.subject_rng(seed, s.key, "outcome")
    s.outcome = forced_outcome(rng, s) or pop.natural_outcome(rng, s)
    s.course_type = pop.course_type(rng, s.outcome)
