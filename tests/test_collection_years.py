"""Collection years and supersession as DESIGN §2b says (issue 19, item 3): config pin, else the
file or folder name, else the return's own header, else the 31 March after which at most 1% of
the file's dates fall; every file in ``quality.export_files`` and in ``oba validate`` with its
year, where that came from, its rows and what superseded it; several authorities in one file
are a blocking error."""

import csv
import datetime as dt
import os
import shutil
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest
from conftest import materialise_all, query

from pipelines.cli import main
from pipelines.config import ConfigError, parse_config
from pipelines.contracts import load_contracts
from pipelines.ingest import scan_exports, sync_source
from pipelines.ingest.load import insert_tabular
from pipelines.ingest.years import date_files, dating_order, pinned_year, year_from_dates

EPISODES = ["CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC",
            "REASON_PLACE_CHANGE", "HOME_POST", "PL_POST", "URN"]
FAKE = "ssda903_fake_2018"
EXPORT_FILES_COLUMNS = [
    "source_file", "recognised_as", "collection_year", "year_from", "rows_read", "rows_kept",
    "rows_quarantined", "status", "superseded_by", "reason",
]


def _copy(source: Path, target: Path, when: dt.datetime | None = None) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    os.chmod(target, 0o644)
    if when is not None:
        stamp = when.replace(tzinfo=dt.UTC).timestamp()
        os.utime(target, (stamp, stamp))
    return target


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _episode(child: int, decom: dt.date, dec: dt.date | None = None) -> list[str]:
    return [str(child), decom.strftime("%d/%m/%Y"), "S", "C2", "N1", "U1", "PR1",
            dec.strftime("%d/%m/%Y") if dec else "", "E11" if dec else "", "", "AB1 2CD", "AB3 4EF", "SC1"]


def _load(con, exports: Path, pins: dict[str, int] | None = None) -> list:
    """Every recognised file into raw as the family assets do: dated, sources with dates first."""
    contracts = load_contracts()
    files = date_files(scan_exports(exports), pins)
    items = defaultdict(list)
    for f in files:
        if f.recognised:
            for p in f.parts:
                items[p.source].append(
                    (f, p, lambda table, f=f, p=p: insert_tabular(con, contracts[p.source], f, p, table))
                )
    for source in dating_order({s: contracts[s] for s in items}):
        sync_source(con, contracts[source], items[source])
    return files


def _years(con, table: str = "raw.ssda903_episodes") -> dict[str, list[int | None]]:
    found = defaultdict(list)
    for name, year in con.execute(
        f"select distinct _source_file, _collection_year from {table} order by all"
    ).fetchall():
        found[name].append(year)
    return dict(found)


# -- the rule -----------------------------------------------------------------------------------


def test_at_most_one_percent_of_dates_may_fall_after_the_year_end():
    assert year_from_dates({}) is None
    assert year_from_dates({2018: 990, 2019: 10}) == (2018, 10, 1000)  # 1% after: not moved
    assert year_from_dates({2018: 989, 2019: 11}) == (2019, 0, 1000)  # more than 1%: moved
    assert year_from_dates({2016: 400, 2017: 580, 2019: 20}) == (2019, 0, 1000)
    assert year_from_dates({2016: 400, 2017: 590, 2019: 4, 2020: 6}) == (2017, 10, 1000)
    # one stray date never moves a return of ten or more dates...
    assert year_from_dates({2018: 9, 2019: 1}) == (2018, 1, 10)
    assert year_from_dates({2018: 8, 2019: 2}) == (2019, 0, 10)
    # ...and a file of fewer than ten dates is dated by its latest
    assert year_from_dates({2017: 3, 2018: 1}) == (2018, 0, 4)


def test_a_return_with_one_date_after_its_year_end_is_not_moved(tmp_path):
    exports = tmp_path / "exports"
    start = dt.date(2017, 5, 1)
    rows = [_episode(100 + i, start + dt.timedelta(days=7 * i)) for i in range(40)]
    rows[0] = _episode(100, start, dt.date(2018, 4, 1))  # the stray: a DEC on the day after 31 March
    _write_csv(exports / "returns" / "episodes.csv", EPISODES, rows)
    # and a return a tenth of whose dates fall after 31 March 2018 is for 2018/19
    later = [_episode(200 + i, start + dt.timedelta(days=7 * i)) for i in range(36)]
    later += [_episode(300 + i, dt.date(2018, 4, 2) + dt.timedelta(days=i)) for i in range(4)]
    _write_csv(exports / "other" / "episodes.csv", EPISODES, later)
    con = duckdb.connect()
    _load(con, exports)
    assert _years(con) == {"returns/episodes.csv": [2018], "other/episodes.csv": [2019]}
    note = con.execute(
        "select year_from, year_note from raw._loads where source_file = 'returns/episodes.csv'"
    ).fetchone()
    assert note == ("content", "its dates: 1 of 41 fall after 31 March 2018, too few to move it")


