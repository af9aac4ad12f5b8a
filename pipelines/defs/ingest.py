"""Raw layer: export files into ``raw.*`` tables (one multi-asset per source family)."""


import json
from collections import defaultdict

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from pipelines.contracts import load_contracts
from pipelines.defs.resources import ObaPaths, warehouse_connection
from pipelines.ingest import ExportError, load_source, scan_exports
from pipelines.stories import StoryError, load_stories, story_files


def _replace_table(con, table: str, frame: pd.DataFrame) -> None:
    con.register("_frame", frame)
    try:
        con.execute(f"create or replace table {table} as select * from _frame")
    finally:
        con.unregister("_frame")


def _family_asset(family: str, sources: list[str]) -> dg.AssetsDefinition:
    specs = [
        dg.AssetSpec(
            key=dg.AssetKey(["raw", source]),
            group_name="raw",
            kinds={"duckdb", "python"},
            description=load_contracts()[source].title + ", as exported (all text), one row per file row.",
        )
        for source in sources
    ]

    @dg.multi_asset(name=f"load_{family}", specs=specs)
    def _load(context: dg.AssetExecutionContext, duckdb: DuckDBResource, oba: ObaPaths):
        """Load the family's export files, recognised by header, into raw tables."""
        try:
            files = scan_exports(oba.exports)
        except ExportError as exc:
            raise dg.Failure(str(exc)) from exc
        by_source = defaultdict(list)
        for f in files:
            if f.source is not None:
                by_source[f.source].append(f)
        ignored = [f"{f.relative} ({f.reason})" for f in files if f.source is None]
        if ignored and family == "ssda903":
            context.log.warning("Ignored files: " + "; ".join(ignored))
        contracts = load_contracts()
        with warehouse_connection(duckdb) as con:
            for source in sources:
                outcome = load_source(con, contracts[source], by_source.get(source, []))
                context.log.info(
                    f"raw.{source}: {len(outcome['loaded'])} file(s) loaded, "
                    f"{len(outcome['unchanged'])} unchanged, {len(outcome['removed'])} removed"
                )
                yield dg.MaterializeResult(
                    asset_key=dg.AssetKey(["raw", source]),
                    metadata={
                        "dagster/row_count": outcome["rows"],
                        "files_loaded": dg.MetadataValue.json(outcome["loaded"]),
                        "files_unchanged": len(outcome["unchanged"]),
                        "files_removed": dg.MetadataValue.json(outcome["removed"]),
                    },
                )

    return _load


def _family_assets() -> list[dg.AssetsDefinition]:
    families = defaultdict(list)
    for contract in load_contracts().values():
        if contract.format == "csv":
            families[contract.family].append(contract.source)
    return [_family_asset(family, sorted(sources)) for family, sources in sorted(families.items())]


@dg.asset(key=["raw", "oba_config"], group_name="raw", kinds={"duckdb", "python"})
def oba_config(duckdb: DuckDBResource, oba: ObaPaths) -> dg.MaterializeResult:
    """The run's settings from oba.yaml (authority, suppression), one row, for the SQL models."""
    cfg = oba.config()
    frame = pd.DataFrame(
        [
            {
                "authority_name": cfg.authority_name,
                "authority_code": cfg.authority_code,
                "suppression_upper": cfg.suppression_upper,
                "headline_measures": json.dumps(list(cfg.headline_measures)),
                "config_file": str(cfg.source) if cfg.source else None,
            }
        ]
    ).astype({"authority_code": "string", "config_file": "string"})
    with warehouse_connection(duckdb) as con:
        _replace_table(con, "raw.oba_config", frame)
    return dg.MaterializeResult(metadata={"dagster/row_count": 1})


@dg.asset(key=["raw", "stories"], group_name="raw", kinds={"duckdb", "python"})
def stories(duckdb: DuckDBResource, oba: ObaPaths) -> dg.MaterializeResult:
    """Stories behind the baseline (stories/*.yml or stories.csv), one row per measure."""
    cfg = oba.config()
    directory = cfg.stories_dir or oba.exports / "stories"
    try:
        found = load_stories(story_files(directory, oba.exports), oba.exports)
    except StoryError as exc:
        raise dg.Failure(str(exc)) from exc
    frame = pd.DataFrame(
        [
            {
                "measure_id": s.measure_id,
                "baseline_end": s.baseline_end,
                "target": s.target,
                "story": json.dumps(s.story),
                "partners": json.dumps(s.partners),
                "what_works": json.dumps(s.what_works),
                "actions": json.dumps(s.actions),
                "data_development": json.dumps(s.data_development),
                "source_file": s.source_file,
            }
            for s in found
        ],
        columns=[
            "measure_id",
            "baseline_end",
            "target",
            "story",
            "partners",
            "what_works",
            "actions",
            "data_development",
            "source_file",
        ],
    )
    frame["baseline_end"] = pd.to_datetime(frame["baseline_end"]).dt.date
    frame = frame.astype(
        {c: "string" for c in frame.columns if c not in ("baseline_end", "target")}
    ).astype({"target": "float64"})
    with warehouse_connection(duckdb) as con:
        _replace_table(con, "raw.stories", frame)
        con.execute("alter table raw.stories alter baseline_end type date")
    return dg.MaterializeResult(metadata={"dagster/row_count": len(frame)})


defs = dg.Definitions(assets=[*_family_assets(), oba_config, stories])
