"""SQL models: ``models/<layer>/<table>.sql`` files and the measure catalogue, read without Dagster.

Each model file holds one ``select`` and builds the table named after the file in the schema
named after its folder. Dependencies are the table names the SQL reads, found with DuckDB's
own parser (``json_serialize_sql``), so they can never drift from the SQL.
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb

from pipelines import settings
from pipelines.safeyaml import YamlFileError, load_yaml
from pipelines.sqlquote import quote_literal
from pipelines.staging_models import declared_models

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
    """Hold the connection's database to the memory budget, and to OBA_DUCKDB_THREADS threads
    when set (settings are per database instance: each Dagster step opens its own, so every
    heavy step calls this)."""
    current = settings.current()
    if current.duckdb_memory_limit:
        con.execute(f"set memory_limit = {quote_literal(current.duckdb_memory_limit)}")
    if current.duckdb_threads:
        con.execute("set threads = ?", [current.duckdb_threads])


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
    # an internal copy's reads of other published models, redirected to their internal copies
    internal_reads: frozenset[str] = frozenset()

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
    journey: str
    sources: tuple[str, ...]
    breakdowns: tuple[str, ...]
    path: Path
    sql: str
    refs: frozenset[str] = field(default_factory=frozenset)


OBA_KINDS = {"population_indicator", "how_much", "how_well", "better_off"}
# The stages of the child's journey the report card groups measures by, in its order.
JOURNEYS = (
    "front_door",
    "children_in_need",
    "child_protection",
    "children_looked_after",
    "care_leavers",
    "programmes",
)
# Each unit's value from the numerator and denominator: a count is its numerator (and has no
# denominator); a percent or rate scales numerator / denominator, null where nothing divides;
# days is a mean (numerator: the days added up, denominator: how many were counted).
UNIT_SCALES = {"count": None, "percent": "100.0", "rate_per_10k": "10000.0", "days": "1.0"}
UNITS = set(UNIT_SCALES)


@dataclass(frozen=True)
class MeasureShape:
    """A way to declare a measure in the catalogue instead of writing its SQL: the intermediate
    model it selects from, the units it can give and the columns a numerator or denominator may
    name (with the ones an entry may leave out)."""

    model: str
    units: tuple[str, ...]
    columns: tuple[str, ...]
    numerator: str | None = None
    denominator: str | None = None
    # Whether the model holds several populations (measure_populations() in models/macros.sql),
    # one of which the entry names; with per_10k_only, one given per 10,000 children.
    by_population: bool = False
    per_10k_only: bool = False


MEASURE_SHAPES = {
    "counts": MeasureShape(
        "int_measure_counts",
        ("count", "percent"),
        ("members", "flagged"),
        numerator="members",
        by_population=True,
    ),
    "rates": MeasureShape(
        "int_rates_per_10k",
        ("rate_per_10k",),
        ("members", "children_in_area"),
        numerator="members",
        denominator="children_in_area",
        by_population=True,
        per_10k_only=True,
    ),
    "care_leaver_outcomes": MeasureShape(
        "int_care_leaver_outcomes",
        ("percent",),
        (
            "in_eet",
            "in_suitable_accommodation",
            "care_leavers",
            "in_suitable_accommodation_17_18",
            "care_leavers_17_18",
        ),
    ),
}
SHAPE_KEYS = ("population", "breakdown_populations", "numerator", "denominator")


def _parse(sql: str) -> tuple[dict, frozenset[str]]:
    """DuckDB's parse tree of ``sql`` (``json_serialize_sql``) and the names of the tables it
    reads (CTE names excluded), found as the tree's objects are decoded."""
    tables: set[str] = set()
    ctes: set[str] = set()

    def look(node: dict) -> dict:
        if node.get("type") == "BASE_TABLE" and node.get("table_name"):
            tables.add(node["table_name"].lower())
        cte_map = node.get("cte_map")
        if isinstance(cte_map, dict):
            for entry in cte_map.get("map", []):
                ctes.add(str(entry.get("key", "")).lower())
        return node

    tree = json.loads(_parser().execute("select json_serialize_sql(?)", [sql]).fetchone()[0], object_hook=look)
    return tree, frozenset(tables - ctes)