def test_pins_name_a_file_a_folder_or_a_glob_and_are_checked():
    pins = {"a": 2016, "a/b": 2017, "a/b/c.csv": 2018, "*.xml": 2019, "a/*/d*": 2020}
    assert pinned_year("a/b/c.csv", pins) == (2018, "a/b/c.csv")
    assert pinned_year("a/b/x.csv", pins) == (2017, "a/b")
    assert pinned_year("a/x.csv", pins) == (2016, "a")
    assert pinned_year("z/y.xml", pins) == (2019, "*.xml")
    assert pinned_year("q/dd/e.csv", {"q/d*": 2021}) == (2021, "q/d*")  # a glob naming a folder
    assert pinned_year("elsewhere.csv", pins) is None
    config = parse_config({"collection_years": {"old/903.csv": "2016-17", "./new/": 2018}}, Path("oba.yaml"))
    assert config.collection_years == {"old/903.csv": 2017, "new": 2018}
    with pytest.raises(ConfigError) as caught:
        parse_config({"collection_years": {"/etc/x": 2018, "a.csv": "last year", "b.csv": 1890}}, Path("oba.yaml"))
    assert len(caught.value.problems) == 3
    assert "collection_years.a.csv: expected a collection year" in str(caught.value)


def test_a_pin_wins_over_a_name_and_re_dates_an_unchanged_file(tmp_path):
    exports = tmp_path / "exports"
    rows = [_episode(100 + i, dt.date(2017, 5, 1) + dt.timedelta(days=i)) for i in range(20)]
    _write_csv(exports / "2019-20" / "episodes.csv", EPISODES, rows)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    _load(con, exports)
    assert _years(con) == {"2019-20/episodes.csv": [2020]}
    _load(con, exports, {"2019-20": 2018})
    assert _years(con) == {"2019-20/episodes.csv": [2018]}
    assert con.execute("select collection_year, year_from, year_note from raw._loads").fetchall() == [
        (2018, "config", "oba.yaml collection_years '2019-20'")
    ]
    _load(con, exports)  # the pin removed: its name again
    assert con.execute("select collection_year, year_from from raw._loads").fetchall() == [(2020, "name")]


def test_a_year_column_dates_the_file_and_one_authority_loads(tmp_path, samples):
    source = samples / "liia_small" / "SSDA903_episodes_for_testing_fixes_INPUT.csv"
    lines = source.read_text(encoding="utf-8").splitlines()
    exports = tmp_path / "exports"
    one_la = [lines[0]] + [
        ",".join(line.split(",")[:-2] + ["Barking and Dagenham", line.split(",")[-1]]) for line in lines[1:]
    ]
    (exports / "history").mkdir(parents=True)
    (exports / "history" / "episodes.csv").write_text("\n".join(one_la) + "\n", encoding="utf-8")
    single = [lines[0]] + [",".join(line.split(",")[:-2] + ["Newham", "2023"]) for line in lines[1:]]
    (exports / "single").mkdir()
    (exports / "single" / "episodes.csv").write_text("\n".join(single) + "\n", encoding="utf-8")
    con = duckdb.connect()
    files = {f.relative: f for f in _load(con, exports)}
    assert not files["history/episodes.csv"].error
    assert files["single/episodes.csv"].year_from == "content"
    assert files["single/episodes.csv"].year_note == "its YEAR column"
    # several years: each row keeps its own (the file is several returns), listed under the latest
    expected = sorted({int(line.split(",")[-1]) for line in lines[1:]})
    assert _years(con)["history/episodes.csv"] == expected
    assert _years(con)["single/episodes.csv"] == [2023]
    loads = dict(con.execute("select source_file, collection_year from raw._loads").fetchall())
    assert loads == {"history/episodes.csv": max(expected), "single/episodes.csv": 2023}


# -- the real fake return, as a council would drop it in ---------------------------------------


