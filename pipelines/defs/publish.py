"""Published layer: data-quality summary, CSV downloads, the static site and the board pack.

The ``published.pub_*`` SQL models (models/published/) round and suppress the marts; these
assets read only those tables (plus the data-quality summary built here) and make the outputs
with thin calls into ``dashboards``. Each output is written beside its target and swapped in
only when complete.
"""

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from dashboards.board_pack import BoardPackError, write_board_pack
from dashboards.downloads import write_downloads
from dashboards.published import TABLES, PublishedTables
from dashboards.site import write_site
from pipelines.defs import ingest
from pipelines.defs.partitions import authority_partitions
from pipelines.defs.resources import ObaPaths, warehouse_connection

SQL_TABLES = (
    "pub_about",
    "pub_measures",
    "pub_measure_values",
    "pub_measure_status",
    "pub_report_card",
    "pub_stories",
)
QUALITY_TABLES = ("pub_contract_results", "pub_quarantine_summary", "pub_export_files")
SQL_DEPS = [dg.AssetKey(["published", name]) for name in SQL_TABLES]
QUALITY_DEPS = [dg.AssetKey(["published", name]) for name in QUALITY_TABLES]
NOT_COMPUTED = dg.AssetKey(["published", "pub_not_computed"])
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
QUALITY_UPSTREAM = [*RAW_KEYS, dg.AssetKey(["marts", "measure_values"])]

# Messages can quote a failing value ("DOB '14/03/2008' is not a date", "...; e.g. 14/03/2008"):
# the published summary keeps the message without quoted values or examples.
CONTRACT_RESULTS_SQL = r"""
create or replace table published.pub_contract_results as
select
    source,
    check_name,
    success,
    coalesce(unexpected_count, 0)::bigint as unexpected_count,
    severity,
    left(
        regexp_replace(
            regexp_replace(coalesce(message, ''), '[;,]?\s*e\.g\..*$', ''),
            '''[^'']*''|"[^"]*"', '…', 'g'
        ),
        300
    ) as message,
from quality.contract_results
order by success, severity, source, check_name
"""
QUARANTINE_SQL = """
create or replace table published.pub_quarantine_summary as
select
    source,
    source_file,
    column_name,
    rule,
    {action} as action,
    count(*)::bigint as rows,
from quality.quarantine
group by all
order by source, source_file, column_name, rule
"""
# Each export file: what it was recognised as, its collection year and where that came from,
# its rows and status (DESIGN §2b: shown on the data-quality page). File facts, never a value.
EXPORT_FILES_SQL = """
create or replace table published.pub_export_files as
select source_file, recognised_as, collection_year, year_from, year_note, rows_read, rows_kept,
    rows_quarantined, rows_cleared, status, superseded_by, reason,
from quality.export_files
order by source_file
"""
EMPTY_EXPORT_FILES = """
create or replace table published.pub_export_files (
    source_file varchar, recognised_as varchar, collection_year integer, year_from varchar,
    year_note varchar, rows_read bigint, rows_kept bigint, rows_quarantined bigint,
    rows_cleared bigint, status varchar, superseded_by varchar, reason varchar
)"""
EMPTY_CONTRACT_RESULTS = """
create or replace table published.pub_contract_results (
    source varchar, check_name varchar, success boolean, unexpected_count bigint,
    severity varchar, message varchar
)"""
EMPTY_QUARANTINE = """
create or replace table published.pub_quarantine_summary (
    source varchar, source_file varchar, column_name varchar, rule varchar, action varchar,
    rows bigint
)"""


