"""queries.xlsx: the full listing, one sheet per site in the words of the eCRF, and a sponsor sheet.

The site sheets hold only what a site can answer (rules.csv says who answers each rule) and show the
visit, form and field as the site sees them in the EDC (ODM metadata.xml names and questions), with
empty columns for the site's response. Coding, privacy, standards and drop findings, and any finding
without a site, go to the sponsor sheet with the rule's description.
"""
from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from transforms.config import StudyConfig
from transforms.odm.metadata import StudyMetadata, load_metadata
from transforms.quality.rules import SITE, audience, describe, rule_info

# Columns a site fills in; they stay empty in the workbook we write.
RESPONSE_COLUMNS = ["Site response", "Responded by", "Response date"]
SITE_COLUMNS = ["Query", "Status", "First seen", "Subject", "Visit", "Form", "Field", "Record", "Value",
                "Query text", "Severity", *RESPONSE_COLUMNS]
SPONSOR_COLUMNS = ["Query", "Status", "First seen", "Site", "Subject", "Visit", "Category", "Rule",
                   "Rule description", "Source", "Field", "Value", "Message", "Severity"]
# Column widths (characters); the text columns wrap.
WIDTHS = {"Query": 13, "Status": 9, "First seen": 11, "Subject": 10, "Site": 8, "Visit": 18, "Form": 22,
          "Field": 30, "Record": 24, "Value": 16, "Query text": 60, "Severity": 9, "Site response": 40,
          "Responded by": 16, "Response date": 14, "Category": 13, "Rule": 24, "Rule description": 45,
          "Source": 45, "Message": 60, "QUERY_ID": 13, "SITE": 8, "SUBJID": 10, "VISIT": 12, "SOURCE": 60,
          "FIELD": 18, "VALUE": 16, "RULE": 22, "MESSAGE": 70, "SEVERITY": 9, "FIRST_SEEN": 11, "STATUS": 9}
WRAPPED = {"Query text", "Message", "Rule description", "Source", "Field", "Record", "Site response", "MESSAGE", "SOURCE"}
# The laboratory export's own words for the LB variables a LIS finding names (lis-export.md columns).
LIS_FIELD_WORDS = {"LBSTRESN": "result", "LBSTRESC": "result", "LBORRES": "result", "LBSTRESU": "unit",
                   "LBORRESU": "unit", "LBDTC": "collection time", "LBTESTCD": "test", "LBTEST": "test"}
# SDTM variables derived from several eCRF fields: what they stand for on the eCRF.
DERIVED_FIELD_WORDS = {"SVSTDTC": "Visit date (the dates entered on the visit's forms)",
                       "SVENDTC": "Visit date (the dates entered on the visit's forms)",
                       "RFXSTDTC": "Start of the first study treatment", "RFXENDTC": "End of the last study treatment",
                       "RFSTDTC": "Start of the first study treatment", "RFPENDTC": "End of participation"}
_SEGMENT = re.compile(r"^(?P<oid>[^\[\]]+)(?:\[(?P<repeat>\d+)\])?$")
_SHEET_NAME = re.compile(r"[\[\]:*?/\\]")


@dataclass(frozen=True)
class SiteView:
    """A query as the site sees it in the EDC: visit, form, field label and which entry of the form."""

    visit: str
    form: str
    field: str
    entry: str


