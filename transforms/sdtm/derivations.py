"""The SDTM derivation registry: each name a spec may give in SOURCE for ALGORITHM `derived`, bound to its function.

`load_spec` fails on a name that is not registered here, so a spec row always names code that exists.
The study-wide derivations (STUDYID, DOMAIN, USUBJID, --SEQ, VISITNUM/VISIT, --DY, EPOCH, --LOBXFL) are
applied by `finalize` only for the variables whose spec rows name them; the others are the steps of the
domain builders (dm, lb, ex, coding) that produce the variables the spec row lists.
"""
from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from transforms.cdisc.dates import derive_study_day
from transforms.cdisc.results import nrind
from transforms.sdtm import dm, ex, lb
from transforms.sdtm.coding import derive_dictionary_term
from transforms.sdtm.context import BuildContext
from transforms.sdtm.derive import (
    derive_domain,
    derive_epoch,
    derive_lobxfl,
    derive_seq,
    derive_standard_result,
    derive_studyid,
    derive_usubjid,
)
from transforms.sdtm.trial_design import TRIAL_DESIGN
from transforms.sdtm.visits import derive_visit
from transforms.standards.metadata import dataset_meta

DERIVATIONS: dict[str, Callable[..., object]] = {
    # study-wide (`*` rows), applied by finalize where the spec asks
    "derive_studyid": derive_studyid,
    "derive_domain": derive_domain,
    "derive_usubjid": derive_usubjid,
    "derive_seq": derive_seq,
    "derive_visit": derive_visit,
    "derive_study_day": derive_study_day,
    "derive_epoch": derive_epoch,
    "derive_lobxfl": derive_lobxfl,
    # DM: one reference-date derivation gives RFSTDTC, RFXSTDTC and RFXENDTC
    "derive_rfstdtc": dm.derive_reference_dates,
    "derive_rfxstdtc": dm.derive_reference_dates,
    "derive_rfxendtc": dm.derive_reference_dates,
    "derive_rfpendtc": dm.derive_rfpendtc,
    "derive_dthfl": dm.derive_dthfl,
    "derive_arm": dm.derive_arm,
    "derive_country": dm.derive_country,
    "derive_planned_dose": dm.derive_planned_dose,
    # EX
    "derive_extrt": ex.derive_extrt,
    "derive_exdose": ex.derive_exdose,
    # findings and events domains
    "derive_standard_result": derive_standard_result,
    "derive_dictionary_term": derive_dictionary_term,
    "derive_lab_standard_result": lb.lab_result,
    "derive_nrind": nrind,
    "derive_reason_not_done": lb.derive_reason_not_done,
}


def derive_spec_variables(ctx: BuildContext, domain: str, df: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The study-wide derivations the spec asks for in a domain (only SDTMIG variables of it), in dependency order."""
    study, spec = ctx.study, ctx.spec
    derived = spec.derived(domain)

    def wanted(derivation: str) -> set[str]:
        return spec.derived_variables(domain, derivation) & set(names)

    subject_level = "_SUBJECTKEY" in df and domain not in TRIAL_DESIGN
    if subject_level and "USUBJID" in wanted("derive_usubjid"):
        df["USUBJID"] = derive_usubjid(study.study_id, df["_SUBJECTKEY"])
    if "STUDYID" in wanted("derive_studyid"):
        df["STUDYID"] = derive_studyid(df.index, study.study_id)
    if "DOMAIN" in wanted("derive_domain"):
        df["DOMAIN"] = derive_domain(df.index, domain)
    if "derive_standard_result" in derived:
        derive_standard_result(domain, df)
    if "derive_dictionary_term" in derived:
        df = derive_dictionary_term(ctx, domain, df)
    if subject_level and "VISITNUM" in wanted("derive_visit") and domain != "SV" and ctx.visits is not None:
        df["VISITNUM"], df["VISIT"] = derive_visit(df, domain, ctx.visits)
    if subject_level:
        ref = ctx.reference.reindex(df["_SUBJECTKEY"]).reset_index(drop=True)
        study_days = wanted("derive_study_day")
        for suffix, dy in (("DTC", "DY"), ("STDTC", "STDY"), ("ENDTC", "ENDY")):
            dtc, dyv = f"{domain}{suffix}", f"{domain}{dy}"
            if dyv in study_days and dtc in df:
                df[dyv] = derive_study_day(df[dtc], ref["RFSTDTC"])
        base = next((c for c in (f"{domain}DTC", f"{domain}STDTC") if c in df), None)
        # SE brings the EPOCH of its elements from TA; everywhere else EPOCH is derived from the date.
        if "EPOCH" in wanted("derive_epoch") and base and "EPOCH" not in df:
            e = study.epochs
            df["EPOCH"] = derive_epoch(df[base], ref["RFXSTDTC"], ref["RFXENDTC"], e.before_exposure,
                                       e.during_exposure, e.after_exposure)
        testcd = f"{domain}TESTCD"
        if f"{domain}LOBXFL" in wanted("derive_lobxfl") and testcd in df and f"{domain}DTC" in df:
            result = f"{domain}STRESC" if f"{domain}STRESC" in df else f"{domain}ORRES"
            df["_RFX"] = ref["RFXSTDTC"]
            df[f"{domain}LOBXFL"] = derive_lobxfl(df, ["_SUBJECTKEY", testcd], f"{domain}DTC", result, "_RFX",
                                                  numeric=f"{domain}STRESN")
    seq = f"{domain}SEQ"
    if seq in wanted("derive_seq") and "USUBJID" in df:
        keys = [k for k in dataset_meta(domain).keys if k not in ("STUDYID", "USUBJID", seq) and k in df]
        df[seq] = derive_seq(df, [*keys, "_SRCFILE", "_SRCREC"]).astype("Int64")
    return df
