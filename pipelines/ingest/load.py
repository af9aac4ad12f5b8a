"""Loading recognised export files into ``raw.<source>`` tables, incrementally and idempotently.

Every loaded file is recorded in ``raw._loads`` with its sha256 and modification time. An
unchanged file is never loaded twice; a changed file replaces its own earlier rows; a file gone
from the exports folder takes its rows with it. Raw keeps every value as text, exactly as
exported; extra columns the contract does not know are kept in ``_extra`` (JSON, the file's own
header as the key).

Several files for the same source and collection year (a corrected re-submission beside the
original) keep their rows in raw, but only the later one is ``_active``: staging reads active,
unquarantined rows only. "Later" is the file's own modification time; files modified at the same
moment (to the microsecond) are ordered by their sha256, so the choice depends on the folder's
content alone, never on file names or on the order in which runs met the files: a fresh and an
incremental run agree. ``raw._loads.superseded_by`` names the file that replaced each other one;
two files for a year whose row counts differ by more than ``SUPERSEDE_TOLERANCE`` stop the load.

Export text never becomes SQL text: file paths, codes and values are bound parameters; a CSV
file's, sheet's or Parquet file's columns are read by position (``c0``, ``c1``, ...), so a header
is never an identifier; header text that must be in SQL (the keys of ``_extra``) is quoted by
:mod:`pipelines.sqlquote`.
"""

from __future__ import annotations

import codecs
import contextlib
import datetime as dt
import hashlib
import json
import posixpath
import re
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from pipelines.contracts import Contract, load_contracts
from pipelines.ingest.files import (
    DELIMITER_NAMES,
    MAX_COLUMNS,
    ExportError,
    ExportFile,
    Part,
    column_at,
    decode_line,
    encoding_error,
)
from pipelines.ingest.years import (
    DATES_NOTE,
    PER_ROW_NOTE,
    RETURN_TABLE,
    dates_note,
    year_from_dates,
    year_label,
)
from pipelines.sqlquote import quote_identifier, quote_literal

LOADS_DDL = """
create table if not exists raw._loads (
    source varchar, source_file varchar, sha256 varchar, rows bigint,
    collection_year integer, loaded_at timestamp, modified_at timestamp,
    superseded_by varchar, warning varchar,
    year_from varchar, year_note varchar, year_via varchar, rows_excluded bigint
)"""
# Columns added to raw._loads since its first version (a warehouse built before gains them).
# year_from: config, name, header or content (DESIGN §2b); year_note: how; year_via: the other
# file (or table of the same file) whose year an undated table took; rows_excluded: rows the
# contract checks exclude (an unusable key), set after them.
LOADS_ADDED = (
    ("modified_at", "timestamp"), ("superseded_by", "varchar"), ("warning", "varchar"),
    ("year_from", "varchar"), ("year_note", "varchar"), ("year_via", "varchar"), ("rows_excluded", "bigint"),
)
META_COLUMNS = ("_extra", "_source_file", "_row_number", "_collection_year", "_active", "_quarantined")
# Two files for one source and year whose row counts differ by more than this share of the
# larger are not a correction of one another: the load stops and names both (DESIGN §2b).
SUPERSEDE_TOLERANCE = 0.05
# The longest CSV row DuckDB is asked to read (its own default, stated so errors can name it).
MAX_LINE_BYTES = 2 * 1024 * 1024


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


def modified_at(path: Path) -> dt.datetime:
    """The file's modification time (UTC, naive, to the microsecond)."""
    return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=path.stat().st_mtime_ns // 1000)


def ensure_loads_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists raw")
    con.execute(LOADS_DDL)
    for column, kind in LOADS_ADDED:
        con.execute(f"alter table raw._loads add column if not exists {column} {kind}")


def ensure_raw_table(con: duckdb.DuckDBPyConnection, contract: Contract) -> str:
    ensure_loads_table(con)
    table = f"raw.{contract.source}"
    wanted = [c.sql_name for c in contract.columns] + list(META_COLUMNS)
    existing = [
        r[0]
        for r in con.execute(
            "select column_name from duckdb_columns() "
            "where schema_name = 'raw' and table_name = ? order by column_index",
            [contract.source],
        ).fetchall()
    ]
    if existing and existing != wanted:
        # The contract changed shape: reload every file of this source from scratch.
        con.execute(f"drop table {table}")
        con.execute("delete from raw._loads where source = ?", [contract.source])
        existing = []
    if not existing:
        cols = ", ".join(f"{quote_identifier(c.sql_name)} varchar" for c in contract.columns)
        con.execute(
            f"create table {table} ({cols}, _extra varchar, _source_file varchar, "
            "_row_number bigint, _collection_year integer, _active boolean, _quarantined boolean)"
        )
    return table


