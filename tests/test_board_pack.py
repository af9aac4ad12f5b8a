"""The board pack PDF: printed by Debian's headless Chromium, checked with pypdf and poppler."""

import contextlib
import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from pypdf import PdfReader

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "publish"))

import publish_fixture as pf  # noqa: E402

A4_LANDSCAPE = (841.9, 595.3)  # points

pytestmark = pytest.mark.skipif(
    not Path("/usr/bin/chromium").is_file() or shutil.which("pdftotext") is None,
    reason="needs Debian's chromium and poppler-utils",
)


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    return pf.published_output(tmp_path_factory)


def _text(pdf: Path, page: int | None = None) -> str:
    args = ["pdftotext"]
    if page is not None:
        args += ["-f", str(page), "-l", str(page)]
    return subprocess.run([*args, str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def _tables(out: Path):
    from pipelines.published import read_published

    con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    try:
        return read_published(con)
    finally:
        con.close()


def test_pages_cover_headline_measures_and_caveats(out):
    pdf = out / "board_pack.pdf"
    reader = PdfReader(pdf)
    assert len(reader.pages) == 1 + len(pf.HEADLINE) + 1
    for page in reader.pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert width == pytest.approx(A4_LANDSCAPE[0], abs=2)
        assert height == pytest.approx(A4_LANDSCAPE[1], abs=2)
    names = {m["measure_id"]: m["name"] for m in pf.MEASURES}
    cover = " ".join(_text(pdf, 1).split())
    assert "Report card" in cover
    for number, measure_id in enumerate(pf.HEADLINE, start=2):
        page = " ".join(_text(pdf, number).split())
        assert names[measure_id] in page, measure_id
        assert names[measure_id] in cover, measure_id
    last = _text(pdf, len(reader.pages))
    assert "Data quality and caveats" in last
    assert "decom_is_a_date" in last


def test_charts_are_drawn_as_vectors(out):
    pdf = out / "board_pack.pdf"
    reader = PdfReader(pdf)
    cla_page = 1 + pf.HEADLINE.index("cla_count") + 1
    text = _text(pdf, cla_page)
    assert "Baseline forecast" in text and "80% forecast interval" in text and "Actual" in text
    assert "Baseline end" in text
    # Plotly draws SVG, printed as vector paths: no raster images on the chart pages.
    assert all(len(page.images) == 0 for page in reader.pages)


def test_breakdown_count_of_three_shows_c_and_total_shows(out):
    pdf = out / "board_pack.pdf"
    tables = _tables(out)
    latest = tables.card("cla_count")["latest_text"]
    page = " ".join(_text(pdf, 1 + pf.HEADLINE.index("cla_count") + 1).split())
    assert "By age band (31 Mar 2025): 0-4 c" in page
    assert "16-17 c" in page
    assert "0-4 3 " not in page
    assert latest in page and int(latest) > 100


def test_story_and_actions_on_the_measure_page(out):
    page = " ".join(_text(out / "board_pack.pdf", 1 + pf.HEADLINE.index("cla_count") + 1).split())
    assert "The story behind the baseline" in page
    assert "Edge-of-care team launched" in page
    assert "<script>window.__xss = 1</script> Court delays" in page  # shown as text
    assert "Extend FGC to all s47 cases" in page and "Head of Service" in page


def test_cover_groups_headline_measures_by_the_childs_journey(out, tmp_path):
    import re

    from dashboards import board_pack

    tables = _tables(out)
    headline = board_pack.by_journey(tables, list(reversed(pf.HEADLINE)))
    assert headline[-1] == "care_leavers_suitable_accommodation_pct"  # care leavers after care
    html = board_pack.write_pack_html(tmp_path, tables, headline, dt.datetime(2025, 4, 1, 9, 0))
    text = html.read_text(encoding="utf-8")
    headings = re.findall(r'<tr class="journey"><th scope="colgroup" colspan="9">([^<]+)</th>', text)
    assert headings == ["Children looked after", "Care leavers"]
    cover = " ".join(_text(out / "board_pack.pdf", 1).split())
    assert cover.index("Children looked after per 10,000") < cover.index("Care leavers aged 19-21")
    assert "Care leavers Care leavers aged 19-21" in cover  # the stage's heading row


def test_no_child_level_value_in_the_pdf(out):
    text = _text(out / "board_pack.pdf")
    for value in pf.CHILD_LEVEL_VALUES:
        assert value not in text


def test_pdf_pages_as_pictures(out, artifacts):
    for old in artifacts.glob("board_pack-*.png"):
        old.unlink()
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", str(out / "board_pack.pdf"), str(artifacts / "board_pack")],
        check=True,
    )
    pictures = sorted(artifacts.glob("board_pack-*.png"))
    assert len(pictures) == len(pf.HEADLINE) + 2
    assert all(p.stat().st_size > 5_000 for p in pictures)


def test_every_measure_with_totals_when_no_headline_configured(tmp_path):
    from dashboards.board_pack import write_board_pack
    from pipelines.published import read_published
    from pipelines.settings import DEFAULT_MODELS_DIR
    from pipelines.sqlmodels import build_model, discover_models

    warehouse = pf.build(tmp_path / "warehouse.duckdb", headline=[], quality=False)
    con = duckdb.connect(str(warehouse))
    try:
        models = discover_models(DEFAULT_MODELS_DIR)
        for name in ("pub_about", "pub_measures", "pub_stories", "pub_measure_values",
                     "pub_measure_status", "pub_report_card"):
            build_model(con, models[name])
        tables = read_published(con)
    finally:
        con.close()
    whole = [m["measure_id"] for m in pf.MEASURES if m["oba_kind"] == "population_indicator"]
    assert sorted(tables.headline_ids()) == sorted(whole)
    result = write_board_pack(tmp_path / "pack.pdf", tables)
    assert len(PdfReader(result.path).pages) == len(whole) + 2 == result.pages
    assert "No data-quality results for this run." in _text(result.path, result.pages)


def test_missing_chromium_fails_with_install_hint(out, tmp_path, monkeypatch):
    from dashboards import board_pack

    monkeypatch.setenv("OBA_CHROMIUM", str(tmp_path / "no-such-chromium"))
    with pytest.raises(board_pack.BoardPackError, match="apt-get install chromium"):
        board_pack.find_chromium()
    monkeypatch.delenv("OBA_CHROMIUM")
    monkeypatch.setattr(board_pack, "DEBIAN_CHROMIUM", str(tmp_path / "none"))
    monkeypatch.setattr(board_pack.shutil, "which", lambda name: None)
    with pytest.raises(board_pack.BoardPackError, match="apt-get install chromium"):
        board_pack.find_chromium()
    # The previous pack stays when printing fails.
    target = tmp_path / "board_pack.pdf"
    target.write_bytes(b"%PDF-old")
    with pytest.raises(board_pack.BoardPackError):
        board_pack.write_board_pack(target, _tables(out))
    assert target.read_bytes() == b"%PDF-old"
    assert [p.name for p in tmp_path.iterdir()] == ["board_pack.pdf"]


def test_board_pack_asset_fails_clearly_without_chromium(out, tmp_path, monkeypatch, caplog):
    """Without Chromium the outputs step fails with the install hint and writes no pack; the
    downloads and the site, written in the same step, are still written and recorded, and the
    run's progress reports each of the three."""
    import logging

    import dagster as dg
    from dagster_duckdb import DuckDBResource

    from pipelines.defs.publish import BOARD_PACK, DOWNLOADS, SITE, outputs
    from pipelines.defs.resources import ObaPaths

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy2(out / "warehouse.duckdb", warehouse)
    monkeypatch.setenv("OBA_CHROMIUM", "/nonexistent/chromium")
    caplog.set_level(logging.INFO, logger="oba.progress")
    result = dg.materialize(
        [outputs],
        resources={
            "duckdb": DuckDBResource(database=str(warehouse)),
            "oba": ObaPaths(exports_dir=str(tmp_path), out_dir=str(tmp_path / "out")),
        },
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    description = failure.step_failure_data.user_failure_data.description
    assert "apt-get install chromium" in description
    assert not (tmp_path / "out" / "board_pack.pdf").exists()
    materialised = {e.asset_key for e in result.all_events if e.is_step_materialization}
    assert materialised == {DOWNLOADS, SITE}
    assert (tmp_path / "out" / "site" / "index.html").is_file()
    assert BOARD_PACK not in materialised
    reported = [r.getMessage() for r in caplog.records if r.name == "oba.progress"]
    assert reported == [
        "failed published__board_pack", "done published__downloads", "done published__site",
    ]


def test_the_site_is_written_while_the_board_pack_prints(out, tmp_path):
    """The outputs step writes the downloads and the site while Chromium prints the pack: the
    browser has the pack's page before the first download is written, and the PDF is written
    after it; the PDF is the same as the one printed alone. The pack, or the downloads and
    site, can be materialised alone."""
    import dagster as dg
    from dagster_duckdb import DuckDBResource

    from dashboards import chromium as browsers
    from pipelines.defs.publish import BOARD_PACK, DOWNLOADS, SITE, outputs
    from pipelines.defs.resources import ObaPaths

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy2(out / "warehouse.duckdb", warehouse)
    submitted: list[float] = []
    original = browsers.Browser.submit_print

    def noting(self, *args, **kwargs):
        wait = original(self, *args, **kwargs)
        submitted.append(time.time())
        return wait

    def run(folder: Path, selection=None):
        return dg.materialize(
            [outputs],
            selection=selection,
            resources={
                "duckdb": DuckDBResource(database=str(warehouse)),
                "oba": ObaPaths(exports_dir=str(tmp_path), out_dir=str(folder)),
            },
        )

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(browsers.Browser, "submit_print", noting)
        together = run(tmp_path / "together")
    assert together.success
    assert {e.asset_key for e in together.all_events if e.is_step_materialization} == {
        DOWNLOADS, SITE, BOARD_PACK,
    }
    assert len(submitted) == 1
    first_download = min(p.stat().st_mtime for p in (tmp_path / "together" / "published").glob("*.csv"))
    printed = (tmp_path / "together" / "board_pack.pdf").stat().st_mtime
    assert submitted[0] <= first_download < printed, "the downloads were not written while it printed"
    alone = run(tmp_path / "alone", selection=[BOARD_PACK])
    assert {e.asset_key for e in alone.all_events if e.is_step_materialization} == {BOARD_PACK}
    assert not (tmp_path / "alone" / "site").exists()
    assert _pages_text(tmp_path / "together" / "board_pack.pdf") == _pages_text(
        tmp_path / "alone" / "board_pack.pdf"
    )
    no_pack = run(tmp_path / "no-pack", selection=[DOWNLOADS, SITE])
    assert {e.asset_key for e in no_pack.all_events if e.is_step_materialization} == {DOWNLOADS, SITE}
    assert (tmp_path / "no-pack" / "site" / "index.html").is_file()
    assert not (tmp_path / "no-pack" / "board_pack.pdf").exists()


def test_work_done_while_the_pack_prints_that_fails_keeps_the_old_pack(out, tmp_path):
    """If the work done while the pack prints fails, its error is raised, the previous pack
    stays, and nothing is left beside it (the browser is closed before the pack's folder goes)."""
    from dashboards import board_pack

    target = tmp_path / "board_pack.pdf"
    target.write_bytes(b"%PDF-old")

    def failing() -> None:
        raise RuntimeError("the site failed")

    with pytest.raises(RuntimeError, match="the site failed"):
        board_pack.write_board_pack(target, _tables(out), meanwhile=failing)
    time.sleep(1)
    assert target.read_bytes() == b"%PDF-old"
    assert [p.name for p in tmp_path.iterdir()] == ["board_pack.pdf"]
    ran: list[bool] = []
    result = board_pack.write_board_pack(target, _tables(out), meanwhile=lambda: ran.append(True))
    assert ran == [True]
    assert len(PdfReader(result.path).pages) == result.pages


def _pages_text(pdf: Path) -> list[str]:
    return [" ".join(_text(pdf, n).split()) for n in range(1, len(PdfReader(pdf).pages) + 1)]


def test_browser_started_ahead_prints_what_the_one_shot_command_prints(out, tmp_path):
    """The board pack's browser (Playwright over Debian's Chromium, started before the pack is
    written) and ``chromium --print-to-pdf`` give the same pages."""
    from dashboards import board_pack
    from dashboards import chromium as browsers

    html = board_pack.write_pack_html(tmp_path, _tables(out), list(pf.HEADLINE), dt.datetime(2025, 4, 1, 9, 0))
    board_pack.prestart_chromium()
    browser = browsers.take(board_pack.DEBIAN_CHROMIUM)
    assert browser is not None
    ahead, command = tmp_path / "ahead.pdf", tmp_path / "command.pdf"
    board_pack.print_pdf(html, ahead, board_pack.DEBIAN_CHROMIUM, browser=browser)
    board_pack.print_pdf(html, command, board_pack.DEBIAN_CHROMIUM)
    assert _pages_text(ahead) == _pages_text(command)
    assert PdfReader(ahead).pages[0].mediabox == PdfReader(command).pages[0].mediabox
    info = subprocess.run(["pdfinfo", str(ahead)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Tagged:\s+yes$", info, re.M)


def test_a_browser_that_printed_serves_the_next_pack_then_closes_when_idle(out, tmp_path, monkeypatch):
    """After a good print the browser is handed back for the next pack in the process (the
    authorities of one `oba run --authorities`); left idle, it closes itself."""
    from dashboards import board_pack
    from dashboards import chromium as browsers

    monkeypatch.setattr(browsers, "IDLE_CLOSE_S", 4.0)
    html = board_pack.write_pack_html(tmp_path, _tables(out), list(pf.HEADLINE), dt.datetime(2025, 4, 1, 9, 0))
    waiting = browsers.take(board_pack.DEBIAN_CHROMIUM)  # one an earlier pack handed back
    if waiting is not None:
        waiting.close()
    browser = browsers.start(board_pack.DEBIAN_CHROMIUM, board_pack.BROWSER_FLAGS)
    board_pack.print_pdf(html, tmp_path / "first.pdf", board_pack.DEBIAN_CHROMIUM, browser=browser)
    assert browsers.take(board_pack.DEBIAN_CHROMIUM) is browser and browser.alive()
    board_pack.print_pdf(html, tmp_path / "second.pdf", board_pack.DEBIAN_CHROMIUM, browser=browser)
    assert _pages_text(tmp_path / "first.pdf") == _pages_text(tmp_path / "second.pdf")
    deadline = time.monotonic() + 30
    while browser.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not browser.alive()
    assert browsers.take(board_pack.DEBIAN_CHROMIUM) is None


def test_a_process_ending_while_its_browser_starts_does_not_wait_for_it(tmp_path):
    """A process that ends (a stopped run) while the browser it prestarted is still starting
    ends at once: the wait for a clean close (10 s) is for a browser that is up. The Chromium
    here never answers, so its start would take Playwright's whole launch timeout (60 s)."""
    pids = tmp_path / "chromium.pids"
    fake = tmp_path / "chromium"
    fake.write_text(f"#!/bin/sh\necho $$ >> '{pids}'\nexec sleep 120\n")
    fake.chmod(0o755)
    code = (
        "import sys, time\n"
        "from dashboards import chromium\n"
        "from dashboards.board_pack import BROWSER_FLAGS\n"
        "browser = chromium.start(sys.argv[1], BROWSER_FLAGS)\n"
        "while not __import__('os').path.exists(sys.argv[2]):\n"
        "    time.sleep(0.05)\n"
        "print(time.monotonic(), flush=True)\n"  # then exits: atexit closes the browser
    )
    output = tmp_path / "output.txt"
    try:
        # (output to a file: Playwright's driver, which may outlive the process a moment, holds
        # the process's stdout and stderr, and a pipe would wait for it)
        with output.open("w") as handle:
            process = subprocess.Popen([sys.executable, "-c", code, str(fake), str(pids)],
                                       stdout=handle, stderr=subprocess.STDOUT, text=True)
            returncode = process.wait(timeout=120)
        ended = time.monotonic()
        text = output.read_text()
        assert returncode == 0, text
        assert ended - float(text.split()[-1]) < 5, "the process waited for the browser's start"
    finally:
        for pid in pids.read_text().split() if pids.exists() else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


def test_a_browser_that_cannot_start_falls_back_to_the_command(out, tmp_path):
    from dashboards import board_pack
    from dashboards import chromium as browsers

    html = board_pack.write_pack_html(tmp_path, _tables(out), list(pf.HEADLINE), dt.datetime(2025, 4, 1, 9, 0))
    broken = browsers.start(str(tmp_path / "no-such-browser"), board_pack.BROWSER_FLAGS)
    pdf = tmp_path / "pack.pdf"
    board_pack.print_pdf(html, pdf, board_pack.DEBIAN_CHROMIUM, browser=broken)
    assert len(PdfReader(pdf).pages) == 1 + len(pf.HEADLINE) + 1
    assert not broken.alive()


def _icon_labels(row_html: str) -> list[str]:
    """The text alternatives of the Making Data Count icons in a table row, in order."""
    return re.findall(r'<svg class="mdc-icon"[^>]*aria-label="([^"]+)"[^>]*><title>\1</title>', row_html)


def _site_rows(index_html: str) -> dict[str, str]:
    """The report card's rows by measure name (whole-population tables)."""
    rows = {}
    for row in re.findall(r"<tr>\s*<th scope=\"row\"><a href=\"measures/[^\"]+\">.*?</tr>", index_html, re.S):
        name = re.search(r'<a href="measures/[^"]+">([^<]+)</a>', row).group(1)
        rows.setdefault(name, row)
    return rows


def test_cover_shows_the_sites_headline_and_the_same_icons(out, tmp_path):
    """The cover carries each group's headline as the report card gives it, and each headline
    row's variation and assurance icons with the same text alternatives and words as the
    site's report card row."""
    from dashboards.board_pack import write_board_pack

    index = (out / "site" / "index.html").read_text(encoding="utf-8")
    headlines = re.findall(r'<span class="headline-text">([^<]+)</span>', index)
    assert headlines and headlines[0].endswith("worsening")
    cover = " ".join(_text(out / "board_pack.pdf", 1).split())
    for text in headlines:
        assert text in cover, text

    tables = _tables(out)
    html_dir = tmp_path / "pack-html"
    write_board_pack(tmp_path / "board_pack.pdf", tables, keep_html=html_dir)
    pack = (html_dir / "board_pack.html").read_text(encoding="utf-8")
    cover_html = pack[: pack.index('<section class="page measure">')]
    site_rows = _site_rows(index)
    names = {m["measure_id"]: m["name"] for m in pf.MEASURES}
    pack_cover = " ".join(_text(tmp_path / "board_pack.pdf", 1).split())
    for measure_id in pf.HEADLINE:
        name = names[measure_id]
        start = cover_html.index(f'<th scope="row">{name}<br>')
        pack_row = cover_html[start: cover_html.index("</tr>", start)]
        site_labels = _icon_labels(site_rows[name])
        assert len(site_labels) == 2, (name, site_labels)  # variation, assurance
        assert _icon_labels(pack_row) == site_labels, name
        words = re.findall(r'<span class="mdc-words">([^<]+)</span>', site_rows[name])
        assert words == re.findall(r'<span class="mdc-words">([^<]+)</span>', pack_row), name
        for word in words:
            assert word in pack_cover, (name, word)


def test_writing_a_pack_leaves_the_shared_templates_escaping(out, tmp_path):
    """The templates' environment is made once per process and shared by the site, the pack and
    the region page: writing a pack (its stylesheet is not HTML) must not switch its escaping off."""
    from dashboards import board_pack
    from dashboards.views import environment

    board_pack.write_pack_html(tmp_path, _tables(out), list(pf.HEADLINE), dt.datetime(2025, 4, 1, 9, 0))
    page = environment().from_string("<p>{{ value }}</p>").render(value='<script>alert("x")</script>')
    assert page == "<p>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</p>"
