"""Hardening of ingestion (issue 14): export text never runs as SQL, supersession follows the
files' content and metadata (never their names), encodings, delimiters and shapes are read or
refused clearly, and the inventory lists hidden files and not the stories."""

import csv
import datetime as dt
import io
import json
import os
import shutil
from collections import defaultdict
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import examples, materialise_all, query
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pipelines.contracts import load_contracts
from pipelines.ingest import ExportError, recognise, scan_exports, sync_source
from pipelines.ingest.files import MAX_COLUMNS
from pipelines.ingest.load import insert_tabular
from pipelines.sqlquote import quote_identifier, quote_literal

SERVICES = ["service_id", "enrolment_id", "service_date", "service_type", "minutes"]
EPISODES = ["CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC",
            "REASON_PLACE_CHANGE", "HOME_POST", "PL_POST", "URN"]
SECRET = "SENTINEL-7f3a-the-key-file"


def _load(con, exports: Path) -> list:
    """Every recognised file under ``exports`` into raw, as the family assets do."""
    contracts = load_contracts()
    files = scan_exports(exports)
    items = defaultdict(list)
    for f in files:
        if not f.recognised:
            continue
        for p in f.parts:
            items[p.source].append(
                (f, p, lambda table, f=f, p=p: insert_tabular(con, contracts[p.source], f, p, table))
            )
    for source, found in items.items():
        sync_source(con, contracts[source], found)
    return files


def _write_csv(path: Path, header: list[str], rows: list[list[str]], delimiter: str = ",") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)


def _strings(con) -> str:
    """Every text value in every table of the warehouse, joined (to look for leaked content)."""
    found = []
    for schema, table, column in con.execute(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where data_type = 'VARCHAR'"
    ).fetchall():
        found += [
            v for (v,) in con.execute(
                f"select {quote_identifier(column)} from {quote_identifier(schema)}.{quote_identifier(table)}"
            ).fetchall() if v
        ]
    return "\n".join(found)


# -- 1. SQL injection through column headers ------------------------------------------------------


def test_quoting_round_trips_and_refuses_nul():
    con = duckdb.connect()
    for text in ["plain", "Parent's name", 'say "hi"', "back\\slash\\'", "--", ";drop table x;", "é\u2028ß",
                 "?", "$1", "'); select 1; --", ""]:
        assert con.execute(f"select {quote_literal(text)}").fetchone()[0] == text
        if text:
            con.execute(f"select 1 as {quote_identifier(text)}")
            assert con.description[0][0] == text
    for quote in (quote_literal, quote_identifier):
        with pytest.raises(ValueError, match="NUL"):
            quote("a\x00b")
    with pytest.raises(ValueError, match="empty"):
        quote_identifier("")


def _attack(secret_file: Path) -> str:
    return f"k', (select string_agg(content, '|') from read_text(['{secret_file}'])), 'k2"


@pytest.mark.parametrize("kind", ["csv", "parquet", "xlsx"])
def test_a_header_is_stored_as_text_and_never_runs(tmp_path, kind):
    """The probe of issue 14: an extra column whose name is SQL that reads a file."""
    secret = tmp_path / "secret.key"
    secret.write_text(SECRET)
    exports = tmp_path / "exports"
    exports.mkdir()
    extra = [_attack(secret), "Parent's name", 'say "hi"\\']
    header = SERVICES + extra
    row = ["SV1", "EN1", "2024-05-01", "Visit", "30", "a", "b", "c"]
    if kind == "csv":
        _write_csv(exports / "services.csv", header, [row])
    elif kind == "parquet":
        pq.write_table(pa.table({h: [v] for h, v in zip(header, row, strict=True)}), exports / "services.parquet")
    else:
        with pd.ExcelWriter(exports / "services.xlsx") as writer:
            pd.DataFrame([row], columns=header).to_excel(writer, sheet_name="Bob's 'services'", index=False)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    _load(con, exports)
    (stored,) = con.execute("select _extra from raw.case_services").fetchone()
    assert json.loads(stored) == dict(zip(extra, ["a", "b", "c"], strict=True))
    assert SECRET not in _strings(con)
    assert con.execute("select service_id, minutes from raw.case_services").fetchall() == [("SV1", "30")]


