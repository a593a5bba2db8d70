"""What a release's datasets are, in Define-XML terms: read from the Parquet files, the standards and the study folder.

Everything here comes from what a release (or a share package of the same layout) holds and from the
study's configuration, never from a run's staging: the dataset and variable labels, keys, class and
structure from the Parquet metadata; types and lengths from the data; origins from the SDTM mapping
spec (`sdtm_spec.csv`) and the ADaM configuration (`adam/datasets.yaml`, `variables.csv`,
`methods.csv`); codelists from SDTMIG 3.4 / CDISC CT 2025-03-25 and the values actually used.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from transforms.config import StudyConfig, read_csv_rows
from transforms.config.adam import adam_variable_origin, load_adam_config
from transforms.standards.ct import CT_VERSION, codelist
from transforms.standards.metadata import dataset_meta, domain_variables

MAX_XPT_BYTES = 200
TRIAL_DESIGN = {"TA", "TE", "TV", "TI", "TS"}
# Findings whose results differ by test: value-level metadata by --TESTCD (Define-XML 2.1 section 5.3.7).
VALUE_LEVEL = {"LB": ("LBTESTCD", "LBTEST", ("LBORRES", "LBSTRESC", "LBSTRESN")),
               "VS": ("VSTESTCD", "VSTEST", ("VSORRES", "VSSTRESC", "VSSTRESN"))}
_SUPP_FIXED = ("STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QLABEL", "QORIG", "QEVAL")
_ADAM_CLASS = {"ADSL": "SUBJECT LEVEL ANALYSIS DATASET", "BDS": "BASIC DATA STRUCTURE",
               "OCCDS": "OCCURRENCE DATA STRUCTURE"}
_ADAM_STRUCTURE = {"ADSL": "One record per subject", "BDS": "One or more records per subject per analysis parameter",
                   "OCCDS": "One record per subject per occurrence"}
# ADaM variables whose values the sponsor assigns (parameters, criteria, units of a window), not derives.
_COLLECTED = {"item", "ct", "decode", "decode_other", "dtc", "num", "text", "subject", "site"}


@dataclass
class ValueLevel:
    """One row of value-level metadata: a result variable when --TESTCD (or QNAM) has one value."""

    where_variable: str
    value: str
    label: str
    data_type: str
    length: int | None
    digits: int | None


@dataclass
class Variable:
    """A variable as Define-XML, Dataset-JSON and the data dictionary describe it."""

    name: str
    label: str
    data_type: str  # Define-XML: text, integer, float, datetime
    json_type: str  # Dataset-JSON: string, integer, double, date, datetime
    length: int | None
    json_length: int | None
    digits: int | None = None
    display_format: str | None = None
    origin: str = "Derived"
    origin_source: str | None = None  # Investigator, Sponsor, Vendor
    predecessor: str | None = None
    method: str | None = None
    method_name: str | None = None
    comment: str | None = None
    codelist: str | None = None  # key into Description.codelists
    key_sequence: int | None = None
    mandatory: bool = False
    role: str | None = None
    value_level: list[ValueLevel] = field(default_factory=list)


@dataclass
class Codelist:
    """The terms of a codelist a define lists: only the values the datasets use."""

    key: str
    name: str
    nci_code: str | None
    extensible: bool
    terms: dict[str, str | None] = field(default_factory=dict)  # value -> decode

    def term_code(self, value: str) -> str | None:
        """The NCI code of a term, when it is a CT term."""
        if not self.nci_code:
            return None
        t = codelist(self.nci_code).terms.get(value)
        return t.code if t else None


@dataclass
class Dataset:
    """A dataset of the release: name, label, class, structure, keys, file and variables."""

    name: str
    label: str
    class_: str
    structure: str
    keys: list[str]
    leaf: str
    records: int
    variables: list[Variable]
    comment: str | None = None


@dataclass
class Description:
    """One standard's datasets in a release (SDTM or ADaM) and the codelists they use."""

    standard: str  # SDTM or ADaM
    ig_name: str
    ig_version: str
    folder: Path
    datasets: list[Dataset]
    codelists: dict[str, Codelist]
    blinded: bool


def _schema_meta(schema: pa.Schema) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in (schema.metadata or {}).items()}


def _field_meta(f: pa.Field) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in (f.metadata or {}).items()}