def test_the_fake_2017_18_return_is_dated_2017_18_with_no_year_in_any_name(samples, tmp_path, capsys):
    """The return in a folder whose names carry no year, beside a resubmission whose folder
    does (it supersedes the original) and a file that is not an export; oba validate reports
    each file's year and where it came from, its rows read, kept and excluded, and what
    superseded it."""
    exports = tmp_path / "exports"
    original, later = dt.datetime(2018, 5, 1, 9), dt.datetime(2018, 6, 1, 9)
    for name in ("episodes.csv", "header.csv", "oc3.csv", "reviews.csv", "missing.csv"):
        _copy(samples / FAKE / name, exports / "returns" / name, original)
    _write_csv(exports / "returns" / "budget.csv", ["cost_centre", "amount"], [["A1", "100"]])
    _copy(samples / FAKE / "episodes.csv", exports / "resubmitted 2017-18" / "episodes.csv", later)
    out = tmp_path / "out"
    code = main(["validate", "--exports", str(exports), "--out", str(out)])
    output = capsys.readouterr()
    text = " ".join((output.out + output.err).split())
    assert code in (0, 1) and "Traceback" not in text, text  # (contract checks may block; not the files)
    files = query(out, "select * from quality.export_files order by source_file").set_index("source_file")
    assert set(EXPORT_FILES_COLUMNS) <= {files.index.name, *files.columns}
    episodes = files.loc["returns/episodes.csv"]
    assert (episodes["collection_year"], episodes["year_from"]) == (2018, "content")
    assert episodes["status"] == "superseded"
    assert episodes["superseded_by"] == "resubmitted 2017-18/episodes.csv"
    assert episodes["rows_read"] == 5050
    assert episodes["rows_kept"] == 5050 - episodes["rows_quarantined"]
    resubmitted = files.loc["resubmitted 2017-18/episodes.csv"]
    assert (resubmitted["collection_year"], resubmitted["year_from"], resubmitted["status"]) == (2018, "name", "loaded")
    for table in ("returns/header.csv", "returns/oc3.csv"):  # dated by the episodes beside them
        assert (files.loc[table, "collection_year"], files.loc[table, "year_from"]) == (2018, "content")
        assert files.loc[table, "status"] == "loaded"
        assert files.loc[table, "year_note"] == "as returns/episodes.csv beside it, of the same return"
    # every table of the return: one year (the fake reviews run to 2031, yet belong to 2017/18)
    loaded = files[files["status"] == "loaded"]
    assert set(loaded["collection_year"]) == {2018}, loaded
    assert files.loc["returns/budget.csv", "status"] == "ignored"
    assert files.loc["returns/budget.csv", "reason"]
    years = query(out, "select distinct _collection_year as y from raw.ssda903_episodes")
    assert years["y"].tolist() == [2018]
    # the report: per file, year and where it came from, rows read / kept / excluded, superseded by
    assert "returns/episodes.csv: superseded as ssda903_episodes" in text
    assert "year 2017-18, from content: its dates: 12 of" in text
    assert "fall after 31 March 2018, too few to move it" in text
    assert f"rows read 5,050, kept {5050 - episodes['rows_quarantined']:,}, excluded" in text
    assert "superseded by resubmitted 2017-18/episodes.csv" in text
    assert "resubmitted 2017-18/episodes.csv: loaded as ssda903_episodes" in text
    assert "year 2017-18, from name: its folder name 'resubmitted 2017-18'" in text
    assert "returns/budget.csv: ignored – header matches no known export" in text
    page = (out / "site" / "data-quality.html").read_text(encoding="utf-8")
    assert "resubmitted 2017-18/episodes.csv" in page and "2017-18" in page and "content" in page


