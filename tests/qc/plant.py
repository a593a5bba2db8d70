"""Plant SAP edge cases into a COPY of a synthetic drop, to compare the two ADaM implementations on them.

`plant_edge_cases(src, dst)` copies the drop folder `src` to `dst` and edits only the copy:
the newest EDC snapshot (lxml, written back as UTF-8 with its XML declaration) and the LIS files of
both sites (same encoding, header and line endings as lab/lis-export.md). Every planted value is a
legal value of its item (edc/metadata.xml codelists, edc/export.md date formats): the cases are valid
data that the derivations must handle, not errors. Subjects are chosen deterministically: the first
subject of the right kind in SubjectKey order, each case a different subject, preferring subjects the
generator gave no role (synth_truth.json, when present) so that cases do not overlap.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from lxml import etree

NS = "http://www.cdisc.org/ns/odm/v1.3"
Q = f"{{{NS}}}"
NSMAP = {"o": NS}

HEADER01 = "病历号,姓名,标本号,采样时间,检验项目,结果,单位,参考范围,异常标志,报告时间"
HEADER02 = "PatientID,AccessionNo,CollectedAt,TestCode,TestName,Result,Units,RefLow,RefHigh,Flag,Status,ResultedAt"
FMT01, FMT02 = "%Y/%m/%d %H:%M", "%m/%d/%Y %H:%M"
# Site 01 test names (lab/lis-export.md) of the three MELD inputs.
TBIL01, CREA01, INR01 = "总胆红素", "肌酐", "国际标准化比值"
MELD02 = ("TBIL", "CREA", "INR")
VISIT_EVENTS = ("SE.W1", "SE.W2", "SE.W4", "SE.W8", "SE.W12", "SE.UNS")
# Metadata order of the SE.LOG forms, so that a created form lands where the eCRF puts it.
LOG_FORMS = ("F.AE", "F.CM", "F.LT", "F.DTH", "F.EOS")


# ---- the drop's newest snapshot -------------------------------------------------------------------

def newest_snapshot(drop: Path) -> Path:
    """The snapshot that supersedes the others: the latest timestamp in the file name (edc/export.md)."""
    files = sorted(drop.glob("edc/NCT03668171_ODM_*.xml"), key=lambda p: p.name.rsplit("_", 1)[1])
    if not files:
        raise FileNotFoundError(f"no EDC snapshot in {drop / 'edc'}")
    return files[-1]


def parse_odm(path: Path) -> etree._ElementTree:
    """Parse an ODM file safely: no DTD, no entity expansion, no network."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=True,
                             huge_tree=True)
    return etree.parse(str(path), parser)


def _item(parent: etree._Element, oid: str) -> str | None:
    """Value of the first ItemData `oid` under parent (None when absent or removed)."""
    el = parent.find(f".//{Q}ItemData[@ItemOID='{oid}']")
    return None if el is None else el.get("Value")


def _day(text: str | None) -> date | None:
    return None if not text else date.fromisoformat(text[:10]) if len(text) >= 10 else None


def _earliest(partial: str) -> date:
    """Earliest date a partial date (YYYY, YYYY-MM, YYYY-MM-DD) can mean."""
    parts = partial.split("-") + ["01", "01"]
    return date(int(parts[0]), int(parts[1]), int(parts[2]))


@dataclass
class Subject:
    """What the selection needs to know about one SubjectData of the newest snapshot."""

    key: str
    site: str
    el: etree._Element
    mrn: str | None
    rand_dt: datetime | None
    first_infusion: datetime | None
    died: bool
    transplanted: bool
    roles: list[str] = field(default_factory=list)

    @property
    def rand_date(self) -> date:
        assert self.rand_dt is not None
        return self.rand_dt.date()


def read_subjects(root: etree._Element, truth_roles: dict[str, list[str]]) -> list[Subject]:
    """Subjects of the snapshot in SubjectKey order."""
    out = []
    for sd in root.iter(f"{Q}SubjectData"):
        site = sd.find(f"{Q}SiteRef").get("LocationOID")
        randdtc = _item(sd, "I.RANDDTC")
        starts = sorted(datetime.fromisoformat(ex.find(f"{Q}ItemData[@ItemOID='I.EXSTDTC']").get("Value"))
                        for ex in sd.iterfind(f".//{Q}ItemGroupData[@ItemGroupOID='IG.EX']")
                        if _item(ex, "I.EXYN") == "Y" and _item(ex, "I.EXSTDTC"))
        out.append(Subject(
            key=sd.get("SubjectKey"), site=site, el=sd, mrn=_item(sd, "I.MRN"),
            rand_dt=datetime.fromisoformat(randdtc) if randdtc else None,
            first_infusion=starts[0] if starts else None,
            died=_item(sd, "I.DTHDAT") is not None, transplanted=_item(sd, "I.LTYN") == "Y",
            roles=truth_roles.get(sd.get("SubjectKey"), [])))
    return sorted(out, key=lambda s: s.key)