# The measures this run could not compute, or computed for some periods only (DESIGN §2b "Say
# what cannot be computed"): marts.measure_coverage's reasons and fixes name sources, area codes
# and periods, never a record.
NOT_COMPUTED_SQL = """
create or replace table published.pub_not_computed as
with coverage as ({coverage})
select
    coverage.measure_id,
    coverage.name,
    coverage.oba_kind,
    coverage.unit,
    coalesce({is_headline}, false) as is_headline,
    {headline_order} as headline_order,
    coverage.coverage,
    coverage.reason_code,
    coverage.reason,
    coverage.fix,
    coverage.missing_inputs,
from coverage
{join}
order by headline_order nulls last, coverage.coverage desc, coverage.oba_kind, coverage.measure_id
"""
COVERAGE_SQL = """
select measure_id, name, oba_kind, unit, coverage, reason_code, reason, fix, missing_inputs,
from marts.measure_coverage
where coverage <> 'computed'
"""
# Without marts.measure_coverage (a warehouse built before it, or the marts built elsewhere): the
# catalogue measures without a single value, with no more precise reason.
COVERAGE_FALLBACK_SQL = """
select
    measures.measure_id,
    measures.name,
    measures.oba_kind,
    measures.unit,
    'not_computed' as coverage,
    'no_values' as reason_code,
    'This run gave no figures for it: its inputs are missing or hold no rows in its periods.'
        as reason,
    'Check that the exports include ' || coalesce(nullif(measures.sources, ''), 'its sources')
    || '; the data-quality page lists each file and the rows left out.' as fix,
    nullif(measures.sources, '') as missing_inputs,
from marts.measures as measures
where not exists (
    select 1 from marts.measure_values as v
    where v.measure_id = measures.measure_id and v.breakdown in ('all', 'program')
        and v.value is not null and not isnan(v.value)
)
"""
EMPTY_NOT_COMPUTED = """
create or replace table published.pub_not_computed (
    measure_id varchar, name varchar, oba_kind varchar, unit varchar, is_headline boolean,
    headline_order bigint, coverage varchar, reason_code varchar, reason varchar, fix varchar,
    missing_inputs varchar
)"""


def _existing_tables(con) -> set[str]:
    return {
        f"{schema}.{name}"
        for schema, name in con.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
    }


def build_quality_summary(con) -> dict[str, int]:
    """published.pub_contract_results and pub_quarantine_summary from quality.* (set-based):
    counts by source, file, column and rule; never a row's value. Empty when quality.* is
    absent (the site then says there are no data-quality results for the run)."""
    present = _existing_tables(con)
    if "quality.contract_results" in present:
        con.execute(CONTRACT_RESULTS_SQL)
    else:
        con.execute(EMPTY_CONTRACT_RESULTS)
    if "quality.quarantine" in present:
        columns = {
            c for (c,) in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'quality' and table_name = 'quarantine'"
            ).fetchall()
        }
        action = "coalesce(action, 'quarantine')" if "action" in columns else "'quarantine'"
        con.execute(QUARANTINE_SQL.format(action=action))
    else:
        con.execute(EMPTY_QUARANTINE)
    con.execute(EXPORT_FILES_SQL if "quality.export_files" in present else EMPTY_EXPORT_FILES)
    return {
        name: con.execute(f"select count(*) from published.{name}").fetchone()[0]
        for name in QUALITY_TABLES
    }


def build_not_computed(con) -> int:
    """published.pub_not_computed: the measures not computed (or only for some periods), with
    the reason and the fix, from marts.measure_coverage; headline flags from pub_measures."""
    present = _existing_tables(con)
    con.execute("create schema if not exists published")
    if "published.pub_measures" in present:
        parts = {
            "is_headline": "measures.is_headline",
            "headline_order": "measures.headline_order",
            "join": "left join published.pub_measures as measures "
            "on coverage.measure_id = measures.measure_id",
        }
    else:
        parts = {"is_headline": "null", "headline_order": "null::bigint", "join": ""}
    if "marts.measure_coverage" in present:
        con.execute(NOT_COMPUTED_SQL.format(coverage=COVERAGE_SQL, **parts))
    elif {"marts.measures", "marts.measure_values"} <= present:
        con.execute(NOT_COMPUTED_SQL.format(coverage=COVERAGE_FALLBACK_SQL, **parts))
    else:
        con.execute(EMPTY_NOT_COMPUTED)
    return con.execute("select count(*) from published.pub_not_computed").fetchone()[0]


