"""SQL models: ``models/<layer>/<table>.sql`` files and the measure catalogue, read without Dagster.

Each model file holds one ``select`` and builds the table named after the file in the schema
named after its folder. Dependencies are the table names the SQL reads, found with DuckDB's
own parser (``json_serialize_sql``), so they can never drift from the SQL.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines import settings
from pipelines.safeyaml import YamlFileError, load_yaml
from pipelines.sqlquote import quote_literal

LAYERS = ("staging", "intermediate", "marts", "published")
SEARCH_PATH = "raw,staging,intermediate,marts,quality,published,main"
MEASURE_VALUE_COLUMNS = (
    "period_end",
    "breakdown",
    "breakdown_value",
    "numerator",
    "denominator",
    "value",
)


# DuckDB's memory budget for heavy work (models, loading): beyond it DuckDB spills to a temp
# folder beside the warehouse instead of growing. OBA_DUCKDB_MEMORY_LIMIT overrides it
# (e.g. "8GB"; "" leaves DuckDB's own default, 80% of RAM); 2 GB by default (pipelines.settings).


def apply_duckdb_settings(con: duckdb.DuckDBPyConnection) -> None:
    """Hold the connection's database to the memory budget (settings are per database
    instance: each Dagster step opens its own, so every heavy step calls this)."""
    limit = settings.current().duckdb_memory_limit
    if limit:
        con.execute(f"set memory_limit = {quote_literal(limit)}")


def register_macros(con: duckdb.DuckDBPyConnection, models_dir: Path | None = None) -> None:
    """Define the models' macros (``models/macros.sql``) on this connection."""
    for statement in _macro_statements(models_dir or Path(__file__).resolve().parent.parent / "models"):
        con.execute(statement)


@functools.cache
def _macro_statements(models_dir: Path) -> tuple[str, ...]:
    path = models_dir / "macros.sql"
    if not path.is_file():
        return ()
    statements = []
    for statement in _parser().extract_statements(path.read_text(encoding="utf-8")):
        statements.append(str(statement.query))
    return tuple(statements)


def prepare_connection(con: duckdb.DuckDBPyConnection) -> None:
    """Settings, search path and macros for building models on ``con``."""
    apply_duckdb_settings(con)
    con.execute(f"set search_path = '{SEARCH_PATH}'")
    register_macros(con)


class ModelError(ValueError):
    """A model or catalogue entry is malformed; the message names the file."""


@dataclass(frozen=True)
class SqlModel:
    layer: str
    name: str
    path: Path
    sql: str
    refs: frozenset[str]
    materialized: str = "table"

    @property
    def table(self) -> str:
        return f"{self.layer}.{self.name}"


# A model whose header holds the line "-- materialized: view" is built as a view: for the
# one-row-per-person-per-month intermediates that one model reads once, writing them to disk
# cost more than computing them where they are read.
MATERIALIZATIONS = ("table", "view")


def _materialization(sql: str, path: Path) -> str:
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        key, _, value = line[2:].partition(":")
        if key.strip().lower() == "materialized":
            value = value.strip().lower()
            if value not in MATERIALIZATIONS:
                raise ModelError(f"{path}: materialized must be one of {', '.join(MATERIALIZATIONS)}, not {value!r}")
            return value
    return "table"


@dataclass(frozen=True)
class Measure:
    id: str
    name: str
    oba_kind: str
    unit: str
    direction_of_good: str
    description: str
    frequency: str
    sources: tuple[str, ...]
    breakdowns: tuple[str, ...]
    path: Path
    sql: str
    refs: frozenset[str] = field(default_factory=frozenset)


OBA_KINDS = {"population_indicator", "how_much", "how_well", "better_off"}
UNITS = {"count", "percent", "rate_per_10k"}


def _walk_tables(node, tables: set[str], ctes: set[str]) -> None:
    if isinstance(node, dict):
        if node.get("type") == "BASE_TABLE" and node.get("table_name"):
            tables.add(node["table_name"].lower())
        cte_map = node.get("cte_map")
        if isinstance(cte_map, dict):
            for entry in cte_map.get("map", []):
                ctes.add(str(entry.get("key", "")).lower())
        for value in node.values():
            _walk_tables(value, tables, ctes)
    elif isinstance(node, list):
        for value in node:
            _walk_tables(value, tables, ctes)


@functools.cache
def _parser() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def referenced_tables(sql: str, path: Path | str = "<sql>") -> frozenset[str]:
    """Names of the tables a select reads (CTE names excluded), by DuckDB's parser."""
    raw = _parser().execute("select json_serialize_sql(?)", [sql]).fetchone()[0]
    tree = json.loads(raw)
    if tree.get("error"):
        raise ModelError(f"{path}: SQL does not parse: {tree.get('error_message')}")
    tables: set[str] = set()
    ctes: set[str] = set()
    _walk_tables(tree, tables, ctes)
    return frozenset(tables - ctes)


