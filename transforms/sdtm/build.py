"""SDTM build: map each domain from the staged sources, derive, and shape to SDTMIG 3.4."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from transforms.cdisc.results import format_number
from transforms.config import StudyConfig
from transforms.ingest.lab import names_path
from transforms.odm.metadata import load_metadata
from transforms.privacy.scrub import drop_scrubber
from transforms.sdtm import dm as dmx
from transforms.sdtm import trial_design as td
from transforms.sdtm.context import BuildContext
from transforms.sdtm.derivations import derive_spec_variables
from transforms.sdtm.edc_records import INTERNAL, RecordMapper
from transforms.sdtm.ex import derive_exdose, derive_extrt, randomization_numbers
from transforms.sdtm.lb import lab_records
from transforms.sdtm.se import build_se
from transforms.sdtm.spec import MappingSpec, SpecError, load_spec
from transforms.sdtm.trial_design import TRIAL_DESIGN
from transforms.sdtm.visits import edc_visit_dates, number_visits
from transforms.standards.metadata import VariableMeta, dataset_meta, domain_variables, pyarrow_type

@dataclass
class BuiltDomain:
    """One SDTM dataset, its SUPP-- dataset if any, and its lineage (key -> source file and record)."""

    domain: str
    data: pd.DataFrame
    supp: pd.DataFrame | None
    lineage: pd.DataFrame


def load_context(study: StudyConfig, staged: Path) -> BuildContext:
    """Read the staged sources the SDTM build needs."""
    items = pd.read_parquet(staged / "edc_items.parquet")
    rand_path = staged / "randomization.parquet"
    randomization = pd.read_parquet(rand_path) if rand_path.exists() else None
    ident_items = items[items["ITEMOID"].isin(study.identifiers.items)]
    identifiers: dict[str, list[str]] = {}
    for subj, value in zip(ident_items["SUBJECTKEY"], ident_items["VALUE"], strict=True):
        identifiers.setdefault(subj, []).append(value)
    mrn_rows = items[items["ITEMOID"] == study.identifiers.link_item]
    subject_of_mrn = {(s, m): k for s, m, k in zip(mrn_rows["SITEID"], mrn_rows["VALUE"], mrn_rows["SUBJECTKEY"],
                                                    strict=True)}
    for site in study.sites:
        p = names_path(staged / f"lab_{site}.parquet")
        if p.exists():
            for mrn, name in pd.read_parquet(p).itertuples(index=False):
                if (site, mrn) in subject_of_mrn:
                    identifiers.setdefault(subject_of_mrn[(site, mrn)], []).append(name)
    return BuildContext(study=study, spec=load_spec(study), meta=load_metadata(study.metadata_path), items=items,
                        randomization=randomization, identifiers=identifiers,
                        scrubber=drop_scrubber(study, staged))


def map_domain(ctx: BuildContext, domain: str) -> pd.DataFrame:
    """All record templates of a domain, mapped by the spec (before the derivations)."""
    mapper = RecordMapper(ctx.spec, ctx.meta, ctx.scrubber, ctx.findings)
    frames = [mapper.map_template(t, ctx.items) for t in ctx.spec.templates(domain)]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=INTERNAL)


def build_dm_records(ctx: BuildContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    """DM before shaping (mapped variables plus reference dates, arms and country) and the reference dates."""
    records = map_domain(ctx, "DM").drop_duplicates("_SUBJECTKEY", keep="first").reset_index(drop=True)
    ref = dmx.derive_reference_dates(ctx, records["_SUBJECTKEY"])
    for col in ("RFSTDTC", "RFXSTDTC", "RFXENDTC"):
        records[col] = ref.loc[records["_SUBJECTKEY"], col].to_numpy()
    records["DTHFL"] = dmx.derive_dthfl(records.get("DTHDTC", pd.Series(pd.NA, index=records.index)))
    records["RFPENDTC"] = dmx.derive_rfpendtc(records["RFENDTC"], records["DTHDTC"])
    numbers = randomization_numbers(ctx)
    randno_by_row = records["_SUBJECTKEY"].map(numbers["RANDNO"])
    arms = dmx.derive_arm(ctx, records, randno_by_row, records["_SUBJECTKEY"].map(numbers["ENTERED"]).fillna(False))
    records[arms.columns] = arms
    records["COUNTRY"] = dmx.derive_country(ctx, records["SITEID"])
    if not ctx.blinded and "derive_planned_dose" in ctx.spec.derived("SUPPDM"):
        records["SUPP:PLANDOSE"] = dmx.derive_planned_dose(ctx, randno_by_row)
    return records, ref


def build_ex_records(ctx: BuildContext) -> pd.DataFrame:
    """EX before shaping: treatment name and planned dose follow the (un)blinding."""
    records = map_domain(ctx, "EX")
    if records.empty:
        return records
    records["EXTRT"] = derive_extrt(ctx, records["_SUBJECTKEY"])
    records[["EXDOSE", "EXDOSU"]] = derive_exdose(ctx, records["_SUBJECTKEY"])
    return records


def build_lb_records(ctx: BuildContext, staged: Path) -> pd.DataFrame:
    """LB before shaping, from every site's staged results."""
    frames = []
    for site, cfg in sorted(ctx.study.sites.items()):
        path = staged / f"lab_{site}.parquet"
        if cfg.lab and path.exists():
            frames.append(lab_records(ctx, site, pd.read_parquet(path)))
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=INTERNAL)