def _select_list(contract: Contract, part: Part, ref: Callable[[str], str | None]) -> str:
    """The select list of one table's rows: each contract column as text, and ``_extra``.

    ``ref(header)`` is the SQL expression (text) of the file's column of that header name, or
    None when the file has no such column; the header itself only ever appears as a quoted
    literal (the key of ``_extra``)."""
    cols = []
    for c in contract.columns:
        source_name = part.columns.get(c.name)
        expression = ref(source_name) if source_name is not None else None
        cols.append(f"{expression or 'null::varchar'} as {quote_identifier(c.sql_name)}")
    pairs = [
        f"{quote_literal(e)}, {ref(e) or 'null::varchar'}" for e in part.extra
    ]
    cols.append(f"json_object({', '.join(pairs)})::varchar as _extra" if pairs else "null::varchar as _extra")
    return ", ".join(cols)


def _positions_and_date_formats(contract: Contract, part) -> tuple[dict[str, int], dict[str, str]]:
    """For a file read by position: each header's first position, and the first declared format
    of each date column (by its header in the file)."""
    positions = {h: i for i, h in reversed(list(enumerate(part.header)))}
    formats = {
        part.columns[c.name]: c.formats[0]
        for c in contract.columns
        if c.type == "date" and c.formats and c.name in part.columns
    }
    return positions, formats


def _date_text(expression: str, fmt: str, typed: str) -> str:
    """A date column held as a date or timestamp (Parquet) or as Excel's datetime text
    (``2020-01-01 00:00:00``), as the text the contract's first format describes."""
    if typed == "text":
        return (
            f"coalesce(strftime(try_strptime({expression}, '%Y-%m-%d %H:%M:%S'), {quote_literal(fmt)}), "
            f"{expression})"
        )
    return f"strftime({expression}, {quote_literal(fmt)})"


def insert_tabular(
    con: duckdb.DuckDBPyConnection, contract: Contract, f: ExportFile, part: Part, table: str
) -> str | None:
    """Insert one CSV file, Parquet file or Excel sheet, all values as text. Returns a warning
    to record with the load (a CSV file read as Windows-1252), or None."""
    try:
        return _insert_tabular(con, contract, f, part, table)
    except duckdb.Error as exc:
        detail = str(exc).strip().splitlines()[0]
        raise ExportError(
            f"{f.relative}: could not be read as a {f.kind} table ({detail}); check the file is a "
            "complete export with one header row"
        ) from exc


def csv_options(delimiter: str = ",") -> str:
    """DuckDB's read_csv options for an export: every value as text, short rows padded."""
    return (
        f"header = true, all_varchar = true, delim = {quote_literal(delimiter)}, quote = '\"', "
        "escape = '\"', null_padding = true, strict_mode = false, encoding = 'utf-8', "
        f"max_line_size = {MAX_LINE_BYTES}"
    )


CSV_OPTIONS = csv_options()


def scan_csv(path: Path, block_size: int = 1 << 22) -> tuple[bool, int | None]:
    """One pass over a CSV file: whether a quoted field spans lines (a line break after an odd
    number of quote characters; an escaped quote, "", adds two), and the offset of the first
    byte that is not UTF-8 (None when the whole file is). Blocks of plain ASCII without a quote
    cost one scan each."""
    inside, breaks, bad, offset = 0, False, None, 0
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        while block := handle.read(block_size):
            if bad is None and (not block.isascii() or decoder.getstate()[0]):
                pending = len(decoder.getstate()[0])
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as exc:
                    bad = offset - pending + exc.start
            if not breaks:
                if b'"' not in block:
                    breaks = bool(inside and (b"\n" in block or b"\r" in block))
                else:
                    data = np.frombuffer(block, dtype=np.uint8)
                    quotes = (np.cumsum(data == ord('"'), dtype=np.int64) + inside) & 1
                    breaks = bool(quotes[(data == ord("\n")) | (data == ord("\r"))].any())
                    inside = int(quotes[-1])
            offset += len(block)
            if breaks and bad is not None:
                break
    if bad is None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            bad = offset - len(decoder.getstate()[0])
    return breaks, bad


def quoted_line_break(path: Path, block_size: int = 1 << 22) -> bool:
    """Whether a quoted field of the CSV file spans lines."""
    return scan_csv(path, block_size)[0]


