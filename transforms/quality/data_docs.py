"""GX Data Docs made fit for a hospital network: no CDN, no tracking image, no scripts, a static index.

GX's pages load Bootstrap, jQuery, bootstrap-table, Font Awesome and Vega from public CDNs and a logo
from a tracking URL; offline the index (a table filled by JavaScript) renders blank. The validation
pages themselves are static HTML tables, so every external reference and every script is removed, a
small stylesheet is inlined (pass/fail marks as characters instead of icon fonts), and the index is
rewritten as a plain table of the validation results.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

_EXTERNAL_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>.*?</script\s*>", re.I | re.S)
_ANY_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script\s*>", re.I | re.S)
_EXTERNAL_LINK = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//[^>]*>", re.I)
_EXTERNAL_IMG = re.compile(r"<img\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>", re.I | re.S)
_EXTERNAL_URL = re.compile(r"url\(\s*[\"']?(?:https?:)?//[^)]*\)", re.I)
_EXTERNAL_HREF = re.compile(r"(<a\b[^>]*?)\s+href\s*=\s*[\"']?(?:https?:)?//[^\"'\s>]*[\"']?", re.I)
_FORM = re.compile(r"<form\b.*?</form\s*>", re.I | re.S)
_HEAD_END = re.compile(r"</head\s*>", re.I)

OFFLINE_STYLE = """<style>
/* cdiscflow: inlined instead of CDN stylesheets (offline Data Docs) */
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans CJK SC",sans-serif;margin:0 1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0;width:100%}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}
.hide,.d-none{display:none}
.fas,.far,.fa{font-style:normal}
.fa-check-circle::before{content:"\\2714";color:#198754}
.fa-times::before,.fa-times-circle::before,.fa-xmark::before,.fa-circle-xmark::before{content:"\\2716";color:#dc3545}
.fa-exclamation-triangle::before,.fa-triangle-exclamation::before{content:"\\26A0";color:#b58100}
.text-success{color:#198754}.text-danger{color:#dc3545}
.card{border:1px solid #ddd;border-radius:4px;margin:1em 0;padding:.5em}
code,pre{white-space:pre-wrap;word-break:break-word}
</style>
"""


def offline_page(text: str) -> str:
    """One Data Docs page without external references or scripts, with the inlined stylesheet."""
    text = _EXTERNAL_SCRIPT.sub("", text)
    text = _ANY_SCRIPT.sub("", text)  # what is left needs jQuery/bootstrap: dead offline, and a risk
    text = _EXTERNAL_LINK.sub("", text)
    text = _EXTERNAL_IMG.sub("", text)
    text = _EXTERNAL_URL.sub("none", text)
    text = _EXTERNAL_HREF.sub(r"\1", text)  # GX's documentation and newsletter links carry tracking
    text = _FORM.sub("", text)  # GX's newsletter form posts to the internet
    return _HEAD_END.sub(lambda m: OFFLINE_STYLE + m.group(0), text, count=1)


def static_index(results: list[tuple[str, str, bool, dict]]) -> str:
    """A plain HTML index of the validation results: suite, outcome, counts, link (all text escaped)."""
    rows = []
    for suite, href, success, stats in results:
        mark = '<i class="fas fa-check-circle"></i> passed' if success else '<i class="fas fa-times"></i> failed'
        rows.append(f'<tr><td><a href="{html.escape(href, quote=True)}">{html.escape(suite)}</a></td><td>{mark}</td>'
                    f"<td>{int(stats.get('evaluated_expectations', 0))}</td>"
                    f"<td>{int(stats.get('unsuccessful_expectations', 0))}</td></tr>")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Data Docs: validation results</title>"
            + OFFLINE_STYLE + "</head><body><h1>Validation results</h1>"
            "<p>Great Expectations results of this release. Values of identifier and free-text fields are not "
            "shown; the findings and queries trace each failing record.</p>"
            "<table><thead><tr><th>Suite</th><th>Outcome</th><th>Expectations</th><th>Failed</th></tr></thead>"
            "<tbody>" + "".join(rows) + "</tbody></table></body></html>\n")


def make_offline(site: Path, results: list[Path]) -> None:
    """Rewrite every page of a built Data Docs site for offline use, and its index as a static table."""
    for page in sorted(site.rglob("*.html")):
        page.write_text(offline_page(page.read_text(encoding="utf-8")), encoding="utf-8")
    for css in sorted(site.rglob("*.css")):
        css.write_text(_EXTERNAL_URL.sub("none", css.read_text(encoding="utf-8")), encoding="utf-8")
    listed = []
    for p in results:
        payload = json.loads(p.read_text(encoding="utf-8"))
        name = payload["suite_name"]
        pages = sorted((site / "validations" / name).rglob("*.html"))
        href = pages[0].relative_to(site).as_posix() if pages else ""
        listed.append((name, href, bool(payload.get("success")), payload.get("statistics") or {}))
    (site / "index.html").write_text(static_index(sorted(listed)), encoding="utf-8")
