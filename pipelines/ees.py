"""DfE's published local-authority tables (Explore Education Statistics, EES) as comparators.

An EES data file is a tidy CSV: ``time_period`` (``2024`` or ``202324``), ``time_identifier``,
``geographic_level`` (National, Regional, Local authority), ``country_code``, ``region_code``,
``region_name``, ``new_la_code``, ``old_la_code``, ``la_name``, then filter columns and
indicator columns, in any order; its ``<name>.meta.csv`` (``col_name``, ``col_type``, ``label``,
...) says which columns are filters and which indicators. Files are recognised by those columns,
never by their names.

The measure catalogue (``models/measures.yml``) says which published indicator feeds which
measure, under each entry's ``ees:`` key::

    ees:
      - dataset: Children looked after at 31 March (number and rate)
        indicator: [rate_per_10000, rate]           # the first column the file has is read
        filters: {population_count: Children looked after at 31 March each year}

A row is read when every filter named matches (case and surrounding spaces aside); a filter
column the mapping does not name must hold its total (``Total``, ``All ...``) when that leaves
one row per area and year. Symbols stay symbols (``c`` suppressed, ``x`` not available, ``z``
not applicable, ``u`` low reliability, ``k`` below 0.5): the value is null and the symbol kept,
never a zero. ``time_period`` becomes the 31 March the year ends on.

Every byte of a file is hostile: cells are read with the csv module under size limits and only
ever reach the warehouse as data (a DataFrame), never as SQL text.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.safeyaml import YamlFileError, load_yaml

SYMBOLS = ("c", "x", "z", "u", "k")
SYMBOL_MEANINGS = {
    "c": "suppressed (confidential)", "x": "not available", "z": "not applicable",
    "u": "low reliability", "k": "below 0.5",
}
# Columns every EES data file has (recognition), and its geography and time columns.
RECOGNISE = frozenset({"time_period", "time_identifier", "geographic_level"})
AREA_COLUMNS = frozenset({"country_code", "new_la_code", "la_name", "region_code"})
GEOGRAPHY = frozenset({
    "time_period", "time_identifier", "geographic_level", "country_code", "country_name",
    "region_code", "region_name", "new_la_code", "old_la_code", "la_name", "la_code",
    "lad_code", "lad_name", "opportunity_area_code", "opportunity_area_name", "pcon_code",
    "pcon_name", "english_devolved_area_code", "english_devolved_area_name",
})
META_RECOGNISE = frozenset({"col_name", "col_type", "label"})
LEVELS = {"national": "england", "regional": "region", "local authority": "la"}
TOTALS = re.compile(r"^(total|all\b.*|all)$", re.IGNORECASE)
MAX_COLUMNS = 1000
MAX_FIELD = 10_000
MAX_BYTES = 512 * 1024 * 1024


class EesError(ValueError):
    """An EES file cannot be read; the message names the file."""


@dataclass(frozen=True)
class EesSource:
    """One published indicator feeding one catalogue measure."""

    measure_id: str
    dataset: str
    indicators: tuple[str, ...]
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class EesFile:
    path: Path
    relative: str
    header: tuple[str, ...] = ()
    meta: dict[str, str] | None = None  # col_name (lower) -> col_type (lower)
    status: str = "ignored"  # loaded, superseded, ignored, error
    measures: list[str] = field(default_factory=list)
    superseded_by: str | None = None
    reason: str = ""
    release: tuple = ()  # (modification time, sha256): the later wins


@dataclass
class EesResult:
    rows: list[dict] = field(default_factory=list)
    files: list[EesFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _norm(text: str) -> str:
    return str(text).strip().lower()


def is_data_header(header) -> bool:
    names = {_norm(h) for h in header}
    return RECOGNISE <= names and bool(AREA_COLUMNS & names)


def is_meta_header(header) -> bool:
    return META_RECOGNISE <= {_norm(h) for h in header}


def period_end(time_period: str, time_identifier: str = "") -> dt.date | None:
    """The 31 March a ``time_period`` ends on: ``2024`` (reporting or financial year ending
    2024) and ``202324`` (the year 2023-24) both give 31 March 2024; anything else None."""
    text = str(time_period).strip()
    if re.fullmatch(r"\d{4}", text):
        year = int(text)
    elif re.fullmatch(r"\d{6}", text) and (int(text[:4]) + 1) % 100 == int(text[4:]):
        year = int(text[:4]) + 1
    else:
        return None
    if not 1990 <= year <= 2100:
        return None
    return dt.date(year, 3, 31)


def parse_value(text: str) -> tuple[float | None, str | None]:
    """(value, symbol): a number, or one of DfE's symbols kept as it is (never a zero)."""
    cell = str(text).strip()
    if cell.lower() in SYMBOLS:
        return None, cell.lower()
    if cell.lower() == "low":  # older releases write "low" for below 0.5
        return None, "k"
    cleaned = cell.replace(",", "")
    if cleaned.endswith("%"):
        cleaned = cleaned[:-1]
    try:
        number = float(cleaned)
    except ValueError:
        return None, None
    return (number, None) if math.isfinite(number) else (None, None)