def to_utf8(f: ExportFile, part: Part, target: Path) -> str:
    """Write the CSV file ``f`` to ``target`` as UTF-8, reading each line that is not UTF-8 as
    Windows-1252 (Excel's "CSV" on Windows); returns the warning to record. A line that is
    neither is an error naming its line, column and byte. Memory: one line (at most
    MAX_LINE_BYTES) at a time."""
    converted, first, offset = 0, None, 0
    with f.path.open("rb") as source, target.open("wb") as out:
        for number, raw in enumerate(iter(lambda: source.readline(MAX_LINE_BYTES + 1), b""), start=1):
            if len(raw) > MAX_LINE_BYTES:
                raise long_row_error(f, part, f.path)
            try:
                text, encoding = decode_line(raw, first=number == 1)
            except UnicodeDecodeError as exc:
                raise encoding_error(
                    f.relative, number, offset + exc.start, raw, exc.start, part.header, part.delimiter
                ) from exc
            if encoding != "utf-8":
                converted += 1
                if first is None:
                    try:
                        raw.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        first = (number, column_at(raw[: exc.start], part.delimiter))
            out.write(text.encode("utf-8"))
            offset += len(raw)
    line, column = first or (0, 0)
    name = f" ({part.header[column]!r})" if column < len(part.header) else ""
    return (
        f"{converted:,} line(s) were not UTF-8 and were read as Windows-1252 (the first: line {line}, "
        f"column {column + 1}{name}); save the export as 'CSV UTF-8' to be sure of its characters"
    )


def _long_row(path: Path, delimiter: str, limit: int = MAX_LINE_BYTES, block_size: int = 1 << 22):
    """(line, row, 0-based column) of the first row of a CSV file longer than ``limit`` bytes,
    or None. Rows end at line breaks outside quotes; the column is the field in which the row
    passes the limit. Memory: one block, and ``limit`` bytes to find the column."""
    inside, start, records, offset = 0, 0, 0, 0
    found = None
    with path.open("rb") as handle:
        while found is None and (block := handle.read(block_size)):
            data = np.frombuffer(block, dtype=np.uint8)
            quotes = (np.cumsum(data == ord('"'), dtype=np.int64) + inside) & 1
            breaks = np.flatnonzero((data == ord("\n")) & (quotes == 0)) + offset
            starts = np.concatenate(([start], breaks[:-1] + 1)) if len(breaks) else np.array([start])
            over = np.flatnonzero(breaks - starts[: len(breaks)] > limit)
            if over.size:
                found, records = int(starts[over[0]]), records + int(over[0])
            elif offset + len(block) - (int(breaks[-1]) + 1 if len(breaks) else start) > limit:
                found = int(breaks[-1]) + 1 if len(breaks) else start
                records += len(breaks)
            else:
                records += len(breaks)
                start = int(breaks[-1]) + 1 if len(breaks) else start
            inside = int(quotes[-1])
            offset += len(block)
        if found is None:
            return None
        handle.seek(found)
        piece = handle.read(limit)
    lines = 1
    with path.open("rb") as handle:
        done = 0
        while done < found and (block := handle.read(min(block_size, found - done))):
            lines += block.count(b"\n")
            done += len(block)
    data = np.frombuffer(piece, dtype=np.uint8)
    outside = ((np.cumsum(data == ord('"'), dtype=np.int64)) & 1) == 0
    column = int(((data == ord(delimiter)) & outside).sum()) if len(delimiter) == 1 else 0
    return lines, records + 1, column


def long_row_error(f: ExportFile, part: Part, path: Path) -> ExportError:
    where = _long_row(path, part.delimiter)
    limit = f"{MAX_LINE_BYTES // (1024 * 1024)} MB"
    if where is None:
        return ExportError(
            f"{f.relative}: a row is longer than {limit}, more than an export's row may be; a field "
            "probably lacks its closing quote or holds a pasted document: fix it and export again"
        )
    line, row, column = where
    name = f" ({part.header[column]!r})" if column < len(part.header) else ""
    return ExportError(
        f"{f.relative}: line {line} (row {row}), column {column + 1}{name}: the row is longer than "
        f"{limit}, more than an export's row may be; the field probably lacks its closing quote or "
        "holds a pasted document: fix it and export again"
    )


def _wide_row_error(f: ExportFile, part: Part, path: Path, fields: int) -> ExportError:
    """The error for rows wider than MAX_COLUMNS, naming the first such line."""
    line = None
    delimiter = part.delimiter.encode()
    with path.open("rb") as handle:
        for number, raw in enumerate(iter(lambda: handle.readline(MAX_LINE_BYTES + 1), b""), start=1):
            if raw.count(delimiter) >= MAX_COLUMNS:
                line = number
                break
    where = f"line {line} has" if line else "some rows have"
    return ExportError(
        f"{f.relative}: {where} up to {fields:,} fields, more than the {MAX_COLUMNS:,} an export may "
        f"have (its header has {len(part.header)}); remove the stray {DELIMITER_NAMES[part.delimiter]}s "
        "and export it again"
    )