_ATTACKS = st.sampled_from([
    "'", '"', "''", '""', "\\", "\\'", "--", ";", "' --", "'; drop table raw._loads; --", "k', 1, 'k2",
    '") from x; --', "$1", "?", "%s", "{}", "é", "ß", "\u2028", "\u0085", "\ufeff", "\x0b", "\x0c",
    " lead", "trail ", "\t", "\r\n", "\n", ",", "|", "a\x00b", "\x00",
])
_HEADER = st.lists(
    st.one_of(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20),
        st.lists(_ATTACKS, min_size=1, max_size=4).map("x".join),
    ),
    min_size=1, max_size=4, unique=True,
)


def _known_names(source: str) -> set[str]:
    contract = load_contracts()[source]
    return {n.upper() for c in contract.columns for n in (c.name, *c.aliases)}


@settings(max_examples=examples(120), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=_HEADER, kind=st.sampled_from(["csv", "parquet"]))
def test_any_header_is_stored_verbatim_and_executes_nothing(tmp_path_factory, extra, kind):
    """Any header text, quotes, backslashes, comments, semicolons and unicode included, is the
    key of its value in ``_extra``, exactly as written, and nothing else happens: the tables
    are the raw table and raw._loads, nothing more. A header holding a NUL byte is refused:
    ``recognise`` reports an error naming the file and the column, and nothing is loaded."""
    known = _known_names("case_services")
    assume(all(e.strip() and e.strip().upper() not in known for e in extra))
    root = tmp_path_factory.mktemp("headers")
    header = SERVICES + extra
    row = ["SV1", "EN1", "2024-05-01", "Visit", "30"] + [f"v{i}" for i in range(len(extra))]
    if kind == "csv":
        buffer = io.StringIO(newline="")
        csv.writer(buffer).writerows([header, row])
        path = root / "services.csv"
        path.write_bytes(buffer.getvalue().encode("utf-8"))
    else:
        path = root / "services.parquet"
        pq.write_table(pa.table({f"f{i}": [v] for i, v in enumerate(row)}).rename_columns(header), path)
    f = recognise(path, root)
    if any("\x00" in e for e in extra):
        assert f.error and path.name in f.error and "NUL" in f.error and "column" in f.error
        return
    assert not f.error, f.error
    (part,) = f.parts
    assert part.extra == tuple(extra)
    con = duckdb.connect()
    con.execute("create schema raw")
    contract = load_contracts()["case_services"]
    sync_source(con, contract, [(f, part, lambda table: insert_tabular(con, contract, f, part, table))])
    (stored,) = con.execute("select _extra from raw.case_services").fetchone()
    assert json.loads(stored) == {e: f"v{i}" for i, e in enumerate(extra)}
    assert con.execute("select service_id, service_date, minutes from raw.case_services").fetchall() == [
        ("SV1", "2024-05-01", "30")
    ]
    tables = con.execute("select table_schema || '.' || table_name from information_schema.tables").fetchall()
    assert sorted(t for (t,) in tables) == ["raw._loads", "raw.case_services"]


# -- 2. supersession by content and metadata ----------------------------------------------------


def _episodes(n: int, place: str = "U1") -> list[list[str]]:
    day = dt.date(2023, 4, 1)
    return [
        [f"{300000 + i}", (day + dt.timedelta(days=i)).strftime("%d/%m/%Y"), "S", "C2", "N1", place, "PR1",
         "", "", "", "AB1 2CD", "AB3 4EF", "SC1"]
        for i in range(n)
    ]


def _staged(con) -> pd.DataFrame:
    from pipelines.pseudonym import register_macro
    from pipelines.quality import check_rows
    from pipelines.settings import DEFAULT_MODELS_DIR
    from pipelines.sqlmodels import SEARCH_PATH, build_model, discover_models

    for schema in ("staging", "intermediate", "marts", "quality", "published"):
        con.execute(f"create schema if not exists {schema}")
    con.execute(f"set search_path = '{SEARCH_PATH}'")
    register_macro(con, b"k" * 32)
    check_rows(con, load_contracts()["ssda903_episodes"])
    build_model(con, discover_models(DEFAULT_MODELS_DIR)["stg_ssda903_episodes"])
    return con.execute("select * from staging.stg_ssda903_episodes").df().sort_values(
        ["source_row_number"]).reset_index(drop=True)


def _put(path: Path, rows, when: dt.datetime) -> None:
    _write_csv(path, EPISODES, rows)
    stamp = when.replace(tzinfo=dt.UTC).timestamp()
    os.utime(path, (stamp, stamp))


