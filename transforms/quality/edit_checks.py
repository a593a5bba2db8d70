"""Layer 3: clinical edit checks across sources, configured in studies/<study>/quality/edit_checks.yaml."""
from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from transforms.adam.adlb import is_screening_visit, lab_records, meld_records
from transforms.config import StudyConfig
from transforms.cdisc.findings import ERROR, WARNING, Finding
from transforms.config.adam import AdamConfig, load_adam_config
from transforms.config.quality import (
    EditCheckConfig,
    EligibilityAnswer,
    EligibilityCheck,
    StratumCheck,
    load_edit_check_config,
)
from transforms.quality.sdtm_data import SdtmData


def screening_meld(data: SdtmData, adam: AdamConfig) -> pd.DataFrame:
    """Per subject, the MELD of the latest screening day with creatinine, bilirubin and INR (USUBJID, DATE, MELD).

    The analysis' own MELD derivation (ADLB) on the screening visit's records: one rule for both.
    """
    empty = pd.DataFrame(columns=["USUBJID", "DATE", "MELD"])
    lb = data.get("LB")
    if lb.empty:
        return empty
    lab = lab_records(lb, adam)
    meld = meld_records(lab[is_screening_visit(lab["VISIT"], adam)], adam)
    if meld.empty:
        return empty
    out = pd.DataFrame({"USUBJID": meld["USUBJID"], "DATE": meld["ADT"].dt.strftime("%Y-%m-%d"),
                        "MELD": meld["AVAL"].astype(float)})
    return out.sort_values(["USUBJID", "DATE"], kind="stable").groupby("USUBJID").tail(1)


def check_stratum(data: SdtmData, cfg: StratumCheck, adam: AdamConfig,
                  meld: pd.DataFrame | None = None) -> list[Finding]:
    """The randomization stratum agrees with the MELD computed from screening labs (`screening_meld`, when given)."""
    supp = data.get("SUPPDM")
    if supp.empty:
        return []
    strata = supp[supp["QNAM"] == cfg.qnam].set_index("USUBJID")["QVAL"]
    meld = (screening_meld(data, adam) if meld is None else meld).set_index("USUBJID")
    dm = data.get("DM").set_index("USUBJID")
    out = []
    for usubjid, stratum in strata.items():
        if usubjid not in meld.index or stratum not in cfg.ranges:
            continue
        lo, hi = cfg.ranges[stratum]
        score = meld.at[usubjid, "MELD"]
        if not lo <= score <= hi:
            row = dm.loc[usubjid].copy()
            row["USUBJID"] = usubjid
            out.append(data.finding("DM", row, rule="EC-STRATUM-MELD", field="SUPPDM.STRATUM", value=stratum,
                                    severity=WARNING, message=f"Randomized in stratum '{stratum}' but the MELD from "
                                    f"the screening labs of {meld.at[usubjid, 'DATE']} is {score:g}."))
    return out


def _not_met(data: SdtmData) -> set[tuple[str, str]]:
    ie = data.get("IE")
    return set(zip(ie["USUBJID"], ie["IETESTCD"], strict=True)) if not ie.empty else set()


def _screening_values(lb: pd.DataFrame, adam: AdamConfig, test: str) -> dict[str, float]:
    if lb.empty:
        return {}
    sub = lb[is_screening_visit(lb["VISIT"], adam) & (lb["LBTESTCD"] == test) & lb["LBSTRESN"].notna()]
    return dict(sub.sort_values("LBDTC").groupby("USUBJID")["LBSTRESN"].last())


def check_eligibility(data: SdtmData, cfg: dict[str, EligibilityCheck], adam: AdamConfig,
                      screen_failure: str, meld: pd.DataFrame | None = None) -> list[Finding]:
    """Randomized subjects whose screening data contradict a criterion recorded as met (MELD: `screening_meld`)."""
    dm = data.get("DM")
    if dm.empty:
        return []
    randomized = dm[dm["ARMNRS"].fillna("") != screen_failure] if "ARMNRS" in dm else dm
    not_met = _not_met(data)
    meld = screening_meld(data, adam) if meld is None else meld
    meld = dict(meld[["USUBJID", "MELD"]].itertuples(index=False))
    lb = data.get("LB")
    by_test: dict[str, dict[str, float]] = {}

    def screening(test: str) -> dict[str, float]:
        # Once per test, not per subject: the LB dataset is the largest there is.
        if test not in by_test:
            by_test[test] = _screening_values(lb, adam, test)
        return by_test[test]

    out = []
    for code, rule in cfg.items():
        for _, row in randomized.iterrows():
            u = row["USUBJID"]
            if (u, code) in not_met:
                continue
            problem = _criterion_problem(screening, rule, row, meld)
            if problem:
                out.append(data.finding("DM", row, rule=f"EC-ELIGIBILITY-{code}", field=code, severity=ERROR,
                                        message=f"Eligibility {code} is recorded as met, but {problem}."))
    return out


