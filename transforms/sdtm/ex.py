"""EX derivations: the treatment given and its planned dose follow the (un)blinding of the build."""
from __future__ import annotations

import pandas as pd

from transforms.sdtm.context import BuildContext
from transforms.sdtm.edc_records import subject_items


def randomization_numbers(ctx: BuildContext) -> pd.DataFrame:
    """Per subject (index SUBJECTKEY): RANDNO, the valid eCRF randomization number or null, and ENTERED, a number
    was entered at all.

    A number the eCRF metadata rejects (too long, wrong type) is a raw-data query; the subject stays
    randomized (ENTERED) but its arm cannot be looked up (RANDNO null).
    """
    rn_col = ctx.study.reference_dates.randomization_number
    valid = subject_items(ctx.items, (ctx.meta.item_group_of_item()[rn_col],))
    values = ctx.items.loc[ctx.items["ITEMOID"] == rn_col, ["SUBJECTKEY", "VALUE"]]
    entered = pd.Index(values.loc[values["VALUE"].fillna("") != "", "SUBJECTKEY"].unique(), name="SUBJECTKEY")
    out = pd.DataFrame(index=entered.union(valid.index))
    out["RANDNO"] = (valid[rn_col] if rn_col in valid else pd.Series(dtype="string")).reindex(out.index)
    out["ENTERED"] = out.index.isin(entered)
    return out


def listed_randomization(ctx: BuildContext, subjects: pd.Series) -> pd.DataFrame:
    """The unblinded randomization list's row (ARMCD, DOSELVL) of each subject's valid randomization number."""
    listed = ctx.randomization.set_index("RANDNO")
    numbers = subjects.map(randomization_numbers(ctx)["RANDNO"])
    return pd.DataFrame({"ARMCD": numbers.map(listed["ARMCD"]), "DOSELVL": numbers.map(listed["DOSELVL"])},
                        index=subjects.index)


def derive_extrt(ctx: BuildContext, subjects: pd.Series) -> pd.Series:
    """EXTRT: the treatment of the subject's arm, or the blinded placeholder without the list."""
    if ctx.blinded:
        return pd.Series(ctx.study.blinded.extrt, index=subjects.index, dtype="string")
    arm = listed_randomization(ctx, subjects)["ARMCD"]
    return arm.map(lambda a: ctx.study.arms[a].extrt if isinstance(a, str) else pd.NA)


def derive_exdose(ctx: BuildContext, subjects: pd.Series) -> pd.DataFrame:
    """EXDOSE/EXDOSU: the planned dose level of the randomization list and its arm's unit (null when blinded)."""
    if ctx.blinded:
        return pd.DataFrame({"EXDOSE": pd.NA, "EXDOSU": pd.NA}, index=subjects.index)
    listed = listed_randomization(ctx, subjects)
    return pd.DataFrame({
        "EXDOSE": listed["DOSELVL"].astype("Float64"),
        "EXDOSU": listed["ARMCD"].map(lambda a: ctx.study.arms[a].dose_unit if isinstance(a, str) else pd.NA),
    }, index=subjects.index)
