"""The topline: one self-contained HTML page a statistician reads first, from the release's ADaM files.

Statistics come from statsmodels (Kaplan-Meier with Greenwood variance, log-rank test, Wilson and
Newcomb intervals); figures are matplotlib PNGs embedded as base64. A blinded build (DM.ARMCD
BLINDED) shows pooled figures only: no table, figure or test splits or compares the arms.
"""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from statsmodels.duration.survfunc import SurvfuncRight, survdiff  # noqa: E402
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint  # noqa: E402

from transforms.config import StudyConfig  # noqa: E402
from transforms.config.adam import AdamConfig, load_adam_config  # noqa: E402
from transforms.config.reports import BaselineRow, MortalityReport, ToplineConfig, load_topline_config  # noqa: E402

POOLED = "All subjects"
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Landmark:
    """The time-to-event horizon of the study's ADaM (tte.yaml): the landmark day and the risk-table days."""

    horizon_days: int
    risk_table_every_days: int  # reports/topline.yaml

    @property
    def day(self) -> int:
        """AVAL of an event on the last day of the horizon (start + horizon_days): AVAL = ADT - start + 1."""
        return self.horizon_days + 1

    @property
    def risk_times(self) -> tuple[int, ...]:
        """Days of the numbers-at-risk table: every risk_table_every_days from day 1, and the landmark."""
        return tuple(sorted({*range(1, self.day + 1, self.risk_table_every_days), self.day}))


@dataclass(frozen=True)
class KmPoint:
    """Kaplan-Meier survival at a landmark with its 95% CI (log-log transform of Greenwood's variance)."""

    n: int
    events: int
    surv: float
    lo: float
    hi: float


def km_at(time: np.ndarray, event: np.ndarray, t: float) -> KmPoint:
    """S(t) and its 95% CI from a Kaplan-Meier fit."""
    n, ev = len(time), int(event.sum())
    if n == 0:
        return KmPoint(0, 0, float("nan"), float("nan"), float("nan"))
    sf = SurvfuncRight(time, event)
    idx = np.searchsorted(sf.surv_times, t, side="right") - 1
    if idx < 0:
        return KmPoint(n, ev, 1.0, 1.0, 1.0)
    s, se = float(sf.surv_prob[idx]), float(sf.surv_prob_se[idx])
    if s <= 0 or s >= 1 or se == 0:
        return KmPoint(n, ev, s, s, s)
    w = Z95 * se / (s * abs(math.log(s)))
    return KmPoint(n, ev, s, s ** math.exp(w), s ** math.exp(-w))


def _groups(df: pd.DataFrame, arm: str, blinded: bool) -> list[tuple[str, pd.DataFrame]]:
    if blinded:
        return [(POOLED, df)]
    labels = df[[arm, f"{arm}N"]].drop_duplicates().dropna(subset=[arm]).sort_values(f"{arm}N")[arm].tolist()
    return [(lab, df[df[arm] == lab]) for lab in labels] + [(POOLED, df)]


def _png(fig: plt.Figure) -> str:
    buf = io.BytesIO()
    # No timestamps or software tags in the PNG: the same data give the same bytes.
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _pct(k: int, n: int) -> str:
    return f"{k} ({100.0 * k / n:.1f}%)" if n else "0"


# --- sections ---------------------------------------------------------------------------------


