"""The dashboard site in a real browser (Playwright driving Debian's /usr/bin/chromium).

Every page loads from file:// with no console error and no request outside the site folder;
the turn-the-curve chart holds actuals, forecast and band; story text runs nothing; SPC limits
toggle from the keyboard; screenshots go to test-artifacts/.
"""

import re
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "publish"))

import publish_fixture as pf  # noqa: E402

from dashboards.board_pack import CHROMIUM_FLAGS  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
# the board pack's own flags; Playwright adds its headless mode itself
ARGS = [flag for flag in CHROMIUM_FLAGS if flag != "--headless"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="needs Debian's chromium")


@pytest.fixture(scope="session")
def outputs(tmp_path_factory, hand_council) -> dict[str, Path]:
    """Both sites, built before the browser starts (Dagster runs outside Playwright's loop)."""
    return {
        "fixture": pf.published_output(tmp_path_factory) / "site",
        "hand": pf.hand_output(tmp_path_factory, hand_council) / "site",
    }


@pytest.fixture(scope="module")
def browser(outputs):
    """One browser for the module; closed after it, so Playwright's event loop does not stay
    open under the Dagster runs of later test modules."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def site(outputs) -> Path:
    return outputs["fixture"]


@pytest.fixture(scope="session")
def hand_site(outputs) -> Path:
    return outputs["hand"]


class Visit:
    """A page opened with every request routed: only files inside the site folder load."""

    def __init__(self, browser, site: Path):
        self.site = site.resolve()
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        self.page.on("dialog", self._dialog)
        self.page.route("**/*", self._route)

    def _console(self, message):
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _route(self, route):
        url = route.request.url
        parsed = urlparse(url)
        path = Path(unquote(parsed.path)).resolve() if parsed.scheme == "file" else None
        if path is not None and (path == self.site or self.site in path.parents):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def open(self, relative: str):
        self.page.goto((self.site / relative).as_uri())
        self.page.wait_for_selector("html[data-charts-ready]", state="attached", timeout=30000)
        assert self.page.evaluate("document.documentElement.dataset.chartsReady") == "true"
        return self.page

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser):
    opened = []

    def _open(site: Path) -> Visit:
        v = Visit(browser, site)
        opened.append(v)
        return v

    yield _open
    for v in opened:
        v.close()


def _pages(site: Path) -> list[str]:
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))


# What every page shows, read in one pass over each site (a page loads once for the tests
# below, which each check their own part of it).
PAGE_FACTS = """(id) => {
    const gd = document.getElementById(id);
    const actual = gd && gd.data ? gd.data.filter(t => t.meta === 'actual')[0] : null;
    return {
        h1: document.querySelectorAll('h1').length,
        lang: document.documentElement.lang,
        summary: document.querySelectorAll('.summary-strip').length,
        drawn: actual ? actual.y.filter(y => y !== null).length : 0,
        notes: Array.from(document.querySelectorAll('section[aria-labelledby=chart-heading] p.note'),
                          p => p.innerText),
    };
}"""


@pytest.fixture(scope="module")
def tours(browser, site, hand_site) -> dict[str, dict]:
    """Each site's pages opened one after another in one visit: what each page shows
    (``PAGE_FACTS``), and the console errors, requests outside the site and dialogs of the
    whole visit."""
    found = {}
    for name, folder in (("fixture", site), ("hand", hand_site)):
        v = Visit(browser, folder)
        try:
            pages = {}
            for relative in _pages(folder):
                measure = relative.removeprefix("measures/").removesuffix(".html")
                pages[relative] = v.open(relative).evaluate(PAGE_FACTS, f"chart-{measure}")
            found[name] = {"pages": pages, "errors": v.errors, "outside": v.outside, "dialogs": v.dialogs}
        finally:
            v.close()
    return found


def test_every_page_loads_cleanly_offline(tours):
    tour = tours["fixture"]
    assert len(tour["pages"]) >= 12
    for relative, facts in tour["pages"].items():
        assert facts["h1"] == 1, relative
        assert facts["lang"] == "en-GB", relative
    assert tour["errors"] == []
    assert tour["outside"] == []
    assert tour["dialogs"] == []


def test_hand_council_pages_load_cleanly_and_run_no_story(tours):
    tour = tours["hand"]
    assert tour["pages"]
    assert tour["errors"] == [] and tour["outside"] == [] and tour["dialogs"] == []


def test_every_measure_with_figures_has_its_turn_the_curve_chart(tours):
    """A measure page with a latest figure draws its chart (monthly or annual, a count, a
    percentage, a rate or days), or says that every figure of the series is suppressed."""
    for name, tour in tours.items():
        measures = {r: f for r, f in tour["pages"].items() if r.startswith("measures/")}
        assert measures, name
        for relative, facts in measures.items():
            if facts["summary"] == 0:
                continue  # no whole-population figures (a programme measure, not computed)
            assert facts["drawn"] > 0 or any(
                "Every figure in this series is suppressed" in n for n in facts["notes"]
            ), (name, relative)
        assert tour["errors"] == []


def test_turn_the_curve_chart_has_actuals_forecast_and_band(site, visit):
    page = visit(site).open("measures/cla_count.html")
    traces = page.evaluate(
        """() => document.getElementById('chart-cla_count').data.map(t => ({
               meta: t.meta, name: t.name, fill: t.fill || null, visible: t.visible,
               n: (t.y || []).filter(y => y !== null).length,
               customdata: t.customdata ? Array.from(t.customdata) : null}))"""
    )
    by_meta = {}
    for t in traces:
        by_meta.setdefault(t["meta"], []).append(t)
    assert by_meta["actual"][0]["name"] == "Actual" and by_meta["actual"][0]["n"] >= 60
    assert by_meta["forecast"][0]["name"] == "Baseline forecast" and by_meta["forecast"][0]["n"] >= 12
    band = by_meta["band"][0]
    assert band["name"] == "80% forecast interval" and band["fill"] == "toself" and band["n"] >= 24
    assert by_meta["target"][0]["n"] == 2
    assert [t["customdata"] for t in by_meta["story"]] == [["story-1"], ["story-2"], ["story-3"]]
    for n in (1, 2, 3):
        assert page.locator(f"#story-{n}").count() == 1
    layout = page.evaluate("() => document.getElementById('chart-cla_count').layout.shapes.length")
    assert layout == 1  # the baseline end marker
    # SPC limits: hidden until the button (a real, focusable button) is pressed.
    assert {t["visible"] for t in by_meta["spc"]} == {"legendonly"}
    button = page.locator("button[data-spc-toggle]")
    button.focus()
    page.keyboard.press("Enter")
    visible = page.evaluate(
        "() => document.getElementById('chart-cla_count').data.filter(t => t.meta === 'spc')"
        ".map(t => t.visible)"
    )
    assert visible == [True, True]
    assert button.get_attribute("aria-pressed") == "true"


def test_story_text_is_shown_and_runs_nothing(site, visit):
    v = visit(site)
    page = v.open("measures/cla_count.html")
    assert page.evaluate("typeof window.__xss") == "undefined"
    title = page.locator("#story-2 strong").inner_text()
    assert title == "<script>window.__xss = 1</script> Court delays"
    assert 'onerror="window.__xss = 2"' in page.locator("#story-2 .story-text").inner_text()
    assert page.locator("main img").count() == 0
    assert page.locator("main script:not([type='application/json'])").count() == 0
    action = page.locator("section[aria-labelledby=actions-heading] tbody tr").nth(1)
    assert action.locator("td").first.inner_text().startswith("=HYPERLINK")
    assert v.errors == [] and v.dialogs == []


def test_breakdown_count_of_three_shows_c_and_total_shows(site, visit):
    page = visit(site).open("measures/cla_count.html")
    table = page.locator("table", has=page.locator("caption", has_text="by age band"))
    cells = {
        row.locator("th").inner_text(): row.locator("td").last.inner_text()
        for row in table.locator("tbody tr").all()
    }
    assert cells["0-4"] == "c" and cells["16-17"] == "c"
    assert cells["5-9"].isdigit()
    latest = page.locator(".summary-strip .figure").first.inner_text()
    assert latest.replace(",", "").isdigit() and int(latest.replace(",", "")) > 100


JOURNEY_HEADINGS = ["Front door", "Children in need", "Child protection", "Children looked after",
                    "Care leavers", "Programmes"]


def _journey_headings(page) -> list[str]:
    return [h.strip() for h in page.locator("main section.journey > h2").all_inner_texts()]


def test_report_card_groups_measures_by_the_childs_journey(site, hand_site, visit):
    page = visit(site).open("index.html")
    assert _journey_headings(page) == ["Children looked after", "Care leavers", "Programmes"]
    looked_after = page.locator("section[aria-labelledby=children_looked_after] tbody th a")
    assert looked_after.all_inner_texts() == [
        "Children looked after per 10,000 children", "Children looked after",
        "Children looked after with 3 or more placements in 12 months",
        "Days from entering care to placement for adoption",  # headline measures first
    ]
    leavers = page.locator("section[aria-labelledby=care_leavers] tbody th a").all_inner_texts()
    assert leavers == ["Care leavers aged 19-21 in suitable accommodation"]
    programmes = page.locator("section[aria-labelledby=programmes] h3").all_inner_texts()
    assert programmes == ["Family Support Service", "Parenting Group", "Youth Mentoring"]
    # The catalogue's own measures on the hand-made council: its stages, in the journey's order.
    hand = _journey_headings(visit(hand_site).open("index.html"))
    assert hand and hand == [h for h in JOURNEY_HEADINGS if h in hand]
    assert "Children looked after" in hand


def test_days_shown_in_whole_days_and_charted_from_a_few_annual_points(site, visit):
    v = visit(site)
    index = v.open("index.html")
    row = index.locator("section[aria-labelledby=children_looked_after] tbody tr",
                        has_text="Days from entering care")
    cells = row.locator("td").all_inner_texts()
    assert cells[1] == "452 days" and cells[2].startswith("-37 days")
    page = v.open("measures/adoption_days.html")
    assert page.locator(".summary-strip .figure").first.inner_text() == "452 days"
    figure = page.evaluate(
        """() => { const gd = document.getElementById('chart-adoption_days');
                   return {y: gd.data.filter(t => t.meta === 'actual')[0].y,
                           axis: gd.layout.yaxis.title.text,
                           drawn: gd.querySelectorAll('.scatterlayer .point').length}; }"""
    )
    assert figure["y"] == [505, None, 488, 452] and figure["axis"] == "Days (mean)"
    assert figure["drawn"] >= 3  # an annual measure with four points (one suppressed) draws
    table = page.locator("table", has=page.locator("caption", has_text="actual, baseline forecast"))
    actuals = [r.locator("td").nth(1).text_content().strip() for r in table.locator("tbody tr").all()]
    assert actuals == ["452 days", "488 days", "c", "505 days"]
    about = page.locator("section[aria-labelledby=about-heading]").inner_text()
    assert "mean days from entering care to being placed" in about and "Children looked after" in about
    assert v.errors == []


def test_pages_load_the_basic_plotly_bundle_of_plotly_pys_version(hand_site):
    """The site loads plotly.js's basic bundle (every trace the charts draw is a scatter or a
    bar), of the plotly.js version plotly.py writes figures for; upgrading plotly.py means
    replacing dashboards/assets/plotly-basic.min.js with the same version's bundle."""
    import plotly.offline

    shipped = (hand_site / "assets" / "plotly.min.js").read_text(encoding="utf-8")
    assert shipped.startswith("/**\n* plotly.js (basic - minified) v")
    assert f"plotly.js (basic - minified) v{plotly.offline.get_plotlyjs_version()}\n" in shipped[:200]
    charts = Path(__file__).resolve().parents[1] / "dashboards" / "charts.py"
    kinds = set(re.findall(r'_trace\(\s*"(\w+)"', charts.read_text(encoding="utf-8")))
    assert kinds and kinds <= {"scatter", "bar", "pie"}, kinds