def _read_csv(con, f: ExportFile, part: Part, path: Path, parallel: bool) -> None:
    """Parse the CSV file into the temporary table ``_export_rows``, columns named by position."""
    options = csv_options(part.delimiter)
    try:
        # The width DuckDB will give the rows (a sniff, ~20 ms): a row of thousands of empty
        # fields would make it allocate a column for each, and exhaust its memory.
        width = len(con.execute(f"describe select * from read_csv(?, {options})", [str(path)]).fetchall())
        if width > MAX_COLUMNS:
            raise _wide_row_error(f, part, path, width)
        names = [f"c{i}" for i in range(min(len(part.header), width))]
        con.execute(
            "create or replace temp table _export_rows as "
            f"select * from read_csv(?, {options}, names = ?, parallel = {'true' if parallel else 'false'})",
            [str(path), names],
        )
    except duckdb.Error as exc:
        if "Maximum line size" in str(exc):
            raise long_row_error(f, part, path) from exc
        raise


def _insert_tabular(con, contract: Contract, f: ExportFile, part: Part, table: str) -> str | None:
    warning = None
    if f.kind == "csv":
        # The file is parsed on every core into a temporary table (which keeps the file's row
        # order), then numbered in that order: numbering while parsing (with ordinality) holds
        # the parse to one thread. DuckDB parses a file with a quoted line break (and short
        # rows padded with nulls) on one thread only.
        breaks, bad = scan_csv(f.path)
        if bad is None:
            _read_csv(con, f, part, f.path, parallel=not breaks)
        else:  # read from a UTF-8 copy
            with tempfile.TemporaryDirectory(prefix="oba-csv-") as scratch:
                path = Path(scratch) / "utf8.csv"
                warning = to_utf8(f, part, path)
                _read_csv(con, f, part, path, parallel=not breaks)
        width = len(con.execute("describe _export_rows").fetchall())
        positions = {h: i for i, h in reversed(list(enumerate(part.header)))}

        def ref(header: str) -> str | None:
            i = positions.get(header)
            return f"c{i}" if i is not None and i < width else None

        select = _select_list(contract, part, ref)
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
        # Columns by position too: DuckDB renames a column whose name repeats another's in any
        # case (a, A -> a, A_1), and a name is never an identifier this way.
        types = [kind for _, kind, *_ in con.execute(
            "describe select * from read_parquet(?)", [str(f.path)]
        ).fetchall()]
        positions, formats = _positions_and_date_formats(contract, part)

        def ref(header: str) -> str | None:
            i = positions.get(header)
            if i is None or i >= len(types):
                return None
            if header in formats and re.match(r"(DATE|TIMESTAMP)", types[i]):
                return _date_text(f"c{i}", formats[header], types[i])
            return f"c{i}::varchar"

        select = _select_list(contract, part, ref)
        aliases = ", ".join(f"c{i}" for i in range(len(types)))
        con.execute(
            f"""insert into {table}
            select {select}, ?, _ordinality + 1, ?, true, false
            from read_parquet(?) with ordinality as _file({aliases}, _ordinality)""",
            [f.relative, f.collection_year, str(f.path)],
        )
    elif f.kind == "xlsx":
        frame = pd.read_excel(f.path, sheet_name=part.sheet, dtype=str, keep_default_na=False)
        width = frame.shape[1]
        frame.columns = [f"c{i}" for i in range(width)]  # by position: duplicates and odd names alike
        frame.insert(0, "__row", range(2, len(frame) + 2))
        positions, formats = _positions_and_date_formats(contract, part)

        def ref(header: str) -> str | None:
            i = positions.get(header)
            if i is None or i >= width:
                return None
            # a date cell arrives as pandas' text of a datetime, 2020-01-01 00:00:00
            return _date_text(f"c{i}", formats[header], "text") if header in formats else f"c{i}"

        select = _select_list(contract, part, ref)
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
    return warning


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
        cols = ", ".join(f"{quote_identifier(c.name)} as {quote_identifier(c.sql_name)}" for c in contract.columns)
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
    items: list[tuple[ExportFile, Part, Callable[[str], str | None]]],
) -> dict:
    """Bring ``raw.<source>`` in line with ``items`` (file, part, inserter) in one transaction.

    An inserter may return a warning (text) to record with the file's load."""
    table = ensure_raw_table(con, contract)
    previous = dict(
        con.execute("select source_file, sha256 from raw._loads where source = ?", [contract.source]).fetchall()
    )
    loaded, unchanged, removed = [], [], []
    current = {part_name(f, p) for f, p, _ in items}
    # the files with rows in the table: a file new to it has none to delete
    held = {name for (name,) in con.execute(f"select distinct _source_file from {table}").fetchall()}
    # A file loaded before is hashed first (unchanged, it is skipped); a new one is hashed on
    # another thread while it loads (hashlib releases the GIL).
    hasher = ThreadPoolExecutor(1, "sha256")
    records: list[tuple] = []  # each file loaded: (name, sha256, loaded at, modified at, warning)
    con.execute("begin transaction")
    try:
        for stale in sorted(set(previous) - current):
            con.execute(f"delete from {table} where _source_file = ?", [stale])
            con.execute("delete from raw._loads where source = ? and source_file = ?", [contract.source, stale])
            removed.append(stale)
        for f, part, insert in items:
            name = part_name(f, part)
            modified = modified_at(f.path)
            if name in previous:
                digest = sha256_of(f.path)
                if previous[name] == digest:
                    # (a file touched but not changed keeps its rows; its time still orders it)
                    con.execute(
                        "update raw._loads set modified_at = ? "
                        "where source = ? and source_file = ? and modified_at is distinct from ?",
                        [modified, contract.source, name, modified],
                    )
                    unchanged.append(name)
                    continue
            else:
                digest = hasher.submit(sha256_of, f.path)
            if name in held:
                con.execute(f"delete from {table} where _source_file = ?", [name])
            if name in previous:
                con.execute("delete from raw._loads where source = ? and source_file = ?", [contract.source, name])
            try:
                warning = insert(table)
            except ExportError as exc:
                exc.files = getattr(exc, "files", None) or [name]
                raise
            if isinstance(digest, Future):
                digest = digest.result()
            records.append((name, digest, dt.datetime.now(dt.UTC).replace(tzinfo=None), modified,
                            warning if isinstance(warning, str) else None))
            loaded.append(name)
        _record_loads(con, contract.source, table, records)
        if items or previous:  # (a source with no file, now or before, has nothing to date)
            date_parts(con, contract, table, [(f, p) for f, p, _ in items], set(loaded))
            _supersede(con, contract, table)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        hasher.shutdown(wait=True)
    total = con.execute(f"select count(*) from {table}").fetchone()[0]
    return {"loaded": loaded, "unchanged": unchanged, "removed": removed, "rows": total}


