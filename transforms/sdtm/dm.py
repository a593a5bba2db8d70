"""DM derivations: reference dates, death flag, arms (blinded or not), country."""
from __future__ import annotations

import pandas as pd

from transforms.cdisc.dates import dtc_date
from transforms.cdisc.findings import ERROR, Finding
from transforms.sdtm.context import BuildContext


def exposure_records(ctx: BuildContext) -> pd.DataFrame:
    """Infusions actually given: SUBJECTKEY, start and end (valid eCRF values only)."""
    ref = ctx.study.reference_dates
    items = ctx.items[ctx.items["VALID"]]
    wanted = items[items["ITEMOID"].isin([ref.exposure_given, ref.exposure_start, ref.exposure_end])]
    keys = ["SUBJECTKEY", "EVENTOID", "EVENTREPEAT", "IGOID", "IGREPEAT"]
    wide = wanted.drop_duplicates(keys + ["ITEMOID"], keep="last").set_index(keys + ["ITEMOID"])["VALUE"].unstack()
    for col in (ref.exposure_given, ref.exposure_start, ref.exposure_end):
        if col not in wide:
            wide[col] = pd.NA
    given = wide[(wide[ref.exposure_given] == "Y") & wide[ref.exposure_start].notna()]
    return pd.DataFrame({"START": given[ref.exposure_start], "END": given[ref.exposure_end].fillna(
        given[ref.exposure_start])}).reset_index()


def derive_reference_dates(ctx: BuildContext, subjects: pd.Series) -> pd.DataFrame:
    """RFSTDTC/RFXSTDTC (first infusion start) and RFXENDTC (last infusion end) per subject."""
    ex = exposure_records(ctx)
    first = ex.groupby("SUBJECTKEY")["START"].min()
    last = ex.groupby("SUBJECTKEY")["END"].max()
    out = pd.DataFrame(index=pd.Index(subjects.unique(), name="SUBJECTKEY"))
    out["RFXSTDTC"] = first.reindex(out.index).astype("string")
    out["RFXENDTC"] = last.reindex(out.index).astype("string")
    out["RFSTDTC"] = out["RFXSTDTC"]
    return out


def derive_dthfl(dthdtc: pd.Series) -> pd.Series:
    """DTHFL: Y when a death date is recorded, else null."""
    return pd.Series(["Y" if isinstance(v, str) and v else pd.NA for v in dthdtc], index=dthdtc.index, dtype="string")


def derive_rfpendtc(rfendtc: pd.Series, dthdtc: pd.Series) -> pd.Series:
    """RFPENDTC: the later of end of study and death (the end of participation)."""
    def later(a, b):
        dates = [d for d in (a, b) if isinstance(d, str) and dtc_date(d)]
        return max(dates) if dates else (a if isinstance(a, str) else pd.NA)
    return pd.Series([later(a, b) for a, b in zip(rfendtc, dthdtc, strict=True)], index=rfendtc.index, dtype="string")


def derive_arm(ctx: BuildContext, dm: pd.DataFrame, randno: pd.Series, entered: pd.Series) -> pd.DataFrame:
    """ARMCD/ARM/ACTARMCD/ACTARM/ARMNRS from the randomization list, blinded without it.

    `randno` is each subject's valid randomization number, `entered` whether one was entered at all: a
    subject whose number the eCRF rejects was randomized all the same, so it is no screen failure; its
    arm is blinded in a blinded build and cannot be resolved (null, with a finding) in an unblinded one.
    """
    study = ctx.study
    arm_of = {}
    if ctx.randomization is not None:
        arm_of = dict(zip(ctx.randomization["RANDNO"], ctx.randomization["ARMCD"], strict=True))
    rn = randno.reindex(dm.index).astype("string")
    has_number = (rn.fillna("") != "").to_numpy()
    screen_failure = ~entered.reindex(dm.index, fill_value=False).astype(bool).to_numpy() & ~has_number
    treated = dm["RFXSTDTC"].map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    code = pd.Series(pd.NA, index=dm.index, dtype="string")
    if ctx.blinded:
        code[~screen_failure] = study.blinded.armcd
        name = pd.Series(pd.NA, index=dm.index, dtype="string")
        name[~screen_failure] = study.blinded.arm
    else:
        listed = has_number & rn.isin(list(arm_of)).to_numpy()
        code = rn.where(listed).map(arm_of).astype("string")
        name = code.map({c: a.arm for c, a in study.arms.items()}).astype("string")
        _report_unresolved_arms(ctx, dm, rn, ~screen_failure & ~has_number, ~screen_failure & has_number & ~listed)
    randomized_untreated = ~screen_failure & ~treated
    return pd.DataFrame({
        "ARMCD": code, "ARM": name, "ACTARMCD": code.where(treated), "ACTARM": name.where(treated),
        "ARMNRS": pd.Series(pd.NA, index=dm.index, dtype="string").mask(
            screen_failure, study.screen_failure.armnrs).mask(randomized_untreated, "ASSIGNED, NOT TREATED"),
    }, index=dm.index).astype("string")


def _report_unresolved_arms(ctx: BuildContext, dm: pd.DataFrame, rn: pd.Series, invalid, not_listed) -> None:
    """RAND-NUMBER-INVALID and RAND-NOT-LISTED of an unblinded build: only the subjects concerned are visited."""
    item = ctx.study.reference_dates.randomization_number
    for i in dm.index[invalid]:
        ctx.findings.add(Finding(ERROR, "RAND-NUMBER-INVALID", dm.at[i, "_SRCFILE"], dm.at[i, "_SRCREC"], item,
                                 "the randomization number entered is not valid on the eCRF (see the raw-data "
                                 "finding); the arm cannot be looked up in the unblinded list",
                                 site=dm.at[i, "_SITEID"], subjid=dm.at[i, "_SUBJECTKEY"]))
    for i in dm.index[not_listed]:
        ctx.findings.add(Finding(ERROR, "RAND-NOT-LISTED", dm.at[i, "_SRCFILE"], dm.at[i, "_SRCREC"], item,
                                 "randomization number is not in the unblinded list", value=rn[i],
                                 site=dm.at[i, "_SITEID"], subjid=dm.at[i, "_SUBJECTKEY"]))


def derive_country(ctx: BuildContext, siteid: pd.Series) -> pd.Series:
    """COUNTRY (ISO 3166-1 alpha-3) of each subject's site."""
    return siteid.map(lambda s: ctx.study.sites[s].country if s in ctx.study.sites else pd.NA).astype("string")


def derive_planned_dose(ctx: BuildContext, randno: pd.Series) -> pd.Series:
    """SUPPDM.PLANDOSE: the planned dose level (DOSELVL) of each subject's randomization number (unblinded only)."""
    listed = ctx.randomization.set_index("RANDNO")["DOSELVL"]
    return randno.map(listed).astype("Float64")
