"""The SQL model runner: tables and views, rebuilt on an existing warehouse."""

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines.sqlmodels import ModelError, build_model, discover_models, load_catalogue


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


# --------------------------------------------------------------------------- the measure catalogue
REPO_MODELS = Path(__file__).resolve().parents[1] / "models"
ENTRY = """measures:
  - id: cla_count
    name: Children looked after
    oba_kind: population_indicator
    unit: {unit}
    direction_of_good: down
    journey: children_looked_after
    description: Children looked after on the day.
{extra}"""


def _catalogue(tmp_path: Path, extra: str, unit: str = "count") -> Path:
    root = tmp_path / "catalogue"
    root.mkdir(exist_ok=True)
    shutil.copy(REPO_MODELS / "macros.sql", root / "macros.sql")
    (root / "measures.yml").write_text(ENTRY.format(unit=unit, extra=extra), encoding="utf-8")
    return root


def test_a_declared_count_selects_its_population(tmp_path):
    measure = load_catalogue(_catalogue(tmp_path, "    counts: {population: looked_after}\n"))["cla_count"]
    assert measure.refs == {"int_measure_counts"}
    assert measure.path.name == "measures.yml"
    assert "population = 'looked_after'" in measure.sql
    con = duckdb.connect()
    con.execute(
        "create table int_measure_counts as select * from (values "
        "('looked_after', date '2025-03-31', 'all', 'all', 3, 1), "
        "('cla_starts', date '2025-03-31', 'all', 'all', 2, 0)) "
        "as t (population, period_end, breakdown, breakdown_value, members, flagged)"
    )
    assert con.execute(measure.sql).fetchall() == [(dt.date(2025, 3, 31), "all", "all", 3, None, 3)]


def test_a_declared_percent_divides_its_flagged_members(tmp_path):
    root = _catalogue(
        tmp_path,
        "    breakdowns: [all, sex]\n    counts: {population: looked_after, numerator: flagged, denominator: members}\n",
        "percent",
    )
    con = duckdb.connect()
    con.execute(
        "create table int_measure_counts as select * from (values "
        "('looked_after', date '2025-03-31', 'all', 'all', 4, 1), "
        "('looked_after', date '2025-03-31', 'sex', 'Male', 0, 0)) "
        "as t (population, period_end, breakdown, breakdown_value, members, flagged)"
    )
    rows = con.execute(load_catalogue(root)["cla_count"].sql + " order by breakdown").fetchall()
    assert [row[3:] for row in rows] == [(1, 4, 25.0), (0, 0, None)]


@pytest.mark.parametrize(
    ("extra", "unit", "message"),
    [
        ("    counts: {population: looked_after_now}\n", "count",
         r"entry 1 \(cla_count\) counts: unknown population 'looked_after_now' \(one of looked_after, "),
        ("    counts: {numerator: members}\n", "count", r"entry 1 \(cla_count\) counts: missing population"),
        ("    rates: {population: cla_starts}\n", "rate_per_10k",
         r"rates: unknown population 'cla_starts' \(one of looked_after, children_in_need, referrals, "
         r"s47_enquiries, child_protection\)"),
        ("    counts: {population: looked_after}\n    sql: measures/cla_count.sql\n", "count",
         r"has both sql: and counts:"),
        ("    counts: {population: looked_after}\n    rates: {population: looked_after}\n", "count",
         r"declares both counts: and rates:"),
        ("    counts: {population: looked_after, numerator: children}\n", "count",
         r"numerator 'children' is not a column of int_measure_counts \(members, flagged\)"),
        ("    counts: {population: looked_after, denominator: members}\n", "count",
         r"a measure of unit count has no denominator"),
        ("    counts: {population: looked_after, numerator: flagged}\n", "percent",
         r"a measure of unit percent needs a denominator"),
        ("    counts: {population: looked_after, filter: age_band}\n", "count", r"unknown key\(s\) filter"),
        ("    care_leaver_outcomes: {denominator: care_leavers}\n", "percent", r"missing numerator"),
        ("    rates: {population: looked_after}\n", "percent", r"rates: gives a unit of rate_per_10k, not percent"),
        ("", "count", r"entry 1 \(cla_count\): SQL file .*measures/cla_count\.sql not found"),
    ],
)
def test_catalogue_entries_are_checked(tmp_path, extra, unit, message):
    root = _catalogue(tmp_path, extra, unit)
    with pytest.raises(ModelError, match=message) as failure:
        load_catalogue(root)
    assert str(failure.value).startswith(f"{root / 'measures.yml'} entry 1 (cla_count)")