def _record_loads(con: duckdb.DuckDBPyConnection, source: str, table: str, records: list[tuple]) -> None:
    """Record the files just loaded in ``raw._loads``, in the order they were loaded, each with
    its rows in ``table`` and their latest collection year: one statement for them all
    (``records``: name, sha256, loaded at, modified at, warning; every value a bound parameter)."""
    if not records:
        return
    rows = ", ".join("(?, ?, ?, ?::timestamp, ?::timestamp, ?::varchar)" for _ in records)
    con.execute(
        f"""with f(position, source_file, sha256, loaded_at, modified_at, warning) as (values {rows})
        insert into raw._loads (source, source_file, sha256, rows, collection_year, loaded_at,
            modified_at, warning)
        select ?, f.source_file, f.sha256, coalesce(r.n, 0), r.year, f.loaded_at, f.modified_at, f.warning
        from f left join (
            select _source_file, count(*) as n, max(_collection_year) as year from {table}
            where _source_file in (select source_file from f) group by _source_file
        ) as r on r._source_file = f.source_file
        order by f.position""",
        [*(value for position, record in enumerate(records) for value in (position, *record)), source],
    )


@dataclass(frozen=True)
class Dating:
    """A file's (or one table of it's) collection year and where it came from."""

    year: int | None
    source: str | None  # config, name, header or content (None: undated)
    note: str
    via: str | None = None  # the load whose year an undated table took
    column: str | None = None  # a YEAR column giving each row its own year


def _date_sql(contract: Contract) -> str:
    """The contract's dating columns' dates of a row, as a list (nulls where unparseable)."""
    return ", ".join(
        "coalesce(" + ", ".join(
            f"try_strptime(nullif(trim({quote_identifier(contract.column(c).sql_name)}), ''), {quote_literal(fmt)})"
            for fmt in (contract.column(c).formats or ("%Y-%m-%d",))
        ) + ", null)::date"
        for c in contract.collection_year_from
    )


def _own_dates(con, contract: Contract, table: str, name: str) -> Dating | None:
    """The year of one loaded file from its own dates (DESIGN §2b: at most 1% after it)."""
    if not contract.collection_year_from:
        return None
    counts = dict(con.execute(
        f"""select year(d) + case when month(d) >= 4 then 1 else 0 end, count(*)
        from (select unnest([{_date_sql(contract)}]) as d from {table} where _source_file = ?)
        where d is not null group by all""",
        [name],
    ).fetchall())
    found = year_from_dates(counts)
    if found is None:
        return None
    year, after, total = found
    return Dating(year, "content", dates_note(year, after, total))


