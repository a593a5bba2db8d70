"""The study's eCRF definition (ODM MetaDataVersion) as plain Python objects."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from transforms.odm.safe_xml import parse_file

NS = "http://www.cdisc.org/ns/odm/v1.3"
_N = {"odm": NS}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@dataclass(frozen=True)
class ItemDef:
    oid: str
    name: str
    datatype: str
    length: int | None
    question: str
    codelist_oid: str | None
    unit: str | None


@dataclass(frozen=True)
class CodeList:
    oid: str
    name: str
    datatype: str
    decodes: dict[str, str]


@dataclass(frozen=True)
class ItemGroupDef:
    oid: str
    name: str
    repeating: bool
    item_oids: tuple[str, ...]


@dataclass(frozen=True)
class FormDef:
    oid: str
    name: str
    repeating: bool
    item_group_oids: tuple[str, ...]


@dataclass(frozen=True)
class StudyEventDef:
    oid: str
    name: str
    repeating: bool
    type: str
    form_oids: tuple[str, ...]


@dataclass(frozen=True)
class StudyMetadata:
    """Everything the clinical data's OIDs refer to."""

    study_oid: str
    metadata_version_oid: str
    study_name: str
    protocol_name: str
    events: dict[str, StudyEventDef]
    forms: dict[str, FormDef]
    item_groups: dict[str, ItemGroupDef]
    items: dict[str, ItemDef]
    codelists: dict[str, CodeList]
    locations: dict[str, str] = field(default_factory=dict)

    def codelist_of(self, item_oid: str) -> CodeList | None:
        """The codelist an item refers to, if any."""
        item = self.items[item_oid]
        return self.codelists.get(item.codelist_oid) if item.codelist_oid else None

    def decode(self, item_oid: str, value: str) -> str | None:
        """The English decode of a coded value of an item."""
        cl = self.codelist_of(item_oid)
        return cl.decodes.get(value) if cl else None

    def item_group_of_item(self) -> dict[str, str]:
        """Item OID -> the item group that holds it."""
        return {i: g.oid for g in self.item_groups.values() for i in g.item_oids}


def _text(el, path: str) -> str:
    found = el.find(path, _N)
    if found is None:
        return ""
    texts = found.findall("odm:TranslatedText", _N)
    for t in texts:
        if t.get(XML_LANG, "en") == "en":
            return (t.text or "").strip()
    return (texts[0].text or "").strip() if texts else (found.text or "").strip()


@lru_cache(maxsize=8)
def load_metadata(path: Path) -> StudyMetadata:
    """Read an ODM 1.3.2 metadata file (Study/MetaDataVersion)."""
    root = parse_file(path).getroot()
    study = root.find("odm:Study", _N)
    mdv = study.find("odm:MetaDataVersion", _N)
    units = {
        u.get("OID"): _text(u, "odm:Symbol") or u.get("Name")
        for u in study.iterfind("odm:BasicDefinitions/odm:MeasurementUnit", _N)
    }
    events = {
        e.get("OID"): StudyEventDef(
            e.get("OID"), e.get("Name"), e.get("Repeating") == "Yes", e.get("Type", ""),
            tuple(r.get("FormOID") for r in e.iterfind("odm:FormRef", _N)),
        )
        for e in mdv.iterfind("odm:StudyEventDef", _N)
    }
    forms = {
        f.get("OID"): FormDef(
            f.get("OID"), f.get("Name"), f.get("Repeating") == "Yes",
            tuple(r.get("ItemGroupOID") for r in f.iterfind("odm:ItemGroupRef", _N)),
        )
        for f in mdv.iterfind("odm:FormDef", _N)
    }
    groups = {
        g.get("OID"): ItemGroupDef(
            g.get("OID"), g.get("Name"), g.get("Repeating") == "Yes",
            tuple(r.get("ItemOID") for r in g.iterfind("odm:ItemRef", _N)),
        )
        for g in mdv.iterfind("odm:ItemGroupDef", _N)
    }
    items = {}
    for i in mdv.iterfind("odm:ItemDef", _N):
        cl = i.find("odm:CodeListRef", _N)
        mu = i.find("odm:MeasurementUnitRef", _N)
        items[i.get("OID")] = ItemDef(
            oid=i.get("OID"), name=i.get("Name"), datatype=i.get("DataType"),
            length=int(i.get("Length")) if i.get("Length") else None,
            question=_text(i, "odm:Question"),
            codelist_oid=cl.get("CodeListOID") if cl is not None else None,
            unit=units.get(mu.get("MeasurementUnitOID")) if mu is not None else None,
        )
    codelists = {
        c.get("OID"): CodeList(
            c.get("OID"), c.get("Name"), c.get("DataType"),
            {ci.get("CodedValue"): _text(ci, "odm:Decode") for ci in c.iterfind("odm:CodeListItem", _N)},
        )
        for c in mdv.iterfind("odm:CodeList", _N)
    }
    locations = {loc.get("OID"): loc.get("Name") for loc in root.iterfind("odm:AdminData/odm:Location", _N)}
    gv = study.find("odm:GlobalVariables", _N)
    return StudyMetadata(
        study_oid=study.get("OID"), metadata_version_oid=mdv.get("OID"),
        study_name=gv.findtext("odm:StudyName", "", _N), protocol_name=gv.findtext("odm:ProtocolName", "", _N),
        events=events, forms=forms, item_groups=groups, items=items, codelists=codelists, locations=locations,
    )