def _digits(values: list[float]) -> tuple[int, int]:
    """(total digits, digits after the point) of the widest of the numbers as written (%.15g)."""
    total, after = 1, 0
    for v in values:
        text = format(v, ".15g").lstrip("-")
        if "e" in text:
            text = format(v, "f").lstrip("-")
        whole, _, frac = text.partition(".")
        total, after = max(total, len(whole) + len(frac)), max(after, len(frac))
    return total, after


def _typed(name: str, col: pa.ChunkedArray, has_xpt: bool) -> dict:
    """Define-XML and Dataset-JSON types, length and digits of a column, from its Arrow type and its values."""
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        size = pc.max(pc.binary_length(col)).as_py() or 1  # UTF-8 bytes; an all-null column counts 1
        dtype = "datetime" if name.endswith("DTC") else "text"
        return {"data_type": dtype, "json_type": "string", "json_length": size,
                "length": min(size, MAX_XPT_BYTES) if has_xpt else size}
    if pa.types.is_date32(t):
        return {"data_type": "integer", "json_type": "date", "length": 8, "json_length": None,
                "display_format": "DATE9."}
    if pa.types.is_timestamp(t):
        return {"data_type": "integer", "json_type": "datetime", "length": 8, "json_length": None,
                "display_format": "DATETIME20."}
    if pa.types.is_integer(t):
        # The widest integer is the smallest or the largest one.
        ends = [v for v in pc.min_max(col).values() if v.is_valid]
        size = max((len(str(abs(int(v.as_py())))) for v in ends), default=1)
        return {"data_type": "integer", "json_type": "integer", "length": size, "json_length": None}
    # Results repeat: each distinct number is written out once.
    distinct = pc.unique(col.drop_null()).to_pylist()
    total, after = _digits([float(v) for v in distinct if v == v])
    return {"data_type": "float", "json_type": "double", "length": total, "json_length": None, "digits": after}


def _long_text_comment(v: Variable, dataset: str, standard: str) -> None:
    """Say where text over 200 bytes goes in the XPT (the Parquet and Dataset-JSON keep it whole)."""
    if v.json_type != "string" or not v.json_length or v.json_length <= MAX_XPT_BYTES:
        return
    where = (f"{v.name}1, {v.name}2 ... of {dataset}" if standard == "ADaM" or dataset == "TS"
             else f"SUPP{dataset.removeprefix('SUPP')} QNAM {v.name}1, {v.name}2 ... (SDTMIG 3.4 4.5.3.2)")
    note = (f"Text up to {v.json_length} bytes: the XPT keeps the first {MAX_XPT_BYTES} bytes and the rest "
            f"continues in {where}; Parquet and Dataset-JSON hold the whole text.")
    v.comment = f"{v.comment} {note}" if v.comment else note


def _words(derivation: str) -> str:
    """A derivation's registered name in words, when the spec gives no note ('derive_rfstdtc' -> 'RFSTDTC')."""
    return derivation.removeprefix("derive_").replace("_", " ").upper() if derivation.startswith("derive_") else derivation


def arm_values(study: StudyConfig) -> set[str]:
    """Every arm code and name the study's configuration knows: what a blinded release must not reveal."""
    out = set(study.arms)
    for a in study.arms.values():
        out |= {a.arm, a.extrt}
    try:
        out |= {t.name for t in load_adam_config(study).adsl.treatments.values()}
    except FileNotFoundError:
        pass
    return {v for v in out if v}


def blind_text(text: str | None, arms: set[str]) -> str | None:
    """The text with every arm code or name (as a whole word, any case) replaced by [blinded]."""
    if not text:
        return text
    for value in sorted(arms, key=len, reverse=True):
        text = re.sub(rf"(?<![\w]){re.escape(value)}(?![\w])", "[blinded]", text, flags=re.IGNORECASE)
    return text


# ---------------------------------------------------------------- SDTM


def _spec(study: StudyConfig) -> dict[tuple[str, str], list[dict[str, str]]]:
    """sdtm_spec.csv rows by (domain, variable); `*` rows under ('*', '--XX')."""
    out: dict[tuple[str, str], list[dict[str, str]]] = {}
    for r in read_csv_rows(study.study_file("sdtm_spec.csv")):
        out.setdefault((r["DOMAIN"], r["VARIABLE"]), []).append(r)
    return out


def _spec_rows(spec: dict, domain: str, name: str) -> list[dict[str, str]]:
    rows = spec.get((domain, name))
    if rows:
        return rows
    generic = "--" + name[len(domain):] if name.startswith(domain) else name
    return spec.get(("*", generic)) or spec.get(("*", name)) or []