def _mates(con, sources: list[str], f: ExportFile, same_file: bool) -> list[tuple[int, str, str, str]]:
    """(year, part, source, note) of the loads of ``sources`` dated in their own right (not by
    another file) that are other tables of ``f`` itself, or else files beside it in its folder."""
    if not sources:
        return []
    folder = posixpath.dirname(f.relative)
    found = []
    for year, other, source, note in con.execute(
        f"""select collection_year, source_file, source, year_note from raw._loads
        where source in ({', '.join('?' for _ in sources)}) and year_via is null and collection_year is not null
        order by source_file, source""",
        sources,
    ).fetchall():
        mine = other == f.relative or other.startswith(f.relative + "#")
        if mine if same_file else (not mine and posixpath.dirname(other) == folder):
            found.append((year, other, source, note or ""))
    return found


def _inherit(mates: list[tuple[int, str, str, str]], f: ExportFile, same_file: bool) -> Dating | None:
    if len({year for year, *_ in mates}) != 1:
        return None
    year, other, source, note = mates[0]
    if same_file:
        return Dating(year, "content", f"as its {source} table: {note}", f.relative)
    return Dating(year, "content", f"as {other} beside it, of the same return", other)


def _dating(con, contract: Contract, table: str, f: ExportFile, name: str, fresh: bool, old) -> Dating:
    """Where ``f``'s rows in ``table`` get their year: what was known when the file was found
    (config, name, header, a YEAR column); else, for a table of a return that is not the one
    that dates it (``years.RETURN_TABLE``), the year of that table in the same file or beside
    it; else its own dates; else the year of the other dated tables of its file or folder."""
    if f.collection_year is not None:
        note = f.year_note or ("its name" if (f.year_from or "name") == "name" else "")
        return Dating(f.collection_year, f.year_from or "name", note, None, f.year_column)
    primary = RETURN_TABLE.get(contract.family)
    old_year, old_from, old_note, old_via = old if old else (None, None, None, None)
    if (
        not fresh and primary in (None, contract.source)
        and old_from == "content" and old_via is None and (old_note or "").startswith(DATES_NOTE)
    ):
        return Dating(old_year, old_from, old_note)  # its own dates, and the file is unchanged
    years_beside: set[int] = set()
    if primary not in (None, contract.source):
        # One return, one year: the table that dates the return (episodes) dates the others.
        for same_file in (True, False):
            mates = _mates(con, [primary], f, same_file)
            found = _inherit(mates, f, same_file)
            if found is not None:
                return found
            years_beside |= {year for year, *_ in mates}
    own = _own_dates(con, contract, table, name)
    if own is not None:
        return own
    # No dates of its own (an SSDA903 header, OC3, or an empty table): its return's other tables.
    family = sorted(
        c.source for c in load_contracts().values() if c.family == contract.family and c.source != contract.source
    )
    for same_file in (True, False):
        mates = _mates(con, family, f, same_file)
        found = _inherit(mates, f, same_file)
        if found is not None:
            return found
        years_beside |= {year for year, *_ in mates}
    fix = "give it its year in its file or folder name, or pin it in oba.yaml (collection_years)"
    if years_beside:
        return Dating(None, None, (
            "undated: no dates of its own that date a return, and the files of its return are for "
            f"{', '.join(year_label(y) for y in sorted(years_beside))}; {fix}"
        ))
    return Dating(None, None, f"undated: no year in its name, no header and no dates that date a return; {fix}")


def date_parts(con, contract: Contract, table: str, parts: list[tuple[ExportFile, Part]], fresh: set[str]) -> None:
    """Give each file's rows in ``table`` their collection year (DESIGN §2b) and record where
    it came from in ``raw._loads``. Rows whose year changes are made active again (the
    supersession that follows decides). ``fresh``: the part names loaded in this call."""
    recorded = {
        r[0]: r[1:]
        for r in con.execute(
            "select source_file, collection_year, year_from, year_note, year_via from raw._loads "
            "where source = ?",
            [contract.source],
        ).fetchall()
    }
    for f, part in parts:
        name = part_name(f, part)
        old = recorded.get(name)
        if old is None:  # (not loaded: nothing to date)
            continue
        want = _dating(con, contract, table, f, name, name in fresh, old)
        same = tuple(old) == (want.year, want.source, want.note, want.via)
        if name in fresh:  # its rows were inserted with the year known when it was found
            rewrite = want.column is not None or want.year != f.collection_year
        else:
            per_row = PER_ROW_NOTE in (old[2] or "")
            rewrite = not same and (want.column is not None or per_row or want.year != old[0])
        if rewrite and want.column:
            con.execute(
                f"""update {table} set _active = true, _collection_year = coalesce(try_cast(regexp_extract(
                    trim(json_extract_string(_extra, ?)), '^((19|20)[0-9][0-9])$', 1) as integer), ?)
                where _source_file = ?""",
                ["$." + json.dumps(want.column), want.year, name],
            )
        elif rewrite:
            con.execute(
                f"update {table} set _collection_year = ?, _active = true where _source_file = ?",
                [want.year, name],
            )
        if not same:
            con.execute(
                "update raw._loads set collection_year = ?, year_from = ?, year_note = ?, year_via = ? "
                "where source = ? and source_file = ?",
                [want.year, want.source, want.note, want.via, contract.source, name],
            )


