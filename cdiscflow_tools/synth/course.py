"""Simulate one subject's course: visits, infusions, clinical state, AEs, medications, lab draws."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from . import labtests as lt
from .population import Subject, subject_rng
from .roles import AE_ROLE_INDEX
from .vocab import (
    AE_TERMS,
    CM_TERMS,
    DEATH_CAUSE_OTHER,
    ETIOLOGY_OTHER,
    FATAL_AE_BY_CAUSE,
    INFUSION_NOT_GIVEN,
    MH_TERMS,
    NOT_TREATED,
    CmTerm,
    TextPair,
)

TARGET_DAY = {"SE.W0": 1, "SE.W1": 8, "SE.W2": 15, "SE.W4": 29, "SE.W8": 57, "SE.W12": 85}
INFUSION_EVENTS = ("SE.W0", "SE.W1", "SE.W2")
# Days planted out of the analysis windows of protocol.md (W4 22-42, W12 71-98).
OUT_OF_WINDOW_DAY = {"SE.W4": 44, "SE.W12": 100}

TAU = {"TBIL": 25, "INR": 15, "CREA": 15, "ALT": 6, "AST": 6, "ALB": 30, "NA": 15, "WBC": 10, "PLT": 30,
       "HGB": 30, "NH3": 10, "AFP": 20}
NOISE = {"TBIL": .06, "INR": .04, "CREA": .07, "ALT": .15, "AST": .15, "ALB": .04, "WBC": .12, "PLT": .10,
         "HGB": .04, "NH3": .15, "AFP": .2}
ALL_TESTS = tuple(t.code for t in lt.TESTS)
EXTRA_PANEL = ("TBIL", "DBIL", "ALT", "AST", "ALB", "CREA", "INR", "PT", "PTA", "NA")
INFUSION_REACTIONS = ("Pyrexia", "Chills", "Rash", "Infusion site pain")
SERIOUS_TERMS = ("Upper gastrointestinal haemorrhage", "Sepsis", "Hepatorenal syndrome", "Hepatic failure",
                 "Peritonitis bacterial", "Hepatic encephalopathy")


@dataclass
class Visit:
    """A visit (scheduled or unscheduled) with its vital signs and clinical assessment."""

    event: str
    repeat: int | None
    day: date
    vs: dict[str, str] | None = None
    clin: dict[str, str] | None = None


@dataclass
class Infusion:
    """One planned infusion: given with times, or not given with a reason."""

    event: str
    given: bool
    start: datetime | None = None
    end: datetime | None = None
    vol: float | None = None
    weight: float | None = None
    kit: str | None = None
    interrupted: bool = False
    reason: str | None = None


@dataclass
class Draw:
    """One blood draw (one specimen / accession) and the values the model gives it."""

    collected: datetime
    label: str
    tests: tuple[str, ...]
    values: dict[str, float]  # model units (site 01 units)
    fixed: dict[str, float] = field(default_factory=dict)  # values to print as is, in site units
    planted: list[str] = field(default_factory=list)
    specimen: str | None = None  # set when the LIS writes it


@dataclass
class AdverseEvent:
    """One AE as the site records it."""

    term: str
    decod: str
    start: date
    end: date | None
    start_txt: str
    end_txt: str | None
    sev: str
    ser: str
    rel: str
    acn: str
    out: str


@dataclass
class ConMed:
    """One concomitant medication as the site records it."""

    term: str
    indication: str
    dose: float
    dosu: str
    route: str
    start_txt: str
    end: date | None
    end_txt: str | None
    baseline: bool


@dataclass
class Course:
    """Everything simulated for one subject after screening."""

    visits: list[Visit]
    infusions: list[Infusion]
    draws: list[Draw]
    aes: list[AdverseEvent]
    cms: list[ConMed]
    mh: list[tuple[str, str, str]]
    livhx: dict[str, str]
    eos_date: date | None
    last_alive: date | None
    text_zh: float


def partial(d: date, level: int) -> str:
    """Format a date as YYYY (1), YYYY-MM (2) or YYYY-MM-DD (3)."""
    return d.isoformat()[: {1: 4, 2: 7, 3: 10}[level]]


def _partial_level(rng: random.Random, p_month: float, p_year: float) -> int:
    u = rng.random()
    return 1 if u < p_year else 2 if u < p_year + p_month else 3


def _text(rng: random.Random, pair: TextPair, zh: float) -> str:
    """Site staff type Chinese or English."""
    return pair.zh if rng.random() < zh else pair.en


def _at(d: date, rng: random.Random, h0: int, h1: int) -> datetime:
    """A random minute between h0:00 and h1:00 on date d."""
    return datetime.combine(d, time(h0)) + timedelta(minutes=rng.randrange((h1 - h0) * 60))


class Trajectory:
    """Per-test lab course from screening values to an end value reached at `horizon` (study day)."""

    def __init__(self, rng: random.Random, s: Subject, horizon: int) -> None:
        self.kind = s.course_type or "stable"
        self.horizon = max(horizon, 3)
        self.start = self._start_values(rng, s)
        self.end = self._end_values(rng)
        self.dbil_ratio = rng.uniform(0.55, 0.75)

    @staticmethod
    def _start_values(rng: random.Random, s: Subject) -> dict[str, float]:
        tb = s.scr["TBIL"] if s.site == "SITE01" else s.scr["TBIL"] * lt.BILI_UMOL_PER_MGDL
        crea = s.scr["CREA"] if s.site == "SITE01" else s.scr["CREA"] * lt.CREA_UMOL_PER_MGDL
        alt = math.exp(rng.gauss(math.log(250), 0.8))
        low_afp = rng.random() < 0.08
        return {
            "TBIL": tb, "INR": s.scr["INR"], "CREA": crea, "ALT": alt, "AST": alt * rng.uniform(0.6, 1.2),
            "ALB": rng.uniform(24, 33), "NA": min(146, max(121, rng.gauss(134, 4))),
            "WBC": math.exp(rng.gauss(math.log(6), 0.35)), "PLT": math.exp(rng.gauss(math.log(85), 0.4)),
            "HGB": min(165, max(75, rng.gauss(118, 15))), "NH3": math.exp(rng.gauss(math.log(60), 0.4)),
            "AFP": math.exp(rng.gauss(math.log(1.2), 0.6) if low_afp else rng.gauss(math.log(25), 1.2)),
        }

    def _end_values(self, rng: random.Random) -> dict[str, float]:
        s, u = self.start, rng.uniform
        if self.kind == "improve":
            return {"TBIL": s["TBIL"] * u(.08, .35), "INR": u(1.05, 1.45), "CREA": min(s["CREA"], u(62, 97)),
                    "ALT": u(20, 60), "AST": u(25, 70), "ALB": u(32, 38), "NA": u(135, 141), "WBC": u(4, 8),
                    "PLT": s["PLT"] * u(1.0, 1.4), "HGB": s["HGB"] * u(.97, 1.08), "NH3": u(18, 40),
                    "AFP": s["AFP"] * u(.3, 1.5)}
        if self.kind == "stable":
            return {"TBIL": s["TBIL"] * u(.4, .9), "INR": u(1.4, 2.0), "CREA": s["CREA"] * u(.9, 1.2),
                    "ALT": u(40, 150), "AST": u(50, 180), "ALB": u(27, 33), "NA": u(130, 138),
                    "WBC": s["WBC"] * u(.8, 1.3), "PLT": s["PLT"] * u(.8, 1.1), "HGB": s["HGB"] * u(.9, 1.02),
                    "NH3": u(35, 80), "AFP": s["AFP"] * u(.5, 2)}
        renal = rng.random() < 0.35
        return {"TBIL": min(850, s["TBIL"] * u(1.2, 2.0)), "INR": u(2.8, 4.8),
                "CREA": u(2.5, 5.0) * lt.CREA_UMOL_PER_MGDL if renal else s["CREA"] * u(1, 1.5),
                "ALT": s["ALT"] * u(.3, 1.0), "AST": s["AST"] * u(.5, 1.2), "ALB": u(22, 28), "NA": u(121, 130),
                "WBC": u(9, 20), "PLT": s["PLT"] * u(.5, .9), "HGB": s["HGB"] * u(.75, .95), "NH3": u(100, 220),
                "AFP": s["AFP"] * u(.5, 1.5)}

    def progress(self, day: int, tau: float = 15) -> float:
        """Fraction of the way from start to end on a study day (0 up to Day 1, 1 at the horizon)."""
        if day <= 1:
            return 0.0
        if day >= self.horizon:
            return 1.0
        if self.kind == "worsen":
            return (day - 1) / (self.horizon - 1)
        return (1 - math.exp(-(day - 1) / tau)) / (1 - math.exp(-(self.horizon - 1) / tau))

    def sample(self, rng: random.Random, day: int) -> dict[str, float]:
        """All 15 tests on a study day, with analytical and biological noise."""
        out = {}
        for code in ("TBIL", "INR", "CREA", "ALT", "AST", "ALB", "WBC", "PLT", "HGB", "NH3", "AFP"):
            f = self.progress(day, TAU[code])
            v = self.start[code] * (self.end[code] / self.start[code]) ** f
            out[code] = v * math.exp(rng.gauss(0, NOISE[code]))
        f = self.progress(day, TAU["NA"])
        out["NA"] = self.start["NA"] + (self.end["NA"] - self.start["NA"]) * f + rng.gauss(0, 1.5)
        out["DBIL"] = out["TBIL"] * self.dbil_ratio * math.exp(rng.gauss(0, 0.04))
        out["PT"] = lt.pt_from_inr(out["INR"]) * math.exp(rng.gauss(0, 0.02))
        out["PTA"] = lt.pta_from_pt(out["PT"])
        return out


def study_day(d: date, day1: date) -> int:
    """Study day per protocol.md: Day 1 is day1, the day before is Day -1, no Day 0."""
    delta = (d - day1).days
    return delta + 1 if delta >= 0 else delta


def simulate(seed: int, s: Subject) -> Course:
    """Simulate everything after screening for one subject."""
    rng = subject_rng(seed, s.key, "course")
    zh = 0.6 if s.site == "SITE01" else 0.3
    livhx = _liver_history(rng, s, zh)
    mh = _medical_history(rng, s, zh)
    if not s.randomized:
        visits = [_screening_visit(rng, s)]
        draw = _screening_draw(rng, s, Trajectory(rng, s, 85))
        return Course(visits, [], [draw], [], [], mh, livhx, None, None, zh)
    end = s.outcome.end_of_visits
    horizon = study_day(end, s.day1) if end and s.course_type == "worsen" else 85
    traj = Trajectory(rng, s, horizon)
    visits = _scheduled_visits(rng, s, end)
    scr_vs = visits[0].vs
    weight = round(float(scr_vs["I.WEIGHT"]) if scr_vs else _base_weight(rng, s), 1)
    infusions = _infusions(rng, s, visits, weight, zh)
    visits += _unscheduled_visits(rng, s, visits, end)
    _fill_assessments(rng, s, visits, traj, weight)
    draws = [_screening_draw(rng, s, traj)] + _followup_draws(rng, s, visits, infusions, traj, end)
    eos_date, last_alive = _end_of_study(rng, s, visits, draws)
    # Events are reported up to death, otherwise up to the last contact with the subject.
    window_end = eos_date if s.outcome.death_date is not None else last_alive
    aes = _adverse_events(rng, s, infusions, window_end, zh)
    cms = _con_meds(rng, s, livhx, window_end, zh)
    return Course(visits, infusions, draws, aes, cms, mh, livhx, eos_date, last_alive, zh)


def _liver_history(rng: random.Random, s: Subject, zh: float) -> dict[str, str]:
    """F.LIVHX items: etiology (mostly HBV), diagnosis date, cirrhosis, decompensation onset and trigger."""
    etiol = rng.choices(("1", "2", "3", "4", "5", "9"), (85, 3, 4, 2, 2, 4))[0]
    out = {"I.ETIOL": etiol}
    if etiol == "9":
        out["I.ETIOLO"] = _text(rng, rng.choice(ETIOLOGY_OTHER), zh)
    diagnosed = s.screen_date - timedelta(days=rng.randint(2 * 365, 25 * 365))
    out["I.CLDDAT"] = partial(diagnosed, _partial_level(rng, 0.3, 0.6))
    out["I.CIRRH"] = "Y" if rng.random() < 0.7 else "N"
    onset_days = rng.randint(35, 60) if "IN02" in s.ienm else rng.randint(1, 27)
    out["I.ADONDAT"] = (s.screen_date - timedelta(days=onset_days)).isoformat()
    trig = {"1": ((3, 1, 5, 4, 2, 9), (55, 15, 8, 7, 5, 10)), "3": ((2, 1, 5, 9), (60, 20, 10, 10))}
    codes, weights = trig.get(etiol, ((1, 4, 5, 9), (40, 20, 10, 30)))
    out["I.ADTRIG"] = str(rng.choices(codes, weights)[0])
    return out


def _medical_history(rng: random.Random, s: Subject, zh: float) -> list[tuple[str, str, str]]:
    """IG.MH repeats: (term, partial start date, ongoing)."""
    n = rng.choices((0, 1, 2, 3), (40, 35, 17, 8))[0]
    if "err_free_name_mh" in s.roles:
        n = max(n, 1)
    out = []
    for term in rng.sample(MH_TERMS, n):
        start = s.screen_date - timedelta(days=rng.randint(200, 20 * 365))
        text = term.zh if rng.random() < zh else term.en
        out.append((text, partial(start, _partial_level(rng, 0.25, 0.7)), "Y" if rng.random() < 0.85 else "N"))
    return out


def _vitals(rng: random.Random, s: Subject, weight: float, with_height: bool) -> dict[str, str]:
    """IG.VS values (without the date); weight only at some visits, height at screening."""
    vs: dict[str, str] = {}
    if with_height:
        h = rng.gauss(170, 6) if s.sex == "1" else rng.gauss(159, 5)
        vs["I.HEIGHT"] = f"{round(h)}"
    if weight:
        vs["I.WEIGHT"] = f"{weight:.2f}".rstrip("0").rstrip(".")
    sys_bp = round(rng.gauss(118, 14))
    vs["I.SYSBP"] = str(sys_bp)
    vs["I.DIABP"] = str(min(sys_bp - 25, round(rng.gauss(72, 9))))
    vs["I.PULSE"] = str(round(rng.gauss(84, 12)))
    vs["I.TEMP"] = f"{rng.gauss(36.8, 0.35):.1f}"
    vs["I.RESP"] = str(round(rng.gauss(18, 2)))
    return vs


def _base_weight(rng: random.Random, s: Subject) -> float:
    return max(40.0, rng.gauss(68, 10) if s.sex == "1" else rng.gauss(57, 8))


def _screening_visit(rng: random.Random, s: Subject) -> Visit:
    """SE.SCR vital signs (most subjects) and clinical assessment."""
    visit = Visit("SE.SCR", None, s.screen_date)
    if rng.random() < 0.9 or "err_fixed_later" in s.roles:
        visit.vs = _vitals(rng, s, round(_base_weight(rng, s), 1), True)
    visit.clin = {"I.HEGRADE": rng.choices("012", (45, 35, 20))[0],
                  "I.ASCITES": rng.choices("0123", (15, 40, 35, 10))[0]}
    return visit


def _visit_date(rng: random.Random, s: Subject, event: str) -> date:
    """Scheduled visit date: target day with jitter inside the analysis window (or planted outside)."""
    planted = {"SE.W4": "err_window_w4", "SE.W12": "err_window_w12"}.get(event)
    if planted in s.roles:
        return s.day1 + timedelta(days=OUT_OF_WINDOW_DAY[event] - 1)
    if event in ("SE.W1", "SE.W2"):
        jitter = rng.choices((-1, 0, 1, 2), (8, 80, 8, 4))[0]
    else:
        jitter = rng.randint(-3, 3) if event == "SE.W4" else rng.randint(-5, 5)
    return s.day1 + timedelta(days=TARGET_DAY[event] - 1 + jitter)


def _scheduled_visits(rng: random.Random, s: Subject, end: date | None) -> list[Visit]:
    """SE.SCR, SE.W0 and the follow-up visits that happen before the subject's follow-up ends."""
    visits = [_screening_visit(rng, s), Visit("SE.W0", None, s.day1)]
    if not s.treated:
        return visits
    early_death = s.outcome.kind == "death" and any(r in s.roles for r in ("death_84", "death_85"))
    for event in ("SE.W1", "SE.W2", "SE.W4", "SE.W8", "SE.W12"):
        day = _visit_date(rng, s, event)
        if end is not None and day >= end:
            break
        if event == "SE.W12" and early_death:
            break  # died at home before the Week 12 visit
        if event in ("SE.W4", "SE.W8") and not s.roles and rng.random() < 0.03:
            continue  # a missed visit; the subject stays in the study
        visits.append(Visit(event, None, day))
    return visits


