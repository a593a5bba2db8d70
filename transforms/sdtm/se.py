"""SE (Subject Elements): the elements each subject actually went through, from the DM reference dates.

The transitions are those of the EPOCH derivation (study.yaml `epochs`), so SE and the EPOCH of every
other domain agree: the element of the "before exposure" epoch starts at informed consent (or, without
a consent date, at the first visit) and ends at the start of the first infusion given (RFXSTDTC); the
treatment element ends at the end of the last infusion given (RFXENDTC), however many were given; the
element after it ends at the end of participation (RFPENDTC), or stays open while the subject is on
study. Elements are contiguous (SEENDTC = SESTDTC of the next one, SDTMIG 3.4 SE assumptions).
"""
from __future__ import annotations

import pandas as pd

from transforms.cdisc.dates import dtc_on_or_before
from transforms.sdtm.context import BuildContext
from transforms.sdtm.trial_design import build_ta

UNPLANNED = "UNPLAN"
UNKNOWN_ARM = "Element of an arm that is not known (randomization number not in the randomization list)"


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None


def arm_elements(ta: pd.DataFrame) -> dict[str | None, dict[str, tuple[str, str, int]]]:
    """Per ARMCD, EPOCH -> (ETCD, ELEMENT, TAETORD); key None holds the elements every arm shares."""
    out: dict[str | None, dict[str, tuple[str, str, int]]] = {}
    for arm, rows in ta.groupby("ARMCD", sort=True):
        out[arm] = {r.EPOCH: (r.ETCD, r.ELEMENT, int(r.TAETORD)) for r in rows.itertuples()}
    shared: dict[str, tuple[str, str, int]] = {}
    for epoch in {e for per_arm in out.values() for e in per_arm}:
        found = {per_arm.get(epoch) for per_arm in out.values()}
        if len(found) == 1 and None not in found:
            shared[epoch] = found.pop()
    out[None] = shared
    return out


def element_spans(rficdtc: str | None, first_visit: str | None, rfxstdtc: str | None, rfxendtc: str | None,
                  rfpendtc: str | None, before: str, during: str, after: str) -> list[tuple[str, str, str | None]]:
    """(EPOCH, SESTDTC, SEENDTC) of one subject's actual elements, in order."""
    start = _text(rficdtc) or _text(first_visit)
    end = _text(rfpendtc)
    first, last = _text(rfxstdtc), _text(rfxendtc) or _text(rfxstdtc)
    if first is None:
        # Never treated (screen failure, or randomized and not treated): screening is the only element.
        return [(before, start, end)] if start else []
    spans = [(before, start, first)] if start else []
    # Follow-up exists unless participation ended no later than the end of the last infusion.
    if end is not None and dtc_on_or_before(end, last) is True:
        return [*spans, (during, first, last)]
    return [*spans, (during, first, last), (after, last, end)]


def _item_sources(ctx: BuildContext, item: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(SUBJECTKEY, value) -> (source file, record) of an eCRF item, for lineage."""
    items = ctx.items[(ctx.items["ITEMOID"] == item) & ctx.items["VALID"]]
    first = items.sort_values(["SUBJECTKEY", "SRCLINE"]).drop_duplicates(["SUBJECTKEY", "VALUE"], keep="first")
    rec = ("SubjectKey=" + first["SUBJECTKEY"] + " " + first["EVENTOID"] + "[" + first["EVENTREPEAT"] + "]/"
           + first["FORMOID"] + "/" + first["IGOID"] + "[" + first["IGREPEAT"] + f"]/{item} (line "
           + first["SRCLINE"].astype(str) + ")")
    return dict(zip(zip(first["SUBJECTKEY"], first["VALUE"], strict=True),
                    zip(first["SRCFILE"], rec, strict=True), strict=True))


def build_se(ctx: BuildContext) -> pd.DataFrame:
    """SE before shaping: one record per element each subject entered (SESTDY/SEENDY come from finalize)."""
    study, dm = ctx.study, ctx.dm_records
    e = study.epochs
    elements = arm_elements(build_ta(ctx))
    ref = study.reference_dates
    sources = {"start": _item_sources(ctx, ref.informed_consent), "first": _item_sources(ctx, ref.exposure_start),
               "last": _item_sources(ctx, ref.exposure_end)}
    first_visit = ctx.visits.dropna(subset=["SVSTDTC"]).groupby("SUBJECTKEY")["SVSTDTC"].min() \
        if ctx.visits is not None else pd.Series(dtype="string")
    rows = []
    for r in dm.to_dict("records"):
        subj = r["_SUBJECTKEY"]
        per_arm = elements.get(_text(r["ARMCD"]), elements[None])
        spans = element_spans(r.get("RFICDTC"), first_visit.get(subj), r["RFXSTDTC"], r["RFXENDTC"], r["RFPENDTC"],
                              e.before_exposure, e.during_exposure, e.after_exposure)
        for epoch, start, end in spans:
            etcd, element, taetord = per_arm.get(epoch, (UNPLANNED, pd.NA, pd.NA))
            # Lineage: the eCRF item that dates the element's start (consent, first or last infusion).
            which = {e.before_exposure: ("start",), e.during_exposure: ("first",)}.get(epoch, ("last", "first"))
            src = next((sources[w][(subj, start)] for w in which if (subj, start) in sources[w]),
                       (r["_SRCFILE"], r["_SRCREC"]))
            rows.append({
                "_SUBJECTKEY": subj, "_SITEID": r["_SITEID"], "_EVENTOID": "", "_EVENTREPEAT": "",
                "_RECORD": "ELEMENT", "_SRCFILE": src[0], "_SRCREC": src[1],
                "ETCD": etcd, "ELEMENT": element, "TAETORD": taetord, "EPOCH": epoch,
                "SESTDTC": start, "SEENDTC": end, "SEUPDES": UNKNOWN_ARM if etcd == UNPLANNED else pd.NA,
            })
    return pd.DataFrame(rows, columns=["_SUBJECTKEY", "_SITEID", "_EVENTOID", "_EVENTREPEAT", "_RECORD", "_SRCFILE",
                                       "_SRCREC", "ETCD", "ELEMENT", "TAETORD", "EPOCH", "SESTDTC", "SEENDTC",
                                       "SEUPDES"])
