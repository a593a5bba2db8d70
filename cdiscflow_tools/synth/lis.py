"""Write the two sites' daily LIS exports (lab/lis-export.md).

Rows are buffered per report day and a day's file is written once no later subject can add to it
(subjects come in screening order, and nothing of a subject is reported before its screening).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path

from . import labtests as lt
from .course import Draw
from .population import Subject, subject_rng
from .vocab import GIVEN_CHARS, SURNAMES

HEADER01 = "病历号,姓名,标本号,采样时间,检验项目,结果,单位,参考范围,异常标志,报告时间"
HEADER02 = "PatientID,AccessionNo,CollectedAt,TestCode,TestName,Result,Units,RefLow,RefHigh,Flag,Status,ResultedAt"
HEMOLYSIS_PRONE = ("AST", "ALT", "NH3", "HGB")
SLOW_TESTS = ("AFP", "NH3")  # send-out or batched tests: reported late or left pending
# A test neither LIS has in its catalogue, planted as an "unknown test" row.
UNKNOWN_TEST01 = ("乳酸脱氢酶", "U/L", "120-250")
UNKNOWN_TEST02 = ("LDH", "Lactate Dehydrogenase", "U/L", "140", "280")


@lru_cache(maxsize=4096)
def lis_file_name(site: str, day: date) -> str:
    """File name of a site's export for one report day."""
    if site == "SITE01":
        return f"LIS_SITE01_{day:%Y%m%d}.csv"
    return f"labs_{day:%Y-%m-%d}.csv"


@lru_cache(maxsize=4096)
def _t01(dt: datetime) -> str:
    return dt.strftime("%Y/%m/%d %H:%M")


@lru_cache(maxsize=4096)
def _t02(dt: datetime) -> str:
    return dt.strftime("%m/%d/%Y %H:%M")


@dataclass(order=True)
class _Row:
    sort_key: tuple
    line: str = field(compare=False)


class SiteSink:
    """Buffers one site's rows by report day and writes each day's file exactly once."""

    def __init__(self, site: str, out_dir: Path, seed: int) -> None:
        self.site, self.seed = site, seed
        self.dir = out_dir / "lab" / site
        self.dir.mkdir(parents=True, exist_ok=True)
        self._days: dict[date, list[_Row]] = {}
        self._written: set[date] = set()
        self.files: list[str] = []
        self.rows = 0

    def add(self, reported: datetime, sort_key: tuple, fields: list[str]) -> str:
        """Queue a row for its report day's file; return that file's name."""
        day = reported.date()
        if day in self._written:
            raise RuntimeError(f"{self.site} file for {day} already written")
        line = ",".join(fields)
        # Neither LIS quotes fields: a value holding a separator would break the file.
        if line.count(",") != len(fields) - 1 or '"' in line or "\n" in line or "\r" in line:
            raise ValueError(f"LIS field needs quoting: {line!r}")
        self._days.setdefault(day, []).append(_Row((reported,) + sort_key, line))
        return lis_file_name(self.site, day)

    def flush_before(self, day: date) -> None:
        """Write every buffered day earlier than `day`."""
        for d in sorted(d for d in self._days if d < day):
            self._write(d, sorted(self._days.pop(d)))

    def close(self) -> None:
        """Write all remaining days."""
        self.flush_before(date.max)

    def _write(self, day: date, rows: list[_Row]) -> None:
        lines = [r.line for r in rows]
        if self.site == "SITE01":
            data = ("\r\n".join([HEADER01] + lines) + "\r\n").encode("gb18030")
        else:
            # Some nights the site 02 LIS writes a byte-order mark, some nights it does not.
            bom = random.Random(f"{self.seed}|bom|{day.isoformat()}").random() < 0.3
            data = ("\ufeff" if bom else "").encode("utf-8") + ("\n".join([HEADER02] + lines) + "\n").encode("utf-8")
        name = lis_file_name(self.site, day)
        (self.dir / name).write_bytes(data)
        self._written.add(day)
        self.files.append(name)
        self.rows += len(rows)


@dataclass
class _Result:
    """One result as printed: text, flag, and the numeric value it came from (if any)."""

    text: str
    flag: str
    numeric: float | None


