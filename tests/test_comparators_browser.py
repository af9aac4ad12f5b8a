"""Comparators in a real browser (Playwright driving Debian's /usr/bin/chromium): the measure
page shows England and neighbours' markers, the neighbours' band and the comparator table, and
the report card's quartile matches marts.comparator_rank."""

from pathlib import Path

import duckdb
import pytest
from conftest import synthetic_tiny_outputs

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="needs Debian's chromium")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The tiny synthetic council (with its synthetic England) run once for the session."""
    return synthetic_tiny_outputs(tmp_path_factory)[1]


def test_measure_page_markers_table_and_report_card_quartile(demo):
    from playwright.sync_api import sync_playwright

    with duckdb.connect(str(demo / "warehouse.duckdb"), read_only=True) as con:
        ranks = con.execute(
            "select measure_id, year(period_end), quartile from marts.comparator_rank "
            "where quartile is not null"
        ).fetchall()
    assert ranks, "the synthetic England gives the authority a quartile"
    expected = {(m, str(y)): q for m, y, q in ranks}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto((demo / "site" / "measures" / "cla_rate_per_10k.html").as_uri())
        page.wait_for_function("document.querySelector('#chart-cla_rate_per_10k .main-svg') !== null")
        metas = page.evaluate(
            "Array.from(document.getElementById('chart-cla_rate_per_10k').data).map(t => t.meta)"
        )
        assert {"england", "neighbours_mean", "neighbours_band"} <= set(metas)
        table = page.locator("table.comparator-table")
        assert table.is_visible()
        text = table.inner_text()
        assert "England" in text and "Statistical neighbours (mean of" in text
        page.goto((demo / "site" / "index.html").as_uri())
        shown = {
            (cell.get_attribute("data-measure"), cell.get_attribute("data-year")): cell.inner_text().strip()
            for cell in page.locator("td.quartile").all()
        }
        checked = 0
        for key, quartile in shown.items():
            if quartile:  # the card's quartile is marts.comparator_rank's for the year it names
                assert expected[key] == int(quartile), key
                checked += 1
        assert checked
        browser.close()