# --- the catalogue's mapping -------------------------------------------------------------------


def load_mapping(models_dir: Path) -> tuple[dict[str, list[EesSource]], dict[str, str]]:
    """``{measure_id: [EesSource, ...]}`` and each measure's direction of good, from the
    catalogue's ``ees:`` keys."""
    path = Path(models_dir) / "measures.yml"
    try:
        doc = load_yaml(path, what="measure catalogue") or {}
    except (YamlFileError, OSError):
        return {}, {}
    mapping: dict[str, list[EesSource]] = {}
    directions: dict[str, str] = {}
    for entry in doc.get("measures") or []:
        if not isinstance(entry, dict) or not entry.get("id"):
            continue
        measure_id = str(entry["id"])
        directions[measure_id] = str(entry.get("direction_of_good") or "up")
        specs = entry.get("ees") or []
        if isinstance(specs, dict):
            specs = [specs]
        sources = []
        for spec in specs:
            if not isinstance(spec, dict) or not spec.get("indicator"):
                continue
            indicator = spec["indicator"]
            indicators = tuple(_norm(i) for i in (indicator if isinstance(indicator, list) else [indicator]))
            filters = {}
            for column, value in (spec.get("filters") or {}).items():
                values = value if isinstance(value, list) else [value]
                filters[_norm(column)] = tuple(_norm(v) for v in values)
            sources.append(EesSource(measure_id, str(spec.get("dataset") or ""), indicators, filters))
        if sources:
            mapping[measure_id] = sources
    return mapping, directions


# --- reading files -----------------------------------------------------------------------------


def _text(path: Path, relative: str) -> str:
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise EesError(f"{relative}: {size:,} bytes, more than an EES table ({MAX_BYTES:,}); not read")
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise EesError(f"{relative}: the file is binary, not text (a NUL byte); not read")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _records(text: str, relative: str):
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for number, record in enumerate(reader, start=1):
            if len(record) > MAX_COLUMNS:
                raise EesError(f"{relative}: line {number} has {len(record):,} columns, more than {MAX_COLUMNS:,}")
            if any(len(cell) > MAX_FIELD for cell in record):
                raise EesError(f"{relative}: line {number} holds a field longer than {MAX_FIELD:,} characters")
            yield record
    except csv.Error as exc:
        raise EesError(f"{relative}: not a readable CSV file ({exc})") from exc


def head_of(path: Path) -> tuple[str, ...]:
    """The header row of a CSV file (empty when unreadable)."""
    try:
        with path.open("rb") as handle:
            first = handle.readline(200_000)
        text = first.decode("utf-8-sig", errors="replace")
        return tuple(next(csv.reader([text.rstrip("\r\n")]), []))
    except (OSError, csv.Error):
        return ()


def _meta_path_of(path: Path) -> Path:
    return path.with_name(path.name[: -len(".csv")] + ".meta.csv") if path.name.lower().endswith(".csv") else path


def _read_meta(path: Path, relative: str) -> dict[str, str]:
    records = _records(_text(path, relative), relative)
    header = [_norm(h) for h in next(records, [])]
    at = {name: i for i, name in enumerate(header)}
    meta = {}
    for record in records:
        if len(record) > max(at["col_name"], at["col_type"]):
            meta[_norm(record[at["col_name"]])] = _norm(record[at["col_type"]])
    return meta


def _release(path: Path) -> tuple:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return (path.stat().st_mtime, digest)


