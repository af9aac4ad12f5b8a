"""Ingestion through data contracts: recognition, bad input, quarantine, history, pseudonyms."""

import csv
import functools
import io
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import (
    assert_no_identifier_leaves_raw,
    examples,
    materialise_all,
    memory_duckdb,
    query,
)
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pipelines.cli import main

WAREHOUSE = ("raw", "staging", "intermediate", "marts")
EPISODES_HEADER = (
    "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN"
)


def run_validate(exports: Path, out: Path, capsys) -> tuple[int, str]:
    code = main(["validate", "--exports", str(exports), "--out", str(out)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture
def exports(hand_council, tmp_path) -> Path:
    target = tmp_path / "exports"
    shutil.copytree(hand_council, target)
    return target


# -- the shared real-format samples ------------------------------------------------------------


# Sample files that are a second return for a year another sample covers (DESIGN §2b: with
# row counts this different, a blocking error naming both files). (CIN_Census_2021.xml is dated
# 2020/21 by its name now, which beats its header: it no longer clashes with fake_CIN_data.xml.)
CLASHING_SAMPLES = ("fake_903.xml",)
# liiatools' multi-year episodes of three authorities (an LA column): a blocking error, never
# merged (DESIGN §2b, issue 19 item 3).
MULTI_AUTHORITY_SAMPLE = "liia_small/SSDA903_episodes_for_testing_fixes_INPUT.csv"


def _samples_without_clashes(samples, tmp_path) -> Path:
    target = tmp_path / "samples"
    shutil.copytree(
        samples, target,
        ignore=shutil.ignore_patterns(*CLASHING_SAMPLES, Path(MULTI_AUTHORITY_SAMPLE).name),
    )
    return target


def test_every_sample_is_recognised_or_explained(samples, tmp_path, capsys):
    code, output = run_validate(samples, tmp_path / "out", capsys)
    flat = " ".join(output.split())
    assert code == 1, output  # a file of several authorities is a blocking error naming them
    assert f"{MULTI_AUTHORITY_SAMPLE}: its column 'LA' names 3 local authorities" in flat, output
    files = query(tmp_path / "out", "select * from raw.export_files")
    expected = {
        p.relative_to(samples).as_posix()
        for p in samples.rglob("*")
        if p.is_file() and p.suffix.lower() in (".csv", ".xml", ".xlsx")
    }
    assert set(files["source_file"]) == expected
    assert files[files["status"] == "error"]["source_file"].tolist() == [MULTI_AUTHORITY_SAMPLE]
    ignored = files[files["status"] == "ignored"]
    assert (ignored["reason"].str.len() > 0).all()
    assert "annex_a/Annex_A_2024_Jan.xlsx" in set(ignored["source_file"])
    recognised = files[files["status"] == "recognised"].set_index("source_file")["sources"]
    assert recognised["ssda903_fake_2018/episodes.csv"] == "ssda903_episodes"
    assert "cin_cp_plans" in recognised["cin_census/CIN_Census_2024.xml"]
    assert "ssda903_episodes" in recognised["ssda903_fake_2018/fake_903.xml"]


def test_fake_2018_return_loads_with_its_slips_quarantined(samples, tmp_path):
    exports = tmp_path / "exports"
    shutil.copytree(
        samples / "ssda903_fake_2018", exports / "ssda903_fake_2018",
        ignore=shutil.ignore_patterns("fake_903.xml"),  # the same year again, as XML (a clash)
    )
    result = materialise_all(exports, tmp_path / "out", groups=WAREHOUSE)
    assert result.success
    quarantine = query(tmp_path / "out", "select * from quality.quarantine where action <> 'warn'")
    episodes = quarantine[quarantine["source_file"] == "ssda903_fake_2018/episodes.csv"]
    # a DEC after the year end is cleared, the episode kept (open on 31 March, DESIGN §2b)
    slips = episodes[episodes["rule"] == "dec_after_year_end"]
    assert len(slips) and (slips["action"] == "kept").all()
    oc3 = quarantine[quarantine["source_file"] == "ssda903_fake_2018/oc3.csv"]
    assert "01" in set(oc3[oc3["rule"] == "accom_code"]["value"])
    assert (quarantine["message"].str.len() > 10).all()
    staged = query(
        tmp_path / "out",
        "select count(*) as n, count(dec) as with_dec from staging.stg_ssda903_episodes "
        "where source_file = 'ssda903_fake_2018/episodes.csv'",
    )
    excluded = quarantine[(quarantine["source_file"] == "ssda903_fake_2018/episodes.csv")
                          & (quarantine["action"] == "excluded")]["row_number"].nunique()
    assert staged["n"][0] == 5050 - excluded


@pytest.mark.slow
def test_whole_graph_runs_on_every_sample(samples, tmp_path):
    result = materialise_all(_samples_without_clashes(samples, tmp_path), tmp_path / "out")
    assert result.success
    values = query(tmp_path / "out", "select count(*) as n from marts.measure_values")
    assert values["n"][0] > 0


# -- bad input -------------------------------------------------------------------------------


def _episodes_lines() -> list[str]:
    return [
        EPISODES_HEADER,
        "200001,01/04/2023,S,C2,N1,U1,PR1,,,,AB1 2CD,AB3 4EF,SC1",
        "200002,02/05/2023,S,C2,N1,U1,PR1,,,,AB1 2CD,AB3 4EF,SC1",
    ]


BAD_FILES = {
    "utf16": ("bad/episodes.csv", "\n".join(_episodes_lines()).encode("utf-16"), "UTF-16"),
    "binary": ("bad/episodes.csv", b"\x00\x01\x02PK\x03\x04" * 20, "binary"),
    "empty": ("bad/episodes.csv", b"", "empty"),
    "header_only": ("bad/episodes.csv", (EPISODES_HEADER + "\n").encode(), "no data rows"),
    "empty_xml": ("bad/return.xml", b"", "empty"),
    "malformed_xml": (
        "bad/return.xml",
        b"<?xml version='1.0'?>\n<EXPSSDA903><CHILD><HEADER><CHILDID>1</CHILDID></HEADER>\n",
        "not well-formed XML",
    ),
    "missing_column": (
        "bad/2023-24_episodes.csv",
        "\n".join(line.rsplit(",", 5)[0] for line in _episodes_lines()).encode(),
        "lacks required column(s) REC",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_give_a_clear_error(case, exports, tmp_path, capsys):
    name, content, expected = BAD_FILES[case]
    path = exports / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    code, output = run_validate(exports, tmp_path / "out", capsys)
    assert code == 1
    flat = " ".join(output.split())
    assert Path(name).name in flat and expected in flat, output
    assert "Traceback" not in output


def test_unknown_file_is_listed_as_ignored(exports, tmp_path, capsys):
    (exports / "budget.csv").write_text("cost_centre,amount\nA1,100\n")
    code, _ = run_validate(exports, tmp_path / "out", capsys)
    assert code == 0
    files = query(tmp_path / "out", "select * from raw.export_files where source_file = 'budget.csv'")
    assert files["status"].tolist() == ["ignored"]
    assert files["reason"].tolist() == ["header matches no known export"]


def test_clean_exports_validate_with_exit_0(exports, tmp_path, capsys):
    code, output = run_validate(exports, tmp_path / "out", capsys)
    assert code == 0, output
    assert (tmp_path / "out" / "site" / "data-quality.html").is_file()


def test_row_failures_are_quarantined_and_the_rest_flows_on(exports, tmp_path):
    rows = [
        EPISODES_HEADER,
        "300001,01/04/2023,S,C2,N1,U1,PR1,,,,AB1 2CD,AB3 4EF,SC1",  # good
        "300002,31/02/2023,S,C2,N1,U1,PR1,,,,AB1 2CD,AB3 4EF,SC1",  # impossible date
        "300003,01/05/2023,S,C2,N1,QQ,PR1,,,,AB1 2CD,AB3 4EF,SC1",  # unknown PLACE
        "300004,01/06/2023,S,C2,N1,U1,PR1,01/05/2023,E11,,AB1 2CD,AB3 4EF,SC1",  # DEC < DECOM
        "300001,01/04/2023,P,C2,N1,U2,PR1,,,,AB1 2CD,AB3 4EF,SC1",  # duplicate key
        "300005,01/07/2023,S,C2,N1,U1,PR1,,,,AB1 2CD,AB3 4EF,SC1",  # good
    ]
    (exports / "ssda903" / "2023-24" / "episodes.csv").unlink()  # this file is that year's return
    path = exports / "ssda903" / "2023-24" / "extra_episodes.csv"
    path.write_text("\n".join(rows) + "\n")
    result = materialise_all(exports, tmp_path / "out", groups=WAREHOUSE)
    assert result.success
    quarantine = query(
        tmp_path / "out",
        "select row_number, column_name, rule, message, action from quality.quarantine "
        "where source_file = 'ssda903/2023-24/extra_episodes.csv' and action <> 'warn' "
        "order by row_number",
    )
    # a bad key (start date, duplicate) excludes the row; any other bad value is cleared, the row kept
    assert quarantine[["row_number", "column_name", "rule", "action"]].values.tolist() == [
        [3, "DECOM", "date_format", "excluded"],
        [4, "PLACE", "unknown_code", "kept"],
        [5, "DEC", "dec_before_decom", "kept"],
        [6, "DECOM", "duplicate_key", "excluded"],
    ]
    assert "31/02/2023" in quarantine["message"][0] and "dd/mm/YYYY" in quarantine["message"][0]
    assert "QQ" in quarantine["message"][1] and "2024" in quarantine["message"][1]
    staged = query(
        tmp_path / "out",
        "select source_row_number from staging.stg_ssda903_episodes "
        "where source_file = 'ssda903/2023-24/extra_episodes.csv' order by 1",
    )
    assert staged["source_row_number"].tolist() == [2, 4, 5, 7]
    cleared = query(
        tmp_path / "out",
        "select source_row_number, place, dec from staging.stg_ssda903_episodes "
        "where source_file = 'ssda903/2023-24/extra_episodes.csv' and source_row_number in (4, 5) order by 1",
    )
    assert cleared["place"].isna().tolist() == [True, False]  # the unknown code, cleared
    assert cleared["dec"].isna().tolist() == [True, True]  # (none given) and the DEC before DECOM, cleared


# -- multi-year history and idempotent loading ----------------------------------------------------


@pytest.mark.slow
def test_corrected_resubmission_replaces_that_year(council_run):
    from pipelines.cli import run_pipeline

    exports, out = council_run  # a good run's outputs of these exports
    corrected = exports / "ssda903" / "2023-24" / "episodes_corrected.csv"
    original = (exports / "ssda903" / "2023-24" / "episodes.csv").read_text(encoding="utf-8-sig")
    lines = original.splitlines()
    corrected.write_text("\n".join(lines[:-1] + [lines[-1].replace(",PR1,", ",PR2,")]) + "\n", encoding="utf-8")
    assert run_pipeline(exports, out) == 0
    staged = query(
        out,
        "select source_file, count(*) as n from staging.stg_ssda903_episodes "
        "where collection_year = 2024 group by 1",
    )
    assert staged.to_dict("records") == [
        {"source_file": "ssda903/2023-24/episodes_corrected.csv", "n": len(lines) - 1}
    ]
    loads = query(out, "select source_file, superseded_by from raw._loads where source = 'ssda903_episodes' "
                  "order by source_file")
    assert loads.shape[0] == 3  # both 2023-24 files are kept in raw for audit
    assert loads.set_index("source_file")["superseded_by"]["ssda903/2023-24/episodes.csv"] == (
        "ssda903/2023-24/episodes_corrected.csv"
    )


def test_a_resubmission_differing_by_more_than_5_percent_in_rows_stops_the_run(council_run):
    from pipelines.cli import run_pipeline

    exports, out = council_run  # a good run's outputs of these exports
    lines = (exports / "ssda903" / "2023-24" / "episodes.csv").read_text(encoding="utf-8-sig").splitlines()
    (exports / "ssda903" / "2023-24" / "episodes_corrected.csv").write_text("\n".join(lines[:-2]) + "\n")
    assert run_pipeline(exports, out) == 1


def test_periods_of_care_follow_x1_chains(hand_council_run):
    _, out = hand_council_run
    reference = Path(__file__).parent / "models" / "reference" / "periods_of_care.sql"
    periods = query(
        out,
        f"select period_start, period_end, reason_ended, episodes from ({reference.read_text(encoding='utf-8')}) "
        "order by period_start, episodes",
    )
    by_start = {(str(r.period_start.date()), r.episodes) for r in periods.itertuples()}
    # 100001: two episodes joined by X1 on 31/07/2023 make one open period from 15/05/2023.
    assert ("2023-05-15", 2) in by_start
    # 100005: two separate periods (E4A then a new S).
    assert ("2023-10-31", 1) in by_start and ("2023-12-01", 1) in by_start


# -- generic case export in Excel and Parquet, with column aliases ------------------------------


def test_case_export_from_excel_and_parquet_with_aliases(exports, tmp_path):
    case = exports / "case"
    case.mkdir()
    clients = pd.DataFrame(
        {
            "ClientID": ["C1", "C2"],
            "DOB": ["2012-01-01", "2013-05-05"],
            "Gender": ["F", "M"],
            "postcode": ["AB1 2CD", "AB3"],
            "intake_date": ["2023-01-01", "2023-02-01"],
        }
    )
    enrolments = pd.DataFrame(
        {
            "enrollment_id": ["E1", "E2"],
            "ClientID": ["C1", "C2"],
            "programme": ["Family Support", "Parenting"],
            "start_date": ["2023-01-10", "2023-02-10"],
            "end_date": ["", ""],
        }
    )
    with pd.ExcelWriter(case / "export.xlsx") as writer:
        clients.to_excel(writer, sheet_name="Clients", index=False)
        enrolments.to_excel(writer, sheet_name="Enrolments", index=False)
    pd.DataFrame(
        {"service_id": ["S1"], "enrolment_id": ["E1"], "service_date": ["2023-01-15"], "minutes": ["60"]}
    ).to_parquet(case / "services.parquet")
    result = materialise_all(exports, tmp_path / "out", groups=WAREHOUSE)
    assert result.success
    out = tmp_path / "out"
    clients_staged = query(out, "select * from staging.stg_case_clients order by sex")
    assert clients_staged["postcode_district"].tolist() == ["AB1", "AB3"]
    assert set(clients_staged["client_id"]).isdisjoint({"C1", "C2"})
    assert query(out, "select program from staging.stg_case_enrolments order by 1")["program"].tolist() == [
        "Family Support",
        "Parenting",
    ]
    assert query(out, "select minutes from staging.stg_case_services")["minutes"].tolist() == [60.0]


# -- pseudonymisation -----------------------------------------------------------------------------


def test_sql_pseudonym_equals_hmac_sha256(tmp_path):
    from pipelines.pseudonym import load_or_create_key, pseudonymise, register_macro

    key_file = tmp_path / "k" / "pseudonym.key"
    key = load_or_create_key(key_file)
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert load_or_create_key(key_file) == key
    con = duckdb.connect()
    register_macro(con, key)
    for value in ["123456", " 123456 ", "DfEX0000001", "é-ü", None, ""]:
        got = con.execute("select pseudonym(?)", [value]).fetchone()[0]
        assert got == pseudonymise(value, key)


def test_no_raw_identifier_outside_raw_or_in_outputs(hand_council_run):
    _, out = hand_council_run
    con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    ids = {r[0] for r in con.execute("select distinct trim(child) from raw.ssda903_episodes").fetchall()}
    ids |= {r[0] for r in con.execute("select distinct trim(child) from raw.ssda903_header").fetchall()}
    con.close()
    assert_no_identifier_leaves_raw(out, ids)


# -- property: mutated SSDA903 CSVs never crash and conserve rows --------------------------------

CELL = st.text(alphabet=st.characters(blacklist_characters='"\r\n', blacklist_categories=("Cs",)), max_size=12)


def _mutate(lines: list[str], data) -> list[str]:
    rows = [line.split(",") for line in lines]
    for _ in range(data.draw(st.integers(0, 6))):
        kind = data.draw(st.sampled_from(["cell", "drop_cell", "add_cell", "dup_row", "blank_cell"]))
        i = data.draw(st.integers(1, len(rows) - 1))
        j = data.draw(st.integers(0, len(rows[i]) - 1))
        if kind == "cell":
            rows[i][j] = data.draw(CELL).replace(",", ";")
        elif kind == "blank_cell":
            rows[i][j] = ""
        elif kind == "drop_cell" and len(rows[i]) > 1:
            rows[i].pop(j)
        elif kind == "add_cell":
            rows[i].insert(j, data.draw(CELL).replace(",", ";"))
        elif kind == "dup_row":
            rows.insert(i, list(rows[i]))
    return [",".join(r) for r in rows]


@functools.cache
def _staging_model():
    from pipelines.settings import DEFAULT_MODELS_DIR
    from pipelines.sqlmodels import discover_models

    return discover_models(DEFAULT_MODELS_DIR)["stg_ssda903_episodes"]


@settings(max_examples=examples(50), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def _mutated_episodes(hand_council, tmp_path_factory, outcomes, data):
    from pipelines.contracts import load_contracts
    from pipelines.ingest import ExportError, recognise, sync_source
    from pipelines.ingest.load import insert_tabular
    from pipelines.pseudonym import register_macro
    from pipelines.quality import check_rows
    from pipelines.sqlmodels import SEARCH_PATH, build_model

    source = (hand_council / "ssda903" / "2023-24" / "episodes.csv").read_text(encoding="utf-8-sig")
    lines = _mutate(source.strip().splitlines(), data)
    root = tmp_path_factory.mktemp("mutated")
    path = root / "2023-24" / "episodes.csv"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    records = [r for r in csv.reader(io.StringIO("\n".join(lines[1:]))) if any(c.strip() for c in r)]

    con = duckdb.connect()
    for schema in ("raw", "staging", "intermediate", "marts", "quality", "published"):
        con.execute(f"create schema {schema}")
    con.execute(f"set search_path = '{SEARCH_PATH}'")
    register_macro(con, b"k" * 32)
    contract = load_contracts()["ssda903_episodes"]
    f = recognise(path, root)
    if f.error or not f.parts or f.parts[0].missing:
        outcomes.append("file error")
        event("file error")
        return  # reported as a clear, blocking file error: nothing to conserve
    part = f.parts[0]
    try:
        sync_source(con, contract, [(f, part, lambda table: insert_tabular(con, contract, f, part, table))])
    except ExportError as exc:
        assert "episodes.csv" in str(exc)
        outcomes.append("export error")
        event("export error")
        return
    check_rows(con, contract)
    build_model(con, _staging_model())
    read = con.execute("select count(*) from raw.ssda903_episodes").fetchone()[0]
    staged = con.execute("select count(*) from staging.stg_ssda903_episodes").fetchone()[0]
    quarantined = con.execute(
        "select count(distinct row_number) from quality.quarantine where action = 'excluded'"
    ).fetchone()[0]
    assert read == len(records)
    assert read == staged + quarantined
    outcomes.append("conserved")
    event("rows conserved")


def test_mutated_episodes_never_crash_and_conserve_rows(hand_council, tmp_path_factory):
    """Mutated episode files either fail with an error naming the file or keep every row
    (staged or quarantined); at least a quarter of the examples reach the conservation asserts,
    so the early exits cannot hide the property."""
    outcomes: list[str] = []
    _mutated_episodes(hand_council, tmp_path_factory, outcomes)
    assert outcomes.count("conserved") >= max(1, len(outcomes) // 4), outcomes


@pytest.mark.parametrize("line_breaks", [False, True], ids=["parsed-in-parallel", "quoted-line-breaks"])
def test_csv_rows_keep_their_file_row_numbers(tmp_path, line_breaks):
    """A CSV large enough for DuckDB to parse on several threads: every row's _row_number is
    its row in the file (header = 1), so quarantine messages name the right row. A file with
    quoted line breaks is parsed on one thread (DuckDB cannot split it), with the same result."""
    from pipelines.contracts import load_contracts
    from pipelines.ingest import scan_exports, sync_source
    from pipelines.ingest.load import insert_tabular, quoted_line_break

    exports = tmp_path / "exports"
    exports.mkdir()
    rows = 600_000
    with (exports / "services.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["service_id", "enrolment_id", "service_date", "service_type", "minutes"])
        for i in range(rows):
            kind = "Home visit\n(evening)" if line_breaks and i % 9973 == 0 else "Phone call, follow-up"
            writer.writerow([f"SV{i:08d}", f"EN{i // 7:07d}", "2024-05-01", kind, str(i % 90)])
    assert (exports / "services.csv").stat().st_size > 30_000_000
    assert quoted_line_break(exports / "services.csv") is line_breaks
    contract = load_contracts()["case_services"]
    (f,) = [f for f in scan_exports(exports) if f.recognised]
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("set threads = 4")
    con.execute("create schema raw")
    parts = [(f, p, lambda table, f=f, p=p: insert_tabular(con, contract, f, p, table)) for p in f.parts]
    sync_source(con, contract, parts)
    numbered = con.execute(
        "select count(*), count(distinct _row_number), min(_row_number), max(_row_number), "
        "count(*) filter (where _row_number <> cast(substr(service_id, 3) as bigint) + 2) "
        "from raw.case_services"
    ).fetchone()
    assert numbered == (rows, rows, 2, rows + 1, 0)
    assert con.execute(
        "select service_type from raw.case_services where _row_number = 2 + 9973"
    ).fetchone() == ("Home visit\n(evening)" if line_breaks else "Phone call, follow-up",)


def test_gx_sample_is_every_kth_row_plus_the_first_suspect_rows_of_each_expectation(tmp_path, monkeypatch):
    """Above FULL_ROWS the suite sees every k-th active row plus, for each expectation, the
    first FLAGGED_ROWS + 1 rows (in table order) that could fail it, and nothing else."""
    from pipelines import expectations
    from pipelines.contracts import load_contracts
    from pipelines.ingest import scan_exports, sync_source
    from pipelines.ingest.load import insert_tabular

    monkeypatch.setattr(expectations, "FULL_ROWS", 100)
    monkeypatch.setattr(expectations, "SAMPLE_ROWS", 40)
    monkeypatch.setattr(expectations, "FLAGGED_ROWS", 3)
    exports = tmp_path / "exports"
    exports.mkdir()
    with (exports / "services.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["service_id", "enrolment_id", "service_date", "service_type", "minutes"])
        for i in range(1000):
            date = "31-12-2020" if i % 37 == 5 else ("" if i % 53 == 7 else "2024-05-01")
            minutes = "lots" if i % 41 == 3 else str(i % 90)
            writer.writerow([f"SV{i:05d}", "" if i % 97 == 11 else f"EN{i // 7:04d}", date, "Visit", minutes])
    contract = load_contracts()["case_services"]
    (f,) = [f for f in scan_exports(exports) if f.recognised]
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema raw")
    sync_source(con, contract, [(f, p, lambda t, f=f, p=p: insert_tabular(con, contract, f, p, t)) for p in f.parts])
    frame, sample = expectations.contract_frame(con, contract)

    # The expected sample worked out from how the rows were written, not from the production
    # suspect conditions. The suite's column expectations, in the contract's column order:
    # 0 service_id not null, 1 enrolment_id not null, 2 service_date not null, 3 service_date
    # in one of its formats. Row i is the i-th row written (rowid i).
    suspects = {
        0: [],
        1: [i for i in range(1000) if i % 97 == 11],  # blank enrolment_id
        2: [i for i in range(1000) if i % 37 != 5 and i % 53 == 7],  # blank service_date
        3: [i for i in range(1000) if i % 37 == 5],  # 31-12-2020: neither format
    }
    step = -(-1000 // 40)  # every 25th row
    wanted = {i for i in range(1000) if i % step == 0}
    for rows in suspects.values():
        wanted |= set(rows[:4])  # FLAGGED_ROWS + 1 per expectation
    capped = [i for i, rows in suspects.items() if len(rows) > 3]
    assert capped == [1, 2, 3]
    assert frame["service_id"].tolist() == [f"SV{i:05d}" for i in sorted(wanted)]
    assert sample == {"rows": 1000, "validated": len(wanted), "capped": capped}
    assert capped  # the planted bad dates and minutes exceed the per-expectation cap


# How GX reads a date format: its digits (any decimal digit, as a regex's \d matches) and
# separators, written out by hand ("9" a digit), independent of the production regexes.
DATE_SHAPES = {"%Y-%m-%d": "9999-99-99", "%d/%m/%Y": "99/99/9999"}


def _has_shape(value: str, shape: str) -> bool:
    return len(value) == len(shape) and all(
        ch.isdecimal() if want == "9" else ch == want for ch, want in zip(value, shape, strict=True)
    )


_TEXT = st.text(
    alphabet=st.sampled_from(
        list("0123456789-/ abAZ") + ["\t", "\n", "\x0b", "\x0c", "\r", "\x1c", "\x1f", "\x85", "\xa0",
                                     "\u2003", "\u3000", "é", "\u0663", "\u200b", "ß"]
    ),
    max_size=12,
)


@functools.cache
def _examples_db():
    """One in-memory DuckDB for all the examples (a new database costs more than an example)."""
    return memory_duckdb()


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(st.one_of(st.none(), _TEXT, st.sampled_from(["2024-05-01", "01/05/2024", " N1 ", "n2"])),
                       min_size=1, max_size=20))
def test_gx_suspect_conditions_hold_for_every_value_gx_would_flag(values):
    """A sampled GX validation is exact only if every row GX would count as unexpected is a
    suspect row: for any text, each expectation's SQL suspect condition holds where GX, after
    the same preparation as ``validate`` (Python strip, blank as null, codes upper-cased),
    would fail the value."""
    from pipelines import expectations
    from pipelines.contracts import load_contracts

    contracts = load_contracts()
    con = _examples_db()  # each example replaces the table
    for source in ("case_services", "cin_details"):
        contract = contracts[source]
        columns = [c.sql_name for c in contract.columns]
        con.execute(f"create or replace table t ({', '.join(f'{c} varchar' for c in columns)})")
        con.executemany(f"insert into t values ({', '.join('?' for _ in columns)})",
                        [[v] * len(columns) for v in values])
        conditions = expectations.suspect_conditions(contract)
        checks = []  # (column, how GX judges the prepared value), in suspect_conditions' order
        for c in contract.columns:
            if not c.nullable:
                checks.append(lambda s: s is None)
            if c.type == "date" and c.formats:
                shapes = [DATE_SHAPES[f] for f in c.formats]
                checks.append(lambda s, shapes=shapes: s is not None and not any(_has_shape(s, x) for x in shapes))
            if c.codes:
                codes = set().union(*(v.codes for v in contract.code_lists[c.codes]))
                checks.append(lambda s, codes=codes, code=c.type == "code": s is not None
                              and (s.upper() if code else s) not in codes)
        assert len(checks) == len(conditions)
        for condition, fails in zip(conditions, checks, strict=True):
            flagged = [r for (r,) in con.execute(f"select {condition} from t order by rowid").fetchall()]
            for value, suspect in zip(values, flagged, strict=True):
                prepared = None if value is None else (value.strip() or None)
                if fails(prepared):
                    assert suspect, (source, condition, value)
