"""Define-XML 2.1 of one standard's datasets (SDTM or ADaM), built with odmlib's Define-XML 2.1 model."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import odmlib.define_2_1.model as DEFINE
import odmlib.ns_registry as NS

from transforms.config import StudyConfig
from transforms.publish.describe import Codelist, Dataset, Description, Variable
from transforms.standards.ct import CT_VERSION

DEFINE_VERSION = "2.1.0"
_NAMESPACES = (("odm", "http://www.cdisc.org/ns/odm/v1.3", True), ("def", "http://www.cdisc.org/ns/def/v2.1", False),
               ("xlink", "http://www.w3.org/1999/xlink", False))


def define_schema_path() -> Path:
    """define2-1-0.xsd as odmlib ships it (with the ODM 1.3.2 schemas it imports)."""
    return Path(str(resources.files("odmlib").joinpath("schemas/define/2.1/define2-1-0.xsd")))


def _text(value: str) -> DEFINE.Description:
    return DEFINE.Description(TranslatedText=[DEFINE.TranslatedText(_content=value, lang="en")])


def _oid(*parts: str) -> str:
    return ".".join(p.replace(" ", "_") for p in parts)


def define_xml(desc: Description, study: StudyConfig, created: str) -> str:
    """The Define-XML 2.1 document (text) describing one standard's datasets."""
    for prefix, uri, default in _NAMESPACES:
        NS.NamespaceRegistry(prefix=prefix, uri=uri, is_default=default, is_reset=default)
    std_oid, ct_oid = f"STD.{desc.ig_name}", "STD.CT"
    mdv = DEFINE.MetaDataVersion(OID=_oid("MDV", study.study_id, desc.standard), DefineVersion=DEFINE_VERSION,
                                 Name=f"{study.study_id} {desc.standard}",
                                 Description=f"{desc.standard} datasets of {study.study_id}")
    mdv.Standards = DEFINE.Standards(Standard=[
        DEFINE.Standard(OID=std_oid, Name=desc.ig_name, Type="IG", Version=desc.ig_version, Status="Final"),
        DEFINE.Standard(OID=ct_oid, Name="CDISC/NCI", Type="CT", PublishingSet="SDTM",
                        Version=CT_VERSION, Status="Final")])
    comments: dict[str, str] = {}
    methods: dict[str, tuple[str, str]] = {}
    wheres: dict[str, tuple[str, str, str]] = {}
    for ds in desc.datasets:
        mdv.ItemGroupDef.append(_item_group(ds, desc, std_oid, comments))
        for v in ds.variables:
            mdv.ItemDef.append(_item_def(ds, v, desc, comments, methods))
            if v.value_level:
                vl = DEFINE.ValueListDef(OID=_oid("VL", ds.name, v.name))
                for n, row in enumerate(v.value_level, start=1):
                    wc = _oid("WC", ds.name, row.where_variable, row.value)
                    wheres[wc] = (_oid("IT", ds.name, row.where_variable), row.value, ds.name)
                    item = _oid("IT", ds.name, v.name, row.value)
                    vl.ItemRef.append(DEFINE.ItemRef(ItemOID=item, OrderNumber=n, Mandatory="No",
                                                     WhereClauseRef=[DEFINE.WhereClauseRef(WhereClauseOID=wc)]))
                    vdef = DEFINE.ItemDef(OID=item, Name=v.name, DataType=row.data_type, SASFieldName=v.name)
                    if row.data_type in ("text", "integer", "float"):
                        vdef.Length = max(row.length or 1, 1)
                    if row.data_type == "float" and row.digits is not None:
                        vdef.SignificantDigits = row.digits
                    vdef.Description = _text(f"{row.label}: {v.label}")
                    vdef.Origin.append(_origin(v))
                    mdv.ItemDef.append(vdef)
                mdv.ValueListDef.append(vl)
    for oid, (item, value, _ds) in sorted(wheres.items()):
        mdv.WhereClauseDef.append(DEFINE.WhereClauseDef(OID=oid, RangeCheck=[DEFINE.RangeCheck(
            Comparator="EQ", SoftHard="Soft", ItemOID=item, CheckValue=[DEFINE.CheckValue(_content=value)])]))
    for cl in sorted(desc.codelists.values(), key=lambda c: c.key):
        if cl.terms:
            mdv.CodeList.append(_codelist(cl, ct_oid))
    for oid, (name, text) in sorted(methods.items()):
        mdv.MethodDef.append(DEFINE.MethodDef(OID=oid, Name=name[:200], Type="Computation", Description=_text(text)))
    for oid, text in sorted(comments.items()):
        mdv.CommentDef.append(DEFINE.CommentDef(OID=oid, Description=_text(text)))
    for ds in desc.datasets:
        mdv.leaf.append(DEFINE.leaf(ID=_oid("LF", ds.name), href=ds.leaf, title=DEFINE.title(_content=ds.leaf)))
    gv = DEFINE.GlobalVariables(StudyName=DEFINE.StudyName(_content=study.study_id),
                                StudyDescription=DEFINE.StudyDescription(_content=study.title),
                                ProtocolName=DEFINE.ProtocolName(_content=study.protocol))
    odm = DEFINE.ODM(FileType="Snapshot", FileOID=_oid("DEFINE", study.study_id, desc.standard),
                     CreationDateTime=created, ODMVersion="1.3.2", Originator="cdiscflow", SourceSystem="cdiscflow",
                     Context="Other", Study=DEFINE.Study(OID=study.study_id, GlobalVariables=gv, MetaDataVersion=mdv))
    return odm.to_xml_string(xml_declaration=True)