def build_visits(ctx: BuildContext, lb: pd.DataFrame) -> pd.DataFrame:
    """All subject visits (eCRF and lab-only), numbered."""
    edc = edc_visit_dates(ctx.items, ctx.study)
    lab_dates = pd.DataFrame({"SUBJECTKEY": lb.get("_SUBJECTKEY", pd.Series(dtype="string")),
                              "SITEID": lb.get("_SITEID", pd.Series(dtype="string")),
                              "LABDATE": lb.get("LBDTC", pd.Series(dtype="string")).str.slice(0, 10)})
    return number_visits(edc, lab_dates, ctx.study)


def sv_records(ctx: BuildContext) -> pd.DataFrame:
    """SV before shaping: one record per visit that happened."""
    v = ctx.visits
    return pd.DataFrame({
        "_SUBJECTKEY": v["SUBJECTKEY"], "_SITEID": v["SITEID"], "_EVENTOID": v["EVENTOID"],
        "_EVENTREPEAT": v["EVENTREPEAT"], "_RECORD": "VISIT", "_SRCFILE": v["_SRCFILE"], "_SRCREC": v["_SRCREC"],
        "VISITNUM": v["VISITNUM"], "VISIT": v["VISIT"], "VISITDY": v["VISITDY"],
        # SV holds visits that happened; a planned (protocol) visit is pre-specified.
        "SVPRESP": v["VISITDY"].notna().map({True: "Y", False: pd.NA}),
        "SVOCCUR": v["VISITDY"].notna().map({True: "Y", False: pd.NA}), "SVSTDTC": v["SVSTDTC"],
        "SVENDTC": v["SVENDTC"], "SVUPDES": v["SVUPDES"],
    })


def finalize(ctx: BuildContext, domain: str, records: pd.DataFrame) -> BuiltDomain:
    """Derive the study-wide variables, then shape to SDTMIG order and types."""
    variables = domain_variables(domain)
    names = [v.name for v in variables]
    df = derive_spec_variables(ctx, domain, records.reset_index(drop=True).copy(), names)
    seq = f"{domain}SEQ"
    unknown = [c for c in df.columns if not c.startswith(("_", "SUPP:")) and c not in names]
    if unknown:
        raise SpecError(f"{domain}: variables not in SDTMIG 3.4 {domain}: {unknown}")
    keep = [v for v in variables if v.name in df and (v.core in ("Req", "Exp") or df[v.name].notna().any())]
    keep += [v for v in variables if v.name not in df and v.core in ("Req", "Exp")]
    keep += study_days_of_kept_dates(domain, variables, keep, df)
    keep.sort(key=lambda v: v.order)
    out = pd.DataFrame(index=df.index)
    for v in keep:
        out[v.name] = _typed(df[v.name] if v.name in df else pd.Series(pd.NA, index=df.index), pyarrow_type(v))
    sort_keys = ["USUBJID", seq] if seq in out and "USUBJID" in out else [c for c in dataset_meta(domain).keys if c in out]
    order = out.sort_values(sort_keys, kind="stable").index if sort_keys else out.index
    out, df = out.loc[order].reset_index(drop=True), df.loc[order].reset_index(drop=True)
    # The record's key in lineage: --SEQ, or the natural key for datasets without one (SV).
    record_key = [seq] if seq in out else [k for k in dataset_meta(domain).keys if k in out
                                           and k not in ("STUDYID", "USUBJID")]
    lineage = pd.DataFrame({"STUDYID": out["STUDYID"]} | ({"USUBJID": out["USUBJID"]} if "USUBJID" in out else {})
                           | {k: out[k] for k in record_key}
                           | {"SRCFILE": df.get("_SRCFILE", ""), "SRCRECORD": df.get("_SRCREC", "")})
    lineage = lineage.astype({c: "string" for c in lineage.columns if c not in record_key})
    return BuiltDomain(domain, out, _supp(ctx, domain, df, out), lineage)