def consort_section(adsl: pd.DataFrame, blinded: bool, completed_label: str) -> str:
    """Screened -> randomized -> treated -> completed, with reasons, as a flow figure and a table."""
    screened = len(adsl)
    itt = adsl[adsl["ITTFL"] == "Y"]
    groups = _groups(itt, "TRT01P", blinded)
    rows, boxes = [], []
    for name, g in groups:
        treated = int((g["SAFFL"] == "Y").sum())
        completed = int((g["EOSSTT"] == "COMPLETED").sum())
        ongoing = int((g["EOSSTT"] == "ONGOING").sum())
        reasons = g["DCSREAS"].dropna().value_counts().sort_index()
        rows.append(
            [
                name,
                len(g),
                treated,
                len(g) - treated,
                completed,
                ongoing,
                "; ".join(f"{k.lower()} {v}" for k, v in reasons.items()) or "none",
            ]
        )
        if name != POOLED or blinded:
            boxes.append((name, len(g), treated, completed, ongoing, reasons))
    fig, ax = plt.subplots(figsize=(max(7.0, 2.9 * len(boxes) + 1.5), 5.6))
    ax.axis("off")
    box = {"boxstyle": "round,pad=0.4", "fc": "#eef3f8", "ec": "#34577a"}

    def flow_box(x: float, y: float, text: str, size: int) -> None:
        ax.text(x, y, text, ha="center", va="center", bbox=box, fontsize=size, transform=ax.transAxes)

    def arrow(start: tuple[float, float], end: tuple[float, float]) -> None:
        ax.annotate("", xy=end, xytext=start, xycoords="axes fraction", arrowprops={"arrowstyle": "->"})

    flow_box(0.5, 0.95, f"Screened\nn = {screened}", 10)
    flow_box(0.86, 0.80, f"Screen failures\nn = {screened - len(itt)}", 9)
    flow_box(0.5, 0.72, f"Randomized (ITT)\nn = {len(itt)}", 10)
    for i, (name, n, treated, completed, ongoing, reasons) in enumerate(boxes):
        x = (i + 0.5) / len(boxes)
        arrow((0.5, 0.66), (x, 0.52))
        flow_box(x, 0.47, f"{name}\nn = {n}\ntreated (SAF) {treated}", 9)
        arrow((x, 0.41), (x, 0.30))
        why = "\n".join(f"{k.lower()}: {v}" for k, v in reasons.items())
        flow_box(x, 0.16, f"{completed_label}: {completed}\nOngoing: {ongoing}\nDiscontinued: {int(reasons.sum())}\n{why}", 8)
    arrow((0.5, 0.90), (0.5, 0.78))
    arrow((0.5, 0.84), (0.78, 0.80))
    table = _table(
        ["Group", "Randomized", "Treated", "Not treated", "Completed", "Ongoing", "Discontinued (reason n)"], rows
    )
    return f"<h2>Subject disposition</h2>{_png(fig)}{table}"


def baseline_section(adsl: pd.DataFrame, blinded: bool, characteristics: list[BaselineRow]) -> str:
    """Baseline characteristics of the ITT population by planned treatment (the study's rows, in order)."""
    itt = adsl[adsl["ITTFL"] == "Y"]
    groups = _groups(itt, "TRT01P", blinded)
    header = ["Characteristic", *[f"{n} (N={len(g)})" for n, g in groups]]
    rows: list[list[str]] = []

    def cont(label: str, col: str) -> None:
        cells = []
        for _, g in groups:
            v = g[col].dropna().astype(float)
            cells.append(
                f"{v.mean():.1f} ({v.std():.1f}); {v.median():.1f} [{v.min():.0f}-{v.max():.0f}]; n={len(v)}"
                if len(v)
                else "-"
            )
        rows.append([f"{label}: mean (SD); median [range]", *cells])

    def cat(label: str, col: str) -> None:
        levels = sorted(itt[col].dropna().astype(str).unique())
        for lev in levels + (["missing"] if itt[col].isna().any() else []):
            cells = []
            for _, g in groups:
                k = int(g[col].isna().sum()) if lev == "missing" else int((g[col].astype(str) == lev).sum())
                cells.append(_pct(k, len(g)))
            rows.append([f"{label}: {lev}", *cells])

    for row in characteristics:
        (cont if row.summary == "continuous" else cat)(row.label, row.variable)
    return "<h2>Baseline characteristics (ITT)</h2>" + _table(header, rows)


