"""WCAG 2.2 AA in the real browser: axe-core (axe-playwright-python) on the report card, a
measure page, a programme page and the data-quality page of the fixture site, built for each
audience, in Debian's /usr/bin/chromium (never a downloaded browser). Zero violations; each
violation's rule, help and nodes are printed when there are some. A full-page screenshot of
each page goes to the artifacts folder.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "publish"))

import publish_fixture as pf  # noqa: E402
from test_site_browser import ARGS, CHROMIUM, Visit  # noqa: E402

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="needs Debian's chromium")

WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
PAGES = {
    "report-card": "index.html",
    "measure": "measures/cla_count.html",
    "programme": "programs/youth-mentoring.html",
    "data-quality": "data-quality.html",
}


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> dict[str, Path]:
    """The fixture site for each audience, built before the browser starts."""
    return {
        audience: pf.published_output(tmp_path_factory, audience) / "site"
        for audience in ("internal", "public")
    }


@pytest.fixture(scope="module")
def browser(sites):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def violations(page) -> list[dict]:
    from axe_playwright_python.sync_playwright import Axe

    # (preload off: axe would fetch the stylesheets again with XHR, which file:// refuses)
    options = {"runOnly": {"type": "tag", "values": WCAG_22_AA}, "resultTypes": ["violations"],
               "preload": False}
    return Axe().run(page, options=options).response["violations"]


def describe(found: list[dict]) -> str:
    lines = []
    for v in found:
        lines.append(f"{v['id']} ({v.get('impact')}): {v['help']} — {v.get('helpUrl', '')}")
        for node in v.get("nodes", [])[:8]:
            lines.append(f"    {node.get('target')}: {node.get('failureSummary', '').strip()}")
            lines.append(f"      {node.get('html', '')[:200]}")
    return "\n".join(lines)


@pytest.mark.parametrize("audience", ["internal", "public"])
@pytest.mark.parametrize("name", list(PAGES))
def test_page_has_no_wcag_22_aa_violation(sites, browser, artifacts, audience, name):
    v = Visit(browser, sites[audience])
    try:
        page = v.open(PAGES[name])
        # open every <details> (the key, the charts' tables): axe checks only what is shown
        page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
        found = violations(page)
        shot = artifacts / (
            f"a11y-{name}.png" if audience == "internal" else f"a11y-{name}-{audience}.png"
        )
        page.screenshot(path=str(shot), full_page=True)
        print(describe(found))
        assert found == [], f"{len(found)} axe violation(s) on {PAGES[name]}:\n{describe(found)}"
        assert shot.stat().st_size > 10_000
        assert v.errors == [] and v.outside == []
    finally:
        v.close()


def test_axe_finds_a_violation_planted_in_a_page(sites, browser, tmp_path):
    """The near miss: the same report card with one image stripped of its name, one low
    contrast paragraph and a duplicate id fails; the check can fail."""
    import re
    import shutil

    site = shutil.copytree(sites["internal"], tmp_path / "site")
    index = site / "index.html"
    html = index.read_text(encoding="utf-8")
    # the report card's first icon (the key's are in a closed <details>, which axe skips)
    # loses its text alternative (aria-label and <title>)
    head, table = html.split('<table class="report-card">', 1)
    table = re.sub(r'(<svg class="mdc-icon"[^>]*?) aria-label="[^"]*"([^>]*>)<title>[^<]*</title>',
                   r"\1\2", table, count=1)
    html = head + '<table class="report-card">' + table
    html = html.replace(
        "<h1>Report card</h1>",
        '<h1>Report card</h1><p style="color:#bbbbbb;background:#ffffff">faint words</p>',
    )
    index.write_text(html, encoding="utf-8")
    v = Visit(browser, site)
    try:
        found = {x["id"] for x in violations(v.open("index.html"))}
    finally:
        v.close()
    assert {"color-contrast", "svg-img-alt"} <= found, found
