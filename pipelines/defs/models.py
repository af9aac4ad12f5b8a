"""Staging, intermediate and marts: one asset per SQL model, dependencies read from the SQL."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from pipelines.contracts import load_contracts
from pipelines.defs.partitions import authority_partitions
from pipelines.defs.resources import warehouse_connection
from pipelines.settings import models_dir
from pipelines.sqlmodels import (
    ModelError,
    SqlModel,
    build_breakdown_codes,
    build_measure_values,
    build_measures,
    build_model,
    discover_models,
    load_breakdown_codes,
    load_catalogue,
)

# Raw tables written by Python assets (besides one per data contract).
RAW_PYTHON_TABLES = ("oba_config", "assessment_tools", "bank_holidays", "stories", "export_files", "ees_values")
# Raw tables written by another table's asset (the comparators asset writes all three).
RAW_WRITTEN_BY = {"ees_files": "ees_values", "comparator_areas": "ees_values"}
MARTS_PYTHON_TABLES = ("measures", "breakdown_codes", "measure_values", "measure_status")


def known_tables(models: dict[str, SqlModel]) -> dict[str, dg.AssetKey]:
    """Every table a model may read, by bare name, mapped to the asset that builds it."""
    known = {name: dg.AssetKey(["raw", name]) for name in load_contracts()}
    # the checked view of a source (pipelines.quality.checked_view), made by its raw asset
    known.update({f"{name}_checked": dg.AssetKey(["raw", name]) for name in load_contracts()})
    known.update({name: dg.AssetKey(["raw", name]) for name in RAW_PYTHON_TABLES})
    known.update({name: dg.AssetKey(["raw", by]) for name, by in RAW_WRITTEN_BY.items()})
    known.update({name: dg.AssetKey(["marts", name]) for name in MARTS_PYTHON_TABLES})
    known.update({m.name: dg.AssetKey([m.layer, m.name]) for m in models.values()})
    return known


def resolve_refs(refs: frozenset[str], known: dict[str, dg.AssetKey], where: str) -> list[dg.AssetKey]:
    unknown = sorted(r for r in refs if r not in known)
    if unknown:
        raise ModelError(f"{where}: reads unknown table(s) {', '.join(unknown)}")
    return [known[r] for r in sorted(refs)]


def _sql_asset(model: SqlModel, deps: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=[model.layer, model.name],
        group_name=model.layer,
        kinds={"duckdb", "sql"},
        deps=deps,
        description=_header_comment(model.sql) or f"Built from {model.path.name}.",
        metadata={"sql_file": str(model.path.relative_to(model.path.parents[2]))},
        partitions_def=authority_partitions(),
    )
    def _build(duckdb: DuckDBResource) -> dg.MaterializeResult:
        with warehouse_connection(duckdb) as con:
            rows = build_model(con, model)
        if rows is None:
            return dg.MaterializeResult(metadata={"materialized": "view"})
        return dg.MaterializeResult(metadata={"dagster/row_count": rows})

    return _build


def _header_comment(sql: str) -> str:
    lines = []
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        if line[2:].strip().lower().startswith("materialized:"):
            continue
        lines.append(line[2:].strip())
    return " ".join(lines)


def build_model_assets() -> list[dg.AssetsDefinition]:
    directory = models_dir()
    models = discover_models(directory)
    catalogue = load_catalogue(directory)
    codes = load_breakdown_codes(directory)
    known = known_tables(models)
    assets = [
        _sql_asset(model, resolve_refs(model.refs - {model.name}, known, str(model.path)))
        for model in models.values()
    ]
    measure_deps = sorted(
        {key for m in catalogue.values() for key in resolve_refs(m.refs, known, str(m.path))},
        key=lambda k: k.to_user_string(),
    )

    @dg.asset(
        key=["marts", "measures"],
        group_name="marts",
        kinds={"duckdb", "python"},
        metadata={"catalogue": "models/measures.yml"},
        partitions_def=authority_partitions(),
    )
    def measures(duckdb: DuckDBResource) -> dg.MaterializeResult:
        """The measure catalogue (models/measures.yml): one row per measure."""
        with warehouse_connection(duckdb) as con:
            rows = build_measures(con, catalogue)
        return dg.MaterializeResult(metadata={"dagster/row_count": rows})

    @dg.asset(
        key=["marts", "breakdown_codes"],
        group_name="marts",
        kinds={"duckdb", "python"},
        metadata={"catalogue": "models/measures.yml"},
        partitions_def=authority_partitions(),
    )
    def breakdown_codes(duckdb: DuckDBResource) -> dg.MaterializeResult:
        """The plain label of each breakdown code (breakdown_codes: in models/measures.yml):
        one row per breakdown and value."""
        with warehouse_connection(duckdb) as con:
            rows = build_breakdown_codes(con, codes)
        return dg.MaterializeResult(metadata={"dagster/row_count": rows})

    @dg.asset(
        key=["marts", "measure_values"],
        group_name="marts",
        kinds={"duckdb", "sql"},
        deps=measure_deps,
        metadata={"measures": ", ".join(catalogue)},
        partitions_def=authority_partitions(),
    )
    def measure_values(duckdb: DuckDBResource) -> dg.MaterializeResult:
        """Every catalogue measure's values: one row per measure, period end and breakdown value."""
        with warehouse_connection(duckdb) as con:
            rows = build_measure_values(con, catalogue)
        return dg.MaterializeResult(metadata={"dagster/row_count": rows})

    return [*assets, measures, breakdown_codes, measure_values]


defs = dg.Definitions(assets=build_model_assets())
