"""marts.measure_status: baseline, forecast, turned curve and SPC for every measure series."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipelines.baselines import baseline_lock_dir, build_measure_status, prewarm, series_key
from pipelines.defs.partitions import authority_partitions
from pipelines.defs.resources import ObaPaths, warehouse_connection


class ForecastingModels(dg.ConfigurableResource):
    """The statsmodels modules the forecasts use, imported in the background as the run begins
    so that the first fit does not wait for them."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        prewarm()


@dg.asset(
    key=["marts", "measure_status"],
    group_name="marts",
    kinds={"duckdb", "python"},
    deps=[
        dg.AssetKey(["marts", "measures"]),
        dg.AssetKey(["marts", "measure_values"]),
        dg.AssetKey(["raw", "stories"]),
        dg.AssetKey(["raw", "oba_config"]),  # the suppression bound: suppressed values are gaps
    ],
    partitions_def=authority_partitions(),
    resource_defs={"forecasting_models": ForecastingModels()},
)
def measure_status(
    context: dg.AssetExecutionContext,
    duckdb: DuckDBResource,
    oba: ObaPaths,
    forecasting_models: ForecastingModels,  # imported from the start of the run
) -> dg.MaterializeResult:
    """Baseline forecast, turn-the-curve status and SPC signal of every measure series."""
    cfg = oba.config()
    lock_dir = baseline_lock_dir(oba.out, legacy=(cfg.stories_dir or oba.exports / "stories") / "baselines")
    with warehouse_connection(duckdb) as con:
        status = build_measure_status(
            con, baselines=cfg.baselines, targets=cfg.targets, lock_dir=lock_dir, log=context.log
        )
    latest_rows = status[status["is_latest"] == True]  # noqa: E712
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(status),
            "statuses": dg.MetadataValue.json(
                {
                    series_key(r.measure_id, r.breakdown_value): f"{r.status} / {r.spc_signal}"
                    for r in latest_rows.itertuples()
                }
            ),
        }
    )


defs = dg.Definitions(assets=[measure_status])