def mortality_section(adtte: pd.DataFrame, blinded: bool, report: MortalityReport, landmark: Landmark) -> str:
    """Kaplan-Meier curves with numbers at risk, the estimate at the landmark day with 95% CI and the log-rank p."""
    km_day, risk_times, paramcd = landmark.day, landmark.risk_times, report.paramcd
    d = adtte[adtte["PARAMCD"] == paramcd]
    if d.empty:
        return f"<h2>{html.escape(report.empty_title)}</h2><p>No {paramcd} records.</p>"
    groups = [(n, g) for n, g in _groups(d, "TRTP", blinded) if blinded or n != POOLED]
    fig, (ax, axr) = plt.subplots(
        2, 1, figsize=(8, 5.8), gridspec_kw={"height_ratios": [4, 1], "hspace": 0.45}, sharex=True
    )
    rows, risk = [], []
    for name, g in groups:
        t, e = g["AVAL"].to_numpy(float), (g["CNSR"] == 0).to_numpy(int)
        sf = SurvfuncRight(t, e)
        xs = np.concatenate([[0.0], sf.surv_times, [km_day]])
        ys = np.concatenate([[1.0], sf.surv_prob, [sf.surv_prob[-1] if len(sf.surv_prob) else 1.0]])
        ax.step(xs, ys, where="post", label=name)
        cens = g[g["CNSR"] == 1]["AVAL"].to_numpy(float)
        ax.plot(cens, [_surv(sf, c) for c in cens], "|", color=ax.lines[-1].get_color(), markersize=7)
        p = km_at(t, e, km_day)
        rows.append(
            [
                name,
                p.n,
                p.events,
                f"{p.surv:.3f} ({p.lo:.3f}-{p.hi:.3f})",
                f"{1 - p.surv:.3f} ({1 - p.hi:.3f}-{1 - p.lo:.3f})",
            ]
        )
        risk.append((name, [int((t >= x).sum()) for x in risk_times]))
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("Survival probability")
    ax.set_title(report.figure_title)
    ax.legend(loc="lower left")
    ax.grid(alpha=0.3)
    axr.axis("off")
    for i, (name, counts) in enumerate(risk):
        y = 0.8 - 0.35 * i
        axr.text(-0.02, y, name, ha="right", va="center", transform=axr.get_yaxis_transform(), fontsize=8)
        for x, c in zip(risk_times, counts, strict=True):
            axr.text(x, y, str(c), ha="center", va="center", fontsize=8)
    axr.set_title(report.risk_table_title, fontsize=8, loc="left")
    axr.set_xlim(0, km_day + 2)
    ax.set_xticks(risk_times)
    ax.tick_params(labelbottom=True)
    ax.set_xlabel(report.time_axis)
    text = _table(
        ["Group", "N", "Deaths", f"KM survival at day {km_day} (95% CI)", f"KM mortality at day {km_day} (95% CI)"],
        rows,
    )
    if not blinded and len(groups) == 2:
        arm = d["TRTP"].where(d["TRTP"].notna(), "")
        chisq, p = survdiff(d["AVAL"].to_numpy(float), (d["CNSR"] == 0).to_numpy(int), arm.to_numpy())
        text += f"<p>Log-rank test (statsmodels survdiff): chi-square {chisq:.3f}, p = {p:.4f}.</p>"
    note = report.note.format(horizon_days=landmark.horizon_days, day=km_day)
    return f"<h2>{html.escape(report.title)}</h2>{_png(fig)}{text}<p class=note>{html.escape(note, quote=False)}</p>"


def _surv(sf: SurvfuncRight, t: float) -> float:
    idx = np.searchsorted(sf.surv_times, t, side="right") - 1
    return 1.0 if idx < 0 else float(sf.surv_prob[idx])


def remission_section(adrs: pd.DataFrame, blinded: bool, paramcd: str, title: str, criteria_title: str) -> str:
    """Remission rate with Wilson 95% CI per group and, unblinded, the risk difference (Newcomb 95% CI)."""
    d = adrs[adrs["PARAMCD"] == paramcd]
    groups = [(n, g) for n, g in _groups(d, "TRTP", blinded)]
    rows = []
    for name, g in groups:
        k, n = int((g["AVALC"] == "Y").sum()), len(g)
        lo, hi = proportion_confint(k, n, method="wilson") if n else (float("nan"),) * 2
        rows.append([name, n, k, f"{k / n:.3f} ({lo:.3f}-{hi:.3f})" if n else "-"])
    out = _table(["Group", "N", "Responders", "Rate (95% Wilson CI)"], rows)
    arms = [(n, g) for n, g in groups if n != POOLED]
    if not blinded and len(arms) == 2:
        (n1, g1), (n2, g2) = arms
        k1, k2 = int((g1["AVALC"] == "Y").sum()), int((g2["AVALC"] == "Y").sum())
        lo, hi = confint_proportions_2indep(k1, len(g1), k2, len(g2), method="newcomb", compare="diff")
        out += (
            f"<p>Risk difference {html.escape(n1)} - {html.escape(n2)}: {k1 / len(g1) - k2 / len(g2):.3f} "
            f"(95% Newcomb CI {lo:.3f} to {hi:.3f}).</p>"
        )
    crit = adrs[adrs["PARCAT1"] == "CRITERION"]
    if not crit.empty:
        rows = []
        for (_, prm), g in crit.groupby(["PARAMN", "PARAM"], sort=True):
            rows.append(
                [
                    prm,
                    int((g["CRIT1FL"] == "Y").sum()),
                    int((g["CRIT1FL"] == "N").sum()),
                    int(g["CRIT1FL"].isna().sum()),
                ]
            )
        out += f"<h3>{html.escape(criteria_title)}</h3>" + _table(
            ["Criterion", "Met", "Not met", "Missing"], rows
        )
    return f"<h2>{html.escape(title)}</h2>" + out


