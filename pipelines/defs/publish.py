"""Published layer: data-quality summary, CSV downloads, the static site and the board pack.

The ``published.pub_*`` SQL models (models/published/) round and suppress the marts; these
assets read only those tables (plus the data-quality summary and the measures not computed,
built by :mod:`pipelines.published`) and make the outputs with thin calls into ``dashboards``,
each written whole or not at all.
"""

import dagster as dg
from dagster_duckdb import DuckDBResource

from dashboards.board_pack import BoardPackError, prestart_chromium, write_board_pack
from dashboards.downloads import write_downloads
from dashboards.published import PublishedTables
from dashboards.site import write_site
from pipelines.defs import ingest
from pipelines.defs.jobs import PROGRESS_PER_ASSET, report_asset
from pipelines.defs.models import known_tables, layer_asset, resolve_refs, sql_node
from pipelines.defs.partitions import authority_partitions
from pipelines.defs.resources import ObaPaths, warehouse_connection
from pipelines.published import (
    QUALITY_TABLES,
    SQL_TABLES,
    PublishedTablesMissing,
    build_not_computed,
    build_quality_summary,
    read_published,
)
from pipelines.settings import models_dir
from pipelines.sqlmodels import INTERNAL, discover_models, internal_model

SQL_DEPS = [dg.AssetKey(["published", name]) for name in SQL_TABLES]
INTERNAL_DEPS = [dg.AssetKey([INTERNAL, name]) for name in SQL_TABLES]
QUALITY_DEPS = [dg.AssetKey(["published", name]) for name in QUALITY_TABLES]
NOT_COMPUTED = dg.AssetKey(["published", "pub_not_computed"])
DOWNLOADS = dg.AssetKey(["published", "downloads"])
NOT_COMPUTED_UPSTREAM = [
    dg.AssetKey(["marts", "measure_coverage"]),
    dg.AssetKey(["marts", "measures"]),
    dg.AssetKey(["marts", "measure_values"]),
    dg.AssetKey(["published", "pub_measures"]),
]
# The data-quality summary runs after every raw loader (they write quality.*) and the marts.
RAW_KEYS = sorted(
    {
        key
        for definition in ingest.defs.assets or []
        if isinstance(definition, dg.AssetsDefinition)
        for key in definition.keys
        if key.path[0] == "raw"
    },
    key=lambda k: k.to_user_string(),
)
QUALITY_UPSTREAM = [*RAW_KEYS, dg.AssetKey(["raw", "ees_values"]), dg.AssetKey(["marts", "measure_values"])]
QUALITY_DESCRIPTIONS = {
    "pub_contract_results": "Contract check results of the run, without quoted values.",
    "pub_quarantine_summary": "Quarantined rows counted by source, file, column and rule.",
    "pub_export_files": "Each export file: recognised as, collection year and its origin, rows, status.",
    "pub_source_files": "Each source of the catalogue and the files read for it (or not supplied): "
    "year and its origin, rows read, kept, excluded, flagged, superseded by.",
}


class BoardPackBrowser(dg.ConfigurableResource):
    """The browser the board pack prints with, started as the run begins so that it is up by
    the time the pack is printed (without Chromium, nothing: the board pack step says so)."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        prestart_chromium()


def internal_assets() -> list[dg.AssetsDefinition]:
    """The internal audience's tables: every published SQL model built a second time, by the
    same factory from the same file, into ``internal`` with suppression off
    (:func:`pipelines.sqlmodels.internal_model`); reads of other published models go to
    their internal copies. One step builds them all."""
    models = discover_models(models_dir())
    known = known_tables(models)
    published = {m.name for m in models.values() if m.layer == "published"}
    nodes = []
    for model in models.values():
        if model.layer != "published":
            continue
        deps = [
            dg.AssetKey([INTERNAL, key.path[-1]])
            if key.path[0] == "published" and key.path[-1] in published else key
            for key in resolve_refs(model.refs - {model.name}, known, str(model.path))
        ]
        nodes.append(sql_node(internal_model(model, published), deps))
    return [layer_asset(INTERNAL, nodes)] if nodes else []


def published_tables(duckdb: DuckDBResource, audience: str = "public") -> PublishedTables:
    """The tables the outputs are made from (``audience`` internal: the internal copies); a
    Dagster failure when some are missing."""
    with warehouse_connection(duckdb) as con:
        try:
            return read_published(con, audience)
        except PublishedTablesMissing as exc:
            raise dg.Failure(description=str(exc)) from exc


@dg.multi_asset(
    name="pub_quality",
    specs=[
        dg.AssetSpec(
            key=dg.AssetKey(["published", name]),
            group_name="published",
            partitions_def=authority_partitions(),
            kinds={"duckdb", "python"},
            description=QUALITY_DESCRIPTIONS[name],
            deps=QUALITY_UPSTREAM,
        )
        for name in QUALITY_TABLES
    ],
)
def pub_quality(duckdb: DuckDBResource):
    """The run's data-quality summary for the site and board pack: aggregates only."""
    with warehouse_connection(duckdb) as con:
        counts = build_quality_summary(con)
    for name in QUALITY_TABLES:
        yield dg.MaterializeResult(
            asset_key=dg.AssetKey(["published", name]),
            metadata={"dagster/row_count": counts[name]},
        )