def _truth_roles(drop: Path) -> dict[str, list[str]]:
    """Generator roles per subject from synth_truth.json (empty when the drop has none)."""
    path = drop / "synth_truth.json"
    if not path.exists():
        return {}
    subjects = json.loads(path.read_text(encoding="utf-8")).get("subjects", {})
    return {key: info.get("roles", []) for key, info in subjects.items()}


# ---- LIS files ------------------------------------------------------------------------------------

@dataclass
class LisFile:
    """One daily LIS export held as lines; written back in its own encoding and line ending."""

    path: Path
    site: str
    rows: list[list[str]]
    bom: bool = False
    changed: bool = False

    @classmethod
    def read(cls, path: Path, site: str) -> LisFile:
        raw = path.read_bytes()
        if site == "SITE01":
            text, bom = raw.decode("gb18030"), False
        else:
            bom = raw.startswith(b"\xef\xbb\xbf")
            text = raw.decode("utf-8-sig")
        lines = [ln for ln in text.replace("\r\n", "\n").split("\n") if ln]
        return cls(path, site, [ln.split(",") for ln in lines[1:]], bom)

    def write(self) -> None:
        """Header plus rows: site 01 GB18030 with CRLF, site 02 UTF-8 (BOM kept as found) with LF."""
        if self.site == "SITE01":
            lines = [HEADER01] + [",".join(r) for r in self.rows]
            self.path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))
        else:
            lines = [HEADER02] + [",".join(r) for r in self.rows]
            self.path.write_bytes(("\ufeff" if self.bom else "").encode("utf-8")
                                  + ("\n".join(lines) + "\n").encode("utf-8"))


class LabDrop:
    """All LIS files of both sites, with the column helpers the cases need."""

    def __init__(self, drop: Path) -> None:
        self.drop = drop
        self.files: dict[Path, LisFile] = {}
        for site, pattern in (("SITE01", "LIS_SITE01_*.csv"), ("SITE02", "labs_*.csv")):
            for path in sorted((drop / "lab" / site).glob(pattern)):
                self.files[path] = LisFile.read(path, site)

    @staticmethod
    def cols(site: str) -> tuple[int, int, int, int, int]:
        """(MRN, specimen, collected, test, result) column indexes of a site's layout."""
        return (0, 2, 3, 4, 5) if site == "SITE01" else (0, 1, 2, 3, 5)

    @staticmethod
    def fmt(site: str) -> str:
        return FMT01 if site == "SITE01" else FMT02

    def rows_of(self, site: str, mrn: str) -> Iterator[tuple[LisFile, list[str]]]:
        """Every row of one patient at one site, file by file in date order."""
        m = self.cols(site)[0]
        for f in self.files.values():
            if f.site == site:
                yield from ((f, r) for r in f.rows if r[m] == mrn)

    def specimens(self, site: str) -> set[str]:
        s = self.cols(site)[1]
        return {r[s] for f in self.files.values() if f.site == site for r in f.rows}

    def file_for(self, site: str, reported: datetime) -> LisFile:
        """The export of a report day, created (header only) when that day had none."""
        name = f"LIS_SITE01_{reported:%Y%m%d}.csv" if site == "SITE01" else f"labs_{reported:%Y-%m-%d}.csv"
        path = self.drop / "lab" / site / name
        if path not in self.files:
            self.files[path] = LisFile(path, site, [], changed=True)
        return self.files[path]

    def append(self, site: str, reported: datetime, row: list[str]) -> str:
        """Add a row to the file of its report day; return that file's name."""
        f = self.file_for(site, reported)
        f.rows.append(row)
        f.changed = True
        return f.path.name

    def drop_rows_from(self, site: str, mrn: str, first_gone: date) -> int:
        """Remove the patient's rows collected on or after a date (no specimen after follow-up ended)."""
        m, _, c, _, _ = self.cols(site)
        fmt, removed = self.fmt(site), 0
        for f in self.files.values():
            if f.site != site:
                continue
            keep = [r for r in f.rows if not (r[m] == mrn and datetime.strptime(r[c], fmt).date() >= first_gone)]
            if len(keep) != len(f.rows):
                removed += len(f.rows) - len(keep)
                f.rows, f.changed = keep, True
        return removed

    def save(self) -> None:
        """Write back the files that changed; a file left with no row is removed (no day, no file)."""
        for f in self.files.values():
            if f.changed:
                if f.rows:
                    f.write()
                elif f.path.exists():
                    f.path.unlink()


