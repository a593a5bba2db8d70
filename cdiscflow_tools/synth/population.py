"""Simulate the trial population: who is screened where and when, who is eligible, who is
randomized, and how each randomized subject's twelve weeks end."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from . import labtests as lt
from .vocab import GIVEN_CHARS, SURNAMES

STUDY_START = date(2017, 12, 10)
SITES = ("SITE01", "SITE02")
SITE01_SHARE = 0.6
SCREEN_FAIL_RATE = 0.15
DEVIATION_RATE = 0.02  # randomized although IEYN = N (a protocol deviation, valid data)
UNTREATED_RATE = 0.02
RAND_DAY_BEFORE_RATE = 0.12
FOLLOW_UP_DAYS = 84

# (criterion, weight): the main reason a screen failure fails; lab criteria get consistent labs.
FAIL_REASONS: tuple[tuple[str, int], ...] = (
    ("IN03", 24), ("IN05", 18), ("IN04", 10), ("IN01", 8), ("IN02", 5), ("EX02", 10), ("EX05", 8),
    ("EX04", 7), ("EX01", 4), ("EX03", 2), ("EX10", 2), ("EX11", 2),
)
LAB_CRITERIA = ("IN03", "IN04", "IN05")

EOS_CODE = {
    "completed": "1", "death": "2", "transplant_death": "2", "untreated_death": "2", "withdrawal": "3",
    "untreated_withdrawal": "3", "ltfu": "4", "ae": "5", "physician": "6", "transplant": "7",
}


def subject_rng(seed: int, key: str, aspect: str) -> random.Random:
    """A per-subject, per-aspect RNG, so one aspect's changes never shift another's draws."""
    return random.Random(f"{seed}|{key}|{aspect}")


@dataclass
class Person:
    """Identifying data: used to link labs and never written to the truth file."""

    mrn: str
    name: str
    initials: str


@dataclass
class Outcome:
    """How a randomized subject's participation ends (intent; dates of visits come later)."""

    kind: str
    death_date: date | None = None
    lt_date: date | None = None
    stop_date: date | None = None  # first day without visits for withdrawals, losses, AE, physician
    dthcaus: str | None = None

    @property
    def eos_stat(self) -> str:
        """CL.EOSSTAT code of this outcome."""
        return EOS_CODE[self.kind]

    @property
    def end_of_visits(self) -> date | None:
        """First date on which no visit, infusion or draw can happen any more."""
        ends = [d for d in (self.death_date, self.lt_date, self.stop_date) if d is not None]
        return min(ends) if ends else None


@dataclass
class Subject:
    """One screened subject and the facts fixed before the follow-up is simulated."""

    key: str
    site: str
    person: Person
    sex: str
    birth: date
    brthdat: str
    age: int
    ethgrp: str
    screen_date: date
    scr: dict[str, float]  # screening TBIL/CREA/INR/PT/PTA as the site's LIS reports them
    meld: int
    screen_failure: bool
    ieyn: str
    ienm: tuple[str, ...]
    iedat: date
    scr_time: time = time(8, 0)
    rand_dt: datetime | None = None
    day1: date | None = None
    stratum_by_meld: int | None = None
    stratum: int | None = None
    randno: str | None = None
    rand_index: int | None = None
    arm: str | None = None
    doselvl: str | None = None
    outcome: Outcome | None = None
    course_type: str = ""
    roles: list[str] = field(default_factory=list)

    @property
    def randomized(self) -> bool:
        """True when the subject has a randomization form."""
        return self.rand_dt is not None

    @property
    def treated(self) -> bool:
        """True when the first infusion is (planned to be) given."""
        return self.randomized and not self.outcome.kind.startswith("untreated")


def _screen_dates(rng: random.Random, site: str, n: int, start: date, end: date) -> list[date]:
    """Screening dates of one site, sorted; the first subject screens on the site's first day."""
    span = max((end - start).days, 1)
    days = sorted(rng.randrange(span + 1) for _ in range(n))
    if days:
        days[0] = 0
    return [start + timedelta(days=d) for d in days]


