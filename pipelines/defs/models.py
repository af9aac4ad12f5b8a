"""Staging, intermediate, marts and published: one asset per SQL model, dependencies read from
the SQL, the models of a layer built in one step (Dagster's cost per step, paid once a layer)."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from pipelines import outfolder
from pipelines.contracts import load_contracts
from pipelines.defs.jobs import PROGRESS_PER_ASSET, report_asset
from pipelines.defs.partitions import authority_partitions
from pipelines.defs.resources import ObaPaths, warehouse_connection
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
    prepare_connection,
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


@dataclass(frozen=True)
class LayerNode:
    """One asset of a layer's step: its spec and how to build it on the step's connection
    (returning the materialisation's metadata)."""

    spec: dg.AssetSpec
    build: Callable[[duckdb.DuckDBPyConnection], dict]


def sql_node(model: SqlModel, deps: list[dg.AssetKey]) -> LayerNode:
    """A SQL model's asset: its table (or view), described by the file's header comment."""

    def build(con: duckdb.DuckDBPyConnection) -> dict:
        rows = build_model(con, model, prepared=True)
        return {"materialized": "view"} if rows is None else {"dagster/row_count": rows}

    return LayerNode(
        dg.AssetSpec(
            key=[model.layer, model.name],
            group_name=model.layer,
            kinds={"duckdb", "sql"},
            deps=deps,
            description=_header_comment(model.sql) or f"Built from {model.path.name}.",
            metadata={"sql_file": str(model.path.relative_to(model.path.parents[2]))},
            partitions_def=authority_partitions(),
        ),
        build,
    )


# The first layer built on the raw tables: its step checks, before any model is built, that the
# exports give no less than the outputs in place (shrink_guard).
FIRST_LAYER = "staging"


def shrink_guard(con: duckdb.DuckDBPyConnection, oba: ObaPaths) -> None:
    """Stop the run before its models when the exports just loaded give less than the outputs
    the run would replace (DESIGN §2b: never publish nothing over something): no rows from any
    recognised export, a source with none, or one with fewer than half its rows. Only runs the
    ``oba`` CLI starts set ``oba.shrink_guard`` (never with ``--accept-shrink``)."""
    if not oba.shrink_guard:
        return
    problems = outfolder.shrinkage(Path(oba.shrink_guard), outfolder.rows_in_force(con))
    if problems:
        raise dg.Failure(
            description="the run would publish less than the outputs in place: "
            + "; ".join(problems)
            + ". Nothing was built or published. If the exports truly hold less than before, "
            "run again with --accept-shrink."
        )


def layer_asset(layer: str, nodes: list[LayerNode]) -> dg.AssetsDefinition:
    """One step for a layer's assets, each still an asset of its own (key, dependencies,
    description, kinds, row count): the selected ones are built in dependency order on one
    connection, each reported to the CLI's progress as it is built. A single asset can be
    materialised alone (the step is subsettable). The first layer's step runs
    :func:`shrink_guard` first."""
    ordered = _in_dependency_order(nodes)

    @dg.multi_asset(
        name=layer,
        specs=[node.spec for node in ordered],
        can_subset=True,
        op_tags={PROGRESS_PER_ASSET: "true"},
    )
    def _build(context: dg.AssetExecutionContext, duckdb: DuckDBResource, oba: ObaPaths):
        selected = context.selected_asset_keys
        with warehouse_connection(duckdb) as con:
            if layer == FIRST_LAYER:
                shrink_guard(con, oba)
            prepare_connection(con)  # settings, search path and macros, once for the layer
            for node in ordered:
                if node.spec.key not in selected:
                    continue
                try:
                    metadata = node.build(con)
                except Exception:
                    report_asset(node.spec.key, done=False)
                    raise
                report_asset(node.spec.key)
                yield dg.MaterializeResult(asset_key=node.spec.key, metadata=metadata)

    return _build


def _in_dependency_order(nodes: list[LayerNode]) -> list[LayerNode]:
    """``nodes`` with each after the nodes of the layer it reads."""
    pending = {node.spec.key: node for node in nodes}
    ordered: list[LayerNode] = []
    while pending:
        ready = [
            node for node in pending.values()
            if not any(dep.asset_key in pending for dep in node.spec.deps)
        ]
        if not ready:
            raise ModelError(
                "models read each other in a cycle: "
                + ", ".join(sorted(key.to_user_string() for key in pending))
            )
        for node in ready:
            ordered.append(node)
            del pending[node.spec.key]
    return ordered


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
    """A step per layer of SQL models; the marts step also builds the measure catalogue, the
    breakdown codes' labels and every measure's values (Python, from models/measures.yml)."""
    directory = models_dir()
    models = discover_models(directory)
    catalogue = load_catalogue(directory)
    codes = load_breakdown_codes(directory)
    known = known_tables(models)
    layers: dict[str, list[LayerNode]] = {}
    for model in models.values():
        deps = resolve_refs(model.refs - {model.name}, known, str(model.path))
        layers.setdefault(model.layer, []).append(sql_node(model, deps))
    measure_deps = sorted(
        {key for m in catalogue.values() for key in resolve_refs(m.refs, known, str(m.path))},
        key=lambda k: k.to_user_string(),
    )

    def catalogue_spec(name: str, description: str, kinds: set[str], metadata: dict, deps=()) -> dg.AssetSpec:
        return dg.AssetSpec(
            key=["marts", name],
            group_name="marts",
            kinds=kinds,
            deps=list(deps),
            description=description,
            metadata=metadata,
            partitions_def=authority_partitions(),
        )

    layers.setdefault("marts", []).extend([
        LayerNode(
            catalogue_spec(
                "measures",
                "The measure catalogue (models/measures.yml): one row per measure.",
                {"duckdb", "python"},
                {"catalogue": "models/measures.yml"},
            ),
            lambda con: {"dagster/row_count": build_measures(con, catalogue)},
        ),
        LayerNode(
            catalogue_spec(
                "breakdown_codes",
                "The plain label of each breakdown code (breakdown_codes: in models/measures.yml): "
                "one row per breakdown and value.",
                {"duckdb", "python"},
                {"catalogue": "models/measures.yml"},
            ),
            lambda con: {"dagster/row_count": build_breakdown_codes(con, codes)},
        ),
        LayerNode(
            catalogue_spec(
                "measure_values",
                "Every catalogue measure's values: one row per measure, period end and breakdown value.",
                {"duckdb", "sql"},
                {"measures": ", ".join(catalogue)},
                measure_deps,
            ),
            lambda con: {"dagster/row_count": build_measure_values(con, catalogue)},
        ),
    ])
    return [layer_asset(layer, nodes) for layer, nodes in layers.items()]


defs = dg.Definitions(assets=build_model_assets())
