"""The collection year of each export file, and the one-authority check (DESIGN §2b).

A file's collection year (the year of the return's 31 March: 2018 for 2017/18) comes from, in
this order:

1. ``config``: a pin in ``oba.yaml`` (``collection_years``) naming the file, a folder of it or a
   glob matching either;
2. ``name``: a year in the file or folder name (``2018``, ``2017-18``, ``201718``, ``17-18``);
3. ``header``: the return's own header: the CIN census's ``ReferenceDate`` (else its ``Year``).
   DfE's SSDA903 XML has no header that dates it;
4. ``content``: what the file holds. A ``YEAR`` column (an extract such as liiatools writes)
   with one value gives the file that year; with several, each row keeps its own year (the file
   is several returns, listed under the latest) unless a pin or name gives the whole file one.
   Otherwise the file's own dates, in its contract's ``collection_year_from`` columns: the
   earliest 31 March after which at most 1% of them fall, and never fewer than one of ten or
   more dates (so one stray date never moves a return; a file of fewer than ten dates is dated
   by its latest). One return has one year: the table that dates a return (``RETURN_TABLE``:
   SSDA903 episodes, CIN details) dates the other tables of its file (an XML return) or, when
   the files agree on one year, of its folder (a return as CSV files); a table with no dates
   of its own and no such table beside it takes the year its return's other tables agree on.

The first three are known when a file is found (:func:`date_files`); the last once its rows are
loaded (:func:`pipelines.ingest.load.sync_source`).

A tabular file with a column naming the local authority (``LA``, ``la_code``, ``LA_CODE``,
``new_la_code``, ``LEA``, ``local_authority``...) holding more than one value is a blocking
error naming the file, the column and the values: returns of several authorities are never
merged. With one value the file loads.
"""

from __future__ import annotations

import csv
import fnmatch
import re
import threading
from dataclasses import replace
from pathlib import Path, PurePosixPath

import duckdb

from pipelines.ingest.files import ExportError, ExportFile, Part, collection_year_from_name

YEAR_FROM = ("config", "name", "header", "content")
# At most this share of a file's dates may fall after the 31 March that dates it...
STRAY_SHARE = 0.01
# ...and at least one date may, once a file has this many dates.
STRAY_MIN_DATES = 10
DATES_NOTE = "its dates"  # how a year from the file's own dates is noted (raw._loads.year_note)
PER_ROW_NOTE = "each row keeps its own year"  # how a YEAR column of several years is noted

# The table whose dates date a whole return, where a family has one: the other tables of the
# return (in the same file, else beside it in its folder) take its year, whatever their own dates
# (reviews, missing episodes or UASC dates may run years past the return).
RETURN_TABLE = {"ssda903": "ssda903_episodes", "cin": "cin_details"}


def dating_order(contracts: dict) -> list[str]:
    """The order in which a family's sources are loaded: the table that dates its return first,
    then the others with dates of their own, then those without; by name within each."""
    return sorted(
        contracts,
        key=lambda s: (
            RETURN_TABLE.get(contracts[s].family) != s, not contracts[s].collection_year_from, s,
        ),
    )


LA_COLUMN = re.compile(
    r"^\s*(?:new_|old_)?(?:la|lea|local[ _]?authority)(?:[ _]?(?:code|name|id|number|no))?\s*$",
    re.IGNORECASE,
)
YEAR_COLUMN = re.compile(r"^\s*(?:year|collection[ _]?year|return[ _]?year)\s*$", re.IGNORECASE)
_YEAR_VALUE = re.compile(r"^(?:19|20)\d\d$")
# The most values of an authority or year column that are read (an authority column with more
# is an error all the same; a YEAR column with more is not a list of return years).
MAX_VALUES = 200

_READER = threading.local()


def _reader() -> duckdb.DuckDBPyConnection:
    """A cursor on this thread's in-memory DuckDB, made once: a database of its own for each
    column read costs more than reading a small file's column."""
    con = getattr(_READER, "con", None)
    if con is None:
        con = _READER.con = duckdb.connect()
    return con.cursor()


def year_label(year: int | None) -> str:
    """``2018`` as ``2017-18``."""
    return "–" if year is None else f"{year - 1}-{year % 100:02d}"


def year_of_date(date) -> int:
    """The collection year a date falls in: that of the first 31 March on or after it."""
    return date.year + (1 if date.month >= 4 else 0)


