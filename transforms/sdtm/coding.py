"""Dictionary-derived terms from the study's coding tables (studies/<study>/coding/)."""
from __future__ import annotations

import pandas as pd

from transforms.cdisc.findings import WARNING, Finding
from transforms.config import read_csv_rows
from transforms.sdtm.context import BuildContext


def derive_dictionary_term(ctx: BuildContext, domain: str, raw: pd.DataFrame) -> pd.DataFrame:
    """Dictionary-derived terms (--DECOD, --BODSYS) from the study's coding table of verbatim terms."""
    path = ctx.study.study_file(f"coding/{domain.lower()}_terms.csv")
    rows = read_csv_rows(path) if path.exists() else []
    table = {r["VERBATIM"].strip().casefold(): r for r in rows}
    targets = [c for c in (rows[0].keys() if rows else []) if c != "VERBATIM"]
    topic = f"{domain}TRT" if f"{domain}TRT" in raw else f"{domain}TERM"
    if topic not in raw:
        return raw
    for t in targets:
        raw[t] = [table.get(v.strip().casefold(), {}).get(t) if isinstance(v, str) else None for v in raw[topic]]
        raw[t] = raw[t].astype("string")
    for i in raw.index:
        v = raw.at[i, topic]
        if isinstance(v, str) and v.strip().casefold() not in table:
            ctx.findings.add(Finding(WARNING, "CODING-UNCODED", raw.at[i, "_SRCFILE"], raw.at[i, "_SRCREC"], topic,
                                     f"verbatim term is not in the study's coding table {path.name}",
                                     site=raw.at[i, "_SITEID"], subjid=raw.at[i, "_SUBJECTKEY"], domain=domain))
    return raw