def qualified_sql(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    """``sql`` with every table it reads named with its schema, as the search path finds it now.

    A view keeps its SQL text and binds it whenever it is read, by whatever connection: bare
    names would depend on that connection's search path."""
    tree = json.loads(_parser().execute("select json_serialize_sql(?)", [sql]).fetchone()[0])
    tables: set[str] = set()
    ctes: set[str] = set()
    _walk_tables(tree, tables, ctes)
    schemas: dict[str, str] = {}
    for name in tables - ctes:
        for schema in SEARCH_PATH.split(","):
            found = con.execute(
                "select 1 from duckdb_tables() where schema_name = ? and lower(table_name) = ? "
                "union all select 1 from duckdb_views() where schema_name = ? and lower(view_name) = ? "
                "and not internal",
                [schema, name, schema, name],
            ).fetchone()
            if found:
                schemas[name] = schema
                break

    def qualify(node) -> None:
        if isinstance(node, dict):
            name = str(node.get("table_name") or "").lower()
            if node.get("type") == "BASE_TABLE" and not node.get("schema_name") and name in schemas:
                node["schema_name"] = schemas[name]
                node["qualified_name"] = {"path": [schemas[name], node["table_name"]]}
            for value in node.values():
                qualify(value)
        elif isinstance(node, list):
            for value in node:
                qualify(value)

    qualify(tree)
    return _parser().execute("select json_deserialize_sql(?)", [json.dumps(tree)]).fetchone()[0]


def _read_sql(path: Path) -> str:
    sql = path.read_text(encoding="utf-8").strip()
    while sql.endswith(";"):
        sql = sql[:-1].rstrip()
    if not sql:
        raise ModelError(f"{path}: empty model")
    return sql


def discover_models(models_dir: Path) -> dict[str, SqlModel]:
    """Every ``models/<layer>/*.sql`` model, by table name (unique across layers)."""
    models: dict[str, SqlModel] = {}
    for layer in LAYERS:
        for path in sorted((models_dir / layer).glob("*.sql")):
            sql = _read_sql(path)
            name = path.stem.lower()
            if name in models:
                raise ModelError(f"{path}: model name {name!r} is used twice")
            models[name] = SqlModel(
                layer, name, path, sql, referenced_tables(sql, path), _materialization(sql, path)
            )
    return models


def load_catalogue(models_dir: Path) -> dict[str, Measure]:
    """The measure catalogue ``models/measures.yml`` with each measure's SQL file."""
    path = models_dir / "measures.yml"
    if not path.is_file():
        return {}
    try:
        doc = load_yaml(path, what="measure catalogue") or {}
    except YamlFileError as exc:
        raise ModelError(str(exc)) from exc
    entries = doc.get("measures") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise ModelError(f"{path}: expected a top-level 'measures:' list")
    catalogue: dict[str, Measure] = {}
    for i, entry in enumerate(entries, start=1):
        where = f"{path} entry {i}"
        missing = [
            k
            for k in ("id", "name", "oba_kind", "unit", "direction_of_good", "description")
            if not entry.get(k)
        ]
        if missing:
            raise ModelError(f"{where}: missing {', '.join(missing)}")
        if entry["oba_kind"] not in OBA_KINDS:
            raise ModelError(f"{where}: oba_kind must be one of {sorted(OBA_KINDS)}")
        if entry["unit"] not in UNITS:
            raise ModelError(f"{where}: unit must be one of {sorted(UNITS)}")
        if entry["direction_of_good"] not in ("up", "down"):
            raise ModelError(f"{where}: direction_of_good must be 'up' or 'down'")
        sql_path = models_dir / entry.get("sql", f"measures/{entry['id']}.sql")
        if not sql_path.is_file():
            raise ModelError(f"{where}: SQL file {sql_path} not found")
        sql = _read_sql(sql_path)
        measure_id = str(entry["id"])
        if measure_id in catalogue:
            raise ModelError(f"{where}: measure id {measure_id!r} is listed twice")
        catalogue[measure_id] = Measure(
            id=measure_id,
            name=str(entry["name"]),
            oba_kind=entry["oba_kind"],
            unit=entry["unit"],
            direction_of_good=entry["direction_of_good"],
            description=" ".join(str(entry["description"]).split()),
            frequency=entry.get("frequency", "monthly"),
            sources=tuple(entry.get("sources") or ()),
            breakdowns=tuple(entry.get("breakdowns") or ("all",)),
            path=sql_path,
            sql=sql,
            refs=referenced_tables(sql, sql_path),
        )
    return catalogue


# Layers whose tables are only ever aggregated, joined or read with an explicit order: DuckDB
# may write their rows in any order, which lets it stream instead of buffering to keep the
# order (int_measure_counts at national under the 2 GB budget: 39 s -> 29 s). Published and
# marts tables keep insertion order.
UNORDERED_LAYERS = ("staging", "intermediate")


def build_model(con: duckdb.DuckDBPyConnection, model: SqlModel) -> int | None:
    """Create or replace the model's table (returning its row count) or view (None: counting
    would compute it) in one transaction."""
    prepare_connection(con)
    con.execute(f"create schema if not exists {model.layer}")
    # (set and reset outside the transaction: an aborted transaction refuses even a reset, and
    # that refusal would hide the model's own error)
    unordered = model.materialized == "table" and model.layer in UNORDERED_LAYERS
    if unordered:
        con.execute("set preserve_insertion_order = false")
    try:
        con.execute("begin")
        existing = con.execute(
            "select 'table' from duckdb_tables() where schema_name = ? and table_name = ? "
            "union all select 'view' from duckdb_views() where schema_name = ? and view_name = ?",
            [model.layer, model.name, model.layer, model.name],
        ).fetchone()
        if existing and existing[0] != model.materialized:  # the model changed how it is built
            con.execute(f"drop {existing[0]} {model.table}")
        if model.materialized == "view":
            con.execute(f"create or replace view {model.table} as\n{qualified_sql(con, model.sql)}")
            con.execute(f"select * from {model.table} limit 0")  # binds now: errors name the model
        else:
            con.execute(f"create or replace table {model.table} as\n{model.sql}")
        con.execute("commit")
    except duckdb.Error as exc:
        con.execute("rollback")
        raise ModelError(f"{model.path}: {exc}") from exc
    finally:
        if unordered:
            con.execute("reset preserve_insertion_order")
    if model.materialized == "view":
        return None
    return con.execute(f"select count(*) from {model.table}").fetchone()[0]


def measure_values_sql(catalogue: dict[str, Measure]) -> str:
    """One union over every catalogue measure, in the fixed column order of marts.measure_values."""
    cols = ", ".join(MEASURE_VALUE_COLUMNS)
    parts = []
    for measure in catalogue.values():
        parts.append(
            f"select '{measure.id}' as measure_id, period_end::date as period_end, "
            "breakdown::varchar as breakdown, breakdown_value::varchar as breakdown_value, "
            "numerator::double as numerator, denominator::double as denominator, "
            f"value::double as value from (\n{measure.sql}\n) as m ({cols})"
        )
    if not parts:
        return (
            "select null::varchar as measure_id, null::date as period_end, null::varchar as breakdown, "
            "null::varchar as breakdown_value, null::double as numerator, "
            "null::double as denominator, null::double as value where false"
        )
    return "\nunion all\n".join(parts)


def build_measure_values(con: duckdb.DuckDBPyConnection, catalogue: dict[str, Measure]) -> int:
    prepare_connection(con)
    con.execute("create schema if not exists marts")
    for measure in catalogue.values():
        try:
            con.execute(f"describe select * from (\n{measure.sql}\n)")
        except duckdb.Error as exc:
            raise ModelError(f"{measure.path}: {exc}") from exc
        width = len(con.execute(f"describe select * from (\n{measure.sql}\n)").fetchall())
        if width != len(MEASURE_VALUE_COLUMNS):
            raise ModelError(
                f"{measure.path}: a measure query returns {len(MEASURE_VALUE_COLUMNS)} columns "
                f"({', '.join(MEASURE_VALUE_COLUMNS)}); this one returns {width}"
            )
    # One measure at a time into a temporary table, then one sorted table: a single union of
    # every measure ran all their aggregations at once, and under a memory budget spilled.
    con.execute(f"create or replace temp table _measure_values as {measure_values_sql({})}")
    for measure in catalogue.values():
        try:
            con.execute(f"insert into _measure_values {measure_values_sql({measure.id: measure})}")
        except duckdb.Error as exc:
            raise ModelError(f"{measure.path}: {exc}") from exc
    try:
        con.execute(
            "create or replace table marts.measure_values as "
            "select * from _measure_values order by measure_id, breakdown, breakdown_value, period_end"
        )
    finally:
        con.execute("drop table if exists _measure_values")
    return con.execute("select count(*) from marts.measure_values").fetchone()[0]


def build_measures(con: duckdb.DuckDBPyConnection, catalogue: dict[str, Measure]) -> int:
    import pandas as pd

    frame = pd.DataFrame(
        [
            {
                "measure_id": m.id,
                "name": m.name,
                "oba_kind": m.oba_kind,
                "unit": m.unit,
                "direction_of_good": m.direction_of_good,
                "description": m.description,
                "frequency": m.frequency,
                "sources": ", ".join(m.sources),
                "breakdowns": ", ".join(m.breakdowns),
            }
            for m in catalogue.values()
        ],
        columns=[
            "measure_id",
            "name",
            "oba_kind",
            "unit",
            "direction_of_good",
            "description",
            "frequency",
            "sources",
            "breakdowns",
        ],
    ).astype("string")
    con.execute("create schema if not exists marts")
    con.register("measures_frame", frame)
    try:
        con.execute(
            "create or replace table marts.measures as select * from measures_frame order by measure_id"
        )
    finally:
        con.unregister("measures_frame")
    return len(frame)