def _person(rng: random.Random, site: str, mrn_number: int) -> Person:
    """Draw a Chinese name and initials (pinyin initials of each character) and format the MRN."""
    surname = rng.choice(SURNAMES)
    given = [rng.choice(GIVEN_CHARS) for _ in range(1 if rng.random() < 0.3 else 2)]
    name = surname[0] + "".join(c for c, _ in given)
    initials = surname[1] + "".join(i for _, i in given)
    mrn = f"001{mrn_number:07d}" if site == "SITE01" else f"M{mrn_number:06d}"
    return Person(mrn, name, initials)


def _demography(rng: random.Random, site: str, screen: date, fail: set[str]) -> tuple[str, date, str, int, str]:
    """Sex, birth date (partial at site 01 mostly), age at consent and Chinese ethnic group."""
    sex = "1" if rng.random() < 0.76 else "2"
    age = rng.randint(71, 76) if "IN01" in fail else max(18, min(70, round(rng.gauss(48, 10))))
    # Born 1-363 days before the date `age` years before screening: exactly `age` at consent.
    try:
        anniversary = screen.replace(year=screen.year - age)
    except ValueError:  # 29 February
        anniversary = screen.replace(year=screen.year - age, day=28)
    birth = anniversary - timedelta(days=rng.randrange(1, 364))
    partial = rng.random() < (0.7 if site == "SITE01" else 0.15)
    brthdat = birth.strftime("%Y-%m") if partial else birth.isoformat()
    ethgrp = rng.choices(("1", "2", "3"), (92, 4, 4))[0]
    return sex, birth, brthdat, age, ethgrp


def _lab_candidate(rng: random.Random, targets: set[str]) -> tuple[float, float, float, float]:
    """Draw screening TBIL (umol/L), INR, creatinine (mg/dL) and PT aimed at the failed criteria."""
    if "IN05" in targets and rng.random() < 0.6:
        tb, inr = rng.uniform(320, 750), rng.uniform(2.4, 4.6)
        crea = rng.uniform(1.2, 4.0)
    else:
        tb = rng.uniform(60, 168) if "IN03" in targets else 170 + min(rng.expovariate(1 / 110), 520)
        inr = rng.uniform(1.05, 1.45) if "IN04" in targets else 1.5 + min(rng.expovariate(1 / 0.45), 2.6)
        if "EX05" in targets:
            crea = rng.uniform(3.0, 6.0)
        elif rng.random() < 0.85:
            crea = min(max(rng.gauss(0.85, 0.18), 0.45), 1.3)
        else:
            crea = rng.uniform(1.3, 2.8)
    pt = lt.pt_from_inr(inr) * rng.gauss(1, 0.02)
    return tb, inr, crea, pt


def screening_labs(rng: random.Random, site: str, targets: set[str]) -> tuple[dict[str, float], int, set[str]]:
    """Draw screening labs whose failed lab criteria include `targets` (none when targets is empty).

    Returns the values as the site reports them, the MELD computed from exactly those values, and
    the set of lab criteria (IN03/IN04/IN05) they fail.
    """
    lab_targets = targets & set(LAB_CRITERIA)
    for _ in range(100_000):
        tb, inr, crea, pt = _lab_candidate(rng, targets)
        rep = {
            "TBIL": lt.to_site(site, "TBIL", tb),
            "INR": lt.to_site(site, "INR", inr),
            "CREA": lt.to_site(site, "CREA", crea * lt.CREA_UMOL_PER_MGDL),
            "PT": lt.to_site(site, "PT", pt),
            "PTA": lt.to_site(site, "PTA", lt.pta_from_pt(pt)),
        }
        c_mg, b_mg, inr_r = lt.meld_inputs_mg(site, rep)
        tb_umol = b_mg * lt.BILI_UMOL_PER_MGDL
        if lt.meld_is_ambiguous(c_mg, b_mg, inr_r) or abs(tb_umol - 170) < 0.05:
            continue
        score = lt.meld(c_mg, b_mg, inr_r)
        failing = set()
        if tb_umol < 170:
            failing.add("IN03")
        if not (rep["PTA"] <= 40 or inr_r >= 1.5):
            failing.add("IN04")
        if not 17 <= score <= 30:
            failing.add("IN05")
        # Eligible subjects fail nothing; a screen failure fails at least its lab targets (and any
        # other lab criterion its values happen to fail is listed too).
        if (lab_targets <= failing) if targets else not failing:
            return rep, score, failing
    raise RuntimeError("could not draw screening labs for " + ",".join(sorted(targets)))


