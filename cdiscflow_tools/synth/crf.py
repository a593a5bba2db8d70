"""Turn a simulated subject into eCRF item groups, each with the date it was entered in the EDC.

Every OID and value is checked against the study's eCRF metadata (the project's ODM loader and
value checks) as it is added; only planted errors may break the metadata, and each one is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from transforms.odm.values import value_problem

from .course import Course, death_cause_text, study_day
from .metadata import Ecrf
from .population import Subject, subject_rng

REMOVED = None  # an item version whose value was deleted (TransactionType="Remove")


@dataclass(slots=True)
class ItemRecord:
    """An item and its history: (date entered or changed, value or REMOVED), oldest first."""

    oid: str
    versions: list[tuple[date, str | None]]


@dataclass(slots=True)
class GroupRecord:
    """One ItemGroupData with its place in the tree and its entry date."""

    sort_key: tuple[int, int, int, int, int]
    event: str
    event_repeat: int | None
    form: str
    group: str
    group_repeat: int | None
    entered: date
    items: list[ItemRecord]


@dataclass
class OdmPlant:
    """A planted ODM error (or an edge case worth naming), before file names are known."""

    kind: str
    subject: str
    site: str
    group: GroupRecord
    item: str
    value: str | None
    detail: str
    intended: str | None = None
    until: date | None = None  # fixed on this night (absent from snapshots from then on)
    extra: dict[str, str] = field(default_factory=dict)


def fmt_float(x: float) -> str:
    """Plain decimal, no trailing zeros: 100.0 -> '100', 62.5 -> '62.5'."""
    return f"{x:.2f}".rstrip("0").rstrip(".")


def dtc(dt) -> str:
    """ODM datetime as the EDC exports it: YYYY-MM-DDThh:mm."""
    return dt.strftime("%Y-%m-%dT%H:%M")


class SubjectCrf:
    """Collects the item groups of one subject, validated against the metadata."""

    def __init__(self, md: Ecrf, s: Subject, seed: int, cut: date) -> None:
        self.md, self.s, self.cut = md, s, cut
        self.rng = subject_rng(seed, s.key, "crf")
        self.groups: list[GroupRecord] = []
        self.plants: list[OdmPlant] = []

    def entry_date(self, when: date) -> date:
        """Sites enter a form the same day or within two weeks; a few catch up just before the cut."""
        lag = self.rng.choices((0, self.rng.randint(1, 3), self.rng.randint(4, 14)), (30, 50, 20))[0]
        entered = when + timedelta(days=lag)
        if not self.s.roles and self.rng.random() < 0.003:
            entered = max(when, self.cut - timedelta(days=self.rng.randint(0, 2)))
        return min(entered, self.cut)

    def add(self, event: str, form: str, group: str, values: dict[str, str | None], when: date,
            event_repeat: int | None = None, group_repeat: int | None = None) -> GroupRecord:
        """Add an ItemGroupData; items are ordered and validated by the metadata."""
        md = self.md
        forms, groups = md.form_index[event], md.group_index.get(form, {})
        if form not in forms or group not in groups:
            raise ValueError(f"{group} is not on {form} in {event}")
        unknown = values.keys() - md.item_index[group].keys()
        if unknown:
            raise ValueError(f"items {sorted(unknown)} are not in {group}")
        entered = self.entry_date(when)
        checks, coded_ok = md.checks, md.coded_ok
        items = []
        for oid in md.group_items[group]:
            value = values.get(oid)
            if value is None:
                continue
            if value not in coded_ok.get(oid, ()):
                problem = value_problem(*checks[oid], value)
                if problem is not None:
                    raise ValueError(f"{self.s.key}: {oid}={value!r} {problem} (eCRF metadata)")
            items.append(ItemRecord(oid, [(entered, value)]))
        key = (md.event_index[event], event_repeat or 0, forms[form], groups[group], group_repeat or 0)
        rec = GroupRecord(key, event, event_repeat, form, group, group_repeat, entered, items)
        self.groups.append(rec)
        return rec

    def plant(self, kind: str, rec: GroupRecord, oid: str, value: str, detail: str, **extra: str) -> None:
        """Overwrite an item with a planted value (no metadata check) and record it."""
        item = next((i for i in rec.items if i.oid == oid), None)
        if item is None:
            item = ItemRecord(oid, [(rec.entered, value)])
            rec.items.append(item)
            rec.items.sort(key=lambda i: self.md.item_index[rec.group][i.oid])
            intended = None
        else:
            intended = item.versions[-1][1]
            item.versions = [(rec.entered, value)]
        self.plants.append(OdmPlant(kind, self.s.key, self.s.site, rec, oid, value, detail, intended, extra=extra))

    def change_later(self, rec: GroupRecord, oid: str, value: str | None, on: date) -> None:
        """Change (or, with REMOVED, delete) an item's value from night `on` on."""
        item = next(i for i in rec.items if i.oid == oid)
        item.versions.append((max(on, rec.entered), value))


