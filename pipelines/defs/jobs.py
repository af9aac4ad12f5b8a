"""The refresh job: every asset, with progress reported to the ``oba.progress`` logger."""

import logging

import dagster as dg

progress = logging.getLogger("oba.progress")


@dg.success_hook(name="report_success")
def report_success(context: dg.HookContext) -> None:
    progress.info("done %s", context.op.name)


@dg.failure_hook(name="report_failure")
def report_failure(context: dg.HookContext) -> None:
    progress.error("failed %s", context.op.name)


REGIONAL = dg.AssetSelection.groups("marts", "published") & dg.AssetSelection.key_substring("regional_")

refresh = dg.define_asset_job(
    "oba_refresh",
    selection=dg.AssetSelection.all() - REGIONAL,
    description="Ingest the exports, check contracts, build every model and publish.",
    hooks={report_success, report_failure},
)

validate = dg.define_asset_job(
    "oba_validate",
    selection=dg.AssetSelection.groups("raw"),
    description="Recognise and load the exports and check them against their data contracts.",
    hooks={report_success, report_failure},
)

region_rollup = dg.define_asset_job(
    "oba_region",
    selection=REGIONAL,
    description="Roll every authority's marts up into the regional comparison (authorities mode).",
    hooks={report_success, report_failure},
)

defs = dg.Definitions(jobs=[refresh, validate, region_rollup])