def test_fresh_and_incremental_runs_choose_the_same_later_file(tmp_path):
    """``episodes (corrected).csv`` sorts before ``episodes.csv`` but was written a day later:
    it wins whether both files are there from the start or it arrives after the original."""
    original = _episodes(40)
    corrected = _episodes(40, place="U4")[:39]  # every placement corrected, one row withdrawn
    first, later = dt.datetime(2024, 6, 1, 9), dt.datetime(2024, 6, 2, 9)
    fresh_exports, incremental_exports = tmp_path / "fresh", tmp_path / "incremental"
    for exports in (fresh_exports, incremental_exports):
        _put(exports / "2023-24" / "episodes.csv", original, first)
    _put(fresh_exports / "2023-24" / "episodes (corrected).csv", corrected, later)

    fresh = duckdb.connect(str(tmp_path / "fresh.duckdb"))
    _load(fresh, fresh_exports)
    incremental = duckdb.connect(str(tmp_path / "incremental.duckdb"))
    _load(incremental, incremental_exports)
    _put(incremental_exports / "2023-24" / "episodes (corrected).csv", corrected, later)
    _load(incremental, incremental_exports)

    for con in (fresh, incremental):
        active = con.execute(
            "select distinct _source_file from raw.ssda903_episodes where _active"
        ).fetchall()
        assert active == [("2023-24/episodes (corrected).csv",)]
        loads = con.execute(
            "select source_file, superseded_by from raw._loads order by source_file"
        ).fetchall()
        assert loads == [
            ("2023-24/episodes (corrected).csv", None),
            ("2023-24/episodes.csv", "2023-24/episodes (corrected).csv"),
        ]
    pd.testing.assert_frame_equal(_staged(fresh), _staged(incremental))
    assert set(_staged(fresh)["place"]) == {"U4"}


def test_file_names_with_quotes_and_semicolons_are_recorded_as_they_are(tmp_path):
    """A file's name is data: quotes, semicolons and comments in it are recorded in raw._loads
    verbatim, with the file's rows and year, and run nothing; loading again changes nothing."""
    names = {
        "2022-23/episodes'; drop table raw._loads; --.csv": (_episodes(7), dt.datetime(2023, 6, 1, 9)),
        '2023-24/ep"isodes\\ \'x\', 1); --.csv': (_episodes(5), dt.datetime(2024, 6, 1, 9)),
    }
    for name, (rows, when) in names.items():
        _put(tmp_path / "exports" / name, rows, when)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    _load(con, tmp_path / "exports")
    expected = [
        ("2022-23/episodes'; drop table raw._loads; --.csv", 7, 2023),
        ('2023-24/ep"isodes\\ \'x\', 1); --.csv', 5, 2024),
    ]
    query = "select source_file, rows, collection_year from raw._loads where source = 'ssda903_episodes' order by 1"
    assert con.execute(query).fetchall() == expected
    counts = con.execute(
        "select _source_file, count(*) from raw.ssda903_episodes group by 1 order by 1"
    ).fetchall()
    assert counts == [(name, n) for name, n, _ in expected]
    _load(con, tmp_path / "exports")
    assert con.execute(query).fetchall() == expected
    assert con.execute("select count(*) from raw.ssda903_episodes").fetchone()[0] == 12


def test_files_modified_at_the_same_moment_are_ordered_by_content_not_name(tmp_path):
    rows_a, rows_b = _episodes(20), _episodes(20, place="U4")
    when = dt.datetime(2024, 6, 1, 9)
    winners = []
    for names in (("a.csv", "b.csv"), ("b.csv", "a.csv")):
        exports = tmp_path / "-".join(names)
        _put(exports / "2023-24" / names[0], rows_a, when)
        _put(exports / "2023-24" / names[1], rows_b, when)
        con = duckdb.connect()
        _load(con, exports)
        winners.append(con.execute(
            "select distinct place from raw.ssda903_episodes where _active"
        ).fetchall())
    assert winners[0] == winners[1]


def test_files_for_one_year_differing_by_more_than_5_percent_stop_the_load(tmp_path):
    exports = tmp_path / "exports"
    _put(exports / "2023-24" / "episodes.csv", _episodes(40), dt.datetime(2024, 6, 1))
    _put(exports / "2023-24" / "episodes_v2.csv", _episodes(30), dt.datetime(2024, 6, 2))
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    with pytest.raises(ExportError) as caught:
        _load(con, exports)
    message = str(caught.value)
    assert "2023-24/episodes.csv (40 rows)" in message and "2023-24/episodes_v2.csv (30 rows)" in message
    assert "25%" in message and "remove the file that is wrong" in message


