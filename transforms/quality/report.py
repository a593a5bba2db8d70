"""quality.html: one self-contained page a reviewer reads in a minute."""
from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import pandas as pd

from transforms.config.quality import CompletenessItem
from transforms.quality.rules import describe
from transforms.quality.sdtm_data import SdtmData

SEVERITIES = ["blocking", "error", "warning"]


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt
    plt.close(fig)
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _table(df: pd.DataFrame) -> str:
    if df.empty:
        return "<p><em>none</em></p>"
    return df.to_html(index=False, border=0, classes="t", escape=True, na_rep="")


def findings_by(queries: pd.DataFrame, column: str) -> pd.DataFrame:
    """Open queries counted by a column and severity."""
    open_q = queries[queries["STATUS"] != "resolved"]
    open_q = open_q.assign(**{column: open_q[column].replace("", "(none)")})  # a drop or study-level finding
    if open_q.empty:
        return pd.DataFrame(columns=[column, *SEVERITIES, "total"])
    t = open_q.pivot_table(index=column, columns="SEVERITY", values="QUERY_ID", aggfunc="count", fill_value=0)
    t = t.reindex(columns=SEVERITIES, fill_value=0).rename_axis(columns=None)
    t["total"] = t.sum(axis=1)
    return t.reset_index().sort_values("total", ascending=False)


def rules_described(by_rule: pd.DataFrame) -> pd.DataFrame:
    """Open queries by rule, with each rule's description from the rule catalogue."""
    return by_rule.assign(description=[describe(r) for r in by_rule["RULE"]])


def findings_by_domain(findings: pd.DataFrame) -> pd.DataFrame:
    """Every finding (info included) counted by SDTM domain and severity; file-level ones as '(file)'."""
    return (findings.assign(DOMAIN=findings["DOMAIN"].replace("", "(file)"))
            .groupby(["DOMAIN", "SEVERITY"]).size().unstack(fill_value=0).rename_axis(columns=None).reset_index())


NEW_QUERY_COLUMNS = ["SITE", "SUBJID", "VISIT", "RULE", "FIELD", "MESSAGE", "SEVERITY"]
NEW_QUERIES_SHOWN = 200


def new_queries(queries: pd.DataFrame) -> pd.DataFrame:
    """This night's new queries (the first NEW_QUERIES_SHOWN, in the listing's order)."""
    return queries.loc[queries["STATUS"] == "new", NEW_QUERY_COLUMNS].head(NEW_QUERIES_SHOWN)


NOT_SCHEDULED = "n/a"


def completeness(data: SdtmData, visits: list[tuple[float, str]], items: list[CompletenessItem]) -> pd.DataFrame:
    """Per scheduled visit, the share of subjects seen at the visit who have each key result ("n/a": not scheduled)."""
    sv = data.get("SV")
    rows = []
    for num, name in visits:
        seen = set(sv.loc[sv["VISITNUM"] == num, "USUBJID"]) if not sv.empty else set()
        row = {"VISIT": name, "subjects": len(seen)}
        for it in items:
            df = data.get(it.domain)
            label = f"{it.domain} {it.test}"
            if it.visits is not None and name not in it.visits:
                row[label] = NOT_SCHEDULED
                continue
            if df.empty or not seen:
                row[label] = None
                continue
            d = it.domain
            res = f"{d}STRESC" if f"{d}STRESC" in df else f"{d}ORRES"
            have = set(df.loc[(df[f"{d}TESTCD"] == it.test) & (df["VISITNUM"] == num) & df[res].notna(), "USUBJID"])
            row[label] = round(100 * len(have & seen) / len(seen), 1)
        rows.append(row)
    return pd.DataFrame(rows)


def release_trend(out: Path, current: dict) -> pd.DataFrame:
    """Findings per data cut, oldest first: the latest release of each cut (this release for its own cut)."""
    by_cut: dict[str, dict] = {}
    # Release ids start with their UTC time: in name order, a later release of a cut replaces an earlier one.
    for m in sorted((out / "releases").glob("*/manifest.json")):
        data = json.loads(m.read_text(encoding="utf-8"))
        if data.get("release") != current.get("release"):
            by_cut[data.get("data_cut", "")] = data
    by_cut[current.get("data_cut", "")] = current
    rows = [by_cut[cut] for cut in sorted(by_cut)]
    return pd.DataFrame([{"data_cut": r.get("data_cut", ""), "release": r["release"],
                          **{s: r.get("findings", {}).get("by_severity", {}).get(s, 0) for s in SEVERITIES}}
                         for r in rows], columns=["data_cut", "release", *SEVERITIES])


def new_queries_section(queries: pd.DataFrame) -> list[str]:
    """The HTML of this night's new queries: a heading, the table, and how many more the listing holds."""
    shown = new_queries(queries)
    total = int((queries["STATUS"] == "new").sum())
    more = (f"<p>{total - len(shown)} more in <a href='queries.xlsx'>queries.xlsx</a>.</p>"
            if total > len(shown) else "")
    return [f"<h2>New queries this night ({total})</h2>", _table(shown), more]