def test_breakdown_codes_shown_with_their_plain_labels(hand_site, visit):
    v = visit(hand_site)
    page = v.open("measures/cla_count.html")
    table = page.locator("table", has=page.locator("caption", has_text="by category of need"))
    assert table.locator("thead th").first.inner_text() == "Category of need"
    labels = table.locator("tbody th").all_inner_texts()
    assert "Abuse or neglect (N1)" in labels
    codes = page.locator("#codes-category-of-need")
    assert codes.locator("summary").inner_text() == "Codes: what each category of need means"
    terms = dict(zip(codes.locator("dt").all_text_contents(), codes.locator("dd").all_text_contents(),
                     strict=True))
    assert terms["N1"] == "Abuse or neglect" and terms["N9"] == "Cases other than children in need"
    chart = page.evaluate(
        "() => { const gd = document.getElementById('breakdown-chart-category-of-need');"
        " return gd ? gd.data[0].y : null; }"
    )
    assert chart is None or "Abuse or neglect (N1)" in chart  # no chart when every bar is c
    about = page.locator("section[aria-labelledby=about-heading] .definition").inner_text()
    assert about.startswith("Distinct children with an episode of care open")
    assert v.errors == []


def _expected_headlines(out: Path) -> dict[str, str]:
    """Each group's headline worked out here from marts.measure_status: the latest row with a
    value of each series counts by its status (plain Python counting)."""
    import json

    import duckdb

    con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "select measure_id, coalesce(breakdown, 'all'), coalesce(breakdown_value, 'all'), "
            "period_end, value, status from marts.measure_status"
        ).fetchall()
        headline = json.loads(con.execute("select headline_measures from raw.oba_config").fetchone()[0])
    finally:
        con.close()
    latest: dict[tuple, tuple] = {}
    for measure_id, breakdown, value_of, period, value, status in rows:
        if value is None or value != value:
            continue
        key = (measure_id, breakdown, value_of)
        if key not in latest or period > latest[key][0]:
            latest[key] = (period, status)
    groups: dict[str, list[str]] = {}
    for (measure_id, breakdown, value_of), (_, status) in latest.items():
        if breakdown == "all" and measure_id in headline:
            groups.setdefault("Headline indicators", []).append(status)
        elif breakdown == "program":
            groups.setdefault(value_of, []).append(status)
    expected = {}
    for group, statuses in groups.items():
        kind = "headline curves" if group == "Headline indicators" else "curves"
        expected[group] = (
            f"{statuses.count('turned')} of {len(statuses)} {kind} turned; "
            f"{statuses.count('improving')} improving; {statuses.count('worsening')} worsening"
        )
    return expected