def _notes(spec: dict) -> dict[str, str]:
    """The first note the spec gives for each derivation name (several variables share one derivation)."""
    out: dict[str, str] = {}
    for rows in spec.values():
        for r in rows:
            if r["ALGORITHM"] == "derived" and r["NOTE"] and r["SOURCE"] not in out:
                out[r["SOURCE"]] = r["NOTE"]
    return out


def _sdtm_origin(var: Variable, domain: str, rows: list[dict[str, str]], notes: dict[str, str]) -> None:
    """Origin (and method) of an SDTM variable from its mapping spec rows (SDTMIG 3.4, Define-XML 2.1 5.3.11)."""
    if domain in TRIAL_DESIGN:
        var.origin, var.origin_source = "Protocol", "Sponsor"
        return
    algorithms = {r["ALGORITHM"] for r in rows}
    if not rows:
        var.origin, var.origin_source = "Derived", "Sponsor"
        var.method_name = f"{domain} build"
        var.method = f"Derived by the SDTM build of {domain} from the eCRF and laboratory data (see README)."
        return
    if "derived" in algorithms:
        r = next(r for r in rows if r["ALGORITHM"] == "derived")
        var.origin, var.origin_source = "Derived", "Sponsor"
        var.method_name = _words(r["SOURCE"])
        var.method = r["NOTE"] or notes.get(r["SOURCE"]) or f"Derived ({_words(r['SOURCE'])})."
    elif algorithms <= {"const", "const_if"}:
        var.origin, var.origin_source = "Assigned", "Sponsor"
    elif "lab" in algorithms:
        # The site test map assigns test code, name, category, specimen and the standard unit; the rest the LIS sends.
        assigned = all(r["SOURCE"] == var.name for r in rows)
        var.origin, var.origin_source = ("Assigned", "Sponsor") if assigned else ("Collected", "Vendor")
    elif algorithms & _COLLECTED:
        var.origin, var.origin_source = "Collected", "Investigator"
    else:
        var.origin, var.origin_source = "Assigned", "Sponsor"
    notes_here = sorted({r["NOTE"] for r in rows if r["NOTE"]})
    if notes_here and var.origin != "Derived":
        var.comment = "; ".join(notes_here)


def _sdtm_codelist_name(domain: str, name: str, rows: list[dict[str, str]]) -> str | None:
    named = [r["CODELIST"] for r in rows if r["CODELIST"]]
    if named:
        return named[0]
    for v in domain_variables(domain):
        if v.name == name:
            return v.codelist
    return None


def describe_sdtm(folder: Path, study: StudyConfig, blinded: bool) -> Description:
    """The SDTM datasets of folder/sdtm as Define-XML describes them."""
    spec = _spec(study)
    notes = _notes(spec)
    desc = Description("SDTM", "SDTMIG", "3.4", folder, [], {}, blinded)
    for path in sorted(folder.glob("*.parquet")):
        table = pq.read_table(path)
        meta = _schema_meta(table.schema)
        name = meta.get("dataset", path.stem.upper())
        ds_meta = dataset_meta(name)
        # A natural key the dataset does not carry (DSSCAT when no record has one) is no key of this file.
        keys = [k for k in meta.get("keys", " ".join(ds_meta.keys)).split() if k in table.column_names]
        has_xpt = (folder / f"{path.stem}.xpt").exists()
        std = {v.name: v for v in domain_variables(name)}
        variables = []
        for f in table.schema:
            fm = _field_meta(f)
            v = Variable(name=f.name, label=fm.get("label", ""), **_typed(f.name, table[f.name], has_xpt))
            rows = [] if name.startswith("SUPP") else _spec_rows(spec, name, f.name)
            if name.startswith("SUPP"):
                _supp_origin(v, name, spec, notes, table)
            else:
                _sdtm_origin(v, name, rows, notes)
            if f.name == "DOMAIN":
                v.origin, v.origin_source, v.method, v.method_name = "Assigned", "Sponsor", None, None
            cl = None if name.startswith("SUPP") and f.name not in ("RDOMAIN",) else _sdtm_codelist_name(name, f.name, rows)
            if f.name == "RDOMAIN":
                cl = "DOMAIN"
            if cl is None and rows and any(r["ALGORITHM"] == "ct" for r in rows):
                cl = f"{name}.{f.name}"  # an eCRF codelist with no CDISC CT counterpart (e.g. AEREL)
            if cl:
                v.codelist = _add_terms(desc, cl, table, f.name)
            if f.name in keys:
                v.key_sequence = keys.index(f.name) + 1
            sv = std.get(f.name)
            v.mandatory = bool(sv and sv.core == "Req") or v.key_sequence is not None
            v.role = sv.role if sv and sv.role else None
            if has_xpt:
                _long_text_comment(v, name, "SDTM")
            variables.append(v)
        _value_level(name, table, variables, has_xpt)
        class_ = "RELATIONSHIP" if name.startswith("SUPP") else ds_meta.class_
        comment = None
        if name == "DM" and blinded:
            comment = ("Blinded release: the randomization list was not part of this build, so ARMCD, ARM, "
                       "ACTARMCD and ACTARM show the blinded placeholder.")
        desc.datasets.append(Dataset(name, meta.get("label", ds_meta.label), class_,
                                     meta.get("structure", ds_meta.structure), keys, _leaf(folder, path.stem),
                                     table.num_rows, variables, comment))
    return desc


