"""The regional roll-up: every authority's marts side by side, with authority as a breakdown."""

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from dashboards.region import write_region_download, write_region_site
from pipelines.authorities import configured_region
from pipelines.defs.resources import ObaPaths, warehouse_connection
from pipelines.published import build_rollup, publish_regional


def _assets():
    region = configured_region()
    if region is None:
        return []

    @dg.asset(
        key=["marts", "regional_measure_values"],
        group_name="marts",
        kinds={"duckdb", "sql"},
        deps=[dg.AssetKey(["marts", "measure_values"]), dg.AssetKey(["marts", "measures"])],
    )
    def regional_measure_values(
        context: dg.AssetExecutionContext, duckdb: DuckDBResource, oba: ObaPaths
    ) -> dg.MaterializeResult:
        """Every authority's whole-population values with authority as a breakdown, plus region totals."""
        sources = {}
        for authority in oba.region.authorities:
            path = oba.published_out(authority.key) / "warehouse.duckdb"
            if path.is_file():
                sources[authority.key] = (authority.name, str(path))
            else:
                context.log.warning(f"{authority.key}: no warehouse at {path}; left out of the roll-up")
        if not sources:
            raise dg.Failure(description="no authority has been run yet; run the authorities first")
        with warehouse_connection(duckdb) as con:
            rows = build_rollup(con, sources)
        return dg.MaterializeResult(
            metadata={"dagster/row_count": rows, "authorities": dg.MetadataValue.json(sorted(sources))}
        )

    @dg.asset(
        key=["published", "regional_site"],
        group_name="published",
        kinds={"python", "html"},
        deps=[dg.AssetKey(["marts", "regional_measure_values"])],
    )
    def regional_site(duckdb: DuckDBResource, oba: ObaPaths) -> dg.MaterializeResult:
        """Comparison charts (authority against region) and the regional download, suppressed."""
        upper = oba.config().suppression_upper
        with warehouse_connection(duckdb) as con:
            values, measures = publish_regional(con, upper)
        write_region_download(oba.out / "published", values)
        index = write_region_site(
            oba.out / "site", region=oba.region.name, measures=measures,
            values=values.assign(value=pd.to_numeric(values["value"])), suppression_upper=upper,
        )
        return dg.MaterializeResult(metadata={"index": dg.MetadataValue.path(str(index)), "dagster/row_count": len(values)})

    return [regional_measure_values, regional_site]


defs = dg.Definitions(assets=_assets())