def _criterion_problem(screening: Callable[[str], dict[str, float]], rule: EligibilityCheck, row: pd.Series,
                       meld: dict) -> str | None:
    u = row["USUBJID"]
    if rule.check == "age":
        age = row.get("AGE")
        if pd.notna(age) and not rule.min <= age <= rule.max:
            return f"the age is {age:g}"
    elif rule.check == "lab_min":
        v = screening(rule.test).get(u)
        if v is not None and v < rule.min:
            return f"the screening {rule.test} is {v:g}"
    elif rule.check == "any_of":
        values = {t.test: screening(t.test).get(u) for t in rule.tests}
        if all(values[t.test] is not None for t in rule.tests) and not any(
                (values[t.test] <= t.max) if t.max is not None else (values[t.test] >= t.min) for t in rule.tests):
            return "the screening " + " and ".join(f"{k} is {v:g}" for k, v in values.items())
    elif rule.check == "meld":
        v = meld.get(u)
        if v is not None and not rule.min <= v <= rule.max:
            return f"the screening MELD is {v:g}"
    return None


def _eligibility_answers(data: SdtmData, qnam: str) -> dict[str, str]:
    supp = data.get("SUPPDM")
    if supp.empty:
        return {}
    rows = supp[supp["QNAM"] == qnam]
    return dict(zip(rows["USUBJID"], rows["QVAL"], strict=True))


def _criteria_not_met(data: SdtmData) -> dict[str, list[str]]:
    ie = data.get("IE")
    if ie.empty:
        return {}
    return {u: sorted(g["IETESTCD"]) for u, g in ie.groupby("USUBJID")}


def _screen_failures(data: SdtmData, dsdecod: str) -> set[str]:
    ds = data.get("DS")
    return set(ds.loc[ds["DSDECOD"] == dsdecod, "USUBJID"]) if not ds.empty else set()


def check_eligibility_answer(data: SdtmData, cfg: EligibilityAnswer, screen_failure: str) -> list[Finding]:
    """The eligibility answer (SUPPDM IEYN) is given, agrees with the criteria not met, and an ineligible
    subject was not randomized."""
    dm = data.get("DM")
    if dm.empty:
        return []
    qnam, item, form = cfg.qnam, cfg.item, cfg.form
    answers, not_met = _eligibility_answers(data, qnam), _criteria_not_met(data)
    with_form = set(not_met) | _screen_failures(data, cfg.screen_failure_dsdecod)
    out = []
    for _, row in dm.iterrows():
        u = row["USUBJID"]
        armnrs = row.get("ARMNRS")
        randomized = (armnrs if isinstance(armnrs, str) else "") != screen_failure
        answer = answers.get(u)
        for rule, severity, text in eligibility_answer_problems(answer, not_met.get(u, []), randomized,
                                                                u in with_form):
            out.append(data.finding("DM", row, rule=rule, field=item, value=answer or "", severity=severity,
                                    message=f"{form} form: {text}"))
    return out


def eligibility_answer_problems(answer: str | None, not_met: list[str], randomized: bool,
                                has_form: bool) -> list[tuple[str, str, str]]:
    """(rule, severity, message) of each problem with one subject's eligibility answer."""
    criteria = ", ".join(not_met)
    out = []
    if answer is None and (randomized or has_form):
        who = "a randomized subject" if randomized else "a subject whose eligibility was assessed"
        out.append(("EC-IEYN-MISSING", ERROR, f"'Were all eligibility criteria met?' is not answered for {who}."))
    if answer == "Y" and not_met:
        out.append(("EC-IEYN-CONTRADICTS", ERROR, "'Were all eligibility criteria met?' is Yes, but criteria "
                    f"not met are listed ({criteria})."))
    if answer == "N" and not not_met:
        out.append(("EC-IEYN-NO-CRITERION", ERROR,
                    "'Were all eligibility criteria met?' is No, but no criterion not met is listed."))
    if randomized and (answer == "N" or not_met):
        # Valid data when it happened (a protocol deviation): the site confirms it, PP excludes the subject.
        why = f"criteria not met: {criteria}" if not_met else "eligibility answered No"
        out.append(("EC-INELIGIBLE-RANDOMIZED", WARNING, f"the subject was randomized although not eligible "
                    f"({why}); confirm, or correct the form."))
    return out