def _supp_origin(v: Variable, name: str, spec: dict, notes: dict[str, str], table: pa.Table) -> None:
    """SUPP-- variables: the fixed ones are assigned; QVAL's origin is that of its QNAMs (value level)."""
    if v.name in _SUPP_FIXED:
        v.origin, v.origin_source = "Assigned", "Sponsor"
        return
    qnams = sorted(set(table["QNAM"].to_pylist())) if "QNAM" in table.column_names else []
    rows = [r for q in qnams for r in spec.get((name, q), [])]
    _sdtm_origin(v, name, rows, notes)


def _value_level(name: str, table: pa.Table, variables: list[Variable], has_xpt: bool) -> None:
    """Value-level metadata: LB/VS results by --TESTCD, SUPP-- QVAL by QNAM."""
    if name in VALUE_LEVEL:
        by, label_col, results = VALUE_LEVEL[name]
    elif name.startswith("SUPP") and "QNAM" in table.column_names:
        by, label_col, results = "QNAM", "QLABEL", ("QVAL",)
    else:
        return
    if by not in table.column_names:
        return
    codes = table[by].to_pylist()
    labels = table[label_col].to_pylist() if label_col in table.column_names else codes
    label_of = {}
    for c, lab in zip(codes, labels, strict=True):
        label_of.setdefault(c, lab or c)
    wanted = [v for v in variables if v.name in results]
    for code in sorted(c for c in label_of if c is not None):
        rows = table.filter(pc.equal(table[by], code))
        for v in wanted:
            t = _typed(v.name, rows[v.name], has_xpt)
            v.value_level.append(ValueLevel(by, code, label_of[code], t["data_type"], t["length"], t.get("digits")))


def _leaf(folder: Path, stem: str) -> str:
    """The dataset file a define points at: the XPT when there is one, else the Dataset-JSON."""
    return f"{stem}.xpt" if (folder / f"{stem}.xpt").exists() else f"{stem}.json"


def _add_terms(desc: Description, key: str, table: pa.Table, column: str) -> str | None:
    """Add the values a column uses to a codelist of the define (CT terms keep their NCI codes).

    A CT codelist is attached only when most of the column's values are its terms: a result variable the
    SDTMIG links to a codelist for its coded results (LBSTRESC, RSSTRESC) mostly holds numbers and grades.
    """
    decode_col = {"TESTCD": "TEST", "PARAMCD": "PARAM"}
    partner = next((column[: -len(s)] + d for s, d in decode_col.items() if column.endswith(s)), None)
    used = _first_decodes(table, column, partner if partner in table.column_names else None)
    if not used:
        return None
    cl = desc.codelists.get(key)
    if cl is None:
        try:
            ct = codelist(key)
            cl = Codelist(key, ct.long_name, ct.code, ct.extensible)
        except KeyError:
            cl = Codelist(key, key.replace(".", " "), None, True)
    if cl.nci_code and 2 * sum(cl.term_code(v) is not None for v in used) < len(used):
        return None
    desc.codelists[key] = cl
    for value, decode in used.items():
        cl.terms.setdefault(value, decode)
    return key


def _first_decodes(table: pa.Table, column: str, partner: str | None) -> dict[str, str | None]:
    """Each value a column uses (in order of first use) with the partner column's decode on its first row."""
    col = table[column]
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        values = col.to_pylist()
        decodes = table[partner].to_pylist() if partner else [None] * len(values)
        used: dict[str, str | None] = {}
        for value, decode in zip(values, decodes, strict=True):
            if value is not None and value != "":
                used.setdefault(str(value), decode)
        return used
    rows = pc.indices_nonzero(pc.fill_null(pc.not_equal(col, ""), False))
    if len(rows) == 0:
        return {}
    values = pd.Series(col.take(rows).to_numpy(zero_copy_only=False), dtype=object)
    first = np.flatnonzero(~values.duplicated().to_numpy())
    decodes = table[partner].take(rows.take(pa.array(first, type=pa.int64()))).to_pylist() if partner else [None] * len(first)
    return dict(zip(values.iloc[first].tolist(), decodes, strict=True))