def _kit(s: Subject, i: int) -> str:
    """Kit numbers are dispensed three per randomization number (R001 -> K0010-K0012)."""
    return f"K{10 + 3 * s.rand_index + i:04d}"


def _infusions(rng: random.Random, s: Subject, visits: list[Visit], weight: float, zh: float) -> list[Infusion]:
    """IG.EX for W0, W1, W2: given (about 45 min) or not given with a free-text reason."""
    by_event = {v.event: v for v in visits}
    out = []
    for i, event in enumerate(INFUSION_EVENTS):
        visit = by_event.get(event)
        if visit is None:
            continue
        if event == "SE.W0" and not s.treated:
            out.append(Infusion(event, False, reason=_text(rng, rng.choice(NOT_TREATED), zh)))
            continue
        missed = (event == "SE.W2" and "missed_infusion" in s.roles) or (
            event != "SE.W0" and not s.roles and rng.random() < 0.04)
        if missed:
            out.append(Infusion(event, False, reason=_text(rng, rng.choice(INFUSION_NOT_GIVEN), zh)))
            continue
        if event == "SE.W0" and s.rand_dt.date() == s.day1:
            start = s.rand_dt + timedelta(minutes=rng.randint(30, 150))
        else:
            start = _at(visit.day, rng, 9, 11)
        interrupted = rng.random() < 0.03
        minutes = rng.randint(65, 110) if interrupted else rng.randint(35, 60)
        vol = float(rng.randint(60, 95)) if interrupted and rng.random() < 0.3 else 100.0
        out.append(Infusion(event, True, start, start + timedelta(minutes=minutes), vol, weight, _kit(s, i),
                            interrupted))
    return out