def build(md: Ecrf, s: Subject, course: Course, seed: int, cut: date) -> SubjectCrf:
    """All item groups of a subject, in any order (the writer sorts them)."""
    crf = SubjectCrf(md, s, seed, cut)
    _screening(crf, s, course)
    if s.randomized:
        _treatment(crf, s, course)
        _followup_visits(crf, s, course)
        _logs(crf, s, course)
    crf.groups.sort(key=lambda g: g.sort_key)
    return crf


def _vs_clin(crf: SubjectCrf, event: str, visit, repeat: int | None = None) -> tuple[GroupRecord | None, ...]:
    """F.VS and F.CLIN of one visit (either may be missing)."""
    vs = clin = None
    if visit.vs:
        vs = crf.add(event, "F.VS", "IG.VS", {"I.VSDAT": visit.day.isoformat(), **visit.vs}, visit.day, repeat)
    if visit.clin:
        clin = crf.add(event, "F.CLIN", "IG.CLIN", {"I.CLDAT": visit.day.isoformat(), **visit.clin}, visit.day, repeat)
    return vs, clin


def _screening(crf: SubjectCrf, s: Subject, course: Course) -> None:
    """SE.SCR: consent, demography, eligibility, liver history with other history, VS, CLIN."""
    day = s.screen_date
    crf.add("SE.SCR", "F.IC", "IG.IC", {"I.ICDAT": day.isoformat()}, day)
    race = "1" if crf.rng.random() < 0.995 else "9"
    crf.add("SE.SCR", "F.DM", "IG.DM", {
        "I.MRN": s.person.mrn, "I.INITIALS": s.person.initials, "I.BRTHDAT": s.brthdat, "I.AGE": str(s.age),
        "I.SEX": s.sex, "I.RACE": race, "I.ETHNIC": "1", "I.ETHGRP": s.ethgrp}, day)
    crf.add("SE.SCR", "F.IE", "IG.IE", {"I.IEYN": s.ieyn, "I.IEDAT": s.iedat.isoformat()}, s.iedat)
    if s.ieyn == "N":
        for k, code in enumerate(s.ienm, start=1):
            crf.add("SE.SCR", "F.IE", "IG.IENM", {"I.IETESTCD": code}, s.iedat, group_repeat=k)
    crf.add("SE.SCR", "F.LIVHX", "IG.LIVHX", course.livhx, day)
    for k, (term, start, ongoing) in enumerate(course.mh, start=1):
        rec = crf.add("SE.SCR", "F.LIVHX", "IG.MH", {"I.MHTERM": term, "I.MHSTDAT": start, "I.MHONGO": ongoing},
                      day, group_repeat=k)
        if k == 1 and "err_free_name_mh" in s.roles:
            _plant_identifier(crf, rec, "I.MHTERM", term, "medical history term", name="{text}（患者{name}自述）",
                              zh="{text}（患者 {initials} 自述）", en="{text} (reported by {initials})")
    vs, _ = _vs_clin(crf, "SE.SCR", course.visits[0])
    if "err_fixed_later" in s.roles and vs is not None:
        weight = next(i for i in vs.items if i.oid == "I.WEIGHT")
        right = weight.versions[0][1]
        wrong = right.replace(".", "") if "." in right else right + "0"  # decimal point lost on entry
        crf.plant("fixed_in_later_snapshot", vs, "I.WEIGHT", wrong,
                  f"weight {wrong} kg entered, corrected to {right} on the last night")
        crf.change_later(vs, "I.WEIGHT", right, crf.cut)
        crf.plants[-1].until = crf.cut


