"""Trial design domains (TA, TE, TV, TI, TS) from the study's configuration and eCRF."""
from __future__ import annotations

import pandas as pd

from transforms.config import read_csv_rows
from transforms.sdtm.context import BuildContext

TRIAL_DESIGN = ["TA", "TE", "TV", "TI", "TS"]


def _rows(ctx: BuildContext, name: str, blinded: bool) -> list[dict[str, str]]:
    build = "blinded" if blinded else "unblinded"
    rows = read_csv_rows(ctx.study.study_file(f"trial_design/{name}"))
    return [{k: v for k, v in r.items() if k != "BUILD"} for r in rows if r.get("BUILD", "both") in ("both", build)]


def build_te(ctx: BuildContext) -> pd.DataFrame:
    """TE: the trial elements (the treatment element is blinded in a blinded build)."""
    return pd.DataFrame(_rows(ctx, "te.csv", ctx.blinded))


def build_ta(ctx: BuildContext) -> pd.DataFrame:
    """TA: the planned arms as sequences of elements (a single placeholder arm when blinded)."""
    df = pd.DataFrame(_rows(ctx, "ta.csv", ctx.blinded))
    te = build_te(ctx)
    elements = dict(zip(te["ETCD"], te["ELEMENT"], strict=True))
    df["ELEMENT"] = df["ETCD"].map(elements)
    df["TAETORD"] = df["TAETORD"].astype("int64")
    return df.replace("", pd.NA)


def build_tv(ctx: BuildContext) -> pd.DataFrame:
    """TV: planned visits (visits.csv), with the start rule from the visit windows."""
    rows = []
    for v in ctx.study.visits:
        if v.visitnum is None:
            continue
        rule = f"Study day {v.visitdy}" if v.window_lo == v.window_hi else (
            f"Study day {v.visitdy} (window day {v.window_lo} to {v.window_hi})")
        rows.append({"VISITNUM": v.visitnum, "VISIT": v.visit, "VISITDY": v.visitdy, "TVSTRL": rule})
    return pd.DataFrame(rows)


def build_ti(ctx: BuildContext) -> pd.DataFrame:
    """TI: every inclusion/exclusion criterion of the eCRF codelist behind IETESTCD."""
    ie_rule = next(r for r in ctx.spec.rules if r.domain == "IE" and r.variable == "IETESTCD")
    cl = ctx.meta.codelist_of(ie_rule.source)
    cat = ctx.spec.codelists["IECAT"]
    return pd.DataFrame([
        {"IETESTCD": code, "IETEST": text, "IECAT": cat.get(code), "TIVERS": ctx.meta.metadata_version_oid}
        for code, text in cl.decodes.items()
    ])


def build_ts(ctx: BuildContext, randomized_subjects: int, data_cut: str) -> pd.DataFrame:
    """TS: trial summary parameters; {placeholders} filled from the build."""
    rows = read_csv_rows(ctx.study.study_file("trial_design/ts.csv"))
    values = {"randomized_subjects": str(randomized_subjects), "data_cut": data_cut}
    df = pd.DataFrame(rows)
    df["TSVAL"] = [v.format(**values) for v in df["TSVAL"]]
    df["TSSEQ"] = df.groupby("TSPARMCD").cumcount().astype("float64") + 1
    return df.replace("", pd.NA)