def _unscheduled_visits(rng: random.Random, s: Subject, visits: list[Visit], end: date | None) -> list[Visit]:
    """SE.UNS repeats between Day 2 and the last scheduled visit (or the end of follow-up)."""
    if not s.treated:
        return []
    last = max(v.day for v in visits)
    if end is not None:
        last = min(last, end - timedelta(days=1))
    span = (last - s.day1).days - 1
    n = rng.choices((0, 1, 2), (75, 18, 7))[0]
    if span < 2 or n == 0:
        return []
    days = sorted({s.day1 + timedelta(days=1 + rng.randint(1, span)) for _ in range(n)})
    return [Visit("SE.UNS", k, d) for k, d in enumerate(days, start=1)]


def _fill_assessments(rng: random.Random, s: Subject, visits: list[Visit], traj: Trajectory,
                      weight: float) -> None:
    """VS and CLIN content per visit, following the latent course (HE, ascites, improvement)."""
    scr = visits[0]
    he0, asc0 = int(scr.clin["I.HEGRADE"]), int(scr.clin["I.ASCITES"])
    he_end = {"improve": 0, "stable": max(0, he0 - rng.randint(0, 1))}.get(traj.kind, rng.randint(3, 4))
    asc_end = {"improve": max(0, asc0 - 2), "stable": asc0}.get(traj.kind, min(3, asc0 + 1))
    for v in visits[1:]:
        if v.event == "SE.W0" and not s.treated:
            continue
        day = study_day(v.day, s.day1)
        f = traj.progress(day, 12)
        # Role subjects always have both forms, so their planted items have somewhere to live.
        if rng.random() < 0.95 or v.event == "SE.W0" or s.roles:
            # The W0 weight is the dosing weight (I.EXWT); later weights drift with ascites.
            w = weight if v.event == "SE.W0" else round(weight + rng.gauss(0, 1.2), 1)
            v.vs = _vitals(rng, s, w if v.event in ("SE.W0", "SE.W4", "SE.W12") else 0.0, False)
        if rng.random() < 0.97 or v.event == "SE.W12" or s.roles:
            clin = {"I.HEGRADE": str(round(he0 + (he_end - he0) * f)),
                    "I.ASCITES": str(round(asc0 + (asc_end - asc0) * f))}
            if v.event not in ("SE.W0",):
                p_yes = {"improve": 0.2 + 0.77 * f, "stable": 0.2}.get(traj.kind, 0.05)
                clin["I.SYMIMPR"] = "Y" if rng.random() < p_yes else "N"
            v.clin = clin
        if v.event == "SE.UNS" and v.vs and v.clin and not s.roles and rng.random() < 0.3:
            v.vs = None  # unscheduled visits often record only one of the two forms