class EcrfLabels:
    """Names a site knows (eCRF events, forms, questions) for the OIDs and SDTM variables a finding names."""

    def __init__(self, study: StudyConfig) -> None:
        self.meta: StudyMetadata = load_metadata(study.metadata_path)
        from transforms.sdtm.spec import load_spec

        self.item_of_variable: dict[tuple[str, str], str] = {}
        for r in load_spec(study).rules:
            if r.source in self.meta.items:
                self.item_of_variable.setdefault((r.domain.removeprefix("SUPP"), r.variable), r.source)
        self.form_of_group = {g: f.oid for f in self.meta.forms.values() for g in f.item_group_oids}
        self.group_of_item = self.meta.item_group_of_item()

    def view(self, row: pd.Series) -> SiteView:
        """Visit, form, field label and entry of one query row."""
        source = row["SOURCE"]
        if not source.split(":", 1)[0].endswith(".xml"):
            return SiteView(row["VISIT"], "Laboratory file" if row["SOURCE"] else "", self.lis_field(row["FIELD"]),
                            source)
        event, form, group, item = self.path(source)
        domain, _, variable = row["FIELD"].rpartition(".")
        item = item or (row["FIELD"] if row["FIELD"] in self.meta.items else None)
        item = item or self.item_of_variable.get(((domain or self.domain_of(group, form)).removeprefix("SUPP"),
                                                  variable))
        if item and (not group or group[0] != self.group_of_item.get(item)):
            # An SDTM record built from several forms (DM): the item's own form is where the site looks.
            group, form = (self.group_of_item.get(item), None), None
        form_oid = form or self.form_of_group.get(group[0] if group else None)
        if item:
            label = self.meta.items[item].question or self.meta.items[item].name
        elif variable in DERIVED_FIELD_WORDS:
            # Derived from fields of several forms: the record's own form would mislead.
            label, form_oid = DERIVED_FIELD_WORDS[variable], None
            if variable.startswith("RF"):
                event = None  # a subject-level reference date: no visit of its own
        else:
            label = self.variable_label(row)
        return SiteView(self.visit(event) or row["VISIT"], self.meta.forms[form_oid].name if form_oid in
                        self.meta.forms else "", label, self.entry(group))

    def path(self, source: str) -> tuple:
        """(event, repeat), form OID, (item group, repeat), item OID named by an EDC record reference."""
        record = source.split(": ", 1)[1] if ": " in source else ""
        record = re.sub(r"\s*\(line \d+\)", "", record)
        event = form = group = item = None
        for segment in record.split(" ", 1)[-1].split("/"):
            m = _SEGMENT.match(segment.strip())
            if not m:
                continue
            oid, repeat = m["oid"], m["repeat"]
            if oid in self.meta.events:
                event = (oid, repeat)
            elif oid in self.meta.forms:
                form = oid
            elif oid in self.meta.item_groups:
                group = (oid, repeat)
            elif oid in self.meta.items:
                item = oid
        return event, form, group, item

    def visit(self, event: tuple | None) -> str:
        """The eCRF event's name; a repeating event with its repeat; empty for events not tied to a visit."""
        if event is None or event[0] not in self.meta.events:
            return ""
        e = self.meta.events[event[0]]
        if e.type == "Common":
            return ""
        return f"{e.name} #{event[1]}" if e.repeating and event[1] else e.name

    def entry(self, group: tuple | None) -> str:
        """'entry N' for a row of a repeating item group (AE 2 of a subject's AE log)."""
        if not group or group[0] not in self.meta.item_groups or not group[1]:
            return ""
        return f"entry {group[1]}" if self.meta.item_groups[group[0]].repeating else ""

    def domain_of(self, group: tuple | None, form: str | None) -> str:
        """The SDTM domain an EDC record's SDTM variable most likely belongs to ('' when unknown)."""
        oid = group[0] if group else form or ""
        return oid.rsplit(".", 1)[-1]

    def variable_label(self, row: pd.Series) -> str:
        """An SDTM variable's SDTMIG label when no eCRF question stands behind it."""
        from transforms.standards.metadata import variable_meta

        domain, _, variable = row["FIELD"].rpartition(".")
        for d in filter(None, (domain, variable[:2])):
            try:
                labels = {v.name: v.label for v in variable_meta(d)}
            except (KeyError, ValueError):
                continue
            if variable in labels:
                return labels[variable]
        return row["FIELD"]

    @staticmethod
    def lis_field(field: str) -> str:
        """A laboratory file's column in the export's own words."""
        return LIS_FIELD_WORDS.get(field.rpartition(".")[2], field)


def site_sheet(queries: pd.DataFrame, labels: EcrfLabels) -> pd.DataFrame:
    """One site's queries in the eCRF's words, with empty response columns."""
    views = [labels.view(r) for _, r in queries.iterrows()]
    return pd.DataFrame({
        "Query": queries["QUERY_ID"], "Status": queries["STATUS"], "First seen": queries["FIRST_SEEN"],
        "Subject": queries["SUBJID"], "Visit": [v.visit for v in views], "Form": [v.form for v in views],
        "Field": [v.field for v in views], "Record": [v.entry for v in views], "Value": queries["VALUE"],
        "Query text": queries["MESSAGE"], "Severity": queries["SEVERITY"],
        **{c: "" for c in RESPONSE_COLUMNS}}, columns=SITE_COLUMNS)


