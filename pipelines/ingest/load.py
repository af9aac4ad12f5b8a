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
import re
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from pipelines.contracts import Contract
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
from pipelines.sqlquote import quote_identifier, quote_literal

LOADS_DDL = """
create table if not exists raw._loads (
    source varchar, source_file varchar, sha256 varchar, rows bigint,
    collection_year integer, loaded_at timestamp, modified_at timestamp,
    superseded_by varchar, warning varchar
)"""
# Columns added to raw._loads since its first version (a warehouse built before gains them).
LOADS_ADDED = (("modified_at", "timestamp"), ("superseded_by", "varchar"), ("warning", "varchar"))
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
        with tempfile.TemporaryDirectory(prefix="oba-csv-") as scratch:
            path = f.path
            if bad is not None:
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
        positions = {h: i for i, h in reversed(list(enumerate(part.header)))}
        formats = {
            part.columns[c.name]: c.formats[0]
            for c in contract.columns
            if c.type == "date" and c.formats and c.name in part.columns
        }

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
        positions = {h: i for i, h in reversed(list(enumerate(part.header)))}
        formats = {
            part.columns[c.name]: c.formats[0]
            for c in contract.columns
            if c.type == "date" and c.formats and c.name in part.columns
        }

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
            con.execute(f"delete from {table} where _source_file = ?", [name])
            con.execute("delete from raw._loads where source = ? and source_file = ?", [contract.source, name])
            warning = insert(table)
            if isinstance(digest, Future):
                digest = digest.result()
            undated = con.execute(
                f"select count(*) from {table} where _source_file = ? and _collection_year is null", [name]
            ).fetchone()[0]
            if undated and contract.collection_year_from:
                dates = ", ".join(
                    "coalesce(" + ", ".join(
                        f"try_strptime(nullif(trim({quote_identifier(c.lower())}), ''), {quote_literal(fmt)})"
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
                "insert into raw._loads (source, source_file, sha256, rows, collection_year, loaded_at, "
                "modified_at, warning) values (?, ?, ?, ?, ?, ?, ?, ?)",
                [contract.source, name, digest, rows, year, dt.datetime.now(dt.UTC).replace(tzinfo=None),
                 modified, warning if isinstance(warning, str) else None],
            )
            loaded.append(name)
        _supersede(con, contract, table)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        hasher.shutdown(wait=True)
    total = con.execute(f"select count(*) from {table}").fetchone()[0]
    return {"loaded": loaded, "unchanged": unchanged, "removed": removed, "rows": total}


def _rows(n: int) -> str:
    return f"{n:,} row{'' if n == 1 else 's'}"


def _supersede(con: duckdb.DuckDBPyConnection, contract: Contract, table: str) -> None:
    """Of several files for one collection year, the later (modification time, then sha256)
    is active; each other one records it in ``superseded_by``. Counts of rows differing by more
    than SUPERSEDE_TOLERANCE stop the load, naming both files."""
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
            and abs(l.rows - w.rows) > ? * greatest(l.rows, w.rows)
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
        raise ExportError(
            "; ".join(lines) + ". If one is a corrected re-submission of the other, remove the file that "
            "is wrong; if they are different returns, name each with its own collection year"
        )
    # Only rows whose flag changes are written: a first load leaves every row as it is.
    con.execute(
        f"""update {table} as t set _active = (t._collection_year is null or t._source_file = w.source_file)
        from ({winners}) as w
        where t._collection_year = w.collection_year
            and t._active is distinct from (t._source_file = w.source_file)""",
        [contract.source],
    )
