"""Standards reference data: SDTMIG 3.4 dataset/variable metadata and CDISC SDTM CT 2025-03-25."""

from transforms.standards.ct import (
    CT_VERSION,
    Codelist,
    Term,
    codelist,
    codelist_names,
    is_term,
    paired_codelist,
    paired_test_name,
    term_code,
)
from transforms.standards.metadata import (
    SDTMIG_VERSION,
    DatasetMeta,
    VariableMeta,
    arrow_schema,
    dataset_meta,
    domains,
    pyarrow_type,
    variable_meta,
)

__all__ = [
    "CT_VERSION",
    "SDTMIG_VERSION",
    "Codelist",
    "DatasetMeta",
    "Term",
    "VariableMeta",
    "arrow_schema",
    "codelist",
    "codelist_names",
    "dataset_meta",
    "domains",
    "is_term",
    "paired_codelist",
    "paired_test_name",
    "pyarrow_type",
    "term_code",
    "variable_meta",
]
