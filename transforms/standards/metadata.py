"""SDTMIG 3.4 dataset and variable metadata, loaded from the CSV files shipped in this package.

The CSVs were transcribed from the SDTMIG v3.4 domain specification tables (see README.md in
this folder for provenance). Everything here is read-only reference data: callers get frozen
dataclasses and fresh lists, so nothing can mutate the cached copies.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import pyarrow as pa

__all__ = [
    "SDTMIG_VERSION",
    "DatasetMeta",
    "VariableMeta",
    "INTEGER_NUM_PATTERN",
    "arrow_schema",
    "dataset_meta",
    "domain_variables",
    "domains",
    "pyarrow_type",
    "variable_meta",
]

SDTMIG_VERSION = "3.4"

_VARIABLES_FILE = "sdtmig_3_4_variables.csv"
_DATASETS_FILE = "sdtmig_3_4_datasets.csv"
_SUPP_PLACEHOLDER = "[domain name]"
# SUPP-- datasets are named SUPP + parent dataset name (SUPPAE, SUPPFAMH, ...); SDTMIG 8.4.2.
_SUPP_RE = re.compile(r"^SUPP[A-Z0-9]{2,4}$")

# SDTM Num variables are doubles in SAS XPT, and the SDTMIG lets most of them hold fractions
# (--SEQ "may be any valid number (including decimals)", unplanned VISITNUM such as 3.1,
# --TPTNUM, results). Only variables the standard defines as whole numbers become int64 in
# Parquet, so readers see study days as integers while int64 -> XPT double stays exact:
#   --DY/--STDY/--ENDY and VISITDY: study days "measured as integer days" / "should be an integer"
#   TAETORD: "TAETORD is an integer" (TA assumption 1)
#   --SEQ: this project always numbers 1..n, so analysts get integer sequence numbers
#   MedDRA codes (--LLTCD, --PTCD, --HLTCD, --HLGTCD, --BDSYCD, --SOCCD): 8-digit integer codes
INTEGER_NUM_PATTERN = re.compile(
    r"^(?:[A-Z]{2}(?:SEQ|DY|STDY|ENDY|LLTCD|PTCD|HLTCD|HLGTCD|BDSYCD|SOCCD)|VISITDY|TAETORD)$"
)


@dataclass(frozen=True, slots=True)
class DatasetMeta:
    """Dataset-level metadata for one SDTM domain."""

    domain: str
    label: str
    class_: str
    structure: str
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class VariableMeta:
    """Variable-level metadata for one SDTM variable within a domain."""

    name: str
    label: str
    type: str  # "Char" or "Num"
    core: str  # "Req", "Exp" or "Perm"
    codelist: str | None  # first (primary) CDISC CT codelist short name, if any
    order: int
    role: str
    codelists: tuple[str, ...] = ()  # all codelists; DSDECOD, RSCAT name several


def _read_csv(filename: str) -> list[dict[str, str]]:
    text = resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@lru_cache(maxsize=1)
def _datasets() -> dict[str, DatasetMeta]:
    out: dict[str, DatasetMeta] = {}
    for row in _read_csv(_DATASETS_FILE):
        out[row["DOMAIN"]] = DatasetMeta(
            domain=row["DOMAIN"],
            label=row["LABEL"],
            class_=row["CLASS"],
            structure=row["STRUCTURE"],
            keys=tuple(row["KEYS"].split()),
        )
    return out


@lru_cache(maxsize=1)
def _variables() -> dict[str, tuple[VariableMeta, ...]]:
    grouped: dict[str, list[VariableMeta]] = {}
    for row in _read_csv(_VARIABLES_FILE):
        lists = tuple(c for c in row["CODELIST"].split(";") if c)
        grouped.setdefault(row["DOMAIN"], []).append(
            VariableMeta(
                name=row["VARIABLE"],
                label=row["LABEL"],
                type=row["TYPE"],
                core=row["CORE"],
                codelist=lists[0] if lists else None,
                order=int(row["ORDER"]),
                role=row["ROLE"],
                codelists=lists,
            )
        )
    return {d: tuple(sorted(vs, key=lambda v: v.order)) for d, vs in grouped.items()}


def _resolve(domain: str) -> str:
    """Map a dataset name to the key used in the metadata files (SUPPxx -> SUPPQUAL)."""
    name = domain.strip().upper()
    if name in _datasets():
        return name
    if _SUPP_RE.match(name):
        return "SUPPQUAL"
    known = ", ".join(sorted(_datasets()))
    raise KeyError(f"No SDTMIG {SDTMIG_VERSION} metadata for {domain!r}; known: {known}")


def domains() -> tuple[str, ...]:
    """Return the domains covered by the shipped metadata, in file order."""
    return tuple(_datasets())


@lru_cache(maxsize=None)
def dataset_meta(domain: str) -> DatasetMeta:
    """Return dataset metadata for a domain; SUPPxx gets SUPPQUAL's with its label filled in."""
    key = _resolve(domain)
    meta = _datasets()[key]
    name = domain.strip().upper()
    if key == "SUPPQUAL" and name != "SUPPQUAL":
        parent = name[len("SUPP") :]
        return DatasetMeta(
            domain=name,
            label=meta.label.replace(_SUPP_PLACEHOLDER, parent),
            class_=meta.class_,
            structure=meta.structure,
            keys=meta.keys,
        )
    return meta