def _item_group(ds: Dataset, desc: Description, std_oid: str, comments: dict[str, str]) -> DEFINE.ItemGroupDef:
    purpose = "Tabulation" if desc.standard == "SDTM" else "Analysis"
    ig = DEFINE.ItemGroupDef(OID=_oid("IG", ds.name), Name=ds.name, Repeating="No" if ds.name in ("DM", "ADSL") else "Yes",
                             IsReferenceData="Yes" if ds.class_ == "TRIAL DESIGN" else "No", SASDatasetName=ds.name,
                             Purpose=purpose, Structure=ds.structure, ArchiveLocationID=_oid("LF", ds.name),
                             StandardOID=std_oid)
    if desc.standard == "SDTM":
        ig.Domain = ds.name.removeprefix("SUPP") if ds.name.startswith("SUPP") else ds.name
    ig.Description = _text(ds.label)
    if ds.comment:
        oid = _oid("COM", ds.name)
        comments[oid] = ds.comment
        ig.CommentOID = oid
    for n, v in enumerate(ds.variables, start=1):
        ref = DEFINE.ItemRef(ItemOID=_oid("IT", ds.name, v.name), OrderNumber=n, Mandatory="Yes" if v.mandatory else "No")
        if v.key_sequence:
            ref.KeySequence = v.key_sequence
        if v.method:
            ref.MethodOID = _oid("MT", ds.name, v.name)
        if v.role and desc.standard == "SDTM":
            ref.Role = v.role
        ig.ItemRef.append(ref)
    ig.Class = DEFINE.Class(Name=ds.class_)
    ig.leaf = DEFINE.leaf(ID=_oid("LF", ds.name, "IG"), href=ds.leaf, title=DEFINE.title(_content=ds.leaf))
    return ig


def _origin(v: Variable) -> DEFINE.Origin:
    origin = DEFINE.Origin(Type=v.origin)
    if v.origin_source:
        origin.Source = v.origin_source
    if v.predecessor:
        origin.Description = _text(v.predecessor)
    return origin


def _item_def(ds: Dataset, v: Variable, desc: Description, comments: dict[str, str],
              methods: dict[str, tuple[str, str]]) -> DEFINE.ItemDef:
    item = DEFINE.ItemDef(OID=_oid("IT", ds.name, v.name), Name=v.name, DataType=v.data_type, SASFieldName=v.name)
    if v.data_type in ("text", "integer", "float"):
        item.Length = max(v.length or 1, 1)
    if v.data_type == "float" and v.digits is not None:
        item.SignificantDigits = v.digits
    if v.display_format:
        item.DisplayFormat = v.display_format
    item.Description = _text(v.label or v.name)
    if v.codelist and desc.codelists[v.codelist].terms:
        item.CodeListRef = DEFINE.CodeListRef(CodeListOID=_oid("CL", v.codelist))
    item.Origin.append(_origin(v))
    if v.value_level:
        item.ValueListRef = DEFINE.ValueListRef(ValueListOID=_oid("VL", ds.name, v.name))
    if v.comment:
        oid = _oid("COM", ds.name, v.name)
        comments[oid] = v.comment
        item.CommentOID = oid
    if v.method:
        methods[_oid("MT", ds.name, v.name)] = (f"Algorithm to derive {ds.name}.{v.name}", v.method)
    return item


def _codelist(cl: Codelist, ct_oid: str) -> DEFINE.CodeList:
    out = DEFINE.CodeList(OID=_oid("CL", cl.key), Name=cl.name, DataType="text")
    if cl.nci_code:
        out.StandardOID = ct_oid
    with_decode = any(d is not None for d in cl.terms.values())
    for n, (value, decode) in enumerate(sorted(cl.terms.items()), start=1):
        code = cl.term_code(value)
        extended = "Yes" if cl.nci_code and code is None else None
        if with_decode:
            item = DEFINE.CodeListItem(CodedValue=value, OrderNumber=n,
                                       Decode=DEFINE.Decode(TranslatedText=[DEFINE.TranslatedText(_content=decode or value, lang="en")]))
        else:
            item = DEFINE.EnumeratedItem(CodedValue=value, OrderNumber=n)
        if extended:
            item.ExtendedValue = extended
        if code:
            item.Alias = [DEFINE.Alias(Context="nci:ExtCodeID", Name=code)]
        (out.CodeListItem if with_decode else out.EnumeratedItem).append(item)
    if cl.nci_code:
        out.Alias = [DEFINE.Alias(Context="nci:ExtCodeID", Name=cl.nci_code)]
    return out


def write_define(desc: Description, study: StudyConfig, created: str, path: Path) -> None:
    """Write the standard's define.xml (UTF-8)."""
    path.write_text(define_xml(desc, study, created), encoding="utf-8")