def read_ees(
    found: list[tuple[Path, str]],
    mapping: dict[str, list[EesSource]],
) -> EesResult:
    """Read the EES files among ``found`` ((path, path relative to the exports folder)): one row
    per measure, 31 March, geographic level and area; the newest release wins an indicator and
    year that two files both give (both listed)."""
    result = EesResult()
    data, metas = [], []
    for path, relative in found:
        header = head_of(path)
        if is_meta_header(header) and path.name.lower().endswith(".meta.csv"):
            metas.append((path, relative))
        elif is_data_header(header):
            data.append(EesFile(path, relative, header))
    data_paths = {f.path.resolve() for f in data}
    for path, relative in metas:
        data_path = path.with_name(path.name[: -len(".meta.csv")] + ".csv")
        if data_path.resolve() not in data_paths:
            note = EesFile(path, relative, status="ignored", reason=(
                f"an EES metadata file without its data file {data_path.name}: nothing read from it; "
                "put the data file beside it"
            ))
            result.files.append(note)
            result.warnings.append(f"{relative}: {note.reason}")
    # candidate rows: (measure, period, level, code) -> [(release, file, row)]
    candidates: dict[tuple, list] = defaultdict(list)
    for f in data:
        result.files.append(f)
        try:
            f.release = _release(f.path)
            meta_path = _meta_path_of(f.path)
            if meta_path.is_file():
                try:
                    f.meta = _read_meta(meta_path, meta_path.name)
                except EesError as exc:
                    result.warnings.append(f"{exc}; the data file is read without it")
            rows = _read_rows(f, mapping, result.warnings)
        except (EesError, OSError) as exc:
            f.status, f.reason = "error", str(exc)
            result.warnings.append(str(exc))
            continue
        if not f.measures:
            indicators = _indicator_columns(f)
            f.status = "ignored"
            f.reason = (
                "an EES table whose indicators (" + ", ".join(indicators[:8])
                + (", ..." if len(indicators) > 8 else "")
                + ") no measure's ees: mapping in models/measures.yml reads; not used"
            )
            result.warnings.append(f"{f.relative}: {f.reason}")
            continue
        for row in rows:
            key = (row["measure_id"], row["period_end"], row["area_type"], row["area_code"])
            candidates[key].append((f.release, f, row))
    # newest release wins each (measure, year); the others are listed as superseded
    won: dict[tuple, EesFile] = {}
    by_measure_year: dict[tuple, set] = defaultdict(set)
    for (measure, period, _, _), entries in candidates.items():
        for _, f, _ in entries:
            by_measure_year[(measure, period)].add(id(f))
    files_by_id = {id(f): f for f in data}
    for key, ids in by_measure_year.items():
        newest = max((files_by_id[i] for i in ids), key=lambda f: f.release)
        won[key] = newest
        for i in ids:
            loser = files_by_id[i]
            if loser is not newest:
                loser.superseded_by = newest.relative
                message = (
                    f"{loser.relative} and {newest.relative} both give {key[0]} for "
                    f"{key[1].isoformat()}: the newer release ({newest.relative}) is used"
                )
                if message not in result.warnings:
                    result.warnings.append(message)
    for (measure, period, _, _), entries in sorted(candidates.items(), key=lambda kv: kv[0][:2]):
        winner = won[(measure, period)]
        for _, f, row in entries:
            if f is winner:
                result.rows.append(row)
    used = {id(f) for f in won.values()}
    for f in data:
        if f.status == "error" or not f.measures:
            continue
        if id(f) in used:
            f.status = "loaded"
            f.reason = "EES comparator table for " + ", ".join(sorted(set(f.measures)))
            if f.superseded_by:
                f.reason += f" (some years superseded by {f.superseded_by})"
        else:
            f.status = "superseded"
            f.reason = f"superseded by {f.superseded_by} (a newer release of the same indicator and years)"
    # a metadata file beside its data file is listed with that file's outcome
    by_path = {f.path.resolve(): f for f in data}
    for path, relative in metas:
        table = by_path.get(path.with_name(path.name[: -len(".meta.csv")] + ".csv").resolve())
        if table is not None:
            result.files.append(EesFile(
                path, relative, status=table.status,
                reason=f"metadata of {table.relative}, read with it: {table.reason}",
            ))
    return result


def _indicator_columns(f: EesFile) -> list[str]:
    if f.meta:
        return [c for c, kind in f.meta.items() if kind == "indicator"]
    return [h for h in f.header if _norm(h) not in GEOGRAPHY]