def study_days_of_kept_dates(domain: str, variables: list[VariableMeta], keep: list[VariableMeta],
                             df: pd.DataFrame) -> list[VariableMeta]:
    """--DY/--STDY/--ENDY kept whenever their date is, even with no value (all subjects without RFSTDTC).

    FDA business rules FB1601/FB3201 (CORE-000793 and others): the study day variable is submitted
    with its date variable; a screen failure has no RFSTDTC, so IEDY of a screen-failure-only IE is empty.
    """
    kept = {v.name for v in keep}
    pairs = {f"{domain}DY": f"{domain}DTC", f"{domain}STDY": f"{domain}STDTC", f"{domain}ENDY": f"{domain}ENDTC"}
    return [v for v in variables if v.name in pairs and v.name not in kept and v.name in df
            and pairs[v.name] in kept]


def _typed(col: pd.Series, arrow_type) -> pd.Series:
    import pyarrow as pa
    if arrow_type == pa.string():
        return col.astype("string").replace("", pd.NA)
    if arrow_type == pa.int64():
        return pd.to_numeric(col, errors="coerce").astype("Int64")
    return pd.to_numeric(col, errors="coerce").astype("Float64")


def _supp(ctx: BuildContext, domain: str, df: pd.DataFrame, out: pd.DataFrame) -> pd.DataFrame | None:
    rules = {r.variable: r for r in ctx.spec.supp_rules(domain)}
    frames = []
    seq = f"{domain}SEQ"
    for qnam, rule in rules.items():
        col = f"SUPP:{qnam}"
        if col not in df:
            continue
        idx = df.index[df[col].notna() & (df[col].astype("string") != "")]
        if not len(idx):
            continue
        values = df.loc[idx, col].astype(object)
        # Each distinct value formatted once (a coded answer repeats on many records).
        text = {v: format_number(v) if isinstance(v, float) else str(v) for v in pd.unique(values)}
        frames.append(pd.DataFrame({
            "STUDYID": out.loc[idx, "STUDYID"].to_numpy(dtype=object), "RDOMAIN": domain,
            "USUBJID": out.loc[idx, "USUBJID"].to_numpy(dtype=object), "IDVAR": seq if seq in out else pd.NA,
            "IDVARVAL": out.loc[idx, seq].astype("string").to_numpy(dtype=object) if seq in out else pd.NA,
            "QNAM": qnam, "QLABEL": rule.label, "QVAL": values.map(text).to_numpy(dtype=object), "QORIG": "CRF",
            "QEVAL": pd.NA,
        }))
    if not frames:
        return None
    supp = pd.concat(frames, ignore_index=True).astype("string")
    supp = supp.sort_values(["USUBJID", "IDVAR", "IDVARVAL", "QNAM"], key=_natural, kind="stable")
    return supp.reset_index(drop=True)


def _natural(col: pd.Series) -> pd.Series:
    if col.name == "IDVARVAL":
        return pd.to_numeric(col, errors="coerce")
    return col


def sdtm_domains(spec: MappingSpec) -> list[str]:
    """Every domain the study builds, DM first (its reference dates feed the others)."""
    return ["DM", *[d for d in spec.domains if d != "DM"], "LB", "SV", "SE", *TRIAL_DESIGN]


def prepare(ctx: BuildContext, staged: Path) -> BuildContext:
    """ctx plus what every domain needs: DM (reference dates, arms), LB records and the numbered visits.

    A new context: the builders return what they produce and only this function assembles it.
    """
    if ctx.prepared:
        return ctx
    dm, reference = build_dm_records(ctx)
    lb = build_lb_records(ctx, staged)
    return replace(ctx, dm_records=dm, reference=reference, lb_records=lb, visits=build_visits(ctx, lb))


def build_domain(ctx: BuildContext, staged: Path, domain: str, data_cut: str) -> BuiltDomain:
    """One SDTM domain, shaped to SDTMIG 3.4 (runs `prepare` first when ctx is not prepared yet)."""
    ctx = prepare(ctx, staged)
    if domain == "DM":
        return finalize(ctx, "DM", ctx.dm_records)
    if domain == "LB":
        return finalize(ctx, "LB", ctx.lb_records)
    if domain == "SV":
        return finalize(ctx, "SV", sv_records(ctx))
    if domain == "SE":
        return finalize(ctx, "SE", build_se(ctx))
    if domain in TRIAL_DESIGN:
        randomized = int((ctx.dm_records["ARMNRS"].fillna("") != ctx.study.screen_failure.armnrs).sum())
        build = {"TA": td.build_ta, "TE": td.build_te, "TV": td.build_tv, "TI": td.build_ti}.get(domain)
        return finalize(ctx, domain, build(ctx) if build else td.build_ts(ctx, randomized, data_cut))
    if domain == "EX":
        return finalize(ctx, "EX", build_ex_records(ctx))
    return finalize(ctx, domain, map_domain(ctx, domain))

