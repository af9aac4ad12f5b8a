"""The refresh job: every asset, with progress reported to the ``oba.progress`` logger."""

import logging

import dagster as dg

from pipelines.settings import current

progress = logging.getLogger("oba.progress")

# The tag of a step that builds several assets and reports each one as it is built (a layer of
# SQL models, pipelines.defs.models.layer_asset); the hooks report every other step.
PROGRESS_PER_ASSET = "oba/progress_per_asset"


def report_asset(key: dg.AssetKey, done: bool = True) -> None:
    """Report an asset built (or failed) by a step of several assets, as a step is reported."""
    _report(done, "__".join(key.path))


def _report(done: bool, name: str) -> None:
    if done:
        progress.info("done %s", name)
    else:
        progress.error("failed %s", name)


@dg.success_hook(name="report_success")
def report_success(context: dg.HookContext) -> None:
    if not context.op.tags.get(PROGRESS_PER_ASSET):
        _report(True, context.op.name)


@dg.failure_hook(name="report_failure")
def report_failure(context: dg.HookContext) -> None:
    if not context.op.tags.get(PROGRESS_PER_ASSET):
        _report(False, context.op.name)


# The output folder a job's runs write: the instance files (deploy/) let one run at a time per
# value of this tag, as DuckDB allows one writer per warehouse. Runs the Dagster UI launches
# share the folder the settings give (OBA_OUT); `oba run --authorities` tags each run with its own.
OUTPUT_TAG = "oba/output"
OUTPUT_TAGS = {OUTPUT_TAG: str(current().out.resolve())}

REGIONAL = dg.AssetSelection.groups("marts", "published") & dg.AssetSelection.key_substring("regional_")

refresh = dg.define_asset_job(
    "oba_refresh",
    selection=dg.AssetSelection.all() - REGIONAL,
    description="Ingest the exports, check contracts, build every model and publish.",
    hooks={report_success, report_failure},
    tags=OUTPUT_TAGS,
)

validate = dg.define_asset_job(
    "oba_validate",
    selection=dg.AssetSelection.groups("raw"),
    description="Recognise and load the exports and check them against their data contracts.",
    hooks={report_success, report_failure},
    tags=OUTPUT_TAGS,
)

region_rollup = dg.define_asset_job(
    "oba_region",
    selection=REGIONAL,
    description="Roll every authority's marts up into the regional comparison (authorities mode).",
    hooks={report_success, report_failure},
    tags=OUTPUT_TAGS,
)

defs = dg.Definitions(jobs=[refresh, validate, region_rollup])