def _criterion_order(code: str) -> tuple[int, str]:
    """Inclusion criteria before exclusion criteria, then by number (the CL.IETESTCD order)."""
    return (0 if code.startswith("IN") else 1, code)


def _screen_subject(rng: random.Random, key: str, site: str, screen: date, mrn_number: int,
                    fails: bool) -> Subject:
    """Screen one subject: demography, screening labs and eligibility."""
    person = _person(rng, site, mrn_number)
    targets: set[str] = set()
    if fails:
        reasons, weights = zip(*FAIL_REASONS, strict=True)
        targets.add(rng.choices(reasons, weights)[0])
        if rng.random() < 0.15:
            targets.add(rng.choices(reasons, weights)[0])
    sex, birth, brthdat, age, ethgrp = _demography(rng, site, screen, targets)
    scr, score, failing = screening_labs(rng, site, targets)
    ienm = tuple(sorted(targets | failing, key=_criterion_order))
    scr_time = time(rng.randint(6, 9), rng.randrange(60))
    return Subject(
        key=key, site=site, person=person, sex=sex, birth=birth, brthdat=brthdat, age=age, ethgrp=ethgrp,
        screen_date=screen, scr=scr, meld=score, screen_failure=fails, ieyn="N" if fails else "Y",
        ienm=ienm, iedat=screen, scr_time=scr_time, stratum_by_meld=None if fails else lt.stratum_for(score),
    )


def _schedule_randomization(rng: random.Random, s: Subject) -> None:
    """Fix Day 1 within 1-7 days after screening and the randomization date-time."""
    gap = rng.choices(range(1, 8), (10, 20, 22, 18, 12, 10, 8))[0]
    s.day1 = s.screen_date + timedelta(days=gap)
    s.iedat = s.screen_date + timedelta(days=rng.randint(0, min(1, gap - 1)))
    s.stratum = s.stratum_by_meld
    day_before = gap >= 2 and rng.random() < RAND_DAY_BEFORE_RATE
    set_randomization_time(rng, s, day_before)
    if rng.random() < DEVIATION_RATE:
        make_ineligible(rng, s)


def set_randomization_time(rng: random.Random, s: Subject, day_before: bool) -> None:
    """Randomize on Day 1 morning, or the afternoon before when the infusion is next morning."""
    if day_before:
        s.rand_dt = datetime.combine(s.day1 - timedelta(days=1), time(rng.randint(14, 17), rng.randrange(60)))
    else:
        s.rand_dt = datetime.combine(s.day1, time(rng.randint(7, 9), rng.randrange(60)))
    s.iedat = min(s.iedat, s.rand_dt.date())


def make_ineligible(rng: random.Random, s: Subject) -> None:
    """A randomized subject who did not meet a non-laboratory criterion (protocol deviation)."""
    s.ieyn = "N"
    s.ienm = (rng.choice(("EX10", "EX11")),)


