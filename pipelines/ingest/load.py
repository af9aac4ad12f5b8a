"""Loading recognised export files into ``raw.<source>`` tables, incrementally and idempotently.

Every loaded file is recorded in ``raw._loads`` with its sha256. An unchanged file is never
loaded twice; a changed file replaces its own earlier rows; a file gone from the exports folder
takes its rows with it. Several files for the same source and collection year (a corrected
re-submission beside the original) keep their rows in raw, but only the most recently loaded
one is ``_active``: staging reads active, unquarantined rows only. Raw keeps every value as text,
exactly as exported; extra columns the contract does not know are kept in ``_extra`` (JSON).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from pipelines.contracts import Contract
from pipelines.ingest.files import ExportError, ExportFile, Part

LOADS_DDL = """
create table if not exists raw._loads (
    source varchar, source_file varchar, sha256 varchar, rows bigint,
    collection_year integer, loaded_at timestamp
)"""
META_COLUMNS = ("_extra", "_source_file", "_row_number", "_collection_year", "_active", "_quarantined")


_DIGESTS: dict[tuple, str] = {}


def sha256_of(path: Path) -> str:
    """The file's sha256, remembered for as long as its size, mtime, ctime and inode stay the
    same (an XML export feeds three tables and is hashed once, not three times)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
    found = _DIGESTS.get(key)
    if found is not None:
        return found
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if len(_DIGESTS) > 10_000:
        _DIGESTS.clear()
    _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


def ensure_raw_table(con: duckdb.DuckDBPyConnection, contract: Contract) -> str:
    con.execute("create schema if not exists raw")
    con.execute(LOADS_DDL)
    table = f"raw.{contract.source}"
    wanted = [c.sql_name for c in contract.columns] + list(META_COLUMNS)
    existing = [
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'raw' and table_name = ? order by ordinal_position",
            [contract.source],
        ).fetchall()
    ]
    if existing and existing != wanted:
        # The contract changed shape: reload every file of this source from scratch.
        con.execute(f"drop table {table}")
        con.execute("delete from raw._loads where source = ?", [contract.source])
        existing = []
    if not existing:
        cols = ", ".join(f'"{c.sql_name}" varchar' for c in contract.columns)
        con.execute(
            f"create table {table} ({cols}, _extra varchar, _source_file varchar, "
            "_row_number bigint, _collection_year integer, _active boolean, _quarantined boolean)"
        )
    return table


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _select_list(contract: Contract, part: Part) -> str:
    cols = []
    for c in contract.columns:
        source_name = part.columns.get(c.name)
        cols.append(
            (f"{_quote(source_name)}::varchar" if source_name else "null::varchar") + f" as {_quote(c.sql_name)}"
        )
    if part.extra:
        pairs = ", ".join(f"{_quote(e).replace(chr(34), chr(39))}, {_quote(e)}::varchar" for e in part.extra)
        cols.append(f"json_object({pairs})::varchar as _extra")
    else:
        cols.append("null::varchar as _extra")
    return ", ".join(cols)


def insert_tabular(
    con: duckdb.DuckDBPyConnection, contract: Contract, f: ExportFile, part: Part, table: str
) -> None:
    """Insert one CSV file, Parquet file or Excel sheet, all values as text."""
    select = _select_list(contract, part)
    try:
        _insert_tabular(con, f, part, table, select)
    except duckdb.Error as exc:
        detail = str(exc).strip().splitlines()[0]
        raise ExportError(
            f"{f.relative}: could not be read as a {f.kind} table ({detail}); check the file is a "
            "complete export with one header row"
        ) from exc


CSV_OPTIONS = (
    "header = true, all_varchar = true, delim = ',', quote = '\"', escape = '\"', "
    "null_padding = true, strict_mode = false, encoding = 'utf-8'"
)


def quoted_line_break(path: Path, block_size: int = 1 << 22) -> bool:
    """Whether a quoted field of the CSV file spans lines: a line break after an odd number of
    quote characters (an escaped quote, "", adds two). Blocks without a quote cost one scan."""
    inside = 0
    with path.open("rb") as handle:
        while block := handle.read(block_size):
            if b'"' not in block:
                if inside and (b"\n" in block or b"\r" in block):
                    return True
                continue
            data = np.frombuffer(block, dtype=np.uint8)
            quotes = (np.cumsum(data == ord('"'), dtype=np.int64) + inside) & 1
            if quotes[(data == ord("\n")) | (data == ord("\r"))].any():
                return True
            inside = int(quotes[-1])
    return False