def year_from_dates(counts: dict[int, int]) -> tuple[int, int, int] | None:
    """The collection year of a file from its dates, given as {collection year: number of dates}:
    the earliest 31 March after which at most 1% of the dates fall (at least one date may, of
    ten or more). Returns (year, dates after its 31 March, dates), or None without dates."""
    counts = {int(year): int(n) for year, n in counts.items() if year is not None and n}
    total = sum(counts.values())
    if not total:
        return None
    allowed = max(int(total * STRAY_SHARE), 1 if total >= STRAY_MIN_DATES else 0)
    after = 0
    for year in sorted(counts, reverse=True):
        if after + counts[year] > allowed:
            return year, after, total
        after += counts[year]
    raise AssertionError("unreachable: fewer dates may fall after than there are")


def dates_note(year: int, after: int, total: int) -> str:
    return (
        f"{DATES_NOTE}: {after:,} of {total:,} fall after 31 March {year}"
        + (", too few to move it" if after else "")
    )


def pinned_year(relative: str, pins: dict[str, int] | None) -> tuple[int, str] | None:
    """The year ``oba.yaml`` pins for a file (relative to the exports folder), and the key that
    names it: an exact path beats a folder, a folder a glob; the longest key first."""
    if not pins:
        return None
    relative = relative.rstrip("/")
    parents = [p.as_posix() for p in PurePosixPath(relative).parents if p.as_posix() != "."]
    best = None
    for key, year in pins.items():
        if relative == key:
            rank = 3
        elif relative.startswith(key + "/"):
            rank = 2
        elif fnmatch.fnmatchcase(relative, key) or any(fnmatch.fnmatchcase(p, key) for p in parents):
            rank = 1
        else:
            continue
        if best is None or (rank, len(key)) > best[0]:
            best = ((rank, len(key)), year, key)
    return (best[1], best[2]) if best else None


def unused_pins(files: list[ExportFile], pins: dict[str, int] | None) -> list[str]:
    """The keys of ``collection_years`` that name no file found (a typo dates nothing)."""
    used = {hit[1] for f in files if (hit := pinned_year(f.relative, pins))}
    return sorted(set(pins or {}) - used)


def _name_note(relative: str) -> str:
    for part in reversed(PurePosixPath(relative).parts):
        if collection_year_from_name(part) is not None:
            return f"its {'file' if part == PurePosixPath(relative).name else 'folder'} name {part!r}"
    return "its name"


def cin_header_year(path: Path) -> tuple[int, str] | None:
    """The CIN census header's collection year: its ReferenceDate's, else its Year."""
    from lxml import etree

    reference = year = None
    try:
        for event, element in etree.iterparse(
            str(path), events=("start", "end"),
            tag=("{*}ReferenceDate", "{*}Year", "{*}Children", "{*}Child"),
        ):
            name = etree.QName(element).localname
            if name in ("Children", "Child"):
                break  # the header is read; the children are not
            if event == "start":
                continue
            text = (element.text or "").strip()
            if name == "ReferenceDate" and reference is None:
                reference = text
            elif name == "Year" and year is None:
                year = text
            if reference:
                break
    except etree.XMLSyntaxError:
        return None  # the loader reports the file's XML problem, naming its line
    if reference:
        import datetime as dt

        try:
            date = dt.date.fromisoformat(reference[:10])
        except ValueError:
            date = None
        if date is not None:
            return year_of_date(date), f"its header's ReferenceDate {reference[:10]}"
    if year and _YEAR_VALUE.match(year):
        return int(year), f"its header's Year {year}"
    return None


def _csv_values(path: Path, part: Part, index: int) -> list[tuple[str, int]]:
    """(value, rows) of one column of a CSV file (by position), blanks left out."""
    from pipelines.ingest.load import csv_options

    try:
        con = _reader()
        try:
            return con.execute(
                f"select v, count(*) from (select nullif(trim(#{index + 1}::varchar), '') as v "
                f"from read_csv(?, {csv_options(part.delimiter)})) where v is not null "
                f"group by v order by v limit {MAX_VALUES + 1}",
                [str(path)],
            ).fetchall()
        finally:
            con.close()
    except duckdb.Error:
        pass  # (not UTF-8, or ragged): read it line by line instead
    counts: dict[str, int] = {}
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.reader(handle, delimiter=part.delimiter)
        next(reader, None)
        for row in reader:
            value = row[index].strip() if index < len(row) else ""
            if value:
                counts[value] = counts.get(value, 0) + 1
                if len(counts) > MAX_VALUES:
                    break
    return sorted(counts.items())