def _treatment(crf: SubjectCrf, s: Subject, course: Course) -> None:
    """SE.W0 randomization and the three infusion forms."""
    rdate = s.rand_dt.date()
    rand = crf.add("SE.W0", "F.RAND", "IG.RAND",
                   {"I.RANDNO": s.randno, "I.RANDDTC": dtc(s.rand_dt), "I.STRAT": str(s.stratum)}, rdate)
    if "err_stratum" in s.roles:
        crf.plants.append(OdmPlant("stratum_meld_mismatch", s.key, s.site, rand, "I.STRAT", str(s.stratum),
                                   f"screening MELD {s.meld} gives stratum {s.stratum_by_meld}",
                                   str(s.stratum_by_meld)))
    for inf in course.infusions:
        visit_day = next(v.day for v in course.visits if v.event == inf.event)
        if inf.given:
            values = {"I.EXYN": "Y", "I.EXSTDTC": dtc(inf.start), "I.EXENDTC": dtc(inf.end),
                      "I.EXVOL": fmt_float(inf.vol), "I.EXWT": fmt_float(inf.weight), "I.EXKIT": inf.kit,
                      "I.EXINTRP": "Y" if inf.interrupted else "N"}
        else:
            values = {"I.EXYN": "N", "I.EXREASND": inf.reason}
        rec = crf.add(inf.event, "F.EX", "IG.EX", values, visit_day)
        if inf.event == "SE.W1" and inf.given and "err_infusion_order" in s.roles:
            shift = timedelta(days=14)
            crf.plant("infusion_out_of_order", rec, "I.EXSTDTC", dtc(inf.start - shift),
                      "infusion 2 start typed 14 days early, before infusion 1")
            rec.items[[i.oid for i in rec.items].index("I.EXENDTC")].versions = [(rec.entered, dtc(inf.end - shift))]


def _followup_visits(crf: SubjectCrf, s: Subject, course: Course) -> None:
    """VS and CLIN of SE.W0..SE.W12 and SE.UNS, with the planted date and window errors."""
    for v in course.visits[1:]:
        repeat = v.repeat if v.event == "SE.UNS" else None
        vs, clin = _vs_clin(crf, v.event, v, repeat)
        if vs is not None and not s.roles and crf.rng.random() < 0.003:
            _remove_vital(crf, vs)
        if v.event == "SE.W8" and "err_date_impossible" in s.roles and vs is not None:
            crf.plant("invalid_date", vs, "I.VSDAT", f"{v.day.year}-02-30", "impossible calendar date")
        if v.event == "SE.W4" and "err_date_format" in s.roles and clin is not None:
            crf.plant("invalid_date", clin, "I.CLDAT", v.day.strftime("%Y/%m/%d"), "date typed with slashes")
        window = {"SE.W4": ("err_window_w4", "Week 4 window days 22-42"),
                  "SE.W12": ("err_window_w12", "Week 12 window days 71-98")}.get(v.event)
        if window and window[0] in s.roles:
            rec = vs or clin
            crf.plants.append(OdmPlant(
                "visit_out_of_window", s.key, s.site, rec, rec.items[0].oid, v.day.isoformat(),
                f"{v.event} on study day {study_day(v.day, s.day1)}, outside the {window[1]}"))


def _remove_vital(crf: SubjectCrf, vs: GroupRecord) -> None:
    """A vital sign typed on the wrong visit and deleted some days later (valid data, not an error)."""
    oid = crf.rng.choice(("I.TEMP", "I.RESP", "I.PULSE"))
    on = min(vs.entered + timedelta(days=crf.rng.randint(1, 20)), crf.cut)
    crf.change_later(vs, oid, REMOVED, on)
    crf.plants.append(OdmPlant("item_removed", crf.s.key, crf.s.site, vs, oid, None,
                               f"{oid[2:]} deleted after entry (TransactionType=Remove)"))