def _flag(site: str, row: list[str], value: float) -> str:
    """Abnormal flag of a value against the row's printed reference range."""
    if site == "SITE01":
        ref = row[7]
        low, high = (None, float(ref[1:])) if ref.startswith("<") else map(float, ref.split("-"))
        return "↑" if value > high else "↓" if low is not None and value < low else ""
    low = float(row[7]) if row[7] else None
    high = float(row[8]) if row[8] else None
    return "H" if high is not None and value > high else "L" if low is not None and value < low else ""


def _numeric(text: str) -> float | None:
    return float(text) if re.fullmatch(r"\d+(\.\d+)?", text) else None


def _like(text: str, value: float) -> str:
    """A value printed with as many decimals as `text`."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return f"{value:.{decimals}f}"


# ---- ODM editing ----------------------------------------------------------------------------------

def _event(sd: etree._Element, oid: str) -> etree._Element | None:
    return sd.find(f"{Q}StudyEventData[@StudyEventOID='{oid}']")


def _log_form(sd: etree._Element, form_oid: str) -> etree._Element:
    """SE.LOG's FormData `form_oid`, created in metadata order when missing."""
    log = _event(sd, "SE.LOG")
    if log is None:
        log = etree.SubElement(sd, f"{Q}StudyEventData", StudyEventOID="SE.LOG")
    form = log.find(f"{Q}FormData[@FormOID='{form_oid}']")
    if form is not None:
        return form
    form = etree.Element(f"{Q}FormData", FormOID=form_oid)
    rank = LOG_FORMS.index(form_oid)
    later = [f for f in log.findall(f"{Q}FormData") if LOG_FORMS.index(f.get("FormOID")) > rank]
    if later:
        later[0].addprevious(form)
    else:
        log.append(form)
    return form


def _set_group(form: etree._Element, group_oid: str, values: dict[str, str]) -> etree._Element:
    """Replace a non-repeating item group's content by `values` (in the given, metadata, order)."""
    group = form.find(f"{Q}ItemGroupData[@ItemGroupOID='{group_oid}']")
    if group is None:
        group = etree.SubElement(form, f"{Q}ItemGroupData", ItemGroupOID=group_oid)
    for child in list(group):
        group.remove(child)
    for oid, value in values.items():
        etree.SubElement(group, f"{Q}ItemData", ItemOID=oid, Value=value)
    return group


def add_adverse_event(sd: etree._Element, values: dict[str, str]) -> str:
    """Append an IG.AE repeat with the next ItemGroupRepeatKey; return that key."""
    form = _log_form(sd, "F.AE")
    keys = [int(g.get("ItemGroupRepeatKey", "0")) for g in form.findall(f"{Q}ItemGroupData")]
    key = str(max(keys, default=0) + 1)
    group = etree.SubElement(form, f"{Q}ItemGroupData", ItemGroupOID="IG.AE", ItemGroupRepeatKey=key)
    for oid in ("I.AETERM", "I.AESTDAT", "I.AEENDAT", "I.AEONGO", "I.AESEV", "I.AESER", "I.AEREL", "I.AEACN",
                "I.AEOUT"):
        if oid in values:
            etree.SubElement(group, f"{Q}ItemData", ItemOID=oid, Value=values[oid])
    return key


def _visit_date(event: etree._Element) -> date | None:
    """Date of a visit: its vital signs or clinical assessment date."""
    return _day(_item(event, "I.VSDAT") or _item(event, "I.CLDAT"))


