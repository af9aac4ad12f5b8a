"""A layer's SQL models run as one Dagster step, each model still an asset of its own: its
dependencies (on models of the same layer too), its row count, materialised alone when asked,
reported to the CLI's progress as it is built, and a failure naming the model's file."""

import logging
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from pipelines.defs.models import (
    build_model_assets,  # imported here, before any test sets OBA_MODELS:
)
from pipelines.defs.resources import (
    ObaPaths,  # the module's Definitions are built as it is imported
)
from pipelines.failures import root_cause

KEY = dg.AssetKey


def _write(models: Path, layer: str, name: str, sql: str) -> None:
    (models / layer).mkdir(parents=True, exist_ok=True)
    (models / layer / f"{name}.sql").write_text(sql, encoding="utf-8")


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A models folder of three models (int_weeks reads int_days of its own layer, and is
    written first in the folder) and a warehouse holding the raw table they start from."""
    models = tmp_path / "models"
    _write(models, "staging", "stg_days", "-- One row per bank holiday.\nselect * from raw.bank_holidays")
    _write(models, "intermediate", "int_a_weeks", "-- One row.\nselect n // 7 as weeks from int_days")
    _write(models, "intermediate", "int_days", "-- One row.\nselect count(*) as n from stg_days")
    monkeypatch.setenv("OBA_MODELS", str(models))
    warehouse = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("create schema raw")
    con.execute("create table raw.bank_holidays as select range as day from range(15)")
    con.close()
    return models, warehouse


def _materialise(warehouse: Path, *keys: dg.AssetKey) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        build_model_assets(),
        selection=dg.AssetSelection.assets(*keys) if keys else dg.AssetSelection.groups("staging", "intermediate"),
        resources={
            "duckdb": DuckDBResource(database=str(warehouse)),
            "oba": ObaPaths(exports_dir="", out_dir=str(warehouse.parent)),
        },
        raise_on_error=False,
    )


def _rows(warehouse: Path, table: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(f"select * from {table}").fetchall()
    finally:
        con.close()


def test_each_layer_is_one_step_of_assets_in_dependency_order(project, caplog):

    _, warehouse = project
    by_key = {key: d for d in build_model_assets() for key in d.keys}
    weeks, days = KEY(["intermediate", "int_a_weeks"]), KEY(["intermediate", "int_days"])
    assert by_key[weeks] is by_key[days]  # one step for the layer
    assert by_key[weeks].specs_by_key[weeks].deps[0].asset_key == days
    assert by_key[days].specs_by_key[days].description == "One row."

    with caplog.at_level(logging.INFO, logger="oba.progress"):
        result = _materialise(warehouse)
    assert result.success
    assert len(result.get_step_success_events()) == 2
    built = [e.asset_key for e in result.get_asset_materialization_events()]
    assert built == [KEY(["staging", "stg_days"]), days, weeks]
    counts = {
        e.asset_key: e.materialization.metadata["dagster/row_count"].value
        for e in result.get_asset_materialization_events()
    }
    assert counts[KEY(["staging", "stg_days"])] == 15 and counts[weeks] == 1
    assert _rows(warehouse, "intermediate.int_a_weeks") == [(2,)]
    progress = [r.getMessage() for r in caplog.records if r.name == "oba.progress"]
    assert progress == ["done staging__stg_days", "done intermediate__int_days", "done intermediate__int_a_weeks"]


def test_one_model_is_materialised_alone(project):
    _, warehouse = project
    assert _materialise(warehouse).success
    con = duckdb.connect(str(warehouse))
    con.execute("insert into raw.bank_holidays select range from range(15, 22)")
    con.execute("insert into staging.stg_days select range from range(15, 22)")
    con.close()

    result = _materialise(warehouse, KEY(["intermediate", "int_days"]))
    assert result.success
    assert [e.asset_key for e in result.get_asset_materialization_events()] == [KEY(["intermediate", "int_days"])]
    assert _rows(warehouse, "intermediate.int_days") == [(22,)]
    assert _rows(warehouse, "intermediate.int_a_weeks") == [(2,)]  # not selected: as it was


def test_a_failing_model_names_its_file_and_stops_its_layer(project, caplog):
    models, warehouse = project
    _write(models, "intermediate", "int_days", "select nosuch from stg_days")
    with caplog.at_level(logging.INFO, logger="oba.progress"):
        result = _materialise(warehouse)
    assert not result.success
    assert [e.asset_key for e in result.get_asset_materialization_events()] == [KEY(["staging", "stg_days"])]
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "intermediate"
    cls_name, message = root_cause(failure.step_failure_data.error)  # what the CLI prints
    assert cls_name == "ModelError"
    assert message.startswith(str(models / "intermediate" / "int_days.sql") + ": ") and "nosuch" in message
    progress = [r.getMessage() for r in caplog.records if r.name == "oba.progress"]
    assert progress == ["done staging__stg_days", "failed intermediate__int_days"]
