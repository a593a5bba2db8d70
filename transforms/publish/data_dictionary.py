"""The data dictionary (HTML and CSV) rendered from the release's Define-XML files, the way define2-1.xsl shows them.

A table of the datasets, then per dataset its variables with label, type, length, codelist, origin and
derivation. One self-contained page: inline CSS, no script, every text escaped; it opens from file://.
"""
from __future__ import annotations

import csv
import html
import io
from pathlib import Path

from lxml import etree

from transforms.publish.cells import defuse_formula

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1",
      "xlink": "http://www.w3.org/1999/xlink"}
COLUMNS = ["STANDARD", "DATASET", "DATASET_LABEL", "VARIABLE", "LABEL", "TYPE", "LENGTH", "DISPLAY_FORMAT",
           "KEY", "CODELIST", "ORIGIN", "DERIVATION_OR_COMMENT"]
_CSS = """body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #bbb;padding:3px 6px;text-align:left;vertical-align:top;font-size:13px}
th{background:#e8eef5}h2{margin-top:1.5em}.small{color:#555;font-size:12px}"""


def _text(el: etree._Element | None) -> str:
    if el is None:
        return ""
    t = el.find("odm:Description/odm:TranslatedText", NS)
    return (t.text or "") if t is not None else ""


def dictionary_rows(define_path: Path) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(datasets, variables) of a define.xml as the dictionary lists them."""
    root = etree.parse(str(define_path), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    mdv = root.find(".//odm:MetaDataVersion", NS)
    standard = mdv.find("def:Standards/def:Standard", NS).get("Name")
    items = {i.get("OID"): i for i in mdv.findall("odm:ItemDef", NS)}
    methods = {m.get("OID"): _text(m) for m in mdv.findall("odm:MethodDef", NS)}
    comments = {c.get("OID"): _text(c) for c in mdv.findall("def:CommentDef", NS)}
    codelists = {}
    for cl in mdv.findall("odm:CodeList", NS):
        terms = [i.get("CodedValue") for i in cl.findall("odm:CodeListItem", NS) + cl.findall("odm:EnumeratedItem", NS)]
        codelists[cl.get("OID")] = f"{cl.get('Name')}: {'; '.join(terms)}"
    datasets, variables = [], []
    for ig in mdv.findall("odm:ItemGroupDef", NS):
        leaf = ig.find("def:leaf", NS)
        cls = ig.find("def:Class", NS)
        datasets.append({"STANDARD": standard, "DATASET": ig.get("Name"), "LABEL": _text(ig),
                         "CLASS": cls.get("Name") if cls is not None else "",
                         "STRUCTURE": ig.get(f"{{{NS['def']}}}Structure", ""),
                         "KEYS": ", ".join(r.get("ItemOID").rsplit(".", 1)[1] for r in sorted(
                             (r for r in ig.findall("odm:ItemRef", NS) if r.get("KeySequence")),
                             key=lambda r: int(r.get("KeySequence")))),
                         "FILE": leaf.get(f"{{{NS['xlink']}}}href") if leaf is not None else "",
                         "COMMENT": comments.get(ig.get(f"{{{NS['def']}}}CommentOID"), "")})
        for ref in ig.findall("odm:ItemRef", NS):
            item = items[ref.get("ItemOID")]
            origin = item.find("def:Origin", NS)
            origin_text = origin.get("Type") if origin is not None else ""
            if origin is not None and _text(origin):
                origin_text += f" ({_text(origin)})"
            cl_ref = item.find("odm:CodeListRef", NS)
            notes = [methods.get(ref.get("MethodOID"), ""), comments.get(item.get(f"{{{NS['def']}}}CommentOID"), "")]
            variables.append({"STANDARD": standard, "DATASET": ig.get("Name"), "DATASET_LABEL": _text(ig),
                              "VARIABLE": item.get("Name"), "LABEL": _text(item), "TYPE": item.get("DataType"),
                              "LENGTH": item.get("Length", ""),
                              "DISPLAY_FORMAT": item.get(f"{{{NS['def']}}}DisplayFormat", ""),
                              "KEY": ref.get("KeySequence", ""),
                              "CODELIST": codelists.get(cl_ref.get("CodeListOID"), "") if cl_ref is not None else "",
                              "ORIGIN": origin_text, "DERIVATION_OR_COMMENT": " ".join(n for n in notes if n)})
    return datasets, variables


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write_data_dictionary(defines: list[Path], html_path: Path, csv_path: Path, title: str) -> None:
    """reports/data_dictionary.html and .csv from the release's define.xml files (SDTM first, then ADaM)."""
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
             "<p class='small'>Rendered from the release's Define-XML 2.1 files; the datasets are also in "
             "Parquet, SAS XPT and Dataset-JSON beside them.</p>"]
    all_vars: list[dict[str, str]] = []
    for define in defines:
        datasets, variables = dictionary_rows(define)
        all_vars += variables
        std = datasets[0]["STANDARD"] if datasets else define.parent.name
        parts.append(f"<h2>{html.escape(std)} datasets</h2>")
        parts.append(_table(["Dataset", "Label", "Class", "Structure", "Keys", "File", "Comment"],
                            [[d["DATASET"], d["LABEL"], d["CLASS"], d["STRUCTURE"], d["KEYS"], d["FILE"], d["COMMENT"]]
                             for d in datasets]))
        for d in datasets:
            rows = [[v["VARIABLE"], v["LABEL"], v["TYPE"], v["LENGTH"], v["DISPLAY_FORMAT"], v["KEY"], v["CODELIST"],
                     v["ORIGIN"], v["DERIVATION_OR_COMMENT"]] for v in variables if v["DATASET"] == d["DATASET"]]
            parts.append(f"<h3 id='{html.escape(std + '-' + d['DATASET'], quote=True)}'>{html.escape(d['DATASET'])} "
                         f"({html.escape(d['LABEL'])})</h3>")
            parts.append(_table(["Variable", "Label", "Type", "Length", "Format", "Key", "Codelist", "Origin",
                                 "Derivation / comment"], rows))
    parts.append("</body></html>\n")
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text("".join(parts), encoding="utf-8")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for v in all_vars:
        writer.writerow({k: defuse_formula(v[k]) for k in COLUMNS})
    csv_path.write_text(buf.getvalue(), encoding="utf-8")
