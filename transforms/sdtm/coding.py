"""Dictionary-derived terms from the study's coding tables (studies/<study>/coding/)."""
from __future__ import annotations

import pandas as pd

from transforms.cdisc.findings import WARNING, Finding
from transforms.config import read_csv_rows
from transforms.sdtm.context import BuildContext


def derive_dictionary_term(ctx: BuildContext, domain: str, records: pd.DataFrame) -> pd.DataFrame:
    """Dictionary-derived terms (--DECOD, --BODSYS) from the study's coding table of verbatim terms."""
    path = ctx.study.study_file(f"coding/{domain.lower()}_terms.csv")
    rows = read_csv_rows(path) if path.exists() else []
    table = {r["VERBATIM"].strip().casefold(): r for r in rows}
    targets = [c for c in (rows[0].keys() if rows else []) if c != "VERBATIM"]
    topic = f"{domain}TRT" if f"{domain}TRT" in records else f"{domain}TERM"
    if topic not in records:
        return records
    for t in targets:
        records[t] = [table.get(v.strip().casefold(), {}).get(t) if isinstance(v, str) else None for v in records[topic]]
        records[t] = records[t].astype("string")
    for i in records.index:
        v = records.at[i, topic]
        if isinstance(v, str) and v.strip().casefold() not in table:
            ctx.findings.add(Finding(WARNING, "CODING-UNCODED", records.at[i, "_SRCFILE"], records.at[i, "_SRCREC"], topic,
                                     f"verbatim term is not in the study's coding table {path.name}",
                                     site=records.at[i, "_SITEID"], subjid=records.at[i, "_SUBJECTKEY"], domain=domain))
    return records
