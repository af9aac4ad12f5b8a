"""The regional roll-up: every authority's marts side by side, with authority as a breakdown."""

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from dashboards.region import write_region_site
from pipelines.authorities import configured_region
from pipelines.defs.resources import ObaPaths, warehouse_connection
from pipelines.sqlquote import quote_literal

ROLLUP_SQL = """
with authority_values as (
    {unions}
),

units as (
    select measure_id, unit from marts.measures
),

coverage as (
    select measure_id, period_end, count(distinct breakdown_value) as n_authorities
    from authority_values group by all
),

region as (
    select
        v.measure_id,
        v.period_end,
        'all' as breakdown,
        'all' as breakdown_value,
        sum(v.numerator) as numerator,
        sum(v.denominator) as denominator,
        case u.unit
            when 'count' then sum(v.value)
            when 'percent' then 100.0 * sum(v.numerator) / nullif(sum(v.denominator), 0)
            when 'rate_per_10k' then 10000.0 * sum(v.numerator) / nullif(sum(v.denominator), 0)
        end as value,
    from authority_values as v
    inner join units as u using (measure_id)
    inner join coverage as c using (measure_id, period_end)
    where c.n_authorities = {n}
    group by v.measure_id, v.period_end, u.unit
)

select measure_id, period_end, 'authority' as breakdown, breakdown_value, numerator, denominator, value
from authority_values
union all
select * from region
order by measure_id, breakdown, breakdown_value, period_end
"""

PUBLISH_SQL = """
with v as (
    select r.*, m.unit from marts.regional_measure_values as r
    inner join marts.measures as m using (measure_id)
),

shown as (
    select
        v.*,
        case
            when v.breakdown = 'all' and v.unit = 'count' then round(v.value / 10) * 10
            when v.unit = 'count' and v.value between 1 and {upper} then null
            when v.unit <> 'count' and (v.numerator between 1 and {upper}) then null
            when v.unit = 'count' then v.value
            else round(v.value, 1)
        end as published_value,
        case
            when v.value is null then 'x'
            when v.breakdown = 'all' and v.unit = 'count' then format('{{:,}}', (round(v.value / 10) * 10)::bigint)
            when v.unit = 'count' and v.value between 1 and {upper} then 'c'
            when v.unit <> 'count' and (v.numerator between 1 and {upper}) then 'c'
            when v.unit = 'count' then format('{{:,}}', v.value::bigint)
            else format('{{:.1f}}', v.value)
        end as shown,
    from v
)

select measure_id, period_end, breakdown, breakdown_value, published_value as value, shown from shown
"""


def build_rollup(con, sources: dict[str, tuple[str, str]]) -> int:
    """``sources``: authority key → (display name, warehouse path). Returns rows written."""
    unions = []
    for i, (_key, (name, path)) in enumerate(sorted(sources.items())):
        alias = f"authority_{i}"
        con.execute(f"attach {quote_literal(str(path))} as {alias} (read_only)")
        unions.append(
            f"select measure_id, period_end, {quote_literal(name)} as breakdown_value, "
            f"numerator, denominator, value from {alias}.marts.measure_values where breakdown = 'all'"
        )
    first = "authority_0"
    con.execute(f"create or replace table marts.measures as select * from {first}.marts.measures")
    con.execute(
        "create or replace table marts.regional_measure_values as "
        + ROLLUP_SQL.format(unions="\n    union all\n    ".join(unions), n=len(sources))
    )
    for i in range(len(sources)):
        con.execute(f"detach authority_{i}")
    return con.execute("select count(*) from marts.regional_measure_values").fetchone()[0]


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
            con.execute(
                "create or replace table published.regional_measure_values as "
                + PUBLISH_SQL.format(upper=int(upper))
            )
            values = con.execute("select * from published.regional_measure_values").df()
            measures = con.execute("select measure_id, name, unit from marts.measures").df()
        downloads = oba.out / "published"
        downloads.mkdir(parents=True, exist_ok=True)
        values.drop(columns=["value"]).to_csv(downloads / "regional_measure_values.csv", index=False)
        index = write_region_site(
            oba.out / "site", region=oba.region.name, measures=measures,
            values=values.assign(value=pd.to_numeric(values["value"])),
        )
        return dg.MaterializeResult(metadata={"index": dg.MetadataValue.path(str(index)), "dagster/row_count": len(values)})

    return [regional_measure_values, regional_site]


defs = dg.Definitions(assets=_assets())
