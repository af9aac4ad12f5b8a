"""Staging models declared from the data contracts (models/staging/*.yml)."""

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from pipelines.contracts import load_contracts
from pipelines.pseudonym import pseudonymise, register_macro
from pipelines.sqlmodels import build_model, discover_models, referenced_tables
from pipelines.staging_models import StagingModelError, declared_models, staging_sql

MODELS = Path(__file__).resolve().parent.parent / "models"
KEY = b"k" * 32


def test_every_staging_model_reads_its_source_checked_view_typed_as_its_contract():
    contracts = load_contracts()
    declared = declared_models(MODELS / "staging")
    assert declared
    for path, sql in declared:
        (source,) = {ref.removesuffix("_checked") for ref in referenced_tables(sql, path)}
        contract = contracts[source]
        assert referenced_tables(sql, path) == {f"{source}_checked"}
        for column in contract.columns:
            if column.name not in contract.identifiers:
                assert f'{column.typed_sql()} as "{column.sql_name}"' in sql, (path.name, column.name)


def test_a_staging_model_renames_types_and_pseudonymises(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    for schema in ("raw", "staging", "intermediate", "marts", "quality", "published"):
        con.execute(f"create schema {schema}")
    con.execute(
        "create table raw.ssda903_sw_episodes_checked (child varchar, dob varchar, sw_id varchar, "
        "sw_decom varchar, sw_dec varchar, sw_reason varchar, _extra varchar, _source_file varchar, "
        "_row_number bigint, _collection_year integer)"
    )
    con.execute(
        "insert into raw.ssda903_sw_episodes_checked values "
        "(' C1 ', '01/02/2010', 'SW9', '2024-05-01', '', ' manage ', null, 'sw.csv', 2, 2025), "
        "('C1', '2010-02-01', '', '02/05/2024', '31/05/2024', null, null, 'sw.csv', 3, 2025)"
    )
    register_macro(con, KEY)
    model = discover_models(MODELS)["stg_ssda903_sw_episodes"]
    assert build_model(con, model) == 2
    frame = con.execute("select * from staging.stg_ssda903_sw_episodes order by source_row_number").df()
    assert list(frame.columns) == [
        "child_id", "social_worker_id", "date_of_birth", "sw_start", "sw_end", "sw_change_reason",
        "collection_year", "source_file", "source_row_number",
    ]
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    child = pseudonymise("C1", KEY)
    assert [r["child_id"] for r in rows] == [child, child]
    assert [r["social_worker_id"] for r in rows] == [pseudonymise("SW9", KEY), None]
    assert [r["date_of_birth"].date() for r in rows] == [dt.date(2010, 2, 1)] * 2
    assert [r["sw_start"].date() for r in rows] == [dt.date(2024, 5, 1), dt.date(2024, 5, 2)]
    assert rows[0]["sw_end"] is None and rows[1]["sw_end"].date() == dt.date(2024, 5, 31)
    assert [r["sw_change_reason"] for r in rows] == ["MANAGE", None]
    assert [(r["collection_year"], r["source_file"]) for r in rows] == [(2025, "sw.csv")] * 2


def test_a_declared_view_says_so_in_its_header():
    models = discover_models(MODELS)
    assert models["stg_case_services"].materialized == "view"
    assert models["stg_ssda903_episodes"].materialized == "table"
    assert models["stg_ssda903_episodes"].sql.startswith("-- One row per episode row")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("source: nosuch\ncolumns: {child_id: CHILD}\n", "has no data contract"),
        ("source: ssda903_uasc\ncolumns: {child_id: CHILD}\nmaterialised: view\n", "unknown key"),
        ("source: ssda903_uasc\n", "expected a mapping"),
        ("source: ssda903_uasc\nlineage: [file]\ncolumns: {child_id: CHILD}\n", "lineage"),
    ],
)
def test_a_malformed_declaration_is_refused_naming_its_file(tmp_path, text, message):
    path = tmp_path / "stg_x.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(StagingModelError, match=message) as failure:
        staging_sql(path)
    assert "stg_x.yml" in str(failure.value)