_PARSERS = threading.local()


def _parser() -> duckdb.DuckDBPyConnection:
    """An in-memory connection that only parses (``json_serialize_sql``), one per thread and
    kept: opening a connection costs more than parsing a model."""
    con = getattr(_PARSERS, "con", None)
    if con is None:
        con = _PARSERS.con = duckdb.connect()
    return con


def referenced_tables(sql: str, path: Path | str = "<sql>") -> frozenset[str]:
    """Names of the tables a select reads (CTE names excluded), by DuckDB's parser."""
    tables, error = _tables_read(sql)
    if error is not None:
        raise ModelError(f"{path}: SQL does not parse: {error}")
    return tables


@functools.lru_cache(maxsize=1024)
def _tables_read(sql: str) -> tuple[frozenset[str], str | None]:
    """``referenced_tables`` of ``sql``, or the parser's error; kept, as every process that
    loads the definitions reads the same models more than once."""
    tree, tables = _parse(sql)
    if tree.get("error"):
        return frozenset(), str(tree.get("error_message"))
    return tables, None


def qualified_sql(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    """``sql`` with every table it reads named with its schema, as the search path finds it now.

    A view keeps its SQL text and binds it whenever it is read, by whatever connection: bare
    names would depend on that connection's search path."""
    tree, tables = _parse(sql)
    schemas: dict[str, str] = {}
    for name in tables:
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


# The internal audience (DESIGN §5): the published models computed a second time, from the
# same SQL files, into the schema ``internal`` with suppression off (the configuration they
# read is ``internal.oba_config``: raw.oba_config with a suppression upper bound of 0, so no
# count is c and nothing is secondarily suppressed). Exact aggregates with the published
# models' own columns: still no identifier and no record-level row, never staging.
INTERNAL = "internal"
CONFIG_TABLE = ("raw", "oba_config")


def internal_model(model: SqlModel, published: set[str] | frozenset[str]) -> SqlModel:
    """The internal copy of published ``model``; ``published``: every published model's name."""
    return replace(model, layer=INTERNAL, internal_reads=frozenset(model.refs & set(published)))


def internal_sql(model: SqlModel) -> str:
    """An internal copy's SQL: its file's select reading ``internal.oba_config`` for the
    configuration and the internal copies of the published models it reads."""
    tree = json.loads(_parser().execute("select json_serialize_sql(?)", [model.sql]).fetchone()[0])
    redirect = {(None, name) for name in model.internal_reads} | {
        ("published", name) for name in model.internal_reads
    } | {CONFIG_TABLE}

    def walk(node) -> None:
        if isinstance(node, dict):
            if node.get("type") == "BASE_TABLE" and node.get("table_name"):
                key = ((node.get("schema_name") or None), str(node["table_name"]).lower())
                if key in redirect:
                    node["schema_name"] = INTERNAL
                    node["qualified_name"] = {"path": [INTERNAL, node["table_name"]]}
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tree)
    return _parser().execute("select json_deserialize_sql(?)", [json.dumps(tree)]).fetchone()[0]


def _read_sql(path: Path) -> str:
    sql = path.read_text(encoding="utf-8").strip()
    while sql.endswith(";"):
        sql = sql[:-1].rstrip()
    if not sql:
        raise ModelError(f"{path}: empty model")
    return sql


def discover_models(models_dir: Path) -> dict[str, SqlModel]:
    """Every ``models/<layer>/*.sql`` model and every staging model declared from a data
    contract (``models/<layer>/*.yml``, see ``pipelines.staging_models``), by table name
    (unique across layers)."""
    models: dict[str, SqlModel] = {}
    for layer in LAYERS:
        written = [(path, _read_sql(path)) for path in sorted((models_dir / layer).glob("*.sql"))]
        for path, sql in written + declared_models(models_dir / layer):
            name = path.stem.lower()
            if name in models:
                raise ModelError(f"{path}: model name {name!r} is used twice")
            models[name] = SqlModel(
                layer, name, path, sql, referenced_tables(sql, path), _materialization(sql, path)
            )
    return models