def test_an_old_warehouse_gains_the_new_load_columns(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("create schema raw")
    con.execute(
        "create table raw._loads (source varchar, source_file varchar, sha256 varchar, rows bigint, "
        "collection_year integer, loaded_at timestamp)"
    )
    exports = tmp_path / "exports"
    _put(exports / "2023-24" / "episodes.csv", _episodes(5), dt.datetime(2024, 6, 1, 9))
    _load(con, exports)
    assert con.execute("select source_file, modified_at, superseded_by from raw._loads").fetchall() == [
        ("2023-24/episodes.csv", dt.datetime(2024, 6, 1, 9), None)
    ]


def test_the_inventory_lists_both_files_and_names_the_later(tmp_path):
    exports = tmp_path / "exports"
    _put(exports / "ssda903" / "2023-24" / "episodes.csv", _episodes(40), dt.datetime(2024, 6, 1))
    _put(exports / "ssda903" / "2023-24" / "episodes (corrected).csv", _episodes(40, "U4"), dt.datetime(2024, 6, 2))
    result = materialise_all(exports, tmp_path / "out", groups=("raw",))
    assert result.success
    files = query(tmp_path / "out", "select source_file, status, superseded_by, reason from raw.export_files "
                  "where source_file like 'ssda903/%' order by 1")
    assert files["source_file"].tolist() == [
        "ssda903/2023-24/episodes (corrected).csv", "ssda903/2023-24/episodes.csv"
    ]
    assert pd.isna(files["superseded_by"][0])
    assert files["superseded_by"][1] == "ssda903/2023-24/episodes (corrected).csv"
    assert "superseded by ssda903/2023-24/episodes (corrected).csv" in files["reason"][1]


# -- 3. encodings, delimiters and shapes ----------------------------------------------------------


def _services(n: int, kind: str = "Visit") -> list[list[str]]:
    return [[f"SV{i:06d}", f"EN{i:05d}", "2024-05-01", kind, str(i % 90)] for i in range(n)]


def test_windows_1252_after_the_first_64_kb_is_converted_with_a_warning(tmp_path):
    exports = tmp_path / "exports"
    rows = _services(3000)
    rows[2911][3] = "Caf\u00e9 \u2013 \u201cdrop-in\u201d"
    text = "\r\n".join(",".join(r) for r in [SERVICES, *rows]) + "\r\n"
    exports.mkdir()
    (exports / "services.csv").write_bytes(text.encode("cp1252"))
    assert len(text.split("Caf")[0]) > 65536
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    _load(con, exports)
    assert con.execute("select service_type from raw.case_services where _row_number = 2913").fetchone() == (
        "Caf\u00e9 \u2013 \u201cdrop-in\u201d",
    )
    assert con.execute("select count(*) from raw.case_services").fetchone() == (3000,)
    (warning,) = con.execute("select warning from raw._loads").fetchone()
    assert "Windows-1252" in warning and "line 2913" in warning and "service_type" in warning


def test_bytes_that_are_neither_utf8_nor_windows_1252_name_line_column_and_byte(tmp_path):
    exports = tmp_path / "exports"
    exports.mkdir()
    rows = _services(3000)
    data = "\n".join(",".join(r) for r in [SERVICES, *rows]).encode()
    at = data.index(b"SV002911") + len("SV002911,EN02911,2024-05-01,Vis")
    (exports / "services.csv").write_bytes(data[:at] + b"\x81" + data[at:])
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    with pytest.raises(ExportError) as caught:
        _load(con, exports)
    message = str(caught.value)
    assert "services.csv: line 2913, column 4 ('service_type')" in message
    assert f"byte {at} (0x81)" in message and "CSV UTF-8" in message


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_semicolon_tab_and_pipe_delimited_files_load(tmp_path, delimiter):
    exports = tmp_path / "exports"
    rows = _services(50, kind="Home visit, evening")
    rows[3][4] = "12,5"  # a decimal comma, as such locales write it
    _write_csv(exports / "services.csv", SERVICES, rows, delimiter=delimiter)
    (f,) = scan_exports(exports)
    assert f.recognised and f.parts[0].delimiter == delimiter
    con = duckdb.connect()
    _load(con, exports)
    assert con.execute("select count(*), count(distinct service_type) from raw.case_services").fetchone() == (50, 1)
    assert con.execute("select service_type, minutes from raw.case_services where _row_number = 5").fetchone() == (
        "Home visit, evening", "12,5"
    )


def test_an_over_long_field_names_its_line_and_column(tmp_path):
    exports = tmp_path / "exports"
    rows = _services(3000)
    rows[1999][3] = "x" * 5_000_000
    rows[10][3] = "two\nlines"  # a quoted line break before it: line and row differ by one
    _write_csv(exports / "services.csv", SERVICES, rows)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    with pytest.raises(ExportError) as caught:
        _load(con, exports)
    message = str(caught.value)
    assert "services.csv: line 2002 (row 2001), column 4 ('service_type')" in message, message
    assert "longer than 2 MB" in message
    assert len(message) < 1000


def test_a_header_of_30000_columns_is_refused_before_it_is_read(tmp_path):
    exports = tmp_path / "exports"
    exports.mkdir()
    lines = [",".join(SERVICES) + "," * 30_000] + [",".join(r) + "," * 30_000 for r in _services(90)]
    (exports / "services.csv").write_text("\n".join(lines) + "\n")
    assert (exports / "services.csv").stat().st_size > 2_700_000
    (f,) = scan_exports(exports)
    assert "services.csv: the header has 30,005 columns" in f.error
    assert f"{MAX_COLUMNS:,}" in f.error and "case_services" in f.error


def test_rows_far_wider_than_their_header_are_refused_naming_the_line(tmp_path):
    exports = tmp_path / "exports"
    exports.mkdir()
    lines = [",".join(SERVICES)] + [",".join(r) for r in _services(90)]
    lines[40] += "," * 5_000
    (exports / "services.csv").write_text("\n".join(lines) + "\n")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    with pytest.raises(ExportError, match=r"services.csv: line 41 has up to 5,005 fields"):
        _load(con, exports)


def test_typed_dates_in_parquet_and_excel_are_valid_dates(tmp_path):
    from pipelines.pseudonym import register_macro
    from pipelines.quality import check_rows

    exports = tmp_path / "exports"
    exports.mkdir()
    pq.write_table(
        pa.table({
            "service_id": ["S1", "S2"], "enrolment_id": ["E1", "E1"],
            "service_date": pa.array([dt.datetime(2024, 5, 1), dt.datetime(2024, 5, 2, 13, 30)], pa.timestamp("us")),
        }),
        exports / "services.parquet",
    )
    pq.write_table(
        pa.table({
            "enrolment_id": ["E1"], "client_id": ["C1"], "program": ["Parenting"],
            "start_date": pa.array([dt.date(2024, 4, 1)], pa.date32()),
            "end_date": pa.array([None], pa.date32()),
        }),
        exports / "enrolments.parquet",
    )
    with pd.ExcelWriter(exports / "plans.xlsx") as writer:
        pd.DataFrame({"plan_id": ["P1"], "enrolment_id": ["E1"], "plan_date": [dt.datetime(2024, 4, 20)]}).to_excel(
            writer, sheet_name="Plans", index=False
        )
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    _load(con, exports)
    assert con.execute("select service_date from raw.case_services order by 1").fetchall() == [
        ("2024-05-01",), ("2024-05-02",)
    ]
    assert con.execute("select start_date, end_date from raw.case_enrolments").fetchall() == [("2024-04-01", None)]
    assert con.execute("select plan_date from raw.case_service_plans").fetchall() == [("2024-04-20",)]
    contracts = load_contracts()
    register_macro(con, b"k" * 32)
    for source in ("case_services", "case_enrolments", "case_service_plans"):
        assert check_rows(con, contracts[source])["quarantined_rows"] == 0, source


# -- 4. the inventory: hidden files listed, stories not ------------------------------------------


def test_hidden_files_are_listed_as_ignored_and_stories_csv_is_not(tmp_path, hand_council):
    exports = tmp_path / "exports"
    shutil.copytree(hand_council, exports)
    (exports / ".episodes_backup.csv").write_text((exports / "ssda903" / "2023-24" / "episodes.csv").read_text())
    (exports / ".git").mkdir()
    for name in ("HEAD", "config", "index"):
        (exports / ".git" / name).write_text("x")
    (exports / ".oba.lock").write_text("1234")
    (exports / "stories.csv").write_text("measure_id,date,text\ncla_count,2024-01-01,A new team\n")
    listed = {f.relative: f for f in scan_exports(exports)}
    assert listed[".episodes_backup.csv"].reason.startswith("hidden file")
    assert not listed[".episodes_backup.csv"].recognised
    assert listed[".git/"].reason.startswith("hidden folder")
    assert not any(name.startswith(".git/") and name != ".git/" for name in listed)
    assert ".oba.lock" not in listed
    assert "stories.csv" not in listed
    assert not any(name.startswith("stories/") for name in listed)