def test_xml_returns_are_dated_by_content_pin_and_header(samples, tmp_path):
    """The fake return's XML copy in a neutral folder (its dates: 2017/18, all three tables);
    another copy in a folder named 2016-17 but pinned in oba.yaml (the pin wins); a CIN census
    renamed without a year (its header's ReferenceDate)."""
    exports = tmp_path / "exports"
    _copy(samples / FAKE / "fake_903.xml", exports / "returns" / "903.xml")
    _copy(samples / FAKE / "fake_903.xml", exports / "returns 2016-17" / "903.xml")
    _copy(samples / "liia_small" / "BAR_cin_2022.xml", exports / "census" / "cin.xml")
    config = tmp_path / "oba.yaml"
    config.write_text('collection_years:\n  "returns 2016-17/*.xml": 2019\n', encoding="utf-8")
    result = materialise_all(exports, tmp_path / "out", config=config, groups=("raw",))
    assert result.success
    files = query(tmp_path / "out", "select * from quality.export_files").set_index("source_file")
    assert files.loc["returns/903.xml", ["collection_year", "year_from", "status"]].tolist() == [
        2018, "content", "loaded"
    ]
    assert files.loc["returns 2016-17/903.xml", ["collection_year", "year_from"]].tolist() == [2019, "config"]
    assert files.loc["census/cin.xml", ["collection_year", "year_from"]].tolist() == [2022, "header"]
    assert files.loc["census/cin.xml", "year_note"] == "its header's ReferenceDate 2022-03-31"
    loads = query(tmp_path / "out", "select source, rows, collection_year from raw._loads "
                  "where source_file = 'returns/903.xml'").set_index("source")
    assert files.loc["returns/903.xml", "rows_read"] == loads["rows"].sum()  # every table of the file
    assert loads.loc["ssda903_episodes", "rows"] == 459 and loads.loc["ssda903_header", "rows"] == 253
    assert set(loads["collection_year"]) == {2018}  # one file, one year
    for table in ("ssda903_episodes", "ssda903_header", "ssda903_oc3"):
        years = query(tmp_path / "out", f"select distinct _source_file, _collection_year from raw.{table}")
        assert dict(zip(years["_source_file"], years["_collection_year"], strict=True)) == {
            "returns/903.xml": 2018, "returns 2016-17/903.xml": 2019
        }, table


def test_a_clash_between_files_for_one_year_is_an_error_for_both(samples, tmp_path, capsys):
    """The fake return's CSV (5,050 episodes) and XML (459): both 2017/18 by their dates, too
    different to be one return's correction: a blocking error naming both, both listed so."""
    exports = tmp_path / "exports"
    _copy(samples / FAKE / "episodes.csv", exports / "returns" / "episodes.csv", dt.datetime(2018, 5, 1))
    _copy(samples / FAKE / "fake_903.xml", exports / "returns" / "903.xml", dt.datetime(2018, 6, 1))
    out = tmp_path / "out"
    assert main(["validate", "--exports", str(exports), "--out", str(out)]) == 1
    output = capsys.readouterr()
    text = " ".join((output.out + output.err).split())
    clash = "returns/episodes.csv (5,050 rows) and returns/903.xml (459 rows) are both ssda903_episodes for 2017-18"
    files = query(out, "select * from quality.export_files").set_index("source_file")
    assert files["status"].tolist() == ["error", "error"]
    for reason in files["reason"]:
        assert clash in reason and "differ by" in reason
    assert "returns/903.xml: error as " in text and clash in text


def test_a_file_of_several_authorities_is_a_blocking_error(samples, tmp_path, capsys):
    exports = tmp_path / "exports"
    name = "SSDA903_episodes_for_testing_fixes_INPUT.csv"
    _copy(samples / "liia_small" / name, exports / "region" / name)
    _copy(samples / FAKE / "header.csv", exports / "returns" / "header.csv")
    out = tmp_path / "out"
    code = main(["validate", "--exports", str(exports), "--out", str(out)])
    output = capsys.readouterr()
    text = " ".join((output.out + output.err).split())
    assert code == 1
    message = (
        f"region/{name}: its column 'LA' names 3 local authorities ('Barking and Dagenham', "
        "'Newham', 'Sutton')"
    )
    assert message in text and "never merged" in text
    files = query(out, "select * from quality.export_files").set_index("source_file")
    assert files.loc[f"region/{name}", "status"] == "error"
    assert files.loc[f"region/{name}", "reason"].startswith(message)
    assert files.loc["returns/header.csv", "status"] == "recognised"  # not loaded: the run stopped


@pytest.mark.parametrize(
    "relative",
    [
        "2024/episodes.csv", "returns 2023-24/episodes.csv", "202324/episodes.csv", "23-24/episodes.csv",
        "returns/episodes 2024.csv", "returns/episodes_2023-24.csv", "returns/episodes 202324.csv",
        "returns/episodes 23-24.csv",
    ],
)
def test_every_name_form_gives_the_year_of_its_31_march(tmp_path, relative):
    """README: the year comes from the file or folder name as ``2024``, ``2023-24``, ``202324``
    or ``23-24`` (all 2023/24, year 2024), before the file's own dates (here all in 2019/20)."""
    exports = tmp_path / "exports"
    rows = [_episode(100 + i, dt.date(2019, 5, 1) + dt.timedelta(days=7 * i)) for i in range(12)]
    _write_csv(exports / relative, EPISODES, rows)
    con = duckdb.connect()
    _load(con, exports)
    assert _years(con) == {relative: [2024]}
    assert con.execute("select year_from from raw._loads where source_file = ?", [relative]).fetchone() == ("name",)