def end_follow_up(sd: etree._Element, first_gone: date, last_event_day: date, skip_w12: bool) -> None:
    """Remove what cannot exist once follow-up ended: visits on or after `first_gone` (and Week 12 for a
    subject who died before it), AE/CM records starting after `last_event_day`, and end dates after it
    (the AE or medication was ongoing at death, as the generator writes it)."""
    for event in list(sd.findall(f"{Q}StudyEventData")):
        oid = event.get("StudyEventOID")
        day = _visit_date(event)
        if oid in VISIT_EVENTS and (skip_w12 and oid == "SE.W12" or day is not None and day >= first_gone):
            sd.remove(event)
    log = _event(sd, "SE.LOG")
    if log is None:
        return
    for group_oid, start, end, ongoing in (("IG.AE", "I.AESTDAT", "I.AEENDAT", "I.AEONGO"),
                                           ("IG.CM", "I.CMSTDAT", "I.CMENDAT", "I.CMONGO")):
        for group in list(log.iterfind(f".//{Q}ItemGroupData[@ItemGroupOID='{group_oid}']")):
            started = _item(group, start)
            if started and _earliest(started) > last_event_day:
                group.getparent().remove(group)
                continue
            ended = _item(group, end)
            if ended and _earliest(ended) > last_event_day:
                group.remove(group.find(f"{Q}ItemData[@ItemOID='{end}']"))
                group.find(f"{Q}ItemData[@ItemOID='{ongoing}']").set("Value", "Y")
                outcome = group.find(f"{Q}ItemData[@ItemOID='I.AEOUT']")
                if outcome is not None:
                    outcome.set("Value", "3")  # not recovered/not resolved
    for form in list(log):
        if len(form) == 0:
            log.remove(form)


def _last_contact(sd: etree._Element, s: Subject, labs: LabDrop, before: date) -> date:
    """Last date the subject was seen alive: visits, specimens, randomization (before death)."""
    days = [s.rand_date]
    days += [d for ev in sd.findall(f"{Q}StudyEventData") if (d := _visit_date(ev)) is not None]
    _, _, c, _, _ = labs.cols(s.site)
    days += [datetime.strptime(r[c], labs.fmt(s.site)).date() for _, r in labs.rows_of(s.site, s.mrn or "")]
    return max(d for d in days if d < before)


def record_death(sd: etree._Element, death: date, cause: str, eos_last_alive: date) -> None:
    """F.DTH, the fatal AE and F.EOS as the generator writes a death (EOS date = death date, status Death)."""
    _set_group(_log_form(sd, "F.DTH"), "IG.DTH", {"I.DTHDAT": death.isoformat(), "I.DTHCAUS": cause})
    term = {"1": "LIVER FAILURE", "2": "SEPSIS"}[cause]
    add_adverse_event(sd, {
        "I.AETERM": term, "I.AESTDAT": (death - timedelta(days=3)).isoformat(), "I.AEENDAT": death.isoformat(),
        "I.AEONGO": "N", "I.AESEV": "3", "I.AESER": "Y", "I.AEREL": "1", "I.AEACN": "4", "I.AEOUT": "5"})
    _set_group(_log_form(sd, "F.EOS"), "IG.EOS", {
        "I.EOSDAT": death.isoformat(), "I.EOSSTAT": "2", "I.LSTALDAT": eos_last_alive.isoformat()})


# ---- the cases ------------------------------------------------------------------------------------

