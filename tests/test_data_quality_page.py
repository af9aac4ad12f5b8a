"""The data-quality page for people: per source the files received (year and its origin, rows
read, kept, excluded, flagged, superseded by), sources not supplied, problems by rule with how
the rows were treated and what to fix, the great-expectations results last; never a value of a
record; one renderer for `oba validate --out` and `oba run`.

One crafted export (the hand-worked council) with: a corrected re-submission of the 2022-23
episodes (the first file superseded), a row without a child id (excluded), a row with a legal
status that is no code (kept with the value cleared; its code and child id are planted values
that must never reach the page) and a row ending without a reason (kept, warning only)."""

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from lxml import html as lxml_html

CHROMIUM = "/usr/bin/chromium"
PLANTED_CODE = "QQ7"  # a legal status no code list holds
PLANTED_CHILD = "777123"  # the child id on that row
RESUBMITTED = "ssda903/2022-23/episodes (corrected).csv"


def _export(hand_council: Path, exports: Path) -> None:
    shutil.copytree(hand_council, exports)
    original = exports / "ssda903" / "2022-23" / "episodes.csv"
    corrected = exports / RESUBMITTED
    shutil.copyfile(original, corrected)
    os.utime(original, (dt.datetime(2024, 6, 1).timestamp(),) * 2)
    os.utime(corrected, (dt.datetime(2024, 6, 2).timestamp(),) * 2)  # the later file wins
    episodes = exports / "ssda903" / "2023-24" / "episodes.csv"
    text = episodes.read_text(encoding="utf-8-sig").rstrip("\n") + "\n"
    text += ",01/06/2023,S,C2,N1,U1,PR1,,,,AB1 2CD,AB3 4EF,SC000001\n"  # no child: excluded
    text += f"{PLANTED_CHILD},01/06/2023,S,{PLANTED_CODE},N1,U1,PR1,,,,AB1 2CD,AB3 4EF,SC000001\n"  # kept, LS cleared
    text += "100097,01/06/2023,S,C2,N1,U1,PR1,01/09/2023,,,AB1 2CD,AB3 4EF,SC000001\n"  # DEC without REC: warning
    episodes.write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def pages(hand_council, tmp_path_factory) -> dict[str, Path]:
    """The crafted export checked with `oba validate --out` and run with `oba run`."""
    from pipelines.cli import main

    root = tmp_path_factory.mktemp("data_quality_page")
    exports = root / "exports"
    _export(hand_council, exports)
    assert main(["validate", "--exports", str(exports), "--out", str(root / "checked")]) == 0
    assert main(["run", "--exports", str(exports), "--out", str(root / "run")]) == 0
    return {
        "validate": root / "checked" / "site" / "data-quality.html",
        "run": root / "run" / "site" / "data-quality.html",
    }


def _tree(path: Path):
    return lxml_html.fromstring(path.read_text(encoding="utf-8"))


def _table(path: Path, caption: str) -> list[list[str]]:
    """The body rows (cell texts, whitespace squashed) of the table whose caption starts so."""
    for table in _tree(path).iter("table"):
        found = table.find("caption")
        if found is not None and " ".join(found.text_content().split()).startswith(caption):
            return [
                [" ".join(cell.text_content().split()) for cell in row.iter("th", "td")]
                for row in table.iter("tr") if row.getparent().tag == "tbody"
            ]
    raise AssertionError(f"no table captioned {caption!r}")


def _problems(path: Path) -> dict[tuple[str, str], list[str]]:
    """Problems by (rule, treatment): [rule, source, what is wrong, treatment, rows, fix]."""
    return {(r[0], r[3]): r for r in _table(path, "Each rule rows broke")}


def _files(path: Path, title: str) -> dict[str, list[str]]:
    """The files of one source by name: [file, read as, year, year from, read, kept, excluded,
    flagged, superseded]."""
    return {r[0]: r for r in _table(path, f"{title}: each file")}


@pytest.mark.timeout(900)
def test_a_superseded_file_is_listed_with_the_file_that_superseded_it(pages):
    files = _files(pages["run"], "SSDA903 episodes")
    old, new = files["ssda903/2022-23/episodes.csv"], files[RESUBMITTED]
    assert old[2] == new[2] == "2022-23"
    assert old[3].startswith("the file or folder name") and "2022-23" in old[3]
    assert old[8] == f"superseded by {RESUBMITTED}: none of its rows are in the figures"
    assert old[5] == "0"  # kept: none
    # the near miss: the file that superseded it, and another year's file, are not superseded
    assert new[8] == "–" and new[5] == new[4]
    assert files["ssda903/2023-24/episodes.csv"][8] == "–"


