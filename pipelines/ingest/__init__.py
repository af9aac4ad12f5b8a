"""Finding, recognising and loading export files into the ``raw`` schema of the warehouse.

Files are recognised by content (the header row of a CSV), not by name. Every loaded file is
recorded in ``raw._loads`` with its sha256: an unchanged file is never loaded twice, a changed
file replaces its own earlier rows, and a file no longer in the exports folder takes its rows
with it, so a re-run on the same exports always yields the same tables.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.contracts import Contract, load_contracts


class ExportError(ValueError):
    """An export file cannot be read; the message names the file and what to do."""


@dataclass(frozen=True)
class ExportFile:
    path: Path
    relative: str
    source: str | None
    header: tuple[str, ...]
    collection_year: int | None
    reason: str = ""


_SKIP_SUFFIXES = {".md", ".json", ".yaml", ".yml", ".txt", ".duckdb", ".wal", ".pdf", ".html"}

_YEAR_PATTERNS = [
    re.compile(r"(?<!\d)(20\d\d)[-_ ]?(\d\d)(?!\d)"),  # 2023-24, 202324, 2023_24
    re.compile(r"(?<!\d)(\d\d)-(\d\d)(?!\d)"),  # 23-24
    re.compile(r"(?<!\d)(20\d\d)(?!\d)"),  # 2024
]


def collection_year_from_name(relative: str) -> int | None:
    """The collection year (the year of the return's 31 March) named in a file or folder name.

    ``2024``, ``2023-24``, ``202324`` and ``23-24`` all give 2024. The deepest path part that
    names a year wins (a file name beats its folder).
    """
    for part in reversed(Path(relative).parts):
        stem = part.rsplit(".", 1)[0] if "." in part else part
        for pattern in _YEAR_PATTERNS:
            for match in reversed(list(pattern.finditer(stem))):
                groups = match.groups()
                if len(groups) == 2:
                    first, second = groups
                    first_year = int(first) if len(first) == 4 else 2000 + int(first)
                    if (first_year + 1) % 100 == int(second):
                        return first_year + 1
                    continue
                return int(groups[0])
    return None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _first_line(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(65536)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ExportError(
            f"{path}: file is UTF-16 encoded; save it as UTF-8 CSV (in Excel: 'CSV UTF-8') and re-run"
        )
    if b"\x00" in head:
        raise ExportError(f"{path}: file is binary, not a CSV text file; export it as UTF-8 CSV")
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = head.decode("cp1252", errors="replace")
    return text.splitlines()[0] if text.strip() else ""


def recognise(path: Path, root: Path, contracts: dict[str, Contract] | None = None) -> ExportFile:
    """Match one file to a contract by its header row."""
    contracts = contracts if contracts is not None else load_contracts()
    relative = path.relative_to(root).as_posix()
    year = collection_year_from_name(relative)
    if path.suffix.lower() != ".csv":
        return ExportFile(path, relative, None, (), year, "not a CSV export")
    line = _first_line(path)
    if not line:
        raise ExportError(f"{path}: file is empty; expected a header row")
    header = tuple(h.strip().strip('"').strip().upper() for h in line.split(","))
    best, best_size = None, 0
    for contract in contracts.values():
        if contract.format != "csv":
            continue
        required = contract.required_columns
        if required <= set(header) and len(required) > best_size:
            best, best_size = contract, len(required)
    if best is None:
        return ExportFile(path, relative, None, header, year, "header matches no known export")
    return ExportFile(path, relative, best.source, header, year)


def scan_exports(root: Path) -> list[ExportFile]:
    """Every data file under ``root`` (recursively), recognised or listed as ignored."""
    if not root.is_dir():
        raise ExportError(f"{root}: exports folder not found")
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel_parts = path.relative_to(root).parts
        if any(part.startswith(".") for part in rel_parts) or rel_parts[0] == "stories":
            continue
        if path.suffix.lower() in _SKIP_SUFFIXES:
            continue
        found.append(recognise(path, root))
    return found


def _ensure_tables(con: duckdb.DuckDBPyConnection, contract: Contract) -> str:
    con.execute("create schema if not exists raw")
    con.execute(
        """create table if not exists raw._loads (
            source varchar, source_file varchar, sha256 varchar, rows bigint,
            collection_year integer, loaded_at timestamp)"""
    )
    table = f"raw.{contract.source}"
    wanted = [c.lower() for c in contract.column_names] + [
        "_source_file",
        "_row_number",
        "_collection_year",
    ]
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
        cols = ", ".join(f'"{c.lower()}" varchar' for c in contract.column_names)
        con.execute(
            f"create table {table} ({cols}, _source_file varchar, _row_number bigint, "
            "_collection_year integer)"
        )
    return table


def _financial_year_sql(expr: str) -> str:
    return f"(year({expr}) + case when month({expr}) >= 4 then 1 else 0 end)"


def load_source(
    con: duckdb.DuckDBPyConnection, contract: Contract, files: list[ExportFile]
) -> dict:
    """Load ``files`` (all recognised as ``contract``) into ``raw.<source>`` incrementally."""
    table = _ensure_tables(con, contract)
    previous = dict(
        con.execute(
            "select source_file, sha256 from raw._loads where source = ?", [contract.source]
        ).fetchall()
    )
    loaded, unchanged, removed = [], [], []
    current = {f.relative for f in files}
    con.execute("begin transaction")
    try:
        for stale in sorted(set(previous) - current):
            con.execute(f"delete from {table} where _source_file = ?", [stale])
            con.execute(
                "delete from raw._loads where source = ? and source_file = ?",
                [contract.source, stale],
            )
            removed.append(stale)
        for f in files:
            digest = sha256_of(f.path)
            if previous.get(f.relative) == digest:
                unchanged.append(f.relative)
                continue
            con.execute(f"delete from {table} where _source_file = ?", [f.relative])
            con.execute(
                "delete from raw._loads where source = ? and source_file = ?",
                [contract.source, f.relative],
            )
            present = {h for h in f.header}
            select = ", ".join(
                (f'"{_original_name(f.header, c)}"' if c.upper() in present else "null")
                + f' as "{c.lower()}"'
                for c in contract.column_names
            )
            year_sql = "null" if f.collection_year is None else str(int(f.collection_year))
            con.execute(
                f"""insert into {table}
                select {select}, ? as _source_file, ordinality + 1 as _row_number,
                       {year_sql} as _collection_year
                from read_csv(?, header = true, all_varchar = true, delim = ',', quote = '"',
                              escape = '"', null_padding = true) with ordinality""",
                [f.relative, str(f.path)],
            )
            if f.collection_year is None and contract.collection_year_from:
                dates = ", ".join(
                    f"coalesce(try_strptime(\"{c.lower()}\", '%d/%m/%Y'), "
                    f"try_strptime(\"{c.lower()}\", '%Y-%m-%d'))"
                    for c in contract.collection_year_from
                )
                latest = f"(select max(greatest({dates}))::date from {table} where _source_file = ?)"
                con.execute(
                    f"update {table} set _collection_year = {_financial_year_sql(latest)} "
                    "where _source_file = ?",
                    [f.relative, f.relative],
                )
            rows, year = con.execute(
                f"select count(*), max(_collection_year) from {table} where _source_file = ?",
                [f.relative],
            ).fetchone()
            con.execute(
                "insert into raw._loads values (?, ?, ?, ?, ?, ?)",
                [contract.source, f.relative, digest, rows, year, dt.datetime.now(dt.UTC).replace(tzinfo=None)],
            )
            loaded.append(f.relative)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    total = con.execute(f"select count(*) from {table}").fetchone()[0]
    return {"loaded": loaded, "unchanged": unchanged, "removed": removed, "rows": total}


def _original_name(header: tuple[str, ...], column: str) -> str:
    # read_csv keeps the file's own spelling of the header; the recognised header is upper-cased.
    return column if column in header else column.upper()