def variable_meta(domain: str) -> list[VariableMeta]:
    """Return the domain's variables in SDTMIG order (SUPPxx returns SUPPQUAL's variables)."""
    return list(_variables()[_resolve(domain)])


# SDTM v2.0 general-observation-class timing variables that any Events, Interventions or
# Findings domain may carry although its SDTMIG table does not list them (e.g. VISITNUM in EX).
_GENERAL_TIMING = (
    ("VISITNUM", "Visit Number", "Num"),
    ("VISIT", "Visit Name", "Char"),
)
_GENERAL_CLASSES = {"EVENTS", "INTERVENTIONS", "FINDINGS", "FINDINGS ABOUT"}


def domain_variables(domain: str) -> list[VariableMeta]:
    """The domain's SDTMIG variables plus the general timing variables its table leaves out."""
    variables = variable_meta(domain)
    names = {v.name for v in variables}
    if dataset_meta(domain).class_ not in _GENERAL_CLASSES:
        return variables
    missing = [t for t in _GENERAL_TIMING if t[0] not in names]
    for dtc, dy, label in (("STDTC", "STDY", "Study Day of Start of Observation"),
                           ("ENDTC", "ENDY", "Study Day of End of Observation")):
        if f"{domain}{dtc}" in names and f"{domain}{dy}" not in names:
            missing.append((f"{domain}{dy}", label, "Num"))
    if not missing:
        return variables
    out = list(variables)
    for name, label, vtype in missing:
        # Visits go before the other timing variables; a study day right after its date.
        after = {f"{domain}STDY": f"{domain}ENDTC", f"{domain}ENDY": f"{domain}STDY"}.get(name)
        names_now = [v.name for v in out]
        if after and after in names_now:
            pos = names_now.index(after) + 1
        else:
            pos = next((i for i, v in enumerate(out) if v.name in ("VISITDY", "TAETORD", "EPOCH", f"{domain}DTC",
                                                                   f"{domain}STDTC")), len(out))
        out.insert(pos, VariableMeta(name=name, label=label, type=vtype, core="Perm", codelist=None, order=0,
                                     role="Timing"))
    return [_reorder(v, i + 1) for i, v in enumerate(out)]


def _reorder(v: VariableMeta, order: int) -> VariableMeta:
    from dataclasses import replace
    return replace(v, order=order)


def pyarrow_type(var: VariableMeta) -> pa.DataType:
    """Return the Arrow type: string for Char, int64 for whole-number Num, else float64."""
    if var.type == "Char":
        return pa.string()
    if var.type == "Num":
        return pa.int64() if INTEGER_NUM_PATTERN.match(var.name) else pa.float64()
    raise ValueError(f"Unknown SDTM type {var.type!r} for {var.name}")


def arrow_schema(domain: str, columns: list[str] | None = None) -> pa.Schema:
    """Return an Arrow schema in SDTMIG order, restricted to `columns` when given."""
    variables = variable_meta(domain)
    if columns is not None:
        wanted = set(columns)
        unknown = wanted - {v.name for v in variables}
        if unknown:
            raise KeyError(f"Not SDTMIG {SDTMIG_VERSION} {domain} variables: {sorted(unknown)}")
        variables = [v for v in variables if v.name in wanted]
    return pa.schema(
        [
            pa.field(v.name, pyarrow_type(v), nullable=True, metadata={"label": v.label})
            for v in variables
        ]
    )