def read_published(con) -> PublishedTables:
    """Every published.* table the outputs are made from (and nothing else)."""
    present = _existing_tables(con)
    frames: dict[str, pd.DataFrame | None] = {}
    for name in TABLES:
        table = f"published.{name}"
        frames[name] = con.execute(f"select * from {table}").df() if table in present else None
    missing = [n for n in SQL_TABLES if frames.get(n) is None]
    if missing:
        raise dg.Failure(
            "Published tables missing: " + ", ".join(f"published.{n}" for n in missing)
            + "; materialise the published group first."
        )
    return PublishedTables.from_tables(frames)


@dg.multi_asset(
    name="pub_quality",
    specs=[
        dg.AssetSpec(
            key=dg.AssetKey(["published", "pub_contract_results"]),
            group_name="published",
            partitions_def=authority_partitions(),
            kinds={"duckdb", "python"},
            description="Contract check results of the run, without quoted values.",
            deps=QUALITY_UPSTREAM,
        ),
        dg.AssetSpec(
            key=dg.AssetKey(["published", "pub_quarantine_summary"]),
            group_name="published",
            partitions_def=authority_partitions(),
            kinds={"duckdb", "python"},
            description="Quarantined rows counted by source, file, column and rule.",
            deps=QUALITY_UPSTREAM,
        ),
        dg.AssetSpec(
            key=dg.AssetKey(["published", "pub_export_files"]),
            group_name="published",
            partitions_def=authority_partitions(),
            kinds={"duckdb", "python"},
            description="Each export file: recognised as, collection year and its origin, rows, status.",
            deps=QUALITY_UPSTREAM,
        ),
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


@dg.asset(
    key=["published", "downloads"],
    group_name="published",
    partitions_def=authority_partitions(),
    kinds={"python", "csv"},
    deps=[*SQL_DEPS, NOT_COMPUTED],
)
def downloads(context: dg.AssetExecutionContext, duckdb: DuckDBResource, oba: ObaPaths) -> dg.MaterializeResult:
    """CSV downloads of the published tables (suppressed, rounded, spreadsheet-safe)."""
    with warehouse_connection(duckdb) as con:
        tables = read_published(con)
    folder = oba.out / "published"
    written = write_downloads(folder, tables.frames(), tables.suppression_upper)
    context.log.info(f"Downloads written: {folder}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(written.values()),
            "folder": dg.MetadataValue.path(str(folder)),
            "files": dg.MetadataValue.json(written),
        }
    )


@dg.asset(
    key=["published", "site"],
    group_name="published",
    partitions_def=authority_partitions(),
    kinds={"python", "html"},
    deps=[*SQL_DEPS, *QUALITY_DEPS, NOT_COMPUTED],
)
def site(context: dg.AssetExecutionContext, duckdb: DuckDBResource, oba: ObaPaths) -> dg.MaterializeResult:
    """The static dashboard site: report card, measure, programme and data-quality pages."""
    with warehouse_connection(duckdb) as con:
        tables = read_published(con)
    site_dir = oba.out / "site"
    pages = write_site(site_dir, tables)
    context.log.info(f"Site written: {site_dir / 'index.html'}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(pages),
            "index": dg.MetadataValue.path(str(site_dir / "index.html")),
            "pages": len(pages),
        }
    )


@dg.asset(
    key=["published", "board_pack"],
    group_name="published",
    partitions_def=authority_partitions(),
    kinds={"python", "pdf"},
    deps=[*SQL_DEPS, *QUALITY_DEPS, NOT_COMPUTED],
)
def board_pack(context: dg.AssetExecutionContext, duckdb: DuckDBResource, oba: ObaPaths) -> dg.MaterializeResult:
    """The board pack PDF: cover report card, a page per headline measure, data-quality caveats."""
    with warehouse_connection(duckdb) as con:
        tables = read_published(con)
    try:
        result = write_board_pack(oba.out / "board_pack.pdf", tables)
    except BoardPackError as exc:
        raise dg.Failure(description=str(exc)) from exc
    context.log.info(f"Board pack written: {result.path} ({result.seconds:.1f} s)")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": result.pages,
            "path": dg.MetadataValue.path(str(result.path)),
            "pages": result.pages,
            "headline_measures": dg.MetadataValue.json(result.headline),
            "seconds": round(result.seconds, 2),
        }
    )


defs = dg.Definitions(assets=[pub_quality, pub_not_computed, downloads, site, board_pack])
