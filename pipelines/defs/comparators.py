"""Comparators: DfE's published LA tables (EES CSVs) read into ``raw.ees_values``.

The files sit in the exports folder (a ``comparators/`` folder inside it, or anywhere else in
it) and are recognised by their columns (:mod:`pipelines.ees`). ``raw.comparator_areas`` lists
the authority, its region and its statistical neighbours from ``oba.yaml``; the marts
``comparator_values`` and ``comparator_rank`` are SQL models reading both.
"""

import datetime as dt

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from pipelines.defs import ingest
from pipelines.defs.partitions import authority_partitions
from pipelines.defs.resources import ObaPaths, warehouse_connection
from pipelines.ees import area_warnings, load_mapping, read_ees
from pipelines.quality import CONTRACT_RESULTS_DDL
from pipelines.settings import models_dir
from pipelines.sqlmodels import replace_table

VALUE_COLUMNS = ["measure_id", "period_end", "area_type", "area_code", "area_name", "region_code",
                 "value", "symbol", "indicator", "source_file"]
# Each raw loader rebuilds quality.export_files: the EES files' rows are set after them all.
LOADER_KEYS = sorted(
    {
        key
        for definition in ingest.defs.assets or []
        if isinstance(definition, dg.AssetsDefinition)
        for key in definition.keys
        if key.path[0] == "raw" and key.path[-1] not in ("oba_config", "assessment_tools", "bank_holidays", "stories")
    },
    key=lambda k: k.to_user_string(),
)


def comparator_frames(exports, config) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[str]]:
    """(values, files, areas, warnings) for the exports folder and the run's configuration."""
    found = []
    if exports is not None and exports.is_dir():
        for path in sorted(p for p in exports.rglob("*.csv") if p.is_file()):
            relative = path.relative_to(exports).as_posix()
            if any(part.startswith(".") for part in path.relative_to(exports).parts):
                continue
            found.append((path, relative))
    mapping, _ = load_mapping(models_dir())
    result = read_ees(found, mapping)
    comparators = config.comparators or {}
    region = comparators.get("region")
    neighbours = list(comparators.get("neighbours") or [])
    warnings = list(result.warnings)
    warnings += area_warnings(result.rows, config.authority_code, region, neighbours)
    values = pd.DataFrame(result.rows, columns=VALUE_COLUMNS)
    values["period_end"] = pd.to_datetime(values["period_end"])
    values = values.astype({c: "string" for c in VALUE_COLUMNS if c not in ("period_end", "value")})
    values["value"] = values["value"].astype("float64")
    files = pd.DataFrame(
        [
            {"source_file": f.relative, "status": f.status, "measures": ", ".join(sorted(set(f.measures))),
             "superseded_by": f.superseded_by, "reason": f.reason}
            for f in result.files
        ],
        columns=["source_file", "status", "measures", "superseded_by", "reason"],
    ).astype("string")
    areas = [{"role": "authority", "area_code": config.authority_code, "position": 0}] if config.authority_code else []
    if region:
        areas.append({"role": "region", "area_code": region, "position": 0})
    areas += [{"role": "neighbour", "area_code": code, "position": i} for i, code in enumerate(neighbours, 1)]
    areas = pd.DataFrame(areas, columns=["role", "area_code", "position"]).astype(
        {"role": "string", "area_code": "string", "position": "int64"}
    )
    return values, files, areas, warnings


@dg.asset(
    key=["raw", "ees_values"],
    group_name="raw",
    kinds={"duckdb", "python"},
    deps=LOADER_KEYS,
    partitions_def=authority_partitions(),
)
def ees_values(context: dg.AssetExecutionContext, duckdb: DuckDBResource, oba: ObaPaths) -> dg.MaterializeResult:
    """DfE's published LA tables (EES CSVs): one row per measure, 31 March and area, symbols kept."""
    values, files, areas, warnings = comparator_frames(oba.exports, oba.config())
    with warehouse_connection(duckdb) as con:
        replace_table(con, "raw.ees_values", values)
        con.execute("alter table raw.ees_values alter period_end type date")
        replace_table(con, "raw.ees_files", files)
        replace_table(con, "raw.comparator_areas", areas)
        con.execute(CONTRACT_RESULTS_DDL)
        con.execute("delete from quality.contract_results where source = 'ees_comparators'")
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        for warning in warnings:
            context.log.warning(warning)
            con.execute(
                "insert into quality.contract_results values ('ees_comparators', 'comparators', false, 1, "
                "'warning', ?, 'loader', ?)",
                [warning, now],
            )
        has_listing = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'quality' and table_name = 'export_files'"
        ).fetchall()[0][0]
        if has_listing and len(files):
            con.register("_ees_files", files)
            try:
                con.execute(
                    """update quality.export_files as e
                    set status = f.status, reason = f.reason, superseded_by = f.superseded_by,
                        recognised_as = case when f.measures <> '' then 'EES comparator table ('
                            || f.measures || ')' end
                    from _ees_files as f where f.source_file = e.source_file"""
                )
            finally:
                con.unregister("_ees_files")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(values),
            "files": dg.MetadataValue.json(files.fillna("").to_dict("records")),
            "warnings": dg.MetadataValue.json(warnings),
        }
    )


defs = dg.Definitions(assets=[ees_values])