def _insert_tabular(con, f: ExportFile, part: Part, table: str, select: str) -> None:
    if f.kind == "csv":
        # The file is parsed on every core into a temporary table (which keeps the file's row
        # order), then numbered in that order: numbering while parsing (with ordinality) holds
        # the parse to one thread. DuckDB parses a file with a quoted line break (and short
        # rows padded with nulls) on one thread only.
        path = str(f.path).replace("'", "''")
        parallel = "false" if quoted_line_break(f.path) else "true"
        con.execute(
            "create or replace temp table _export_rows as "
            f"select * from read_csv('{path}', {CSV_OPTIONS}, parallel = {parallel})"
        )
        try:
            con.execute(
                f"""insert into {table}
                select {select}, ?, row_number() over () + 1, ?, true, false from _export_rows""",
                [f.relative, f.collection_year],
            )
        finally:
            # (in a transaction a failed insert has aborted, the rollback removes it instead)
            with contextlib.suppress(duckdb.Error):
                con.execute("drop table if exists temp._export_rows")
    elif f.kind == "parquet":
        con.execute(
            f"""insert into {table}
            select {select}, ?, ordinality + 1, ?, true, false
            from read_parquet(?) with ordinality""",
            [f.relative, f.collection_year, str(f.path)],
        )
    elif f.kind == "xlsx":
        frame = pd.read_excel(f.path, sheet_name=part.sheet, dtype=str, keep_default_na=False)
        frame.columns = [str(c).strip() for c in frame.columns]
        frame.insert(0, "__row", range(2, len(frame) + 2))
        con.register("_sheet", frame)
        try:
            con.execute(
                f"insert into {table} select {select}, ?, __row, ?, true, false from _sheet",
                [f"{f.relative}#{part.sheet}", f.collection_year],
            )
        finally:
            con.unregister("_sheet")
    else:  # pragma: no cover - recognise() only yields the kinds above
        raise ValueError(f.kind)


def insert_rows(
    con: duckdb.DuckDBPyConnection, contract: Contract, relative: str, year: int | None,
    rows: list[dict], table: str,
) -> None:
    """Insert rows read from XML (dicts of contract column → text)."""
    frame = pd.DataFrame(rows, columns=[c.name for c in contract.columns] + ["_row_number"])
    for c in contract.columns:
        frame[c.name] = frame[c.name].astype("string")
    frame["_row_number"] = frame["_row_number"].astype("int64")
    con.register("_rows", frame)
    try:
        cols = ", ".join(f"{_quote(c.name)} as {_quote(c.sql_name)}" for c in contract.columns)
        con.execute(
            f"insert into {table} select {cols}, null, ?, _row_number, ?, true, false from _rows",
            [relative, year],
        )
    finally:
        con.unregister("_rows")


def part_name(f: ExportFile, part: Part) -> str:
    return f"{f.relative}#{part.sheet}" if part.sheet else f.relative


def sync_source(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    items: list[tuple[ExportFile, Part, Callable[[str], None]]],
) -> dict:
    """Bring ``raw.<source>`` in line with ``items`` (file, part, inserter) in one transaction."""
    table = ensure_raw_table(con, contract)
    previous = dict(
        con.execute("select source_file, sha256 from raw._loads where source = ?", [contract.source]).fetchall()
    )
    loaded, unchanged, removed = [], [], []
    current = {part_name(f, p) for f, p, _ in items}
    # A file loaded before is hashed first (unchanged, it is skipped); a new one is hashed on
    # another thread while it loads (hashlib releases the GIL).
    hasher = ThreadPoolExecutor(1, "sha256")
    con.execute("begin transaction")
    try:
        for stale in sorted(set(previous) - current):
            con.execute(f"delete from {table} where _source_file = ?", [stale])
            con.execute("delete from raw._loads where source = ? and source_file = ?", [contract.source, stale])
            removed.append(stale)
        for f, part, insert in items:
            name = part_name(f, part)
            if name in previous:
                digest = sha256_of(f.path)
                if previous[name] == digest:
                    unchanged.append(name)
                    continue
            else:
                digest = hasher.submit(sha256_of, f.path)
            con.execute(f"delete from {table} where _source_file = ?", [name])
            con.execute("delete from raw._loads where source = ? and source_file = ?", [contract.source, name])
            insert(table)
            if isinstance(digest, Future):
                digest = digest.result()
            undated = con.execute(
                f"select count(*) from {table} where _source_file = ? and _collection_year is null", [name]
            ).fetchone()[0]
            if undated and contract.collection_year_from:
                dates = ", ".join(
                    "coalesce(" + ", ".join(
                        f"try_strptime(nullif(trim({_quote(c.lower())}), ''), '{fmt}')"
                        for fmt in (contract.column(c).formats or ("%Y-%m-%d",))
                    ) + ", null)"
                    for c in contract.collection_year_from
                )
                latest = con.execute(
                    f"select max(greatest({dates}))::date from {table} where _source_file = ?", [name]
                ).fetchone()[0]
                if latest is not None:
                    year = latest.year + (1 if latest.month >= 4 else 0)
                    con.execute(
                        f"update {table} set _collection_year = ? "
                        "where _source_file = ? and _collection_year is null",
                        [year, name],
                    )
            rows, year = con.execute(
                f"select count(*), max(_collection_year) from {table} where _source_file = ?", [name]
            ).fetchone()
            con.execute(
                "insert into raw._loads values (?, ?, ?, ?, ?, ?)",
                [contract.source, name, digest, rows, year, dt.datetime.now(dt.UTC).replace(tzinfo=None)],
            )
            loaded.append(name)
        # A corrected re-submission of a year: the file loaded last is the active one.
        # (only rows whose flag changes are written: a first load leaves every row as it is)
        con.execute(
            f"""update {table} as t set _active = (t._collection_year is null or t._source_file = w.source_file)
            from (select collection_year, arg_max(source_file, (loaded_at, source_file)) as source_file
                  from raw._loads where source = ? group by collection_year) as w
            where t._collection_year is not distinct from w.collection_year
                and t._active is distinct from (t._collection_year is null or t._source_file = w.source_file)""",
            [contract.source],
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        hasher.shutdown(wait=True)
    total = con.execute(f"select count(*) from {table}").fetchone()[0]
    return {"loaded": loaded, "unchanged": unchanged, "removed": removed, "rows": total}