@pytest.mark.timeout(900)
def test_a_source_not_supplied_is_not_supplied_never_failed(pages):
    sources = {r[0]: r for r in _table(pages["run"], "Each source the data contracts know")}
    checks = {r[0]: r for r in _table(pages["run"], "Contract checks by source")}
    assert sources["SSDA903 reviews"][1:] == ["not supplied"]
    assert checks["SSDA903 reviews"][1:] == ["not supplied"]
    failed = {r[0] for r in _table(pages["run"], "Every contract check")if "did not pass" in r[2]}
    assert "SSDA903 reviews" not in failed
    # the near miss: a source given is counted, and its checks ran
    assert sources["SSDA903 episodes"][1].startswith("3")
    assert int(checks["SSDA903 episodes"][1]) > 0
    assert not any(r[1] == "not supplied" for r in _table(pages["run"], "SSDA903 episodes: each file"))


@pytest.mark.timeout(900)
def test_a_warned_row_is_kept_with_a_warning_and_an_excluded_row_is_excluded(pages):
    problems = _problems(pages["run"])
    warned = problems[("rec_without_dec", "kept, warning only")]
    assert warned[4] == "1" and "REC and DEC must both be given" in warned[2]
    assert ("rec_without_dec", "excluded from the figures") not in problems
    excluded = problems[("missing_value", "excluded from the figures")]
    assert excluded[4] == "1" and excluded[2] == "CHILD is blank; a value is required."
    assert "case system" in excluded[5]
    cleared = problems[("unknown_code", "kept with the value cleared")]
    assert cleared[4] == "1" and "LS" in cleared[2]
    # the file's rows: one excluded, and the warned and the cleared rows kept and flagged
    row = _files(pages["run"], "SSDA903 episodes")["ssda903/2023-24/episodes.csv"]
    read, kept, excluded_rows = int(row[4]), int(row[5]), int(row[6])
    assert (excluded_rows, kept) == (1, read - 1)
    assert row[7].startswith("2 ") and "1 with a value cleared, 1 with a warning" in row[7]


@pytest.mark.timeout(900)
def test_the_page_shows_no_value_of_a_record(pages):
    for path in pages.values():
        text = path.read_text(encoding="utf-8")
        assert PLANTED_CODE not in text and PLANTED_CHILD not in text
        assert "AB1 2CD" not in text and "01/06/2023" not in text
    # the near miss: the warehouse the page is made from holds the planted code as a value
    import duckdb

    con = duckdb.connect(str(pages["run"].parents[1] / "warehouse.duckdb"), read_only=True)
    try:
        values = {v for (v,) in con.execute("select value from quality.quarantine").fetchall()}
    finally:
        con.close()
    assert PLANTED_CODE in values


@pytest.mark.timeout(900)
def test_validate_and_the_run_make_the_same_page(pages):
    validate, run = pages["validate"], pages["run"]
    assert _table(validate, "Each rule rows broke") == _table(run, "Each rule rows broke")
    assert _table(validate, "Each source the data contracts know") == _table(
        run, "Each source the data contracts know"
    )
    assert _files(validate, "SSDA903 episodes") == _files(run, "SSDA903 episodes")
    # what differs: only a run computes measures, so only its page lists those not computed
    assert "Measures not computed" in run.read_text(encoding="utf-8")
    assert "Measures not computed" not in validate.read_text(encoding="utf-8")


@pytest.mark.timeout(900)
@pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="needs Debian's chromium")
def test_the_page_passes_axe(pages):
    from axe_playwright_python.sync_playwright import Axe  # a test dependency: never skipped
    from playwright.sync_api import sync_playwright

    from dashboards.board_pack import CHROMIUM_FLAGS

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=[f for f in CHROMIUM_FLAGS if f != "--headless"]
        )
        try:
            for path in pages.values():
                page = browser.new_page()
                page.goto(path.resolve().as_uri())
                page.locator("details summary").first.click()  # the list of every check, open
                results = Axe().run(page)
                assert results.violations_count == 0, results.generate_report()
                page.close()
        finally:
            browser.close()