def _logs(crf: SubjectCrf, s: Subject, course: Course) -> None:
    """SE.LOG: AEs, CMs, liver transplantation, death and end of study."""
    for k, ae in enumerate(course.aes, start=1):
        values = {"I.AETERM": ae.term, "I.AESTDAT": ae.start_txt, "I.AEENDAT": ae.end_txt,
                  "I.AEONGO": "N" if ae.end else "Y", "I.AESEV": ae.sev, "I.AESER": ae.ser, "I.AEREL": ae.rel,
                  "I.AEACN": ae.acn, "I.AEOUT": ae.out}
        rec = crf.add("SE.LOG", "F.AE", "IG.AE", values, ae.end or ae.start, group_repeat=k)
        _plant_ae(crf, s, k - 1, rec, ae)
    first_supportive = True
    for k, cm in enumerate(course.cms, start=1):
        values = {"I.CMTRT": cm.term, "I.CMINDC": cm.indication, "I.CMDOSE": fmt_float(cm.dose),
                  "I.CMDOSU": cm.dosu, "I.CMROUTE": cm.route, "I.CMSTDAT": cm.start_txt, "I.CMENDAT": cm.end_txt,
                  "I.CMONGO": "N" if cm.end else "Y"}
        rec = crf.add("SE.LOG", "F.CM", "IG.CM", values, s.screen_date if cm.baseline else cm.end or course.eos_date,
                      group_repeat=k)
        if cm.baseline and "err_free_name" in s.roles:
            _plant_identifier(crf, rec, "I.CMTRT", cm.term, "medication name", name="{text}（{name}自备）",
                              zh="{text}（患者 {initials} 自备）", en="{text} (per {initials})")
        if not cm.baseline and first_supportive and cm.end and "item_removed" in s.roles:
            # The end date turned out wrong: deleted on the last night, the medication is ongoing.
            crf.change_later(rec, "I.CMENDAT", REMOVED, crf.cut)
            crf.change_later(rec, "I.CMONGO", "Y", crf.cut)
            crf.plants.append(OdmPlant("item_removed", s.key, s.site, rec, "I.CMENDAT", None,
                                       "CMENDAT deleted after entry (TransactionType=Remove)"))
        first_supportive = first_supportive and cm.baseline
    _end_forms(crf, s, course)


def _plant_identifier(crf: SubjectCrf, rec: GroupRecord, oid: str, text: str, what: str,
                      name: str, zh: str, en: str) -> None:
    """Plant in free text an identifier the pipeline can know: the patient's name at site 01, whose LIS
    files carry names; at site 02, whose files carry none, the eCRF initials as a separate word
    (`zh` or `en` after the language of the text)."""
    s = crf.s
    if s.site == "SITE01":
        planted, ident, shown = name.format(text=text, name=s.person.name), "patient name", "name"
    else:
        form = en if text.isascii() else zh
        planted, ident, shown = form.format(text=text, initials=s.person.initials), "initials", "initials"
    crf.plant("identifier_in_free_text", rec, oid, planted, f"{what} contains the patient's {shown}",
              identifier=ident)


def _plant_ae(crf: SubjectCrf, s: Subject, index: int, rec: GroupRecord, ae) -> None:
    """Planted AE errors: a bad severity code, an end before the start, a phone number in the term."""
    if index == 0 and "err_codelist" in s.roles:
        crf.plant("invalid_codelist_value", rec, "I.AESEV", "7", "AESEV 7 is not in CL.AESEV")
    if index == 1 and "err_ae_end" in s.roles:
        crf.plant("ae_end_before_start", rec, "I.AEENDAT", (ae.start - timedelta(days=3)).isoformat(),
                  "AE end date 3 days before its start date")
    if index == 2 and "err_free_phone" in s.roles:
        phone = "1" + str(crf.rng.choice((3, 5, 8))) + "".join(str(crf.rng.randrange(10)) for _ in range(9))
        text = f"{ae.term}，家属电话{phone}" if not ae.term.isascii() else f"{ae.term} - call daughter {phone}"
        crf.plant("identifier_in_free_text", rec, "I.AETERM", text, "AE term contains a telephone number",
                  identifier="telephone number")


def _end_forms(crf: SubjectCrf, s: Subject, course: Course) -> None:
    """F.LT, F.DTH and F.EOS, entered after the end of study."""
    o, eos = s.outcome, course.eos_date
    lt = {"I.LTYN": "Y", "I.LTDAT": o.lt_date.isoformat()} if o.lt_date else {"I.LTYN": "N"}
    crf.add("SE.LOG", "F.LT", "IG.LT", lt, o.lt_date or eos)
    if o.death_date:
        dth = {"I.DTHDAT": o.death_date.isoformat(), "I.DTHCAUS": o.dthcaus}
        if o.dthcaus == "9":
            dth["I.DTHCAUSO"] = death_cause_text(crf.rng, course.text_zh)
        crf.add("SE.LOG", "F.DTH", "IG.DTH", dth, o.death_date)
    crf.add("SE.LOG", "F.EOS", "IG.EOS", {"I.EOSDAT": eos.isoformat(), "I.EOSSTAT": o.eos_stat,
                                          "I.LSTALDAT": course.last_alive.isoformat()}, eos)
