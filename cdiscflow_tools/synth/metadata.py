"""The generator's view of the study's eCRF: the project's ODM metadata, indexed for writing.

The eCRF is read once by the project's loader (transforms.odm.metadata) from the study's own
metadata file, and values are checked by the project's checks (transforms.odm.values). What is
generator-specific lives here: the positions the writer sorts item groups and items by, and the
date each site went live (the earliest day it can screen).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from functools import lru_cache
from pathlib import Path

from transforms.config import load_study
from transforms.odm.metadata import NS as ODM_NS
from transforms.odm.metadata import CodeList, ItemDef, StudyMetadata, load_metadata
from transforms.odm.safe_xml import parse_file
from transforms.odm.values import value_problem

STUDY = "nct03668171"
# Items whose Length the generator may exceed on purpose: randomization numbers widen past R999
# (randomization.allocate) in drops larger than the trial, while the eCRF's Length="4" holds
# R001-R999 only, so the pipeline's EDC ingest marks the wider numbers invalid.
LENGTH_WAIVED = frozenset({"I.RANDNO"})

__all__ = ["LENGTH_WAIVED", "ODM_NS", "STUDY", "Ecrf", "load_ecrf", "site_start_dates"]


class Ecrf:
    """StudyMetadata with the orderings the writer needs and what checks each item's values.

    Orders are the metadata's own: events as the StudyEventDefs, forms, item groups and items as
    their *Ref elements come (the project's loader keeps document order).
    """

    def __init__(self, md: StudyMetadata, sites: dict[str, date]) -> None:
        self.md = md
        self.study_oid = md.study_oid
        self.mdv_oid = md.metadata_version_oid
        self.sites = sites
        self.event_index = {oid: i for i, oid in enumerate(md.events)}
        self.form_index = {e: {f: i for i, f in enumerate(ev.form_oids)} for e, ev in md.events.items()}
        self.group_index = {f: {g: i for i, g in enumerate(fd.item_group_oids)} for f, fd in md.forms.items()}
        self.group_items = {g: ig.item_oids for g, ig in md.item_groups.items()}
        self.item_index = {g: {i: k for k, i in enumerate(items)} for g, items in self.group_items.items()}
        # Item OID -> the arguments of transforms.odm.values.value_problem after the value.
        self.checks: dict[str, tuple[ItemDef, CodeList | None]] = {
            oid: (replace(item, length=None) if oid in LENGTH_WAIVED else item, md.codelist_of(oid))
            for oid, item in md.items.items()}
        # Item OID -> its coded values that pass that check: lets the hot path skip the call for them.
        self.coded_ok: dict[str, frozenset[str]] = {
            oid: frozenset(v for v in cl.decodes if value_problem(item, cl, v) is None)
            for oid, (item, cl) in self.checks.items() if cl is not None}


def site_start_dates(path: Path) -> dict[str, date]:
    """Site OID -> the EffectiveDate of its MetaDataVersionRef (AdminData/Location)."""
    n = {"odm": ODM_NS}
    root = parse_file(path).getroot()
    return {
        loc.get("OID"): date.fromisoformat(loc.find("odm:MetaDataVersionRef", n).get("EffectiveDate"))
        for loc in root.iterfind("odm:AdminData/odm:Location", n)
    }


@lru_cache(maxsize=4)
def load_ecrf(study: str = STUDY) -> Ecrf:
    """The eCRF of a study, from its configured metadata file."""
    path = load_study(study).metadata_path
    return Ecrf(load_metadata(path), site_start_dates(path))