def _draw(rng: random.Random, s: Subject, when: datetime, label: str, tests: tuple[str, ...],
          traj: Trajectory) -> Draw:
    """A draw on the given date-time with model values for the study day."""
    day = study_day(when.date(), s.day1) if s.day1 else -1
    return Draw(when, label, tests, traj.sample(rng, day))


def _screening_draw(rng: random.Random, s: Subject, traj: Trajectory) -> Draw:
    """The screening specimen: all 15 tests, TBIL/CREA/INR/PT/PTA exactly as eligibility saw them."""
    d = _draw(rng, s, datetime.combine(s.screen_date, s.scr_time), "SCREENING", ALL_TESTS, traj)
    d.fixed = dict(s.scr)
    return d


def _panel(rng: random.Random, base: tuple[str, ...], afp: bool, nh3: float) -> tuple[str, ...]:
    """Most of the 15 tests: AFP only at some visits, ammonia often, a few tests dropped at random."""
    keep = []
    for code in base:
        if code == "AFP" and not afp:
            continue
        if code == "NH3" and rng.random() > nh3:
            continue
        if code not in lt.MELD_TRIO and code not in ("PT", "PTA") and rng.random() < 0.03:
            continue
        keep.append(code)
    return tuple(keep)


def _followup_draws(rng: random.Random, s: Subject, visits: list[Visit], infusions: list[Infusion],
                    traj: Trajectory, end: date | None) -> list[Draw]:
    """Day 1 (pre- and sometimes post-infusion), visit, unscheduled-visit and inpatient draws."""
    if not s.treated:
        return []
    inf = {i.event: i for i in infusions}
    draws = _day1_draws(rng, s, inf.get("SE.W0"), traj)
    for v in visits:
        if v.event in ("SE.SCR", "SE.W0"):
            continue
        if v.event == "SE.UNS":
            if rng.random() < 0.6:
                draws.append(_draw(rng, s, _at(v.day, rng, 8, 11), f"SE.UNS.{v.repeat}",
                                   _panel(rng, ALL_TESTS, False, 0.5), traj))
            continue
        forced = v.event == "SE.W4" and "err_inr" in s.roles
        if not forced and rng.random() > 0.95:
            continue
        if v.event in ("SE.W1", "SE.W2"):
            when = _at(v.day, rng, 6, 8)
        elif rng.random() < 0.1 and not forced:
            when = _at(v.day - timedelta(days=1), rng, 14, 17)
        else:
            when = _at(v.day, rng, 7, 10)
        d = _draw(rng, s, when, v.event, _panel(rng, ALL_TESTS, v.event in ("SE.W4", "SE.W12"), 0.5), traj)
        if forced:
            d.planted.append("err_inr")
        draws.append(d)
    draws += _inpatient_draws(rng, s, visits, traj, end)
    return sorted(draws, key=lambda d: d.collected)