# ---------------------------------------------------------------- ADaM


def _adam_methods(study: StudyConfig) -> dict[tuple[str, str], str]:
    """methods.csv of the study's adam folder: (dataset or *, variable) -> derivation in words."""
    path = study.study_file("adam/methods.csv")
    if not path.exists():
        return {}
    return {(r["DATASET"], r["VARIABLE"]): r["METHOD"] for r in read_csv_rows(path) if not r["DATASET"].startswith("#")}


def describe_adam(folder: Path, study: StudyConfig, blinded: bool) -> Description:
    """The ADaM datasets of folder/adam as Define-XML describes them."""
    cfg = load_adam_config(study)
    methods = _adam_methods(study)
    desc = Description("ADaM", "ADaMIG", "1.3", folder, [], {}, blinded)
    sdtm_codelists = {v.name: v.codelist for spec in cfg.datasets.values() for d in spec.sdtm + ["DM"]
                      for v in domain_variables(d) if v.codelist}
    for path in sorted(folder.glob("*.parquet")):
        table = pq.read_table(path)
        meta = _schema_meta(table.schema)
        name = meta.get("dataset", path.stem.upper())
        spec = cfg.datasets.get(name)
        keys = [k for k in meta.get("keys", "").split() if k in table.column_names]
        has_xpt = (folder / f"{path.stem}.xpt").exists()
        variables = []
        for f in table.schema:
            fm = _field_meta(f)
            v = Variable(name=f.name, label=fm.get("label", ""), **_typed(f.name, table[f.name], has_xpt))
            if spec is not None:
                v.origin, v.predecessor = adam_variable_origin(f.name, name, cfg.datasets)
            v.origin_source = "Sponsor" if v.origin in ("Derived", "Assigned") else None
            if v.origin == "Derived":
                custom = cfg.variables.get(f.name)
                v.method = (methods.get((name, f.name)) or methods.get(("*", f.name))
                            or (custom.note if custom else None) or f"Derived as ADaMIG 1.3 defines {f.name}.")
                v.method_name = f"{name}.{f.name}"
            if f.name == "PARAMCD":
                v.codelist = _add_terms(desc, f"{name}.PARAMCD", table, f.name)
            elif f.name.endswith("FL") and f.name != "DTHFL":
                v.codelist = _add_terms(desc, "NY", table, f.name)
            elif v.origin == "Predecessor" and sdtm_codelists.get(f.name):
                v.codelist = _add_terms(desc, sdtm_codelists[f.name], table, f.name)
            if f.name in keys:
                v.key_sequence = keys.index(f.name) + 1
            v.mandatory = v.key_sequence is not None
            if has_xpt:
                _long_text_comment(v, name, "ADaM")
            variables.append(v)
        structure = meta.get("structure", spec.structure if spec else "ADAM OTHER")
        comment = None
        if meta.get("derivations"):
            notes = json.loads(meta["derivations"])
            comment = " ".join(f"{k}: {t}" for k, t in sorted(notes.items()))
        desc.datasets.append(Dataset(name, meta.get("label", spec.label if spec else name),
                                     _ADAM_CLASS.get(structure, "ADAM OTHER"),
                                     _ADAM_STRUCTURE.get(structure, structure), keys, _leaf(folder, path.stem),
                                     table.num_rows, variables, comment))
    return desc


def blind(desc: Description, study: StudyConfig) -> None:
    """A blinded release's description: no arm code or name in any codelist, method or comment."""
    if not desc.blinded:
        return
    arms = arm_values(study)
    lowered = {a.lower() for a in arms}
    for cl in desc.codelists.values():
        cl.terms = {k: (blind_text(d, arms)) for k, d in cl.terms.items() if k.lower() not in lowered}
    for ds in desc.datasets:
        ds.comment = blind_text(ds.comment, arms)
        for v in ds.variables:
            v.method, v.comment = blind_text(v.method, arms), blind_text(v.comment, arms)


__all__ = ["CT_VERSION", "Codelist", "Dataset", "Description", "ValueLevel", "Variable",
           "arm_values", "blind", "blind_text", "describe_adam", "describe_sdtm"]