def teae_section(adae: pd.DataFrame, adsl: pd.DataFrame, blinded: bool) -> str:
    """Subjects with TEAEs (any, related, serious, severe, fatal) and the most frequent preferred terms."""
    saf = adsl[adsl["SAFFL"] == "Y"]
    groups = _groups(saf, "TRT01A", blinded)
    te = adae[adae["TRTEMFL"] == "Y"]
    cats = [
        ("Any TEAE", te),
        ("Related TEAE (possibly/probably)", te[te["RELGR1"] == "RELATED"]),
        ("Serious TEAE", te[te["AESER"] == "Y"]),
        ("Severe TEAE", te[te["ASEV"] == "SEVERE"]),
        ("TEAE with fatal outcome", te[te["AEOUT"] == "FATAL"]),
    ]
    header = ["Subjects with", *[f"{n} (N={len(g)})" for n, g in groups]]
    rows = [
        [label, *[_pct(sub[sub["USUBJID"].isin(g["USUBJID"])]["USUBJID"].nunique(), len(g)) for _, g in groups]]
        for label, sub in cats
    ]
    top = te.groupby("AEDECOD")["USUBJID"].nunique().sort_values(ascending=False)
    top = top[top >= max(1, math.ceil(0.05 * len(saf)))].index.tolist()
    pt_rows = [
        [
            pt,
            *[
                _pct(te[(te["AEDECOD"] == pt) & te["USUBJID"].isin(g["USUBJID"])]["USUBJID"].nunique(), len(g))
                for _, g in groups
            ],
        ]
        for pt in sorted(top)
    ]
    return (
        "<h2>Treatment-emergent adverse events (SAF, by actual treatment)</h2>"
        + _table(header, rows)
        + "<h3>Preferred terms in at least 5% of subjects</h3>"
        + _table(["Preferred term", *header[1:]], pt_rows)
    )


CSS = """body{font-family:Helvetica,Arial,sans-serif;margin:24px;max-width:1100px;color:#1d2733}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #c9d3dd;padding-bottom:4px;margin-top:32px}
h3{font-size:15px}table{border-collapse:collapse;margin:8px 0;font-size:13px}
td,th{border:1px solid #c9d3dd;padding:4px 8px;text-align:left;vertical-align:top}th{background:#eef3f8}
img{max-width:100%}.banner{padding:10px;border:2px solid #8a5a00;background:#fff4dc;font-weight:bold}
.note{font-size:12px;color:#4a5663}"""


def landmark(cfg: AdamConfig, topline: ToplineConfig) -> Landmark:
    """The landmark of the topline's time-to-event parameter; an unknown PARAMCD or no horizon is a config error."""
    paramcds = [p.paramcd for p in cfg.tte.parameters]
    if topline.mortality.paramcd not in paramcds:
        raise ValueError(f"reports/topline.yaml: mortality.paramcd {topline.mortality.paramcd!r} "
                         f"is not a parameter of tte.yaml ({', '.join(paramcds)})")
    if cfg.tte.horizon_days is None:
        raise ValueError("reports/topline.yaml: the mortality section needs tte.yaml's horizon_days")
    return Landmark(cfg.tte.horizon_days, topline.mortality.risk_table_every_days)


def render_topline(
    adsl: pd.DataFrame,
    adtte: pd.DataFrame,
    adrs: pd.DataFrame,
    adae: pd.DataFrame,
    blinded: bool,
    cfg: AdamConfig,
    topline: ToplineConfig,
    title: str = "Topline",
) -> str:
    """The topline page as HTML text."""
    banner = (
        '<p class="banner">BLINDED BUILD: the randomization list has not been received. Every figure and '
        "table pools all subjects; nothing here compares or identifies treatment arms.</p>"
        if blinded
        else '<p class="banner">UNBLINDED BUILD: results by randomized arm.</p>'
    )
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        banner,
        consort_section(adsl, blinded, topline.disposition.completed),
        baseline_section(adsl, blinded, topline.baseline),
        mortality_section(adtte, blinded, topline.mortality, landmark(cfg, topline)),
        remission_section(adrs, blinded, cfg.remission.paramcd, topline.remission.title,
                          topline.remission.criteria_title),
        teae_section(adae, adsl, blinded),
    ]
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>"
        + html.escape(title)
        + f"</title><style>{CSS}</style></head><body>"
        + "".join(parts)
        + "</body></html>\n"
    )


def write_topline(adam_dir: Path, out_html: Path, study: StudyConfig, blinded: bool) -> None:
    """Write the self-contained topline HTML of the ADaM datasets in adam_dir."""
    read = {n: pd.read_parquet(Path(adam_dir) / f"{n}.parquet") for n in ("adsl", "adtte", "adrs", "adae")}
    if blinded:
        # Belt and braces: even if a caller passed an unblinded ADSL, nothing arm-specific reaches the page.
        for df in read.values():
            for col in ("TRT01P", "TRT01A", "TRTP", "TRTA", "ARM", "ARMCD", "ACTARM", "ACTARMCD", "DOSELVL"):
                if col in df:
                    df[col] = None
    page = render_topline(
        read["adsl"], read["adtte"], read["adrs"], read["adae"], blinded, load_adam_config(study),
        load_topline_config(study), f"{study.study_id} topline: ADaM summary",
    )
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text(page, encoding="utf-8")