def sponsor_sheet(queries: pd.DataFrame) -> pd.DataFrame:
    """The sponsor's queries (coding, privacy, standards, drop, mapping) with each rule's description."""
    info = [rule_info(r) for r in queries["RULE"]]
    return pd.DataFrame({
        "Query": queries["QUERY_ID"], "Status": queries["STATUS"], "First seen": queries["FIRST_SEEN"],
        "Site": queries["SITE"], "Subject": queries["SUBJID"], "Visit": queries["VISIT"],
        "Category": [i.category if i else "" for i in info], "Rule": queries["RULE"],
        "Rule description": [describe(r) for r in queries["RULE"]], "Source": queries["SOURCE"],
        "Field": queries["FIELD"], "Value": queries["VALUE"], "Message": queries["MESSAGE"],
        "Severity": queries["SEVERITY"]}, columns=SPONSOR_COLUMNS)


def workbook_sheets(queries: pd.DataFrame, study: StudyConfig | None) -> dict[str, pd.DataFrame]:
    """Sheet name -> rows: 'queries' (every row, as queries.csv), one per site, 'sponsor'."""
    sheets = {"queries": queries}
    if study is None:
        return sheets
    for_site = pd.Series([audience(r, s) == SITE for r, s in zip(queries["RULE"], queries["SITE"], strict=True)],
                         index=queries.index, dtype=bool)
    labels = EcrfLabels(study)
    taken = {"queries", "sponsor"}
    for site in sorted(set(queries.loc[for_site, "SITE"])):
        sheets[sheet_name(site, taken)] = site_sheet(queries[for_site & (queries["SITE"] == site)], labels)
    sheets["sponsor"] = sponsor_sheet(queries[~for_site])
    return sheets


def sheet_name(site: str, taken: set[str]) -> str:
    """A site's sheet name Excel accepts (31 characters, no []:*?/\\), never one already in use (case-insensitive)."""
    base = _SHEET_NAME.sub("_", site)[:31] or "site"
    name, k = base, 1
    while name.lower() in taken:
        k += 1
        name = f"{base[:31 - len(str(k)) - 1]}~{k}"
    taken.add(name.lower())
    return name


def write_workbook(sheets: dict[str, pd.DataFrame], path: Path, formula_start: tuple[str, ...],
                   created: str | None = None) -> None:
    """Write the sheets: bold wrapped header, frozen, filtered, sized columns; every cell plain text.

    `created` (ISO 8601, the data cut) is the workbook's creation time; with it the same sheets give the same bytes.
    """
    from openpyxl.styles import Alignment, Font

    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        for name, df in sheets.items():
            df.to_excel(xl, sheet_name=name, index=False)
            sheet = xl.sheets[name]
            for cell in sheet[1]:
                cell.font = Font(bold=True)
                cell.alignment = Alignment(wrap_text=True, vertical="top")
            wrap = {i for i, c in enumerate(df.columns) if c in WRAPPED}
            for row in sheet.iter_rows(min_row=2):
                for i, cell in enumerate(row):
                    if i in wrap:
                        cell.alignment = Alignment(wrap_text=True, vertical="top")
                    if isinstance(cell.value, str) and cell.value.startswith(formula_start):
                        # (numbers too: a string cell never computes, and -3 stays the text it was)
                        # openpyxl reads a leading "=" as a formula; a string cell with Excel's quote prefix
                        # stays text even when someone edits it.
                        cell.data_type = "s"
                        cell.quotePrefix = True
            sheet.freeze_panes = "A2"
            sheet.auto_filter.ref = sheet.dimensions
            for i, column in enumerate(df.columns):
                sheet.column_dimensions[sheet.cell(row=1, column=i + 1).column_letter].width = WIDTHS.get(column, 14)
    if created is not None:
        reproducible_xlsx(path, created)


_CORE_TIMES = re.compile(rb"(<dcterms:(?:created|modified)\b[^>]*>)[^<]*(</dcterms:)")


def reproducible_xlsx(path: Path, created: str) -> None:
    """Rewrite an xlsx with `created` as its creation and modification time and a fixed time on every zip member.

    openpyxl stamps the wall clock into docProps/core.xml and into each member's zip header.
    """
    moment = datetime.fromisoformat(created) if created else datetime(1980, 1, 1)  # no snapshot, no data cut
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(path) as z:
        members = [(info, z.read(info)) for info in z.infolist()]
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in members:
            if info.filename == "docProps/core.xml":
                data = _CORE_TIMES.sub(rb"\g<1>" + stamp + rb"\g<2>", data)
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type, fixed.external_attr = zipfile.ZIP_DEFLATED, info.external_attr
            z.writestr(fixed, data)
    tmp.replace(path)
