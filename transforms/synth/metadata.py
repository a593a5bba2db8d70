"""The study's eCRF metadata (ODM 1.3.2 MetaDataVersion), read with lxml to drive what is written."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from lxml import etree

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
_NS = {"o": ODM_NS}

# A copy of shared/study/NCT03668171/edc/metadata.xml: the project must run without ../shared.
METADATA_FILE = Path(__file__).with_name("metadata.xml")

_INTEGER = re.compile(r"-?\d+")
_FLOAT = re.compile(r"-?\d+(\.\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_PARTIAL = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")


@dataclass(frozen=True)
class ItemDef:
    """One ItemDef: its OID, DataType and (optional) codelist OID."""

    oid: str
    data_type: str
    codelist: str | None


@dataclass(frozen=True)
class StudyMetadata:
    """What the generator needs from metadata.xml, in the metadata's own order."""

    study_oid: str
    mdv_oid: str
    events: tuple[str, ...]
    event_forms: dict[str, tuple[str, ...]]
    form_groups: dict[str, tuple[str, ...]]
    group_items: dict[str, tuple[str, ...]]
    repeating_events: frozenset[str]
    repeating_groups: frozenset[str]
    items: dict[str, ItemDef]
    codelists: dict[str, tuple[str, ...]]
    sites: dict[str, date]

    def coded_values(self, item_oid: str) -> tuple[str, ...] | None:
        """Return the CodedValues allowed for an item, or None when it has no codelist."""
        cl = self.items[item_oid].codelist
        return None if cl is None else self.codelists[cl]

    def is_valid(self, item_oid: str, value: str) -> bool:
        """Tell whether a value conforms to the item's DataType and codelist."""
        item = self.items.get(item_oid)
        if item is None:
            return False
        allowed = self.coded_values(item_oid)
        if allowed is not None and value not in allowed:
            return False
        return _conforms(item.data_type, value)


def _conforms(data_type: str, value: str) -> bool:
    """Check a value's syntax (and calendar validity) against an ODM DataType."""
    try:
        if data_type == "integer":
            return bool(_INTEGER.fullmatch(value))
        if data_type == "float":
            return bool(_FLOAT.fullmatch(value))
        if data_type == "date":
            return bool(_DATE.fullmatch(value)) and bool(date.fromisoformat(value))
        if data_type == "partialDate":
            if not _PARTIAL.fullmatch(value):
                return False
            parts = [int(p) for p in value.split("-")]
            date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
            return True
        if data_type == "datetime":
            return bool(_DATETIME.fullmatch(value)) and bool(datetime.fromisoformat(value))
    except ValueError:
        return False
    return True


def _refs(parent: etree._Element, tag: str, attr: str) -> tuple[str, ...]:
    """Return the referenced OIDs of a Def's *Ref children, sorted by OrderNumber."""
    refs = parent.findall(f"o:{tag}", _NS)
    refs.sort(key=lambda r: int(r.get("OrderNumber", "0")))
    return tuple(r.get(attr) for r in refs)


@lru_cache(maxsize=4)
def load_metadata(path: Path = METADATA_FILE) -> StudyMetadata:
    """Parse metadata.xml into a StudyMetadata."""
    root = etree.parse(str(path)).getroot()
    study = root.find("o:Study", _NS)
    mdv = study.find("o:MetaDataVersion", _NS)
    protocol = mdv.find("o:Protocol", _NS)
    events = _refs(protocol, "StudyEventRef", "StudyEventOID")
    event_forms, form_groups, group_items = {}, {}, {}
    repeating_events, repeating_groups = set(), set()
    for ev in mdv.findall("o:StudyEventDef", _NS):
        event_forms[ev.get("OID")] = _refs(ev, "FormRef", "FormOID")
        if ev.get("Repeating") == "Yes":
            repeating_events.add(ev.get("OID"))
    for form in mdv.findall("o:FormDef", _NS):
        form_groups[form.get("OID")] = _refs(form, "ItemGroupRef", "ItemGroupOID")
    for ig in mdv.findall("o:ItemGroupDef", _NS):
        group_items[ig.get("OID")] = _refs(ig, "ItemRef", "ItemOID")
        if ig.get("Repeating") == "Yes":
            repeating_groups.add(ig.get("OID"))
    items = {}
    for it in mdv.findall("o:ItemDef", _NS):
        ref = it.find("o:CodeListRef", _NS)
        codelist = None if ref is None else ref.get("CodeListOID")
        items[it.get("OID")] = ItemDef(it.get("OID"), it.get("DataType"), codelist)
    codelists = {
        cl.get("OID"): tuple(ci.get("CodedValue") for ci in cl.findall("o:CodeListItem", _NS))
        for cl in mdv.findall("o:CodeList", _NS)
    }
    sites = {}
    for loc in root.findall("o:AdminData/o:Location", _NS):
        ref = loc.find("o:MetaDataVersionRef", _NS)
        sites[loc.get("OID")] = date.fromisoformat(ref.get("EffectiveDate"))
    return StudyMetadata(
        study_oid=study.get("OID"),
        mdv_oid=mdv.get("OID"),
        events=events,
        event_forms=event_forms,
        form_groups=form_groups,
        group_items=group_items,
        repeating_events=frozenset(repeating_events),
        repeating_groups=frozenset(repeating_groups),
        items=items,
        codelists=codelists,
        sites=sites,
    )