def _column_values(f: ExportFile, part: Part, index: int) -> list[tuple[str, int]]:
    if f.kind == "csv":
        return _csv_values(f.path, part, index)
    if f.kind == "parquet":
        con = _reader()
        try:
            return con.execute(
                f"select v, count(*) from (select nullif(trim(#{index + 1}::varchar), '') as v "
                f"from read_parquet(?)) where v is not null group by v order by v limit {MAX_VALUES + 1}",
                [str(f.path)],
            ).fetchall()
        finally:
            con.close()
    if f.kind == "xlsx":
        import openpyxl

        counts: dict[str, int] = {}
        workbook = openpyxl.load_workbook(f.path, read_only=True, data_only=True)
        try:
            sheet = workbook[part.sheet] if part.sheet else workbook.worksheets[0]
            for row in sheet.iter_rows(min_row=2, min_col=index + 1, max_col=index + 1, values_only=True):
                value = "" if not row or row[0] is None else str(row[0]).strip()
                if value.endswith(".0") and value[:-2].isdigit():
                    value = value[:-2]  # a year typed as a number
                if value:
                    counts[value] = counts.get(value, 0) + 1
                    if len(counts) > MAX_VALUES:
                        break
        finally:
            workbook.close()
        return sorted(counts.items())
    return []


def _inspect_columns(f: ExportFile) -> tuple[str, tuple[str, list[str]] | None]:
    """The file's authority error (or ""), and its YEAR column's name and values (or None)."""
    year_column = None
    for part in f.parts:
        where = f" (sheet {part.sheet!r})" if part.sheet else ""
        for index, name in enumerate(part.header):
            if LA_COLUMN.match(name):
                values = [v for v, _ in _column_values(f, part, index)]
                if len(values) > 1:
                    shown = ", ".join(repr(v) for v in values[:8])
                    more = f" and {len(values) - 8:,} more" if len(values) > 8 else ""
                    count = f"more than {MAX_VALUES}" if len(values) > MAX_VALUES else f"{len(values)}"
                    return (
                        f"{f.relative}{where}: its column {name!r} names {count} local authorities "
                        f"({shown}{more}); a file must hold one authority's return, and returns of "
                        "several authorities are never merged. Split it into one file per authority "
                        "(a region runs each authority from its own folder), or remove the other "
                        "authorities' rows",
                        None,
                    )
            elif YEAR_COLUMN.match(name) and year_column is None:
                values = [v for v, _ in _column_values(f, part, index)]
                if values and len(values) <= MAX_VALUES and all(_YEAR_VALUE.match(v) for v in values):
                    year_column = (name, values)
    return "", year_column


def date_file(f: ExportFile, pins: dict[str, int] | None = None) -> ExportFile:
    """The file with its collection year and where it came from, as far as they are known
    before its rows are loaded; a file naming several authorities gets its error."""
    if not f.recognised:
        return f
    year_column = None
    if f.kind in ("csv", "parquet", "xlsx") and any(
        LA_COLUMN.match(name) or YEAR_COLUMN.match(name) for p in f.parts for name in p.header
    ):
        try:
            error, year_column = _inspect_columns(f)
        except (OSError, ValueError, duckdb.Error, ExportError):
            error = ""  # unreadable: the loader names the problem
        if error:
            return replace(f, error=error)
    pin = pinned_year(f.relative, pins)
    if pin is not None:
        year, key = pin
        return replace(
            f, collection_year=year, year_from="config", year_note=f"oba.yaml collection_years {key!r}",
            year_column=None,
        )
    if f.collection_year is not None:
        return replace(f, year_from="name", year_note=_name_note(f.relative), year_column=None)
    if f.kind == "xml" and f.family == "cin":
        found = cin_header_year(f.path)
        if found is not None:
            return replace(f, collection_year=found[0], year_from="header", year_note=found[1])
    if year_column is not None:
        name, values = year_column
        years = sorted(int(v) for v in values)
        if len(years) == 1:
            return replace(f, collection_year=years[0], year_from="content", year_note=f"its {name} column")
        return replace(
            f, collection_year=years[-1], year_from="content", year_column=name,
            year_note=(
                f"its {name} column: {PER_ROW_NOTE} ({years[0]} to {years[-1]}); "
                "listed under the latest"
            ),
        )
    return replace(f, collection_year=None, year_from=None, year_note="", year_column=None)


def date_files(files: list[ExportFile], pins: dict[str, int] | None = None) -> list[ExportFile]:
    """:func:`date_file` for every file found."""
    return [date_file(f, pins) for f in files]