def _rows(n: int) -> str:
    return f"{n:,} row{'' if n == 1 else 's'}"


def _supersede(con: duckdb.DuckDBPyConnection, contract: Contract, table: str) -> None:
    """Of several files for one collection year, the later (modification time, then sha256)
    is active; each other one records it in ``superseded_by``. Counts of rows differing by more
    than SUPERSEDE_TOLERANCE (and by more than one row: a table of three rows corrected to two
    is a correction, not another return) stop the load, naming both files."""
    winners = """
        select collection_year, arg_max(source_file, (modified_at, sha256, source_file)) as source_file,
               arg_max(rows, (modified_at, sha256, source_file)) as rows
        from raw._loads where source = ? and collection_year is not null group by collection_year"""
    con.execute(
        f"""update raw._loads as l set superseded_by = nullif(w.source_file, l.source_file)
        from ({winners}) as w
        where l.source = ? and l.collection_year = w.collection_year
            and l.superseded_by is distinct from nullif(w.source_file, l.source_file)""",
        [contract.source, contract.source],
    )
    con.execute(
        "update raw._loads set superseded_by = null "
        "where source = ? and collection_year is null and superseded_by is not null",
        [contract.source],
    )
    clashes = con.execute(
        f"""select l.source_file, l.rows, w.source_file, w.rows, l.collection_year
        from raw._loads as l join ({winners}) as w on l.collection_year = w.collection_year
        where l.source = ? and l.superseded_by is not null
            and abs(l.rows - w.rows) > ? * greatest(l.rows, w.rows) and abs(l.rows - w.rows) > 1
        order by l.collection_year, l.source_file""",
        [contract.source, contract.source, SUPERSEDE_TOLERANCE],
    ).fetchall()
    if clashes:
        lines = [
            f"{old} ({_rows(old_rows)}) and {new} ({_rows(new_rows)}) are both {contract.source} for "
            f"{year - 1}-{year % 100:02d}; {new} is the later file and would replace {old}, but their rows "
            f"differ by {abs(old_rows - new_rows) / max(old_rows, new_rows):.0%} (more than "
            f"{SUPERSEDE_TOLERANCE:.0%})"
            for old, old_rows, new, new_rows, year in clashes
        ]
        error = ExportError(
            "; ".join(lines) + ". If one is a corrected re-submission of the other, remove the file that "
            "is wrong; if they are different returns, name each with its own collection year"
        )
        error.files = sorted({name for old, _, new, _, _ in clashes for name in (old, new)})
        raise error
    # Only rows whose flag changes are written: a first load leaves every row as it is.
    con.execute(
        f"""update {table} as t set _active = (t._collection_year is null or t._source_file = w.source_file)
        from ({winners}) as w
        where t._collection_year = w.collection_year
            and t._active is distinct from (t._source_file = w.source_file)""",
        [contract.source],
    )


# -- quality.export_files: every file found, its year and where it came from, its rows ----------

EXPORT_FILES_COLUMNS = (
    "source_file", "recognised_as", "collection_year", "year_from", "year_note", "rows_read",
    "rows_kept", "rows_quarantined", "rows_cleared", "status", "superseded_by", "reason",
)
EXPORT_FILES_DDL = """
create table if not exists quality.export_files (
    source_file varchar, recognised_as varchar, collection_year integer, year_from varchar,
    year_note varchar, rows_read bigint, rows_kept bigint, rows_quarantined bigint,
    rows_cleared bigint, status varchar, superseded_by varchar, reason varchar
)"""


def record_excluded(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    """Record in ``raw._loads`` how many of each file's rows the contract checks excluded
    (``_quarantined``: an unusable key); call after :func:`pipelines.quality.check_rows`."""
    table = f"raw.{contract.source}"
    con.execute(
        f"""update raw._loads as l set rows_excluded = c.n
        from (select _source_file, count(*) filter (where _quarantined) as n from {table} group by all) as c
        where l.source = ? and l.source_file = c._source_file and l.rows_excluded is distinct from c.n""",
        [contract.source],
    )


def _has_table(con, schema: str, name: str) -> bool:
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchone()[0])


def _columns(con, schema: str, name: str) -> set[str]:
    return {r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchall()}