class Planter:
    """Picks a distinct subject per case and plants it in the copy."""

    def __init__(self, dst: Path) -> None:
        self.dst = dst
        self.snapshot = newest_snapshot(dst)
        self.tree = parse_odm(self.snapshot)
        self.subjects = read_subjects(self.tree.getroot(), _truth_roles(dst))
        self.labs = LabDrop(dst)
        self.used: dict[str, str] = {}

    def pick(self, case: str, fits: Callable[[Subject], bool]) -> Subject:
        """First unused, randomized, alive, not transplanted, role-free subject that fits the case."""
        taken = set(self.used.values())
        for s in self.subjects:
            if (s.key not in taken and s.rand_dt is not None and not s.died and not s.transplanted
                    and not s.roles and fits(s)):
                self.used[case] = s.key
                return s
        raise LookupError(f"no subject fits the case {case}")

    def save(self) -> None:
        """Write the snapshot back (UTF-8, XML declaration) and the changed LIS files."""
        body = etree.tostring(self.tree.getroot(), encoding="UTF-8", pretty_print=True)
        # The declaration spelled as the EDC writes it (lxml would use single quotes).
        self.snapshot.write_bytes(b'<?xml version="1.0" encoding="UTF-8"?>\n' + body)
        self.labs.save()

    # 1 ---------------------------------------------------------------------------------------------
    def _post_infusion_row(self, s: Subject, test: str) -> tuple[LisFile, list[str]] | None:
        """A numeric post-infusion result of `test` whose specimen+test appears once (no correction)."""
        _, sp, c, t, r = self.labs.cols(s.site)
        rows = [(f, row) for f, row in self.labs.rows_of(s.site, s.mrn or "") if row[t] == test]
        count: dict[str, int] = {}
        for _, row in rows:
            count[row[sp]] = count.get(row[sp], 0) + 1
        for f, row in rows:
            collected = datetime.strptime(row[c], self.labs.fmt(s.site))
            if (collected > s.first_infusion and count[row[sp]] == 1 and _numeric(row[r]) is not None
                    and (s.site == "SITE01" or row[10] == "F")):
                return f, row
        return None

    def specimen_reused(self, site: str) -> None:
        """A specimen number re-used for a later collection of the same test (a different draw)."""
        test = TBIL01 if site == "SITE01" else "TBIL"
        s = self.pick(f"specimen_reused_{site.lower()}", lambda s: s.site == site and s.first_infusion is not None
                      and self._post_infusion_row(s, test) is not None)
        _, row = self._post_infusion_row(s, test)
        fmt = self.labs.fmt(site)
        _, _, c, _, r = self.labs.cols(site)
        collected = datetime.strptime(row[c], fmt) + timedelta(days=2)
        reported = collected + timedelta(hours=2)
        value = _numeric(row[r]) * 1.1
        new = list(row)
        new[c], new[r] = collected.strftime(fmt), _like(row[r], value)
        if site == "SITE01":
            new[8], new[9] = _flag(site, row, float(new[r])), reported.strftime(fmt)
        else:
            new[9], new[10], new[11] = _flag(site, row, float(new[r])), "F", reported.strftime(fmt)
        self.labs.append(site, reported, new)

    # 2, 3 ------------------------------------------------------------------------------------------
    def ieyn_no_with_no_criterion(self) -> None:
        """Eligibility answered No, yet no criterion recorded as not met."""
        s = self.pick("ieyn_no_with_no_criterion", lambda s: _item(s.el, "I.IEYN") == "Y")
        s.el.find(f".//{Q}ItemData[@ItemOID='I.IEYN']").set("Value", "N")
        for group in list(s.el.iterfind(f".//{Q}ItemGroupData[@ItemGroupOID='IG.IENM']")):
            group.getparent().remove(group)

    def ieyn_blank(self) -> None:
        """Eligibility question not answered (the item is absent)."""
        s = self.pick("ieyn_blank", lambda s: _item(s.el, "I.IEYN") is not None)
        item = s.el.find(f".//{Q}ItemData[@ItemOID='I.IEYN']")
        item.getparent().remove(item)

    # 4, 5 ------------------------------------------------------------------------------------------
    def death_after_transplant(self) -> None:
        """Liver transplantation on R+20, death on R+40: follow-up ends at the transplant."""
        s = self.pick("death_after_transplant", lambda s: _item(s.el, "I.EOSSTAT") == "1")
        lt_date, death = s.rand_date + timedelta(days=20), s.rand_date + timedelta(days=40)
        end_follow_up(s.el, lt_date, death, skip_w12=False)
        self.labs.drop_rows_from(s.site, s.mrn or "", lt_date)
        _set_group(_log_form(s.el, "F.LT"), "IG.LT", {"I.LTYN": "Y", "I.LTDAT": lt_date.isoformat()})
        # As the generator writes a transplant then death: last known alive = the transplant date.
        record_death(s.el, death, "2", lt_date)

    def death_on_r85(self) -> None:
        """Death on R+85 at home, before the Week 12 visit: no visit or specimen after R+84."""
        s = self.pick("death_on_r85", lambda s: _item(s.el, "I.EOSSTAT") == "1")
        death = s.rand_date + timedelta(days=85)
        end_follow_up(s.el, death, death, skip_w12=True)
        self.labs.drop_rows_from(s.site, s.mrn or "", death)
        record_death(s.el, death, "1", _last_contact(s.el, s, self.labs, death))

    # 6, 8 ------------------------------------------------------------------------------------------
    def ae_ended_before_dosing(self) -> None:
        """AE starting 'YYYY-MM' (month of the first infusion) that ended before the first infusion."""
        s = self.pick("ae_ended_before_dosing", lambda s: s.first_infusion is not None and s.first_infusion.day >= 3)
        first = s.first_infusion.date()
        add_adverse_event(s.el, {
            "I.AETERM": "HEADACHE", "I.AESTDAT": f"{first:%Y-%m}", "I.AEENDAT": (first - timedelta(days=1)).isoformat(),
            "I.AEONGO": "N", "I.AESEV": "1", "I.AESER": "N", "I.AEREL": "1", "I.AEACN": "4", "I.AEOUT": "1"})

    def partial_dates(self) -> None:
        """AE starting 'YYYY' (year of the first infusion), no end date, ongoing."""
        s = self.pick("partial_dates", lambda s: s.first_infusion is not None)
        add_adverse_event(s.el, {
            "I.AETERM": "FATIGUE", "I.AESTDAT": f"{s.first_infusion:%Y}", "I.AEONGO": "Y", "I.AESEV": "1",
            "I.AESER": "N", "I.AEREL": "1", "I.AEACN": "1", "I.AEOUT": "3"})

    # 9 ---------------------------------------------------------------------------------------------
    def invalid_randno(self) -> None:
        """A randomization number one character over the eCRF's length 4: still randomized, no arm."""
        s = self.pick("invalid_randno", lambda s: _item(s.el, "I.RANDNO") is not None)
        item = s.el.find(f".//{Q}ItemData[@ItemOID='I.RANDNO']")
        item.set("Value", "R0" + item.get("Value")[1:])

    # 7 ---------------------------------------------------------------------------------------------
    def lab_at_infusion_minute(self) -> None:
        """Bilirubin, creatinine and INR collected at the first infusion's start minute, reported that day."""
        def tests(s: Subject) -> tuple[str, ...]:
            return (TBIL01, CREA01, INR01) if s.site == "SITE01" else MELD02

        def before(s: Subject, test: str) -> list[list[str]]:
            """The subject's numeric results of a test collected before the first infusion."""
            _, _, c, t, r = self.labs.cols(s.site)
            return [row for _, row in self.labs.rows_of(s.site, s.mrn or "") if row[t] == test
                    and _numeric(row[r]) is not None
                    and datetime.strptime(row[c], self.labs.fmt(s.site)) < s.first_infusion]

        # Before 22:00, so that a report 90 minutes later is still the same day.
        s = self.pick("lab_at_infusion_minute", lambda s: s.first_infusion is not None
                      and s.first_infusion.hour < 22 and all(before(s, test) for test in tests(s)))
        _, sp, c, t, r = self.labs.cols(s.site)
        fmt = self.labs.fmt(s.site)
        collected = s.first_infusion
        reported = collected + timedelta(hours=1, minutes=30)
        taken = self.labs.specimens(s.site)
        specimen = next(x for n in range(900, 1000) if (x := (f"S{collected:%Y%m%d}-{n:03d}" if s.site == "SITE01"
                                                               else f"A{collected:%y%m%d}{n:03d}")) not in taken)
        for test in tests(s):
            # The latest result of the test before the infusion: a value this patient really had.
            row = max(before(s, test), key=lambda row: datetime.strptime(row[c], fmt))
            new = list(row)
            new[sp], new[c] = specimen, collected.strftime(fmt)
            if s.site == "SITE01":
                new[8], new[9] = _flag(s.site, row, float(row[r])), reported.strftime(fmt)
            else:
                new[9], new[10], new[11] = _flag(s.site, row, float(row[r])), "F", reported.strftime(fmt)
            self.labs.append(s.site, reported, new)


def plant_edge_cases(src: Path, dst: Path) -> dict[str, str]:
    """Copy the drop `src` to `dst`, plant the edge cases in the copy; return {case: SubjectKey}."""
    src, dst = Path(src), Path(dst)
    if dst.exists():
        raise FileExistsError(f"{dst} exists: the planted copy is always written to a new folder")
    shutil.copytree(src, dst)
    p = Planter(dst)
    p.specimen_reused("SITE01")
    p.specimen_reused("SITE02")
    p.ieyn_no_with_no_criterion()
    p.ieyn_blank()
    p.death_after_transplant()
    p.death_on_r85()
    p.ae_ended_before_dosing()
    p.lab_at_infusion_minute()
    p.partial_dates()
    p.invalid_randno()
    p.save()
    return dict(p.used)