class LabWriter:
    """Turns subjects' draws into LIS rows of both sites, with corrections, comments and plants."""

    def __init__(self, out_dir: Path, seed: int) -> None:
        self.seed = seed
        self.sinks = {site: SiteSink(site, out_dir, seed) for site in ("SITE01", "SITE02")}
        self._seq: dict[tuple[str, date], int] = {}
        self.planted: list[dict] = []
        self.events: list[dict] = []

    # ---- identifiers -------------------------------------------------------------------------
    def _specimen(self, site: str, collected: datetime) -> str:
        """Specimen (site 01) or accession (site 02) number, numbered per collection day."""
        key = (site, collected.date())
        self._seq[key] = self._seq.get(key, 0) + 1
        n = self._seq[key]
        if site == "SITE01":
            return f"S{collected:%Y%m%d}-{n:03d}"
        return f"A{collected:%y%m%d}{n:03d}"

    # ---- results ------------------------------------------------------------------------------
    @staticmethod
    def _result(site: str, code: str, value: float) -> _Result:
        """Print a site-unit value: reporting limits become '<x' / '>x'; flags follow the ranges."""
        flag = lt.flag1 if site == "SITE01" else lt.flag2
        low, high = lt.LOWER_LIMIT.get(code), lt.UPPER_LIMIT.get(code)
        if low is not None and value < low:
            return _Result(f"<{low:g}", flag(code, low), None)
        if high is not None and value > high:
            return _Result(f">{high:g}", flag(code, high), None)
        return _Result(lt.fmt(site, code, value), flag(code, value), value)

    def _fields(self, s_site: str, mrn: str, name: str, specimen: str, collected: datetime, code: str,
                res: _Result, reported: datetime, status: str) -> list[str]:
        t = lt.TEST_BY_CODE[code]
        if s_site == "SITE01":
            unit = "umol/L" if t.unit1 == lt.UMOL and self._ascii_units(reported.date()) else t.unit1
            return [mrn, name, specimen, _t01(collected), t.zh, res.text, unit, t.range1, res.flag, _t01(reported)]
        return [mrn, specimen, _t02(collected), t.code, t.en, res.text, t.unit2, t.low2, t.high2, res.flag, status,
                _t02(reported)]

    def _emit(self, site: str, mrn: str, name: str, specimen: str, collected: datetime, code: str, res: _Result,
              reported: datetime, status: str) -> str:
        fields = self._fields(site, mrn, name, specimen, collected, code, res, reported, status)
        rank = {"F": 0, "C": 1, "X": 2}[status] if site == "SITE02" else 0
        return self.sinks[site].add(reported, (specimen, lt.TEST_ORDER.get(code, 99), rank), fields)

    def _ascii_units(self, day: date) -> bool:
        """Site 01 prints umol/L instead of μmol/L in some files (another print driver that day)."""
        return random.Random(f"{self.seed}|units|{day.isoformat()}").random() < 0.3

    # ---- public -------------------------------------------------------------------------------
    def add_subject(self, s: Subject, draws: list[Draw], plant_errors: bool) -> None:
        """Write all draws of one subject (and its planted LIS errors)."""
        self.sinks[s.site].flush_before(s.screen_date)
        rng = subject_rng(self.seed, s.key, "lis")
        name = s.person.name if s.site == "SITE01" else ""
        for i, draw in enumerate(draws):
            specimen, reported = self._write_draw(s.site, s.person.mrn, name, draw, rng, i == 0, s.key)
            draw.specimen = specimen
            role = "err_lis_unknown_01" if s.site == "SITE01" else "err_lis_unknown_02"
            if plant_errors and role in s.roles and i == len(draws) - 1:
                self._unknown_test(s, specimen, draw, reported)

    def add_orphan(self, site: str, day: date, mrn: str) -> None:
        """A specimen whose MRN matches no subject (a patient outside the trial, or a typo)."""
        self.sinks[site].flush_before(day)
        rng = random.Random(f"{self.seed}|orphan|{site}")
        surname, given = rng.choice(SURNAMES), rng.choice(GIVEN_CHARS)
        name = surname[0] + given[0] if site == "SITE01" else ""
        specimen, reported = self._write_draw(site, mrn, name, _orphan_draw(rng, day), rng, False, None)
        self.planted.append({"kind": "lis_orphan_specimen", "site": site, "specimen": specimen,
                             "file": lis_file_name(site, reported.date()),
                             "detail": "the MRN of this specimen matches no subject's I.MRN"})

    def close(self) -> None:
        """Write the remaining buffered days of both sites."""
        for sink in self.sinks.values():
            sink.close()

    # ---- draws ------------------------------------------------------------------------------
    def _report_time(self, collected: datetime, rng: random.Random) -> datetime:
        """Most results 1-6 h after collection; a few the next morning."""
        if rng.random() < 0.04:
            return datetime.combine(collected.date() + timedelta(days=1), time(8)) + timedelta(
                minutes=rng.randrange(180))
        return collected + timedelta(minutes=rng.randint(60, 360))

    def _write_draw(self, site: str, mrn: str, name: str, draw: Draw, rng: random.Random,
                    screening: bool, subject: str | None) -> tuple[str, datetime]:
        specimen = self._specimen(site, draw.collected)
        reported = self._report_time(draw.collected, rng)
        for code in draw.tests:
            value = draw.fixed.get(code)
            if value is None:
                value = lt.to_site(site, code, draw.values[code])
            protected = screening and code in ("TBIL", "CREA", "INR", "PT", "PTA")
            if code == "INR" and "err_inr" in draw.planted:
                value, protected = 25.0, True
            res = self._result(site, code, value)
            when = reported
            if code in SLOW_TESTS and rng.random() < 0.3:
                when = datetime.combine(reported.date() + timedelta(days=1), time(9)) + timedelta(
                    minutes=rng.randrange(420))
            self._write_result(site, mrn, name, specimen, draw, code, res, when, rng, protected)
            if code == "INR" and "err_inr" in draw.planted:
                self.planted.append({
                    "kind": "implausible_lab_value", "site": site, "subject": subject, "specimen": specimen,
                    "test": lt.TEST_BY_CODE["INR"].zh if site == "SITE01" else "INR", "value": res.text,
                    "file": lis_file_name(site, when.date()), "detail": "INR of 25 is physiologically implausible"})
        return specimen, reported

    def _write_result(self, site: str, mrn: str, name: str, specimen: str, draw: Draw, code: str, res: _Result,
                      when: datetime, rng: random.Random, protected: bool) -> None:
        """One result row, sometimes with a comment, a pending first row, a correction or a cancellation."""
        u = 1.0 if protected else rng.random()
        emit = self._emit
        if u < 0.003 and code in HEMOLYSIS_PRONE:
            res = _Result("溶血" if site == "SITE01" else "HEMOLYZED", "", None)
        elif u < 0.004 and site == "SITE01":
            res = _Result("见备注", "", None)
        if site == "SITE02" and code in SLOW_TESTS and 0.01 <= u < 0.03 and res.numeric is not None:
            pending = _Result("", "", None)
            first = emit(site, mrn, name, specimen, draw.collected, code, pending, when, "F")
            final_at = when + timedelta(days=rng.randint(1, 2), hours=rng.randint(0, 3))
            final = emit(site, mrn, name, specimen, draw.collected, code, res, final_at, "F")
            self._event("pending_then_final", site, specimen, code, first, final)
            return
        first = emit(site, mrn, name, specimen, draw.collected, code, res, when, "F")
        if res.numeric is None or u < 0.05 or u >= 0.0575:
            return
        later = datetime.combine(when.date() + timedelta(days=rng.randint(1, 3)), time(9)) + timedelta(
            minutes=rng.randrange(480))
        if site == "SITE02" and u >= 0.0555:
            file = emit(site, mrn, name, specimen, draw.collected, code, _Result("", "", None), later, "X")
            self._event("cancellation", site, specimen, code, first, file)
            return
        new_value = lt.round_half_up(res.numeric * rng.uniform(0.85, 1.15), 2)
        new_value = float(lt.fmt(site, code, new_value))
        new = self._result(site, code, new_value)
        file = emit(site, mrn, name, specimen, draw.collected, code, new, later, "C")
        self._event("correction", site, specimen, code, first, file)

    def _event(self, kind: str, site: str, specimen: str, code: str, first_file: str, later_file: str) -> None:
        test = lt.TEST_BY_CODE[code].zh if site == "SITE01" else code
        self.events.append({"kind": kind, "site": site, "specimen": specimen, "test": test,
                            "first_file": first_file, "file": later_file})

    def _unknown_test(self, s: Subject, specimen: str, draw: Draw, reported: datetime) -> None:
        """Planted: a row whose test is in neither site's catalogue."""
        if s.site == "SITE01":
            name, unit, ref = UNKNOWN_TEST01
            fields = [s.person.mrn, s.person.name, specimen, _t01(draw.collected), name, "245", unit, ref, "",
                      _t01(reported)]
            test = name
        else:
            code, name, unit, low, high = UNKNOWN_TEST02
            fields = [s.person.mrn, specimen, _t02(draw.collected), code, name, "245", unit, low, high, "", "F",
                      _t02(reported)]
            test = code
        file = self.sinks[s.site].add(reported, (specimen, 99, 0), fields)
        self.planted.append({"kind": "lis_unknown_test", "site": s.site, "subject": s.key, "specimen": specimen,
                             "test": test, "file": file, "detail": "test name is not in the site's catalogue"})


def _orphan_draw(rng: random.Random, day: date) -> Draw:
    """An outpatient's liver panel: mildly abnormal values, nothing like ACLF."""
    u = rng.uniform
    values = {"TBIL": u(10, 60), "ALT": u(20, 120), "AST": u(20, 100), "ALB": u(32, 45), "CREA": u(60, 110),
              "INR": u(0.9, 1.3), "NA": u(136, 144)}
    values["DBIL"] = values["TBIL"] * u(0.3, 0.5)
    values["PT"] = lt.pt_from_inr(values["INR"])
    values["PTA"] = lt.pta_from_pt(values["PT"])
    collected = datetime.combine(day, time(rng.randint(7, 15), rng.randrange(60)))
    tests = tuple(c for c in lt.TEST_ORDER if c in values)
    return Draw(collected, "ORPHAN", tests, values)
