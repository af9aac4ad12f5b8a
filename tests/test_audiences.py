"""Audiences (DESIGN §5): the site and board pack are built for ``internal`` (the default:
exact aggregates, from the published models computed a second time without suppression into
the ``internal`` schema) or ``public`` (suppressed as the published CSVs are); ``oba run
--audience`` overrides oba.yaml for one run. The published CSVs are public in both; no
identifier reaches either; every page states its audience in its footer.

The small council is the hand-worked one (tests/fixtures/hand_council): its children looked
after are 2 to 4 a month, every one of them c in public.
"""

import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import assert_no_identifier_leaves_raw, text_columns_holding
from test_privacy import _raw_identifiers

from pipelines.cli import main

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "publish"))

import publish_fixture as pf  # noqa: E402

INTERNAL_FOOTER = "Audience: internal — exact figures, for use inside the council; not for publication"
PUBLIC_FOOTER = "Audience: public — counts of 1 to 5 shown as c"

needs_pdftotext = pytest.mark.skipif(
    not Path("/usr/bin/chromium").is_file() or not Path("/usr/bin/pdftotext").is_file(),
    reason="needs Debian's chromium and poppler-utils",
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, hand_council, hand_council_run) -> dict[str, Path]:
    """The hand-worked council run twice: as configured (no publish key: internal; the
    session's shared run) and with ``--audience public``."""
    public = tmp_path_factory.mktemp("audiences") / "public"
    assert main(["run", "--exports", str(hand_council), "--out", str(public),
                 "--audience", "public"]) == 0
    return {"internal": hand_council_run[1], "public": public}


def _pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout


def _summary_latest(page: Path) -> str:
    """The measure page's latest figure (the summary strip's first figure)."""
    html = page.read_text(encoding="utf-8")
    strip = html[html.index('class="summary-strip"'):]
    figure = re.search(r'<span class="figure">(.*?)</span></div>', strip).group(1)
    return re.sub(r"<[^>]+>", "", figure).strip()


def test_internal_shows_the_exact_small_count_public_shows_c(runs):
    internal = _summary_latest(runs["internal"] / "site" / "measures" / "cla_count.html")
    public = _summary_latest(runs["public"] / "site" / "measures" / "cla_count.html")
    assert public == "c"
    assert internal.isdigit() and 1 <= int(internal) <= 5, internal
    # the exact figure is the mart's own count at the latest period
    con = duckdb.connect(str(runs["internal"] / "warehouse.duckdb"), read_only=True)
    try:
        exact = con.execute(
            "select value from marts.measure_values where measure_id = 'cla_count' "
            "and breakdown = 'all' order by period_end desc limit 1"
        ).fetchone()[0]
        internal_rows, suppressed = con.execute(
            "select count(*), count(*) filter (where suppressed) from internal.pub_measure_values"
        ).fetchone()
        public_rows = con.execute("select count(*) from published.pub_measure_values").fetchone()[0]
    finally:
        con.close()
    assert int(internal) == round(exact)
    # the same rows as the public table, none suppressed
    assert internal_rows == public_rows and suppressed == 0


def test_the_csvs_are_public_in_both(runs):
    for name in ("measure_values.csv", "baselines.csv", "report_card.csv"):
        internal = (runs["internal"] / "published" / name).read_text(encoding="utf-8-sig")
        public = (runs["public"] / "published" / name).read_text(encoding="utf-8-sig")
        assert internal == public, name
        # and the site's downloads are those same public files
        assert (runs["internal"] / "site" / "downloads" / name).read_text(encoding="utf-8-sig") == internal
    values = pd.read_csv(runs["internal"] / "published" / "measure_values.csv", dtype=str,
                         keep_default_na=False)
    cla = values[(values["measure_id"] == "cla_count") & (values["breakdown"] == "all")]
    assert set(cla["value"]) <= {"0", "c"} and "c" in set(cla["value"])


