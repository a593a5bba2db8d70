"""The release's pages in a real browser (headless Chromium), from file://, with the network off.

quality.html, topline.html, the GX Data Docs index and a validation page must render their content
(not a blank index; headings, tables and figures in the DOM after scripts ran) and request nothing
but local files and embedded data. Chromium is Debian's `chromium` (`make browser-setup` installs it
when CI is set); locally the test is skipped without it, in CI it fails.
"""
from __future__ import annotations

import os
from urllib.parse import urlparse

import pytest

from headless_chromium import Browser, chromium_binary, file_url

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # subprocess preexec_fn with threads


@pytest.fixture(scope="module")
def browser():
    binary = chromium_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (make browser-setup installs Debian's package)")
        pytest.skip("chromium is not installed (apt-get install -y chromium, or make browser-setup with CI set)")
    b = Browser(binary)
    yield b
    b.close()




def _count(selector: str) -> str:
    return f"document.querySelectorAll({selector!r}).length"


def _offline(page) -> list[str]:
    """The page's requests that are neither a local file nor embedded data."""
    return [u for u in page.requests if urlparse(u).scheme not in ("file", "data")]


def test_quality_page_renders_offline(browser, synthetic_release):
    page = browser.open(file_url(synthetic_release / "reports" / "quality.html"),
                        {"tables": _count("table"), "figures": _count("img[src^='data:image/png']"),
                         "h2": "[...document.querySelectorAll('h2')].map(h => h.textContent)",
                         "empty_th": "[...document.querySelectorAll('th')].filter(t => !t.textContent.trim()).length"})
    assert not _offline(page)
    assert page.text.startswith("Data quality")
    assert page.values["tables"] >= 6 and page.values["figures"] >= 2
    headings = " | ".join(page.values["h2"])
    for heading in ("Open queries by site", "Open queries by rule", "New queries this night", "Findings per data cut",
                    "Completeness of key results"):
        assert heading in headings
    assert page.values["empty_th"] == 0  # no stray column-axis header ("SEVERITY") with empty cells


def test_topline_page_renders_offline(browser, synthetic_release):
    page = browser.open(file_url(synthetic_release / "reports" / "topline.html"),
                        {"tables": _count("table"), "figures": _count("img"), "h1": _count("h1")})
    assert not _offline(page)
    assert "topline" in page.text.splitlines()[0]
    assert page.values["h1"] == 1 and page.values["tables"] >= 2 and page.values["figures"] >= 1


def test_data_docs_index_and_a_validation_page_render_offline(browser, synthetic_release):
    index = synthetic_release / "reports" / "gx" / "index.html"
    page = browser.open(file_url(index), {
        "links": "[...document.querySelectorAll('table a')].map(a => a.getAttribute('href'))",
        "mark": "getComputedStyle(document.querySelector('.fa-times, .fa-check-circle'), '::before').content"})
    assert not _offline(page)
    assert "Validation results" in page.text
    links = page.values["links"]
    assert any("raw_edc_items" in link for link in links) and len(links) >= 10  # raw, lab and SDTM suites
    assert page.values["mark"] in ('"✔"', '"✖"')  # the inlined stylesheet draws pass/fail marks
    target = index.parent / next(link for link in links if "raw_edc_items" in link)
    assert target.exists()
    result = browser.open(file_url(target), {
        "tables": _count("table"), "failed": _count(".fa-times, .fa-times-circle, .fa-xmark, .fa-circle-xmark"),
        "mark": "getComputedStyle(document.querySelector('.fa-check-circle'), '::before').content"})
    assert not _offline(result)
    assert "raw_edc_items" in result.text and len(result.text) > 1000
    assert result.values["tables"] >= 1
    assert result.values["failed"] >= 1  # the planted bad dates and codelist values fail their expectations
    assert result.values["mark"] == '"✔"'