def enrol(rng: random.Random, n: int, seed: int, site_starts: dict[str, date]) -> list[Subject]:
    """Screen `n` subjects over both sites, in SubjectKey order."""
    n01 = min(n, max(1, round(n * SITE01_SHARE))) if n else 0
    counts = {"SITE01": n01, "SITE02": n - n01}
    end = STUDY_START + timedelta(days=min(600, max(120, 3 * n)))
    subjects = []
    for site in SITES:
        start = max(STUDY_START, site_starts[site])
        dates = _screen_dates(rng, site, counts[site], start, end)
        space = 10**7 if site == "SITE01" else 900_000
        offset = 0 if site == "SITE01" else 100_000
        mrns = [offset + m for m in rng.sample(range(space), counts[site])]
        # A fixed share of screen failures per site keeps small drops representative.
        failures = set(rng.sample(range(counts[site]), round(counts[site] * SCREEN_FAIL_RATE)))
        for i, (screen, mrn) in enumerate(zip(dates, mrns, strict=True), start=1):
            key = f"{site[-2:]}-{i:03d}"
            srng = subject_rng(seed, key, "screen")
            s = _screen_subject(srng, key, site, screen, mrn, i - 1 in failures)
            if not s.screen_failure:
                _schedule_randomization(srng, s)
            subjects.append(s)
    return subjects


def _death_day(rng: random.Random) -> int:
    """Days from randomization to death for a 12-week death: most deaths come early in ACLF."""
    return 2 + int(82 * rng.betavariate(0.8, 2.4))


def natural_outcome(rng: random.Random, s: Subject) -> Outcome:
    """Draw how the subject's follow-up ends; mortality depends on severity and (mildly) on arm."""
    r = s.rand_dt.date()
    if rng.random() < UNTREATED_RATE:
        return untreated_outcome(rng, s)
    p_death = (0.22 if s.stratum_by_meld == 1 else 0.40) * (0.8 if s.arm == "MSC" else 1.0)
    u = rng.random()
    if u < p_death:
        return Outcome("death", death_date=r + timedelta(days=_death_day(rng)), dthcaus=_death_cause(rng))
    u -= p_death
    if u < 0.065:
        lt_date = r + timedelta(days=rng.randint(7, 70))
        if rng.random() < 0.12:
            death = min(lt_date + timedelta(days=rng.randint(5, 30)), r + timedelta(days=FOLLOW_UP_DAYS))
            return Outcome("transplant_death", death_date=death, lt_date=lt_date, dthcaus=rng.choice(("2", "9")))
        return Outcome("transplant", lt_date=lt_date)
    u -= 0.065
    for kind, p, lo, hi in (("ltfu", 0.03, 10, 75), ("withdrawal", 0.03, 3, 70), ("ae", 0.01, 2, 40),
                            ("physician", 0.01, 5, 60)):
        if u < p:
            return Outcome(kind, stop_date=r + timedelta(days=rng.randint(lo, hi)))
        u -= p
    return Outcome("completed")


def untreated_outcome(rng: random.Random, s: Subject) -> Outcome:
    """Randomized but never infused: consent withdrawn at once, or death within days."""
    r = s.rand_dt.date()
    if rng.random() < 0.6:
        return Outcome("untreated_withdrawal", stop_date=max(r, s.day1))
    return Outcome("untreated_death", death_date=s.day1 + timedelta(days=rng.randint(1, 3)),
                   dthcaus=_death_cause(rng))


def _death_cause(rng: random.Random) -> str:
    """CL.DTHCAUS code: liver failure dominates ACLF deaths."""
    return rng.choices(("1", "2", "3", "4", "9"), (50, 20, 10, 12, 8))[0]


def course_type(rng: random.Random, outcome: Outcome) -> str:
    """Latent clinical course driving labs and assessments: improve, stable or worsen."""
    if outcome.kind in ("death", "transplant", "transplant_death", "untreated_death"):
        return "worsen"
    if outcome.kind == "completed":
        return "improve" if rng.random() < 0.62 else "stable"
    return "improve" if rng.random() < 0.4 else "stable"


def data_cut(subjects: list[Subject]) -> date:
    """The last snapshot night: a week after the latest possible end of follow-up."""
    last = max((s.screen_date + timedelta(days=14) for s in subjects), default=STUDY_START)
    for s in subjects:
        if s.randomized:
            # W12 can be 5 days late and a loss to follow-up is declared up to 21 days after Day 85.
            last = max(last, s.rand_dt.date() + timedelta(days=FOLLOW_UP_DAYS + 21 + 7 + 1))
    return last
