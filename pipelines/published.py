"""The published tables built in Python, and the tables every output is made from.

``published.pub_*`` models in ``models/published/*.sql`` are built by the SQL model factory.
Three more kinds of table depend on what the warehouse holds, so they are built here from SQL
files the factory does not load:

- the run's data-quality summary (``models/published/quality/``): contract results without
  quoted values, quarantined rows counted by file, column and rule, the export files, and each
  source of the contracts' catalogue with the files read for it (or not supplied); empty tables
  when their ``quality.*`` (or ``raw._loads``) source is absent (``quality/empty/``);
- the measures not computed (``models/published/not_computed/``), from
  ``marts.measure_coverage`` or, in a warehouse without it, from the measures without values;
- the regional roll-up (``models/region/``): every authority's whole-population values side by
  side with the region's totals, and their publication (authorities and region alike
  suppressed and rounded to the nearest 10).

No Dagster here: the assets in ``pipelines/defs`` call these functions.
"""

from __future__ import annotations

import pandas as pd

from dashboards.published import TABLES, PublishedTables
from pipelines.settings import DEFAULT_MODELS_DIR
from pipelines.sqlquote import quote_literal

# The published tables made with SQL models, which every output needs.
SQL_TABLES = (
    "pub_about",
    "pub_measures",
    "pub_measure_values",
    "pub_measure_status",
    "pub_report_card",
    "pub_stories",
    "pub_breakdown_codes",
    "pub_comparator_values",
    "pub_comparator_rank",
    "pub_headline",
    "pub_assessment_tools",
)
# Tables the outputs read when present: a warehouse published before them still gives a site.
OPTIONAL_SQL_TABLES = (
    "pub_breakdown_codes", "pub_comparator_values", "pub_comparator_rank", "pub_headline",
    "pub_assessment_tools",
)
QUALITY_TABLES = (
    "pub_contract_results", "pub_quarantine_summary", "pub_export_files", "pub_source_files",
)
QUALITY_SOURCES = {
    "pub_contract_results": "quality.contract_results",
    "pub_quarantine_summary": "quality.quarantine",
    "pub_export_files": "quality.export_files",
    "pub_source_files": "raw._loads",
}
# quality.quarantine's columns, for a summary of a warehouse that has none.
NO_QUARANTINE = (
    "(select null::varchar as source, null::varchar as source_file, null::bigint as row_number, "
    "null::varchar as action where false)"
)


class PublishedTablesMissing(LookupError):
    """Published tables the outputs need are not in the warehouse; the message names them."""


def statement(relative: str) -> str:
    """The SQL of ``models/<relative>`` (a select, without its trailing semicolon)."""
    return (DEFAULT_MODELS_DIR / relative).read_text(encoding="utf-8").strip().rstrip(";")


def existing_tables(con) -> set[str]:
    """``schema.table`` of every table and view in the warehouse."""
    return {
        f"{schema}.{name}"
        for schema, name in con.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
    }


# --- data-quality summary ---------------------------------------------------------------------


def quality_summary_sql(con) -> dict[str, str]:
    """Each data-quality summary table's select on this warehouse (an empty one where its
    ``quality.*`` source is absent)."""
    present = existing_tables(con)
    selects = {}
    for name, source in QUALITY_SOURCES.items():
        if source not in present:
            selects[name] = statement(f"published/quality/empty/{name}.sql")
            continue
        sql = statement(f"published/quality/{name}.sql")
        if name in ("pub_quarantine_summary", "pub_source_files"):
            columns = {
                c for (c,) in con.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = 'quality' and table_name = 'quarantine'"
                ).fetchall()
            }
            sql = sql.format(
                action="coalesce(action, 'quarantine')" if "action" in columns else "'quarantine'",
                quarantine="quality.quarantine" if "quality.quarantine" in present else NO_QUARANTINE,
                catalogue=_catalogue_values(),
            )
        selects[name] = sql
    return selects


def _catalogue_values() -> str:
    """``(source, title), ...`` of every data contract: the sources a run can be given."""
    from pipelines.contracts import load_contracts

    return ", ".join(
        f"({quote_literal(c.source)}, {quote_literal(c.title)})" for c in load_contracts().values()
    )


def build_quality_summary(con) -> dict[str, int]:
    """published.pub_contract_results, pub_quarantine_summary, pub_export_files and
    pub_source_files from quality.* and raw._loads (set-based): counts by source, file, column
    and rule; never a row's value. Empty when quality.* is absent (the site then says there are no data-quality results for the
    run). Returns rows per table."""
    for name, sql in quality_summary_sql(con).items():
        con.execute(f"create or replace table published.{name} as {sql}")
    return {
        name: con.execute(f"select count(*) from published.{name}").fetchone()[0]
        for name in QUALITY_TABLES
    }


def read_quality_summary(con) -> dict[str, pd.DataFrame]:
    """The data-quality summary of a checked warehouse, read without writing to it."""
    return {name: con.execute(sql).df() for name, sql in quality_summary_sql(con).items()}