def _day1_draws(rng: random.Random, s: Subject, w0: Infusion | None, traj: Trajectory) -> list[Draw]:
    """Day 1 specimens around the first infusion (baseline is the last one before its start)."""
    if w0 is None or not w0.given:
        return []
    if "day1_lab_after_start" in s.roles:
        return [_draw(rng, s, w0.start + timedelta(minutes=20), "DAY1_AFTER_START", ALL_TESTS, traj)]
    draws = []
    if "day1_lab_before_start" in s.roles:
        draws.append(_draw(rng, s, w0.start - timedelta(minutes=10), "DAY1_PRE", ALL_TESTS, traj))
        return draws
    earliest = datetime.combine(s.day1, time(6))
    if rng.random() < 0.92 and w0.start - timedelta(minutes=30) > earliest:
        span = int((w0.start - timedelta(minutes=30) - earliest).total_seconds() // 60)
        when = earliest + timedelta(minutes=rng.randrange(max(span, 1)))
        draws.append(_draw(rng, s, when, "DAY1_PRE", _panel(rng, ALL_TESTS, False, 0.9), traj))
    if rng.random() < 0.15:
        when = w0.end + timedelta(minutes=rng.randint(60, 300))
        draws.append(_draw(rng, s, when, "DAY1_POST", _panel(rng, EXTRA_PANEL, False, 0), traj))
    return draws


def _inpatient_draws(rng: random.Random, s: Subject, visits: list[Visit], traj: Trajectory,
                     end: date | None) -> list[Draw]:
    """Unscheduled inpatient labs during the first three weeks, on days without a visit."""
    if rng.random() > 0.35:
        return []
    visit_days = {v.day for v in visits}
    last = max(visit_days)
    out = []
    for _ in range(rng.randint(1, 3)):
        d = s.day1 + timedelta(days=rng.randint(2, 20))
        if d in visit_days or d > last or (end is not None and d >= end):
            continue
        visit_days.add(d)
        out.append(_draw(rng, s, _at(d, rng, 6, 20), "INPATIENT", _panel(rng, EXTRA_PANEL, False, 0), traj))
    return out


def _end_of_study(rng: random.Random, s: Subject, visits: list[Visit], draws: list[Draw]) -> tuple[date, date]:
    """EOS date and the last date the subject was known alive (last contact for deaths and losses)."""
    o = s.outcome
    contacts = [v.day for v in visits] + [d.collected.date() for d in draws] + [s.rand_dt.date()]
    last_contact = max((c for c in contacts if o.death_date is None or c < o.death_date), default=s.rand_dt.date())
    if o.kind == "completed":
        w12 = next(v.day for v in visits if v.event == "SE.W12")
        return w12, w12
    if o.kind in ("death", "untreated_death"):
        return o.death_date, last_contact
    if o.kind == "transplant":
        return o.lt_date, o.lt_date
    if o.kind == "transplant_death":
        return o.death_date, o.lt_date
    if o.kind == "ltfu":
        return s.rand_dt.date() + timedelta(days=84 + rng.randint(7, 21)), last_contact
    return o.stop_date, max(o.stop_date, last_contact)


def _ae_dates(rng: random.Random, start: date, eos: date) -> tuple[date, date | None]:
    """AE end date, or None when the AE is still ongoing at the end of study."""
    end = start + timedelta(days=1 + int(rng.expovariate(1 / 7)))
    return start, (end if end <= eos else None)


def _adverse_events(rng: random.Random, s: Subject, infusions: list[Infusion], eos: date,
                    zh: float) -> list[AdverseEvent]:
    """AE log: infusion reactions, ACLF complications, and the fatal event of subjects who died."""
    given = [i for i in infusions if i.given]
    weights = (20, 25, 22, 15, 9, 6, 3) if given else (70, 30)
    n = rng.choices(range(len(weights)), weights)[0]
    needed = max([AE_ROLE_INDEX[r] + 1 for r in s.roles if r in AE_ROLE_INDEX], default=0)
    exact = bool(needed)
    n = max(n, needed)
    # Infusion reactions are only drawn at an infusion; liver failure only as the fatal event.
    non_fatal = [t for t in AE_TERMS if t.decod != "Hepatic failure" and t.decod not in INFUSION_REACTIONS]
    last_infusion = max((i.start.date() for i in given), default=s.day1)
    out = []
    for _ in range(n):
        if given and rng.random() < 0.25:
            inf = rng.choice(given)
            reaction = rng.choice(INFUSION_REACTIONS)
            term = next(t for t in AE_TERMS if t.decod == reaction)
            start, rel = inf.start.date(), rng.choice("34")
            acn = "2" if inf.interrupted else "1"
        else:
            term = rng.choice(non_fatal)
            start = s.screen_date + timedelta(days=rng.randint(0, max(0, (eos - s.screen_date).days)))
            rel = rng.choices("12", (80, 20))[0]
            acn = "4" if start > last_infusion or not given else "1"
        start, end = _ae_dates(rng, start, eos)
        sev = rng.choices("123", (55, 35, 10))[0]
        ser = "Y" if term.decod in SERIOUS_TERMS and rng.random() < 0.7 or sev == "3" and rng.random() < 0.5 else "N"
        out_code = rng.choices("14", (88, 12))[0] if end else rng.choice("23")
        full = exact and len(out) < needed
        s_lvl = 3 if full else _partial_level(rng, 0.05, 0.01)
        e_lvl = 3 if full else _partial_level(rng, 0.05, 0.0)
        out.append(AdverseEvent(
            _text(rng, TextPair(term.en, term.zh), zh), term.decod, start, end, partial(start, s_lvl),
            partial(end, e_lvl) if end else None, sev, ser, rel, acn, out_code))
        if full and end is None:
            # Planted AE errors need a recorded end date.
            fixed_end = min(start + timedelta(days=1), max(start, eos))
            out[-1].end, out[-1].end_txt, out[-1].out = fixed_end, partial(fixed_end, 3), "1"
    if s.outcome.death_date is not None:
        out.append(_fatal_ae(rng, s, last_infusion, zh))
    return out


def _fatal_ae(rng: random.Random, s: Subject, last_infusion: date, zh: float) -> AdverseEvent:
    """The AE that caused death (outcome fatal, ending on the death date)."""
    death = s.outcome.death_date
    decod = FATAL_AE_BY_CAUSE.get(s.outcome.dthcaus)
    term = next((t for t in AE_TERMS if t.decod == decod), None) or rng.choice(AE_TERMS)
    start = max(s.screen_date, death - timedelta(days=rng.randint(1, 10)))
    acn = "4" if start > last_infusion or not s.treated else "3"
    return AdverseEvent(_text(rng, TextPair(term.en, term.zh), zh), term.decod, start, death, partial(start, 3),
                        partial(death, 3), "3", "Y", "1", acn, "5")


def _con_meds(rng: random.Random, s: Subject, livhx: dict[str, str], eos: date, zh: float) -> list[ConMed]:
    """CM log: the HBV antiviral (long-standing, ongoing) and supportive care during the study."""
    by_decod = {c.decod: c for c in CM_TERMS}
    out = []
    if livhx["I.ETIOL"] == "1" or "err_free_name" in s.roles:
        cm = by_decod[rng.choices(("ENTECAVIR", "TENOFOVIR DISOPROXIL FUMARATE", "TENOFOVIR ALAFENAMIDE"),
                                  (60, 25, 15))[0]]
        started = s.screen_date - timedelta(days=rng.randint(10, 8 * 365))
        out.append(_conmed(rng, cm, partial(started, _partial_level(rng, 0.5, 0.3)), None, True, zh))
    supportive = [c for c in CM_TERMS if c.atc_class not in ("Antivirals", "Biguanides", "Calcium channel blockers")]
    n = rng.randint(1, 5)
    if "item_removed" in s.roles:
        n = max(n, 1)
    for i, cm in enumerate(rng.sample(supportive, n)):
        start = s.screen_date + timedelta(days=rng.randint(-3, max(0, (eos - s.screen_date).days - 1)))
        end = start + timedelta(days=rng.randint(2, 30))
        if "item_removed" in s.roles and i == 0:
            end = min(end, eos)
        ended = end <= eos
        out.append(_conmed(rng, cm, partial(start, _partial_level(rng, 0.05, 0.0)), end if ended else None,
                           False, zh))
    return out


def _conmed(rng: random.Random, cm: CmTerm, start_txt: str, end: date | None, baseline: bool, zh: float) -> ConMed:
    use_zh = rng.random() < zh
    return ConMed(cm.zh if use_zh else cm.en, cm.indication_zh if use_zh else cm.indication_en, cm.dose, cm.dosu,
                  cm.route, start_txt, end, end.isoformat() if end else None, baseline)


def death_cause_text(rng: random.Random, zh: float) -> str:
    """DTHCAUSO free text for an 'Other' cause of death."""
    return _text(rng, rng.choice(DEATH_CAUSE_OTHER), zh)
