"""The SQL model runner: tables and views, rebuilt on an existing warehouse."""

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from pipelines.sqlmodels import ModelError, build_model, discover_models


def _write(models: Path, layer: str, name: str, sql: str) -> None:
    (models / layer).mkdir(parents=True, exist_ok=True)
    (models / layer / f"{name}.sql").write_text(sql, encoding="utf-8")


@pytest.fixture
def models(tmp_path):
    root = tmp_path / "models"
    _write(root, "staging", "stg_people", "-- One row per person.\nselect * from raw.people")
    _write(
        root,
        "intermediate",
        "int_people_bands",
        "-- One row per person with an age band on 31 March 2025.\n-- materialized: view\n"
        "with people as (select * from stg_people)\n"
        "select person, age_band(born, date '2025-03-31') as age_band from people",
    )
    return root


def _warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    for schema in ("raw", "staging", "intermediate", "marts", "quality", "published"):
        con.execute(f"create schema if not exists {schema}")
    return con


def test_view_reads_anywhere_and_switches_with_its_header(models, tmp_path):
    found = discover_models(models)
    assert found["int_people_bands"].materialized == "view"
    assert found["stg_people"].materialized == "table"
    path = tmp_path / "warehouse.duckdb"
    con = _warehouse(path)
    con.execute("create table raw.people as select 'P1' as person, date '2010-02-28' as born")
    assert build_model(con, found["stg_people"]) == 1
    assert build_model(con, found["int_people_bands"]) is None
    con.close()

    # A fresh connection with no search path and no macros of its own reads the view.
    plain = duckdb.connect(str(path), read_only=True)
    assert plain.execute("select * from intermediate.int_people_bands").fetchall() == [("P1", "10-15")]
    assert plain.execute(
        "select table_type from information_schema.tables where table_name = 'int_people_bands'"
    ).fetchone() == ("VIEW",)
    plain.close()

    # The view follows its inputs; the same warehouse rebuilt as a table replaces the view.
    con = duckdb.connect(str(path))
    con.execute("insert into raw.people values ('P2', ?)", [dt.date(2024, 6, 1)])
    build_model(con, found["stg_people"])
    sql = (models / "intermediate" / "int_people_bands.sql").read_text().replace("-- materialized: view\n", "")
    (models / "intermediate" / "int_people_bands.sql").write_text(sql)
    rebuilt = discover_models(models)["int_people_bands"]
    assert rebuilt.materialized == "table"
    assert build_model(con, rebuilt) == 2
    assert sorted(con.execute("select * from intermediate.int_people_bands").fetchall()) == [
        ("P1", "10-15"),
        ("P2", "0-4"),
    ]
    # And back to a view.
    assert build_model(con, found["int_people_bands"]) is None
    assert con.execute("select count(*) from intermediate.int_people_bands").fetchone() == (2,)


def test_unknown_materialization_is_refused(models):
    _write(models, "intermediate", "int_odd", "-- materialized: ephemeral\nselect 1 as x")
    with pytest.raises(ModelError, match=r"int_odd\.sql: materialized must be one of table, view"):
        discover_models(models)


def test_a_broken_view_names_its_file_and_leaves_the_old_one(models, tmp_path):
    found = discover_models(models)
    con = _warehouse(tmp_path / "warehouse.duckdb")
    con.execute("create table raw.people as select 'P1' as person, date '2010-02-28' as born")
    build_model(con, found["stg_people"])
    build_model(con, found["int_people_bands"])
    _write(models, "intermediate", "int_people_bands", "-- materialized: view\nselect nosuch from stg_people")
    with pytest.raises(ModelError, match="int_people_bands.sql"):
        build_model(con, discover_models(models)["int_people_bands"])
    assert con.execute("select * from intermediate.int_people_bands").fetchall() == [("P1", "10-15")]


def test_a_broken_table_reports_its_own_error_and_leaves_the_old_one(models, tmp_path):
    found = discover_models(models)
    con = _warehouse(tmp_path / "warehouse.duckdb")
    con.execute("create table raw.people as select 'P1' as person, date '2010-02-28' as born")
    build_model(con, found["stg_people"])
    _write(models, "staging", "stg_people", "-- One row per person.\nselect nosuch from raw.people")
    with pytest.raises(ModelError, match=r"stg_people\.sql: .*nosuch") as failure:
        build_model(con, discover_models(models)["stg_people"])
    assert "transaction is aborted" not in str(failure.value)
    assert con.execute("select person from staging.stg_people").fetchall() == [("P1",)]
    # The connection is left as it was: insertion order kept, no transaction open.
    assert con.execute("select current_setting('preserve_insertion_order')").fetchone() == (True,)
    con.execute("begin")
    con.execute("rollback")