def build_export_files(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)build ``quality.export_files`` (DESIGN §2) from the listing of the exports folder
    (``raw.export_files``) and the loads (``raw._loads``): one row per file found, with what it
    was recognised as, its collection year and where that came from (config, name, header or
    content; ``year_note`` says how), rows read, kept and quarantined (excluded: an unusable
    key; ``rows_kept`` = read − quarantined; ``rows_cleared`` counts kept rows with a value
    cleared), its status (``loaded``, ``superseded``, ``ignored``, ``error``; ``recognised``
    while a recognised file has not been loaded, as when the run stopped before loading it),
    the file that superseded it and why."""
    con.execute("create schema if not exists quality")
    if not _has_table(con, "raw", "export_files"):
        con.execute(EXPORT_FILES_DDL)
        return
    ensure_loads_table(con)
    listing = _columns(con, "raw", "export_files")
    year_from = "e.year_from" if "year_from" in listing else "null::varchar"
    year_note = "e.year_note" if "year_note" in listing else "null::varchar"
    cleared = "select null::varchar as source, null::varchar as source_file, 0::bigint as n where false"
    if _has_table(con, "quality", "quarantine") and "action" in _columns(con, "quality", "quarantine"):
        cleared = (
            "select source, source_file, count(distinct row_number) as n from quality.quarantine "
            "where action = 'kept' group by all"
        )
    con.execute(
        f"""create or replace table quality.export_files as
        with parts as (
            select e.source_file, l.source, l.source_file as part, l.rows, l.rows_excluded,
                l.collection_year, l.year_from, l.year_note, l.year_via, l.superseded_by,
                coalesce(c.n, 0) as cleared
            from raw.export_files as e
            join raw._loads as l
                on l.source_file = e.source_file or starts_with(l.source_file, e.source_file || '#')
            left join ({cleared}) as c on c.source = l.source and c.source_file = l.source_file
            where e.status in ('recognised', 'superseded')
        ),
        files as (
            select source_file,
                arg_min(collection_year, (year_via is not null, collection_year is null, source)) as collection_year,
                arg_min(year_from, (year_via is not null, collection_year is null, source)) as year_from,
                arg_min(year_note, (year_via is not null, collection_year is null, source)) as year_note,
                sum(rows)::bigint as rows_read,
                sum(coalesce(rows_excluded, 0))::bigint as rows_quarantined,
                sum(cleared)::bigint as rows_cleared,
                count(*) as parts,
                count(superseded_by) as superseded_parts,
                string_agg(distinct superseded_by, ', ' order by superseded_by) as superseded_by,
                string_agg(source || ' (by ' || superseded_by || ')', '; ' order by source)
                    filter (where superseded_by is not null) as superseded_detail,
                min(collection_year) as first_year
            from parts group by source_file
        )
        select
            e.source_file,
            nullif(e.sources, '') as recognised_as,
            coalesce(f.collection_year, e.collection_year)::integer as collection_year,
            coalesce(f.year_from, {year_from}) as year_from,
            coalesce(f.year_note, nullif({year_note}, '')) as year_note,
            f.rows_read,
            (f.rows_read - f.rows_quarantined)::bigint as rows_kept,
            f.rows_quarantined,
            f.rows_cleared,
            case
                when e.status in ('error', 'ignored') then e.status
                when f.source_file is null then 'recognised'
                when f.superseded_parts = f.parts then 'superseded'
                else 'loaded'
            end as status,
            f.superseded_by,
            case
                when e.status in ('error', 'ignored') then e.reason
                when f.source_file is null then
                    'recognised but not loaded: the run stopped before loading it (see the blocking problems)'
                when f.superseded_parts = f.parts then
                    'superseded by ' || f.superseded_by || ' (a later file for the same collection year, '
                    || (f.first_year - 1)::varchar || '-' || lpad((f.first_year % 100)::varchar, 2, '0')
                    || '); its rows are kept in raw but left out of the figures'
                when f.superseded_parts > 0 then
                    'partly superseded: its tables ' || f.superseded_detail
                    || ' are replaced by a later file for the same collection year'
                else nullif(e.reason, '')
            end as reason
        from raw.export_files as e
        left join files as f on f.source_file = e.source_file
        order by e.source_file"""
    )


def mark_load_error(con: duckdb.DuckDBPyConnection, error: ExportError) -> None:
    """Record a load's blocking error (a supersession clash, an unreadable file) against the
    files it names in ``quality.export_files``."""
    files = getattr(error, "files", None) or []
    if not files or not _has_table(con, "quality", "export_files"):
        return
    listed = [r[0] for r in con.execute("select source_file from quality.export_files").fetchall()]
    named = [f for f in listed if any(n == f or n.startswith(f + "#") for n in files)]
    if named:
        con.execute(
            "update quality.export_files set status = 'error', reason = ? where list_contains(?, source_file)",
            [str(error), named],
        )