@needs_pdftotext
def test_no_identifier_reaches_either_build(runs, hand_council):
    secrets = pf.child_level_values(hand_council)  # child ids, UPNs, dates of birth, postcodes
    assert "100001" in secrets and "AB1 2CD" in secrets and "2008-03-14" in secrets
    for audience, out in runs.items():
        con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
        try:
            ids = _raw_identifiers(con)
            pseudonyms = {
                r[0] for r in con.execute(
                    "select distinct child_id::varchar from intermediate.int_care_episodes"
                ).fetchall()
            }
        finally:
            con.close()
        assert pseudonyms, "the council's children have pseudonyms"
        # no raw identifier outside raw (internal.* included) nor in any output file
        assert_no_identifier_leaves_raw(out, ids)
        # no pseudonym in a published or internal table
        held = text_columns_holding(out, pseudonyms, schemas=("published", "internal"))
        assert not held, f"{held[0]} holds a pseudonym"
        texts = pf.output_texts(out)
        texts["board_pack.pdf"] = _pdf_text(out / "board_pack.pdf")
        for where, text in texts.items():
            for value in secrets | pseudonyms:
                assert value not in text, f"{value!r} in the {audience} build's {where}"


@needs_pdftotext
def test_every_page_and_the_board_pack_state_their_audience(runs):
    for audience, footer, other in (
        ("internal", INTERNAL_FOOTER, PUBLIC_FOOTER),
        ("public", PUBLIC_FOOTER, INTERNAL_FOOTER),
    ):
        pages = sorted((runs[audience] / "site").rglob("*.html"))
        assert len(pages) > 5
        for page in pages:
            html = page.read_text(encoding="utf-8")
            footer_html = html[html.index("<footer>"):html.index("</footer>")]
            assert footer in footer_html, f"{audience}: {page.name}"
            assert other not in html, f"{audience}: {page.name}"
        pack = " ".join(_pdf_text(runs[audience] / "board_pack.pdf").split())
        assert footer in pack and other not in pack, audience


def test_the_configured_audience_and_the_override(tmp_path):
    """oba.yaml's publish.audience chooses the audience (internal when it says nothing), and
    ``--audience`` (the run's override) wins over it."""
    from pipelines.defs.resources import ObaPaths

    exports = tmp_path / "exports"
    exports.mkdir()
    public_yaml = tmp_path / "public.yaml"
    public_yaml.write_text("publish: {audience: public}\n", encoding="utf-8")
    internal_yaml = tmp_path / "internal.yaml"
    internal_yaml.write_text("authority: {name: Somewhere}\n", encoding="utf-8")

    def audience(config: Path, override: str = "") -> str:
        return ObaPaths(exports_dir=str(exports), out_dir=str(tmp_path / "out"),
                        config_path=str(config), audience_override=override).audience

    assert audience(internal_yaml) == "internal"
    assert audience(public_yaml) == "public"
    assert audience(public_yaml, "internal") == "internal"
    assert audience(internal_yaml, "public") == "public"


def test_the_reader_reads_the_audiences_tables(tmp_path_factory):
    """On the fixture warehouse, where the youngest age band's latest count is 3: the internal
    tables show 3, the public ones c, from the same published SQL models."""
    from pipelines.published import read_published

    out = pf.published_output(tmp_path_factory, "internal")
    con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    try:
        internal = read_published(con, "internal")
        public = read_published(con, "public")
    finally:
        con.close()
    assert internal.audience == "internal" and public.audience == "public"

    def cell(tables):
        values = tables.values
        rows = values[
            (values["measure_id"] == "cla_count") & (values["breakdown"] == "age_band")
            & (values["breakdown_value"] == "0-4")
        ].sort_values("period_end")
        return rows.iloc[-1]["value"]

    assert cell(internal) == "3" and cell(public) == "c"
    # the same columns: the internal copy is the same model, not another one
    assert list(internal.values.columns) == list(public.values.columns)
    assert list(internal.status.columns) == list(public.status.columns)


def test_the_regional_page_is_public_and_says_so(tmp_path):
    """The regional roll-up is published data: its page states the public audience, with the
    configured suppression bound."""
    from dashboards.region import write_region_site

    measures = pd.DataFrame([{"measure_id": "cla_count", "name": "Children looked after",
                              "unit": "count"}])
    values = pd.DataFrame([
        {"measure_id": "cla_count", "period_end": "2025-03-31", "breakdown": b,
         "breakdown_value": v, "value": n, "shown": s}
        for b, v, n, s in (("authority", "Northshire", 40.0, "40"), ("authority", "Southshire", None, "c"),
                           ("all", "all", 40.0, "40"))
    ])
    page = write_region_site(tmp_path / "site", region="North", measures=measures, values=values,
                             suppression_upper=7).read_text(encoding="utf-8")
    footer = page[page.index("<footer>"):]
    assert "Audience: public — counts of 1 to 7 shown as c" in footer
    assert "internal" not in footer