def _read_rows(f: EesFile, mapping: dict[str, list[EesSource]], warnings: list[str]) -> list[dict]:
    header = [_norm(h) for h in f.header]
    at = {}
    for i, name in enumerate(header):
        at.setdefault(name, i)
    applicable = []
    for sources in mapping.values():
        for source in sources:
            indicator = next((i for i in source.indicators if i in at), None)
            if indicator is None or not all(column in at for column in source.filters):
                continue
            if f.meta is not None and f.meta.get(indicator) not in (None, "indicator"):
                continue
            applicable.append((source, indicator))
            break
    if not applicable:
        return []
    # filter columns the mappings do not name: from the metadata, else every non-geography,
    # non-numeric column that is not an indicator the mappings read.
    all_indicators = {i for sources in mapping.values() for s in sources for i in s.indicators}
    if f.meta is not None:
        filter_columns = [c for c, kind in f.meta.items() if kind == "filter" and c in at]
    else:
        filter_columns = [c for c in header if c not in GEOGRAPHY and c not in all_indicators]
    records = _records(_text(f.path, f.relative), f.relative)
    next(records, None)
    bad_periods: set[str] = set()
    grouped: dict[tuple, list] = defaultdict(list)
    for record in records:
        if not any(cell.strip() for cell in record):
            continue
        cells = record + [""] * (len(header) - len(record))

        def cell(name, cells=cells):
            return cells[at[name]].strip() if name in at else ""

        level = LEVELS.get(_norm(cell("geographic_level")))
        if level is None:
            continue
        period = period_end(cell("time_period"), cell("time_identifier"))
        if period is None:
            bad_periods.add(cell("time_period"))
            continue
        if level == "england":
            code, name = cell("country_code") or "E92000001", cell("country_name") or "England"
        elif level == "region":
            code, name = cell("region_code"), cell("region_name")
        else:
            code, name = cell("new_la_code"), cell("la_name")
        if not code:
            continue
        for source, indicator in applicable:
            if not all(_norm(cell(c)) in values for c, values in source.filters.items()):
                continue
            others = tuple(cell(c) for c in filter_columns if c not in source.filters and c != indicator)
            value, symbol = parse_value(cell(indicator))
            if value is None and symbol is None and cell(indicator):
                continue  # text that is neither a number nor a symbol (a note); not a figure
            grouped[(source.measure_id, period, level, code)].append((others, {
                "measure_id": source.measure_id, "period_end": period, "area_type": level,
                "area_code": code[:20], "area_name": name[:200], "region_code": cell("region_code")[:20],
                "value": value, "symbol": symbol if value is None else None,
                "indicator": indicator, "source_file": f.relative,
            }))
    rows, ambiguous = [], set()
    for key, entries in grouped.items():
        if len(entries) > 1:
            totals = [e for e in entries if all(TOTALS.match(o or "Total") for o in e[0])]
            entries = totals if totals else entries
        if len(entries) > 1 and len({(e[1]["value"], e[1]["symbol"]) for e in entries}) > 1:
            ambiguous.add(key[0])
            continue
        rows.append(entries[0][1])
        if key[0] not in f.measures:
            f.measures.append(key[0])
    for measure in sorted(ambiguous):
        warnings.append(
            f"{f.relative}: {measure}: several rows per area and year differ by a filter the "
            "mapping does not name; add it to the measure's ees: filters in models/measures.yml"
        )
    if bad_periods:
        shown = ", ".join(sorted(repr(p) for p in bad_periods)[:5])
        warnings.append(
            f"{f.relative}: time_period {shown} is not a year (2024) or a financial or reporting "
            "year code (202324): those rows are not read"
        )
    for measure_id in f.measures:
        if not any(r["measure_id"] == measure_id and r["value"] is not None for r in rows):
            warnings.append(
                f"{f.relative}: {measure_id}: every value is a symbol "
                f"({', '.join(sorted({r['symbol'] for r in rows if r['measure_id'] == measure_id and r['symbol']}))}); "
                "kept as symbols, no figure to compare"
            )
    return rows


# --- comparisons (the marts are SQL; this is the same rule for the warnings) -------------------


def area_warnings(rows: list[dict], authority: str | None, region: str | None,
                  neighbours: list[str]) -> list[str]:
    """A clear warning for every configured code no EES file has."""
    las = {r["area_code"] for r in rows if r["area_type"] == "la"}
    regions = {r["area_code"] for r in rows if r["area_type"] == "region"}
    warnings = []
    if not rows:
        return warnings
    if authority and authority not in las:
        warnings.append(
            f"authority.code {authority}: not in the EES tables; the authority's own 31 March "
            "figures are ranked instead"
        )
    if region and region not in regions:
        warnings.append(f"comparators.region {region}: no EES table has this region code")
    for code in neighbours:
        if code not in las:
            warnings.append(f"comparators.neighbours: {code} is in no EES table; left out of the neighbours")
    return warnings