def _catalogue_file(models_dir: Path) -> tuple[Path | None, object]:
    """``models/measures.yml`` and its parsed document, or (None, None) when there is none."""
    path = models_dir / "measures.yml"
    if not path.is_file():
        return None, None
    try:
        return path, load_yaml(path, what="measure catalogue") or {}
    except YamlFileError as exc:
        raise ModelError(str(exc)) from exc


def load_catalogue(models_dir: Path) -> dict[str, Measure]:
    """The measure catalogue ``models/measures.yml``, each measure with the select giving its
    values: generated from a declared shape (``counts:``, ``rates:``, ``care_leaver_outcomes:``)
    or read from its SQL file (``sql:``, default ``measures/<id>.sql``)."""
    path, doc = _catalogue_file(models_dir)
    if path is None:
        return {}
    entries = doc.get("measures") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise ModelError(f"{path}: expected a top-level 'measures:' list")
    catalogue: dict[str, Measure] = {}
    for i, entry in enumerate(entries, start=1):
        where = f"{path} entry {i}"
        if not isinstance(entry, dict):
            raise ModelError(f"{where}: expected a mapping of id, name, oba_kind, ...")
        if entry.get("id"):
            where = f"{where} ({entry['id']})"
        missing = [
            k
            for k in ("id", "name", "oba_kind", "unit", "direction_of_good", "journey", "description")
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
        if entry["journey"] not in JOURNEYS:
            raise ModelError(f"{where}: journey must be one of {', '.join(JOURNEYS)}")
        measure_id = str(entry["id"])
        if measure_id in catalogue:
            raise ModelError(f"{where}: measure id {measure_id!r} is listed twice")
        shapes = [name for name in MEASURE_SHAPES if name in entry]
        if len(shapes) > 1:
            raise ModelError(f"{where}: declares both {shapes[0]}: and {shapes[1]}:; give one")
        if shapes and "sql" in entry:
            raise ModelError(f"{where}: has both sql: and {shapes[0]}:; a measure is declared or written, not both")
        if shapes:
            sql_path = path
            sql = declared_measure_sql(
                measure_id,
                entry["unit"],
                shapes[0],
                entry[shapes[0]],
                models_dir,
                where,
                breakdowns=tuple(entry.get("breakdowns") or ("all",)),
            )
        else:
            sql_path = models_dir / entry.get("sql", f"measures/{measure_id}.sql")
            if not sql_path.is_file():
                raise ModelError(
                    f"{where}: SQL file {sql_path} not found (or declare the measure with one of "
                    f"{', '.join(f'{name}:' for name in MEASURE_SHAPES)})"
                )
            sql = _read_sql(sql_path)
        catalogue[measure_id] = Measure(
            id=measure_id,
            name=str(entry["name"]),
            oba_kind=entry["oba_kind"],
            unit=entry["unit"],
            direction_of_good=entry["direction_of_good"],
            description=" ".join(str(entry["description"]).split()),
            frequency=entry.get("frequency", "monthly"),
            journey=entry["journey"],
            sources=tuple(entry.get("sources") or ()),
            breakdowns=tuple(entry.get("breakdowns") or ("all",)),
            path=sql_path,
            sql=sql,
            refs=referenced_tables(sql, where),
        )
    return catalogue


def load_breakdown_codes(models_dir: Path) -> dict[str, dict[str, str]]:
    """The plain labels of breakdown codes: ``breakdown_codes:`` of ``models/measures.yml``,
    breakdown -> {value: label} in the file's order ({} when the file or section is absent).
    Every breakdown, value and label must be text; anything else is a ModelError naming the
    file and the entry."""
    path, doc = _catalogue_file(models_dir)
    if path is None:
        return {}
    section = doc.get("breakdown_codes") if isinstance(doc, dict) else None
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ModelError(
            f"{path}: breakdown_codes: expected a mapping of breakdown to {{value: label}}, "
            f"e.g. category_of_need: {{N1: Abuse or neglect}}"
        )
    codes: dict[str, dict[str, str]] = {}
    for breakdown, labels in section.items():
        if not isinstance(breakdown, str) or not breakdown.strip():
            raise ModelError(f"{path}: breakdown_codes: the breakdown {breakdown!r} is not a name")
        where = f"{path}: breakdown_codes: {breakdown}"
        if not isinstance(labels, dict) or not labels:
            raise ModelError(f"{where}: expected a mapping of value to plain label, e.g. {{N1: Abuse or neglect}}")
        codes[breakdown] = {}
        for value, label in labels.items():
            # (YAML reads an unquoted NO, ON or 1 as a boolean or a number: quote such a value)
            if not isinstance(value, str) or not value.strip():
                raise ModelError(f"{where}: the value {value!r} is not text; quote it (\"{value}\")")
            if not isinstance(label, str) or not label.strip():
                raise ModelError(f"{where}: {value}: the label {label!r} is not text")
            codes[breakdown][value] = " ".join(label.split())
    return codes


def build_breakdown_codes(con: duckdb.DuckDBPyConnection, codes: dict[str, dict[str, str]]) -> int:
    """marts.breakdown_codes: one row per breakdown and value (breakdown, code, label, position
    in the catalogue's order)."""
    import pandas as pd

    frame = pd.DataFrame(
        [
            {"breakdown": breakdown, "code": code, "label": label, "position": position}
            for breakdown, labels in codes.items()
            for position, (code, label) in enumerate(labels.items(), start=1)
        ],
        columns=["breakdown", "code", "label", "position"],
    ).astype({"breakdown": "string", "code": "string", "label": "string", "position": "int64"})
    con.execute("create schema if not exists marts")
    replace_table(con, "marts.breakdown_codes", frame)
    return len(frame)


def measure_populations(models_dir: Path) -> dict[str, bool]:
    """The populations int_measure_counts counts, each with whether it is also given per 10,000
    children: the table macro ``measure_populations()`` of ``models/macros.sql``."""
    return dict(_population_rows(models_dir))


@functools.cache
def _population_rows(models_dir: Path) -> tuple[tuple[str, bool], ...]:
    con = duckdb.connect()
    try:
        register_macros(con, models_dir)
        rows = con.execute("select population, per_10k_children from measure_populations()").fetchall()
    except duckdb.Error as exc:
        raise ModelError(f"{models_dir / 'macros.sql'}: measure_populations(): {exc}") from exc
    finally:
        con.close()
    return tuple(rows)


def declared_measure_sql(
    measure_id: str,
    unit: str,
    shape_name: str,
    spec,
    models_dir: Path,
    where: str,
    breakdowns: tuple[str, ...] = ("all",),
) -> str:
    """The select of a measure declared with a shape, e.g. ``counts: {population: looked_after,
    numerator: flagged, denominator: members}``, giving the breakdowns the entry lists (a
    population may be counted by more); ``where`` names the entry in errors."""
    shape = MEASURE_SHAPES[shape_name]
    where = f"{where} {shape_name}"
    if not isinstance(spec, dict):
        raise ModelError(f"{where}: expected a mapping such as {{population: looked_after}}")
    if unit not in shape.units:
        raise ModelError(f"{where}: gives a unit of {' or '.join(shape.units)}, not {unit}")
    allowed = SHAPE_KEYS if shape.by_population else ("numerator", "denominator")
    unknown = sorted(str(key) for key in spec if key not in allowed)
    if unknown:
        raise ModelError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")

    numerator = spec.get("numerator", shape.numerator)
    denominator = spec.get("denominator", shape.denominator)
    for role, column in (("numerator", numerator), ("denominator", denominator)):
        if column is not None and column not in shape.columns:
            raise ModelError(
                f"{where}: {role} {column!r} is not a column of {shape.model} ({', '.join(shape.columns)})"
            )
    if numerator is None:
        raise ModelError(f"{where}: missing numerator ({' or '.join(shape.columns)})")
    scale = UNIT_SCALES[unit]
    if scale is None and denominator is not None:
        raise ModelError(f"{where}: a measure of unit count has no denominator")
    if scale is not None and denominator is None:
        raise ModelError(f"{where}: a measure of unit {unit} needs a denominator ({' or '.join(shape.columns)})")

    filters = []
    if shape.by_population:
        known = measure_populations(models_dir)
        if shape.per_10k_only:
            known = {name: rated for name, rated in known.items() if rated}
        population = spec.get("population")
        if not population:
            raise ModelError(f"{where}: missing population (one of {', '.join(known)})")
        others = spec.get("breakdown_populations") or {}
        if not isinstance(others, dict):
            raise ModelError(f"{where}: breakdown_populations must map a breakdown to a population")
        for name in (population, *others.values()):
            if name not in known:
                raise ModelError(f"{where}: unknown population {name!r} (one of {', '.join(known)})")
        # The population gives every breakdown but those counted over another population.
        if others:
            taken = ", ".join(quote_literal(str(b)) for b in others)
            filters.append(f"population = {quote_literal(population)} and breakdown not in ({taken})")
        else:
            filters.append(f"population = {quote_literal(population)}")
        filters.extend(
            f"population = {quote_literal(name)} and breakdown = {quote_literal(str(b))}"
            for b, name in others.items()
        )

    if scale is None:
        value = numerator
    else:
        value = f"case when {denominator} > 0 then {scale} * {numerator} / {denominator} end"
    condition = "\n        or ".join(f"({part})" if len(filters) > 1 else part for part in filters)
    if len(filters) > 1:
        condition = f"({condition})"
    listed = ", ".join(quote_literal(str(b)) for b in breakdowns)
    condition = f"{condition}\n        and breakdown in ({listed})" if filters else f"breakdown in ({listed})"
    # A null numerator is a count its source cannot give yet (a window not fully covered, see
    # measure_populations()): no row rather than a value.
    condition = f"{condition}\n        and {numerator} is not null"
    source = f"select * from {shape.model}\n    where {condition}"
    return (
        f"-- {measure_id}: declared in measures.yml ({shape_name} of {shape.model}).\n"
        f"with source as (\n    {source}\n),\n\n"
        "final as (\n"
        "    select\n"
        "        period_end,\n"
        "        breakdown,\n"
        "        breakdown_value,\n"
        f"        {numerator} as numerator,\n"
        f"        {denominator or 'null'} as denominator,\n"
        f"        {value} as value,\n"
        "    from source\n"
        ")\n\n"
        "select * from final"
    )


# Layers whose tables are only ever aggregated, joined or read with an explicit order: DuckDB
# may write their rows in any order, which lets it stream instead of buffering to keep the
# order (int_measure_counts at national under the 2 GB budget: 39 s -> 29 s). Published and
# marts tables keep insertion order.
UNORDERED_LAYERS = ("staging", "intermediate")


def replace_table(con: duckdb.DuckDBPyConnection, table: str, frame) -> None:
    """Create or replace ``table`` (a name the code chose, never data) from a pandas frame."""
    con.register("_frame", frame)
    try:
        con.execute(f"create or replace table {table} as select * from _frame")
    finally:
        con.unregister("_frame")


def build_model(con: duckdb.DuckDBPyConnection, model: SqlModel, *, prepared: bool = False) -> int | None:
    """Create or replace the model's table (returning its row count) or view (None: counting
    would compute it) in one transaction. ``prepared``: the caller already ran
    ``prepare_connection`` on ``con`` (a layer's step does, once for all its models: defining
    the macros is a catalogue write each time)."""
    if not prepared:
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
        sql = model.sql
        if model.layer == INTERNAL:
            con.execute(
                f"create or replace view {INTERNAL}.oba_config as "
                "select * replace (0 as suppression_upper) from raw.oba_config"
            )
            sql = internal_sql(model)
        if model.materialized == "view":
            con.execute(f"create or replace view {model.table} as\n{qualified_sql(con, sql)}")
            con.execute(f"select * from {model.table} limit 0")  # binds now: errors name the model
        else:
            con.execute(f"create or replace table {model.table} as\n{sql}")
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
                "journey": m.journey,
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
            "journey",
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