def test_report_card_headline_matches_the_latest_statuses(site, visit):
    expected = _expected_headlines(site.parent)
    assert len(expected) == 1 + 3  # the headline indicators and three programmes
    page = visit(site).open("index.html")
    shown = {
        item.get_attribute("data-group"): item.locator(".headline-text").inner_text()
        for item in page.locator("main ul.headline li").all()
    }
    assert shown == expected
    # the headline sits above the report card's tables
    assert page.evaluate(
        "() => document.querySelector('ul.headline').compareDocumentPosition("
        "document.querySelector('table.report-card')) & Node.DOCUMENT_POSITION_FOLLOWING"
    )


def test_icons_have_text_alternatives_and_the_key_matches_the_table(site, visit):
    page = visit(site).open("index.html")
    icons = page.locator("main svg.mdc-icon")
    assert icons.count() > 10
    for i in range(icons.count()):
        icon = icons.nth(i)
        label = icon.get_attribute("aria-label")
        assert icon.get_attribute("role") == "img" and label
        assert icon.locator("title").text_content() == label
    # every icon in the tables is one of the key's, drawn the same (same label, same picture)
    page.locator("details summary").first.click()
    key = {
        svg.get_attribute("aria-label"): svg.evaluate("e => e.outerHTML")
        for svg in page.locator("details ul.key svg.mdc-icon").all()
    }
    assert {"Special cause variation: improvement (high)", "Special cause variation: concern (low)",
            "Common cause variation", "Assurance: consistently passing the target"} <= set(key)
    for svg in page.locator("table.report-card svg.mdc-icon").all():
        label = svg.get_attribute("aria-label")
        assert label in key, label
        assert svg.evaluate("e => e.outerHTML").replace('width="26" height="26"', "") == key[
            label
        ].replace('width="26" height="26"', ""), label
    # a measure whose lower values are better and which improved shows L, not H
    row = page.locator("table.report-card tr", has=page.locator("a", has_text="Children looked after per 10,000 children"))
    assert row.locator("svg.mdc-icon").first.get_attribute("aria-label") == (
        "Special cause variation: improvement (low)"
    )