@dg.asset(
    key=NOT_COMPUTED,
    group_name="published",
    partitions_def=authority_partitions(),
    kinds={"duckdb", "python"},
    deps=NOT_COMPUTED_UPSTREAM,
)
def pub_not_computed(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Measures this run could not compute, or computed for some periods only: why, and what to
    do (shown on the report card, the data-quality page and the board pack's caveats)."""
    with warehouse_connection(duckdb) as con:
        rows = build_not_computed(con)
    return dg.MaterializeResult(metadata={"dagster/row_count": rows})


SITE = dg.AssetKey(["published", "site"])
BOARD_PACK = dg.AssetKey(["published", "board_pack"])
OUTPUT_DEPS = [*SQL_DEPS, *INTERNAL_DEPS, *QUALITY_DEPS, NOT_COMPUTED]


@dg.multi_asset(
    name="outputs",
    specs=[
        dg.AssetSpec(
            key=DOWNLOADS,
            group_name="published",
            kinds={"python", "csv"},
            deps=[*SQL_DEPS, NOT_COMPUTED],
            description="CSV downloads of the published tables (suppressed, rounded, spreadsheet-safe).",
        ),
        dg.AssetSpec(
            key=SITE,
            group_name="published",
            kinds={"python", "html"},
            deps=[*OUTPUT_DEPS, DOWNLOADS],
            description="The static dashboard site: report card, measure, programme and data-quality "
            "pages, for the run's audience (the downloads in it are always the public CSVs).",
        ),
        dg.AssetSpec(
            key=BOARD_PACK,
            group_name="published",
            kinds={"python", "pdf"},
            deps=OUTPUT_DEPS,
            description="The board pack PDF: cover report card, a page per headline measure, "
            "data-quality caveats.",
        ),
    ],
    can_subset=True,
    partitions_def=authority_partitions(),
    resource_defs={"board_pack_browser": BoardPackBrowser()},
    op_tags={PROGRESS_PER_ASSET: "true"},
)
def outputs(
    context: dg.AssetExecutionContext,
    duckdb: DuckDBResource,
    oba: ObaPaths,
    board_pack_browser: BoardPackBrowser,  # started at the start of the run; printing takes it
):
    """The outputs, in one step: the downloads and the site are written while Chromium prints
    the board pack (its HTML first; each output is written whole or not at all). Any of them
    can be materialised alone."""
    selected = context.selected_asset_keys
    done: list[dg.MaterializeResult] = []
    # the run's audience's tables, read once for the site and the pack (and the downloads, which
    # are always the public tables, when that is the audience)
    tables = published_tables(duckdb, oba.audience)
    public = tables if tables.audience == "public" else None

    def downloads_and_site() -> None:
        if DOWNLOADS in selected:
            done.append(_reported(DOWNLOADS, _downloads, context, public or published_tables(duckdb), oba))
        if SITE in selected:
            done.append(_reported(SITE, _site, context, tables, oba))

    if BOARD_PACK not in selected:
        downloads_and_site()
        yield from done
        return
    meanwhile_ran = False

    def meanwhile() -> None:
        nonlocal meanwhile_ran
        meanwhile_ran = True
        downloads_and_site()

    try:
        result = write_board_pack(oba.out / "board_pack.pdf", tables, meanwhile=meanwhile)
    except BoardPackError as exc:
        report_asset(BOARD_PACK, done=False)
        if not meanwhile_ran:  # the pack failed before its HTML was printed (no Chromium)
            downloads_and_site()
        yield from done
        raise dg.Failure(description=str(exc)) from exc
    except BaseException:
        yield from done
        raise
    report_asset(BOARD_PACK)
    yield from done
    context.log.info(f"Board pack written: {result.path} ({result.seconds:.1f} s)")
    yield dg.MaterializeResult(
        asset_key=BOARD_PACK,
        metadata={
            "dagster/row_count": result.pages,
            "path": dg.MetadataValue.path(str(result.path)),
            "pages": result.pages,
            "headline_measures": dg.MetadataValue.json(result.headline),
            "seconds": round(result.seconds, 2),
            "audience": tables.audience,
        },
    )


def _reported(key: dg.AssetKey, write, *args) -> dg.MaterializeResult:
    """``write(*args)``, reported to the run's progress as done or failed (the step reports each
    of its outputs, as a layer of models does)."""
    try:
        result = write(*args)
    except BaseException:
        report_asset(key, done=False)
        raise
    report_asset(key)
    return result


def _downloads(context: dg.AssetExecutionContext, tables: PublishedTables, oba: ObaPaths) -> dg.MaterializeResult:
    """CSV downloads of the published (public) tables (suppressed, rounded, spreadsheet-safe)."""
    folder = oba.out / "published"
    written = write_downloads(folder, tables.frames(), tables.suppression_upper)
    context.log.info(f"Downloads written: {folder}")
    return dg.MaterializeResult(
        asset_key=DOWNLOADS,
        metadata={
            "dagster/row_count": sum(written.values()),
            "folder": dg.MetadataValue.path(str(folder)),
            "files": dg.MetadataValue.json(written),
        },
    )


def _site(context: dg.AssetExecutionContext, tables: PublishedTables, oba: ObaPaths) -> dg.MaterializeResult:
    """The static dashboard site, for the run's audience (``tables``)."""
    site_dir = oba.out / "site"
    pages = write_site(site_dir, tables, downloads=oba.out / "published")
    context.log.info(f"Site written: {site_dir / 'index.html'}")
    return dg.MaterializeResult(
        asset_key=SITE,
        metadata={
            "dagster/row_count": len(pages),
            "index": dg.MetadataValue.path(str(site_dir / "index.html")),
            "pages": len(pages),
            "audience": tables.audience,
        },
    )


defs = dg.Definitions(
    assets=[*internal_assets(), pub_quality, pub_not_computed, outputs]
)
