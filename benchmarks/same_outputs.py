"""Are two output folders the same? Every warehouse table and every published CSV, row for row.

    python -m benchmarks.same_outputs OUT_BEFORE OUT_AFTER

For a change that must not change results (a refactor): run ``oba run`` (or ``oba demo``) before
and after it with the same exports and the same pseudonymisation key, then compare. Each table
present in either warehouse is compared as a multiset of rows (``except all`` both ways, so a
duplicated row counts) after dropping the columns that record when or where a run happened;
each CSV under ``published/`` and ``site/`` is compared the same way, read as text. Exit 0 when
everything matches, 1 with one line per difference otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

from pipelines.sqlquote import quote_identifier, quote_literal

# Columns that say when, where or by which run something happened: they differ between two runs
# of the same code on the same exports. Everything else must match.
VOLATILE_COLUMNS = frozenset(
    {
        "loaded_at",
        "checked_at",
        "run_id",
        "run_started_at",
        "run_finished_at",
        "generated_at",
        "built_at",
        "computed_at",
        "materialized_at",
        "validated_at",
        "created_at",
        "updated_at",
        "locked_at",
        "mtime",
        "modified_at",
        "config_file",
        "path",
        "source_path",
        "seconds",
        "duration_seconds",
        "elapsed_seconds",
    }
)


def _tables(con: duckdb.DuckDBPyConnection, catalog: str) -> dict[str, list[str]]:
    rows = con.execute(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where table_catalog = ? order by table_schema, table_name, ordinal_position",
        [catalog],
    ).fetchall()
    tables: dict[str, list[str]] = {}
    for schema, table, column in rows:
        tables.setdefault(f"{schema}.{table}", []).append(column)
    return tables


def _compare(con: duckdb.DuckDBPyConnection, left: str, right: str, columns: list[str]) -> tuple[int, int]:
    cols = ", ".join(quote_identifier(c) for c in columns) or "1"
    only_left = con.execute(f"select count(*) from (select {cols} from {left} except all select {cols} from {right})").fetchone()[0]
    only_right = con.execute(f"select count(*) from (select {cols} from {right} except all select {cols} from {left})").fetchone()[0]
    return only_left, only_right


def _qualified(catalog: str, name: str) -> str:
    schema, table = name.split(".", 1)
    return ".".join(quote_identifier(p) for p in (catalog, schema, table))


def compare_warehouses(before: Path, after: Path) -> list[str]:
    con = duckdb.connect()
    con.execute(f"attach {quote_literal(str(before))} as a (read_only)")
    con.execute(f"attach {quote_literal(str(after))} as b (read_only)")
    left, right = _tables(con, "a"), _tables(con, "b")
    problems = []
    for name in sorted(set(left) | set(right)):
        if name not in right:
            problems.append(f"warehouse {name}: only before")
            continue
        if name not in left:
            problems.append(f"warehouse {name}: only after")
            continue
        if left[name] != right[name]:
            problems.append(f"warehouse {name}: columns differ: {left[name]} vs {right[name]}")
            continue
        columns = [c for c in left[name] if c.lower() not in VOLATILE_COLUMNS]
        only_left, only_right = _compare(con, _qualified("a", name), _qualified("b", name), columns)
        if only_left or only_right:
            problems.append(f"warehouse {name}: {only_left} rows only before, {only_right} only after")
    return problems


def compare_csvs(before: Path, after: Path) -> list[str]:
    problems = []
    names = set()
    for root in (before, after):
        for folder in ("published", "site"):
            names |= {p.relative_to(root) for p in (root / folder).rglob("*.csv")} if (root / folder).is_dir() else set()
    con = duckdb.connect()
    for rel in sorted(names):
        a, b = before / rel, after / rel
        if not a.is_file() or not b.is_file():
            problems.append(f"csv {rel}: only {'after' if b.is_file() else 'before'}")
            continue
        reads = []
        for path in (a, b):
            reads.append(
                f"read_csv({quote_literal(str(path))}, all_varchar = true, header = true, "
                "null_padding = true, strict_mode = false)"
            )
        cols_a = [r[0] for r in con.execute(f"describe select * from {reads[0]}").fetchall()]
        cols_b = [r[0] for r in con.execute(f"describe select * from {reads[1]}").fetchall()]
        if cols_a != cols_b:
            problems.append(f"csv {rel}: header differs: {cols_a} vs {cols_b}")
            continue
        columns = [c for c in cols_a if c.lower() not in VOLATILE_COLUMNS]
        only_left, only_right = _compare(con, reads[0], reads[1], columns)
        if only_left or only_right:
            problems.append(f"csv {rel}: {only_left} rows only before, {only_right} only after")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    problems = compare_warehouses(args.before / "warehouse.duckdb", args.after / "warehouse.duckdb")
    problems += compare_csvs(args.before, args.after)
    for line in problems:
        print(line)
    if not problems:
        print(f"same: every warehouse table and published CSV of {args.before} and {args.after}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