def test_accessibility_basics(site, visit):
    v = visit(site)
    for relative in ("index.html", "measures/cla_count.html", "programs/youth-mentoring.html",
                     "data-quality.html"):
        page = v.open(relative)
        assert page.evaluate(
            "() => [...document.querySelectorAll('table')].every(t => t.querySelector('caption')"
            " && t.querySelector('caption').textContent.trim().length > 0)"
        ), relative
        # a chart is an image with its words, or (holding plotly's buttons) a labelled group;
        # an image holds no control
        assert page.evaluate(
            "() => [...document.querySelectorAll('[data-figure]')].every(d =>"
            " ['img', 'group'].includes(d.getAttribute('role'))"
            " && d.getAttribute('aria-label').length > 10"
            " && (d.getAttribute('role') === 'group' || !d.querySelector('button, a[href], input')))"
        ), relative
        assert page.evaluate(
            "() => [...document.querySelectorAll('img')].every(i => i.hasAttribute('alt'))"
        ), relative
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip", relative


def test_screenshots(site, visit, artifacts):
    v = visit(site)
    for relative, name in (
        ("index.html", "site-index.png"),
        ("measures/cla_count.html", "site-measure-cla_count.png"),
        ("programs/youth-mentoring.html", "site-program-youth-mentoring.png"),
        ("data-quality.html", "site-data-quality.png"),
    ):
        page = v.open(relative)
        page.screenshot(path=str(artifacts / name), full_page=True)
        assert (artifacts / name).stat().st_size > 10_000
