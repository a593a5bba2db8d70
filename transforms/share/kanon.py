"""k-anonymity of the shared participants over the quasi-identifiers (age group x sex x site, as configured)."""
from __future__ import annotations

import pandas as pd

from transforms.share.rules import KAnonymity, ShareError


def age_group(age: object, breaks: list[int]) -> str:
    """The age band of an age: '<18', '18-29', ..., '70+' from the configured breaks; 'missing' when unknown."""
    if age is None or pd.isna(age):
        return "missing"
    a = float(age)
    if a < breaks[0]:
        return f"<{breaks[0]}"
    for lo, hi in zip(breaks, breaks[1:], strict=False):
        if lo <= a < hi:
            return f"{lo}-{hi - 1}"
    return f"{breaks[-1]}+"


def k_anonymity(subjects: pd.DataFrame, cfg: KAnonymity) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per participant with its equivalence class and k, one row per class with k and whether k < threshold)."""
    qi = []
    if "USUBJID" not in subjects.columns:
        raise ShareError(f"k-anonymity: the shared {cfg.dataset} has no USUBJID")
    table = pd.DataFrame({"USUBJID": subjects["USUBJID"].astype(str)})
    for var in cfg.quasi_identifiers:
        if var not in subjects.columns:
            raise ShareError(f"k-anonymity: quasi-identifier {var} is not a variable of the shared {cfg.dataset}")
        if var == cfg.age_variable:
            table["AGEGROUP"] = [age_group(a, cfg.age_breaks) for a in subjects[var]]
            qi.append("AGEGROUP")
        else:
            table[var] = subjects[var].astype(object).where(subjects[var].notna(), "missing").astype(str)
            qi.append(var)
    table["K"] = table.groupby(qi)["USUBJID"].transform("size").astype(int)
    table = table.sort_values("USUBJID", kind="stable").reset_index(drop=True)
    summary = table.groupby(qi, as_index=False).agg(K=("USUBJID", "size"))
    summary["BELOW_THRESHOLD"] = (summary["K"] < cfg.threshold).map({True: "Y", False: "N"})
    summary = summary.sort_values(["K", *qi], kind="stable").reset_index(drop=True)
    return table, summary
