"""Published layer: the static dashboard site (a thin call into ``dashboards``)."""

import json

import dagster as dg
from dagster_duckdb import DuckDBResource

from dashboards.site import write_site
from pipelines.defs.resources import ObaPaths, warehouse_connection


def _story_dicts(frame) -> dict[str, dict]:
    stories = {}
    for row in frame.to_dict("records"):
        stories[row["measure_id"]] = {
            key: json.loads(row[key]) if row[key] else []
            for key in ("story", "partners", "what_works", "actions", "data_development")
        }
    return stories


@dg.asset(
    key=["published", "site"],
    group_name="published",
    kinds={"python", "html"},
    deps=[
        dg.AssetKey(["marts", "measures"]),
        dg.AssetKey(["marts", "measure_values"]),
        dg.AssetKey(["raw", "stories"]),
        dg.AssetKey(["raw", "oba_config"]),
    ],
)
def site(context: dg.AssetExecutionContext, duckdb: DuckDBResource, oba: ObaPaths) -> dg.MaterializeResult:
    """The static dashboard site: report card and one turn-the-curve page per measure."""
    with warehouse_connection(duckdb) as con:
        measures = con.execute("select * from marts.measures order by measure_id").df()
        values = con.execute(
            "select measure_id, period_end, value from marts.measure_values "
            "where breakdown = 'all' order by measure_id, period_end"
        ).df()
        stories = _story_dicts(con.execute("select * from raw.stories").df())
        authority = con.execute("select authority_name from raw.oba_config").fetchone()[0]
    site_dir = oba.out / "site"
    pages = write_site(
        site_dir, authority=authority, measures=measures, values=values, stories=stories
    )
    context.log.info(f"Site written: {site_dir / 'index.html'}")
    return dg.MaterializeResult(
        metadata={
            "index": dg.MetadataValue.path(str(site_dir / "index.html")),
            "pages": len(pages),
        }
    )


defs = dg.Definitions(assets=[site])