def check_visit_windows(data: SdtmData, study: StudyConfig) -> list[Finding]:
    """Scheduled visits on a study day outside the visit's window (visits.csv)."""
    sv = data.get("SV")
    windows = {v.visitnum: v for v in study.visits if v.visitnum is not None and v.window_lo is not None}
    out = []
    if sv.empty or "SVSTDY" not in sv:
        return out
    sv = sv[sv["VISITNUM"].isin(windows) & sv["SVSTDY"].notna()]
    lo = sv["VISITNUM"].map({k: w.window_lo for k, w in windows.items()}).astype(float)
    hi = sv["VISITNUM"].map({k: w.window_hi for k, w in windows.items()}).astype(float)
    first = sv["SVSTDY"].astype(float)
    last = sv["SVENDY"].astype(float).fillna(first) if "SVENDY" in sv else first
    # Only the visits outside their window become findings (row by row, for their messages).
    for _, row in sv[((last < lo) | (first > hi)).to_numpy(dtype=bool)].iterrows():
        w = windows[row["VISITNUM"]]
        first = int(row["SVSTDY"])
        last = int(row["SVENDY"]) if pd.notna(row.get("SVENDY")) else first
        # A visit spanning several days (randomization the day before the Day-1 infusion) is in its
        # window when any of its days is.
        if last < w.window_lo or first > w.window_hi:
            days = f"{first}" if first == last else f"{first} to {last}"
            out.append(data.finding("SV", row, rule="EC-VISIT-WINDOW", field="SVSTDTC", value=row["SVSTDTC"],
                                    severity=WARNING, message=f"{w.visit} took place on study day {days}, "
                                    f"outside its window (days {w.window_lo} to {w.window_hi})."))
    return out


def check_infusion_order(data: SdtmData) -> list[Finding]:
    """Infusions follow the visit order, each starting after the previous one."""
    ex = data.get("EX")
    out = []
    if ex.empty:
        return out
    ex = ex.sort_values(["USUBJID", "VISITNUM"])
    prev = ex.shift(1)  # each infusion against the one before it of the same subject
    same = (ex["USUBJID"] == prev["USUBJID"]).fillna(False).to_numpy(dtype=bool)
    starts, before = ex["EXSTDTC"].tolist(), prev["EXSTDTC"].tolist()
    late = [s and isinstance(a, str) and isinstance(b, str) and a <= b
            for s, a, b in zip(same, starts, before, strict=True)]
    for i in [i for i, bad in enumerate(late) if bad]:
        row, p = ex.iloc[i], prev.iloc[i]
        out.append(data.finding("EX", row, rule="EC-INFUSION-ORDER", field="EXSTDTC", value=row["EXSTDTC"],
                                message=f"The {row['VISIT']} infusion starts before the {p['VISIT']} "
                                f"infusion ({p['EXSTDTC']})."))
    return out


def run_edit_checks(data: SdtmData, study: StudyConfig) -> list[Finding]:
    """All clinical edit checks configured for the study."""
    cfg: EditCheckConfig = load_edit_check_config(study)
    out = [*check_visit_windows(data, study), *check_infusion_order(data)]
    adam = load_adam_config(study)  # one MELD and one screening visit for the edit checks and the analysis
    meld = screening_meld(data, adam) if cfg.stratum is not None or cfg.eligibility else None  # derived once
    if cfg.stratum is not None:
        out += check_stratum(data, cfg.stratum, adam, meld)
    if cfg.eligibility:
        out += check_eligibility(data, cfg.eligibility, adam, study.screen_failure.armnrs, meld)
    if cfg.eligibility_answer is not None:
        out += check_eligibility_answer(data, cfg.eligibility_answer, study.screen_failure.armnrs)
    return out