# --- measures not computed --------------------------------------------------------------------


def build_not_computed(con) -> int:
    """published.pub_not_computed: the measures not computed (or only for some periods), with
    the reason and the fix, from marts.measure_coverage; headline flags from pub_measures."""
    present = existing_tables(con)
    con.execute("create schema if not exists published")
    if "marts.measure_coverage" in present:
        coverage = "coverage"
    elif {"marts.measures", "marts.measure_values"} <= present:
        coverage = "coverage_fallback"
    else:
        coverage = "no_coverage"
    headlines = "headlines" if "published.pub_measures" in present else "no_headlines"
    views = {"not_computed_coverage": coverage, "not_computed_headlines": headlines}
    try:
        for view, source in views.items():
            con.execute(f"create or replace temp view {view} as "
                        + statement(f"published/not_computed/{source}.sql"))
        con.execute("create or replace table published.pub_not_computed as "
                    + statement("published/not_computed/pub_not_computed.sql"))
    finally:
        for view in views:
            con.execute(f"drop view if exists {view}")
    return con.execute("select count(*) from published.pub_not_computed").fetchone()[0]


# --- the outputs' tables ----------------------------------------------------------------------


def _object_text(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its text columns as Python strings (object dtype; a missing value stays
    NaN). The outputs take these small tables apart thousands of times a run (a measure's rows,
    a series, a breakdown), and each take of pandas' Arrow-backed strings costs more than one of
    objects: the tiny council's site is written in 1.07 s instead of 1.32 s, the same pages."""
    text = [c for c in frame.columns if isinstance(frame[c].dtype, pd.StringDtype)]
    return frame.astype(dict.fromkeys(text, object)) if text else frame


def read_published(con, audience: str = "public") -> PublishedTables:
    """Every published table the outputs are made from (and nothing else).

    ``audience`` public reads ``published.*``; internal reads the published SQL models'
    internal copies (``internal.*``: the same models computed without suppression,
    ``pipelines.sqlmodels.INTERNAL``) and the rest (data-quality summary, measures not
    computed) from ``published.*``."""
    present = existing_tables(con)
    internal = audience == "internal"
    frames: dict[str, pd.DataFrame | None] = {}
    where: dict[str, str] = {}
    for name in TABLES:
        schema = "internal" if internal and name not in (*QUALITY_TABLES, "pub_not_computed") else "published"
        table = where[name] = f"{schema}.{name}"
        frames[name] = _object_text(con.execute(f"select * from {table}").df()) if table in present else None
    missing = [n for n in SQL_TABLES if frames.get(n) is None and n not in OPTIONAL_SQL_TABLES]
    if missing:
        raise PublishedTablesMissing(
            "Published tables missing: " + ", ".join(where[n] for n in missing)
            + f"; materialise the {'internal' if internal else 'published'} group first."
        )
    return PublishedTables.from_tables(frames, audience="internal" if internal else "public")


# --- the region -------------------------------------------------------------------------------


def build_rollup(con, sources: dict[str, tuple[str, str]]) -> int:
    """marts.regional_measure_values (and marts.measures, the first authority's) from every
    authority's warehouse. ``sources``: authority key → (display name, warehouse path).
    Returns rows written."""
    aliases = []
    unions = []
    for i, (_key, (name, path)) in enumerate(sorted(sources.items())):
        alias = f"authority_{i}"
        con.execute(f"attach {quote_literal(str(path))} as {alias} (read_only)")
        aliases.append(alias)
        unions.append(
            f"select measure_id, period_end, {quote_literal(name)} as breakdown_value, "
            f"numerator, denominator, value from {alias}.marts.measure_values where breakdown = 'all'"
        )
    try:
        con.execute(f"create or replace table marts.measures as select * from {aliases[0]}.marts.measures")
        con.execute("create or replace temp view regional_authority_values as " + " union all ".join(unions))
        con.execute(
            "create or replace table marts.regional_measure_values as "
            + statement("region/regional_measure_values.sql"),
            {"authorities": len(sources)},
        )
    finally:
        con.execute("drop view if exists regional_authority_values")
        for alias in aliases:
            con.execute(f"detach {alias}")
    return con.execute("select count(*) from marts.regional_measure_values").fetchone()[0]


def publish_regional(con, suppression_upper: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """published.regional_measure_values (every authority and the region alike: counts 1 to
    ``suppression_upper`` c, with secondary suppression, other counts rounded to the nearest
    10); returns it and the measures (id, name, unit) for the regional site."""
    con.execute(
        "create or replace table published.regional_measure_values as "
        + statement("region/pub_regional_measure_values.sql"),
        {"upper": int(suppression_upper)},
    )
    values = con.execute("select * from published.regional_measure_values").df()
    measures = con.execute("select measure_id, name, unit from marts.measures").df()
    return values, measures