def write_quality_report(path: Path, *, manifest: dict, queries: pd.DataFrame, findings: pd.DataFrame, data: SdtmData,
                         visits: list[tuple[float, str]], completeness_items: list[CompletenessItem], out: Path,
                         core: pd.DataFrame | None, gx_docs: str | None) -> None:
    """Write reports/quality.html (figures embedded, nothing fetched from outside)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    by_site = findings_by(queries, "SITE")
    by_domain = findings_by_domain(findings)
    by_rule = rules_described(findings_by(queries, "RULE"))
    status = queries["STATUS"].value_counts().reindex(["new", "open", "resolved"], fill_value=0)
    trend = release_trend(out, manifest)
    comp = completeness(data, visits, completeness_items)
    figs = []
    if not by_site.empty:
        fig, ax = plt.subplots(figsize=(6, 2.6))
        by_site.set_index("SITE")[SEVERITIES].plot.barh(stacked=True, ax=ax, color=["#7f0000", "#d9534f", "#f0ad4e"])
        ax.set_xlabel("open queries")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title("Open queries by site")
        figs.append(_png(fig))
    if len(trend) > 1:
        fig, ax = plt.subplots(figsize=(6, 2.6))
        trend.set_index("data_cut")[SEVERITIES].plot(ax=ax, marker="o", color=["#7f0000", "#d9534f", "#f0ad4e"])
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no 0.5 finding
        ax.set_ylim(bottom=0)
        ax.set_xticks(range(len(trend)), trend["data_cut"], rotation=30, ha="right")
        ax.set_xlabel("data cut")
        ax.set_ylabel("findings")
        ax.set_title("Findings per data cut (latest release of each)")
        figs.append(_png(fig))
    if not comp.empty and len(comp.columns) > 2:
        fig, ax = plt.subplots(figsize=(7, 2.8))
        values = comp.set_index("VISIT").drop(columns="subjects").replace(NOT_SCHEDULED, None).astype(float)
        # Not scheduled (or nobody seen): grey, never the red of 0 %.
        cmap = matplotlib.colormaps["RdYlGn"].with_extremes(bad="#d9d9d9")
        im = ax.imshow(np.ma.masked_invalid(values.to_numpy()), aspect="auto", cmap=cmap, vmin=0, vmax=100)
        ax.set_yticks(range(len(values.index)), values.index)
        ax.set_xticks(range(len(values.columns)), values.columns, rotation=30, ha="right")
        fig.colorbar(im, ax=ax, label="% of subjects seen")
        ax.set_title("Completeness of key results per visit (grey: not scheduled)")
        figs.append(_png(fig))
    m = manifest
    sev = m["findings"]["by_severity"]
    parts = [
        f"<h1>Data quality — {html.escape(m['study'])}</h1>",
        f"<p>Release <b>{html.escape(m['release'])}</b>, data cut {html.escape(m.get('data_cut', ''))}, "
        f"{'blinded' if m['blinded'] else 'UNBLINDED'} build. Code {html.escape(m['code_version'])}.</p>",
        "<h2>Summary</h2><table class='t'><tr><th>blocking</th><th>errors</th><th>warnings</th>"
        "<th>info (no query)</th><th>new queries</th>"
        f"<th>open</th><th>resolved since last release</th></tr><tr><td>{sev['blocking']}</td><td>{sev['error']}</td>"
        f"<td>{sev['warning']}</td><td>{sev.get('info', 0)}</td><td>{status['new']}</td><td>{status['open']}</td><td>{status['resolved']}</td></tr>"
        "</table><p>The query listing is <a href='queries.csv'>queries.csv</a> (<a href='queries.xlsx'>xlsx</a>).</p>",
        "<p>Datasets and variables: <a href='data_dictionary.html'>data dictionary</a> (from define.xml).</p>",
        *figs,
        "<h2>Open queries by site</h2>", _table(by_site),
        "<h2>Findings by domain</h2>", _table(by_domain),
        "<h2>Open queries by rule</h2>", _table(by_rule),
        *new_queries_section(queries),
        "<h2>Findings per data cut</h2>", _table(trend),
        "<h2>Completeness of key results per scheduled visit (% of subjects seen at the visit)</h2>", _table(comp),
        "<h2>CDISC CORE conformance</h2>",
        _table(core) if core is not None else "<p>The CDISC open rules engine did not run for this release.</p>",
        "<h2>Great Expectations</h2>",
        (f"<p>Suites and their results: <a href='{gx_docs}'>GX Data Docs</a>.</p>" if gx_docs
         else "<p>GX Data Docs were not built for this release.</p>"),
    ]
    style = ("body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
             "table.t{border-collapse:collapse;margin:.5em 0}table.t td,table.t th{border:1px solid #ccc;"
             "padding:2px 8px;text-align:left;font-size:13px}img{display:block;margin:1em 0}")
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>Data quality {html.escape(m['study'])}"
                    f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n", encoding="utf-8")
