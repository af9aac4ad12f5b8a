"""Finding and recognising export files by their content, whatever their names.

CSV, Excel and Parquet files are matched to a data contract by their header row (names or the
contract's aliases, case-insensitive); XML files by their root element (``EXPSSDA903`` for the
SSDA903 return, ``Message`` for the CIN census). Anything else is listed as ignored, with why,
hidden files too.

A CSV file may be comma, semicolon, tab or pipe delimited (Excel writes semicolons in locales
with a decimal comma): the delimiter is the one under which the header matches an export. Text
that is not UTF-8 is read as Windows-1252 (Excel's "CSV" on Windows) where it can be, and the
loader converts it; a header of more than ``MAX_COLUMNS`` columns is refused before anything
reads the rows.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipelines import ees
from pipelines.contracts import Contract, load_contracts


class ExportError(ValueError):
    """An export file cannot be read; the message names the file and what to do."""


XML_FAMILIES = {
    "EXPSSDA903": ("ssda903", (
        "ssda903_header", "ssda903_episodes", "ssda903_oc3", "ssda903_uasc", "ssda903_missing",
        "ssda903_reviews", "ssda903_oc2", "ssda903_ad1", "ssda903_placed_adoption", "ssda903_prev_perm",
        "ssda903_sw_episodes", "ssda903_dolo",
    )),
    "Message": ("cin", (
        "cin_children", "cin_details", "cin_cp_plans", "cin_assessments", "cin_assessment_factors",
        "cin_plan_dates", "cin_section47", "cin_pre_proceedings",
    )),
}
TABULAR = {".csv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".parquet": "parquet", ".pq": "parquet"}
SKIP_SUFFIXES = {".md", ".json", ".yaml", ".yml", ".txt", ".duckdb", ".wal", ".pdf", ".html", ".key"}
DELIMITERS = (",", ";", "\t", "|")  # tried in this order; the first under which the header matches wins
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
# No export has anywhere near this many columns; a header wider than this is refused before any
# reader allocates a column per field (30,000 empty columns exhausted DuckDB's memory).
MAX_COLUMNS = 1000
# Files of the project's own that may sit in a folder and are not exports (not even ignored ones).
OWN_FILES = re.compile(r"^(\.oba\.lock|\.run-.*|\.oba-.*)$")

_YEAR_PATTERNS = [
    re.compile(r"(?<!\d)(20\d\d)[-_ ]?(\d\d)(?!\d)"),  # 2023-24, 202324, 2023_24
    re.compile(r"(?<!\d)(\d\d)-(\d\d)(?!\d)"),  # 23-24
    re.compile(r"(?<!\d)(20\d\d)(?!\d)"),  # 2024
]


@dataclass(frozen=True)
class Part:
    """One table inside a file: a CSV/Parquet file, one Excel sheet, or one table of an XML file."""

    source: str
    sheet: str | None = None
    header: tuple[str, ...] = ()
    columns: dict[str, str] = field(default_factory=dict)  # contract column -> file's header
    missing: tuple[str, ...] = ()  # required contract columns the file lacks
    extra: tuple[str, ...] = ()  # the file's columns the contract does not know
    delimiter: str = ","  # CSV only


@dataclass(frozen=True)
class ExportFile:
    path: Path
    relative: str
    kind: str | None  # csv, xlsx, parquet, xml
    family: str | None
    parts: tuple[Part, ...] = ()
    collection_year: int | None = None
    reason: str = ""
    error: str = ""
    # Where the collection year came from (DESIGN §2b): config, name, header or content (None:
    # from the file's dates once loaded); a note saying how; a YEAR column giving each row's own.
    year_from: str | None = None
    year_note: str = ""
    year_column: str | None = None

    @property
    def recognised(self) -> bool:
        return bool(self.parts) and not self.error


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


def _head(path: Path, size: int = 65536) -> bytes:
    with path.open("rb") as handle:
        return handle.read(size)


def decode_line(raw: bytes, first: bool = False) -> tuple[str, str]:
    """One line of a CSV file as text, and its encoding: UTF-8, else Windows-1252.

    Raises ``UnicodeDecodeError`` (from Windows-1252: one of the five bytes it leaves undefined)
    when the line is neither."""
    try:
        return raw.decode("utf-8-sig" if first else "utf-8"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("cp1252"), "windows-1252"


def column_at(prefix: bytes, delimiter: str = ",") -> int:
    """The 0-based column of a CSV line in which the byte after ``prefix`` (the line up to it) falls."""
    text = prefix.decode("utf-8", errors="replace")
    return max(len(next(csv.reader([text], delimiter=delimiter), [""])) - 1, 0)


def _header_end(head: bytes) -> int:
    """Where the header record ends: the first line break outside quotes (or the block's end)."""
    end = -1
    while (end := head.find(b"\n", end + 1)) >= 0:
        if head.count(b'"', 0, end) % 2 == 0:
            return end
    return len(head)


def _decode_head(relative: str, head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ExportError(
            f"{relative}: the file is UTF-16 encoded; save it as 'CSV UTF-8' and export again"
        )
    if b"\x00" in head:
        first = head[: _header_end(head)]
        if b"\x00" in first:
            at = first.index(b"\x00")
            column = column_at(first[:at])
            names = split_header(first.decode("utf-8", errors="replace"))
            name = names[column] if column < len(names) else ""
            raise ExportError(
                f"{relative}: column {column + 1} of the header ({name!r}) holds a NUL byte (\\x00), "
                "which no export has: the file is binary, not text; export the table as a UTF-8 CSV file"
            )
        at = head.index(b"\x00")
        line = head.count(b"\n", 0, at) + 1
        raise ExportError(
            f"{relative}: the file is binary, not text (a NUL byte on line {line}, byte {at}); "
            "export the table as a UTF-8 CSV file"
        )
    try:
        return head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the block is fine; anything else is read
        # line by line as UTF-8 or else Windows-1252 (the loader converts such a file).
        if len(head) >= 65536 and exc.start >= len(head) - 4:
            return head[: exc.start].decode("utf-8-sig")
    lines, offset = [], 0
    raw_lines = head.split(b"\n")
    if len(head) >= 65536:
        raw_lines = raw_lines[:-1] or raw_lines  # the last line may be cut
    for number, raw in enumerate(raw_lines, start=1):
        try:
            lines.append(decode_line(raw, first=number == 1)[0])
        except UnicodeDecodeError as exc:
            raise encoding_error(relative, number, offset + exc.start, raw, exc.start) from exc
        offset += len(raw) + 1
    return "\n".join(lines)


def encoding_error(
    relative: str, line: int, byte: int, raw: bytes, at: int,
    header: tuple[str, ...] = (), delimiter: str = ",",
) -> ExportError:
    """The error for a line that is neither UTF-8 nor Windows-1252: file, line, column, byte."""
    column = column_at(raw[:at], delimiter)
    if line == 1:
        header = split_header(raw.decode("utf-8", errors="replace"), delimiter)
    name = f" ({header[column]!r})" if column < len(header) else ""
    return ExportError(
        f"{relative}: line {line}, column {column + 1}{name}: byte {byte} (0x{raw[at]:02X}) is neither "
        "UTF-8 nor Windows-1252 text; open the file in Excel and save it as 'CSV UTF-8', "
        "or export it again as UTF-8"
    )


def split_header(line: str, delimiter: str = ",") -> tuple[str, ...]:
    """The names of a header line, exactly as written (matching ignores surrounding spaces)."""
    return tuple(next(csv.reader([line], delimiter=delimiter), []))


def read_header(text: str, delimiter: str = ",") -> tuple[str, ...]:
    """The names of a CSV text's header record (a quoted name may span lines), as written."""
    try:
        return tuple(next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), []))
    except csv.Error:
        return split_header(text.splitlines()[0] if text else "", delimiter)


def match_contract(
    header: tuple[str, ...], contracts: dict[str, Contract], formats: tuple[str, ...] = ("csv",)
) -> Part | None:
    """The contract whose recognising columns the header holds (the most specific one wins),
    else the one it nearly matches: all but one of its recognising columns and at least half of
    its columns (two at the least). A near miss comes back with the columns it lacks in
    ``missing``, an error naming them, never "ignored" (a renamed or dropped column would
    otherwise empty a source without a word)."""
    best, best_size, near, near_size = None, 0, None, 0
    for contract in contracts.values():
        if contract.format not in formats:
            continue
        mapped = contract.header_map(header)
        present = {name.upper() for name in mapped}
        if contract.recognise_by <= present:
            if len(contract.recognise_by) > best_size:
                best, best_size = contract, len(contract.recognise_by)
        elif (
            len(contract.recognise_by - present) <= 1
            and len(mapped) >= max(2, len(contract.columns) / 2)
            and len(mapped) > near_size
        ):
            near, near_size = contract, len(mapped)
    best = best or near
    if best is None:
        return None
    mapped = best.header_map(header)
    known = {v.upper() for v in mapped.values()}
    missing = tuple(
        c.name for c in best.columns
        if c.name not in mapped and (c.required or c.name.upper() in best.recognise_by)
    )
    extra = tuple(h for h in header if h.strip() and h.upper() not in known)
    return Part(best.source, None, header, mapped, missing, extra)


ANNEX_A_SHEET = re.compile(r"^\s*list\s*\d{1,2}\b", re.IGNORECASE)


def is_annex_a(sheets: list[str]) -> bool:
    """An Ofsted Annex A workbook: its sheets are the numbered lists (List 1 … List 11)."""
    return sum(bool(ANNEX_A_SHEET.match(name)) for name in sheets) >= 3


def _xml_root(path: Path, head: bytes) -> str:
    text = head.decode("utf-8", errors="replace")
    text = re.sub(r"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", "", text, flags=re.S)
    match = re.search(r"<\s*([A-Za-z_][\w.:-]*)", text)
    if not match:
        raise ExportError(f"{path.name}: not well-formed XML (no root element found)")
    return match.group(1).split(":")[-1]


def _match_csv(text: str, contracts: dict[str, Contract]) -> Part | None:
    """The export a CSV text's header matches, under the first delimiter that gives a complete
    match (else the first that gives a near miss, missing some required columns)."""
    near = None
    for delimiter in DELIMITERS:
        if delimiter != "," and delimiter not in text:
            continue
        part = match_contract(read_header(text, delimiter), contracts)
        if part is not None and not part.missing:
            return replace(part, delimiter=delimiter)
        if part is not None and near is None:
            near = replace(part, delimiter=delimiter)
    return near


def _check_width(relative: str, part: Part, contracts: dict[str, Contract], where: str) -> None:
    """Refuse a header too wide for any export before a reader allocates a column per field."""
    if len(part.header) > MAX_COLUMNS:
        raise ExportError(
            f"{relative}: {where} has {len(part.header):,} columns, more than the {MAX_COLUMNS:,} an "
            f"export may have (it looks like {part.source}, which has "
            f"{len(contracts[part.source].columns)}); remove the empty or unwanted columns and export it again"
        )


def recognise(path: Path, root: Path, contracts: dict[str, Contract] | None = None) -> ExportFile:
    """Match one file to the contracts it feeds; never raises for content problems."""
    contracts = contracts if contracts is not None else load_contracts()
    relative = path.relative_to(root).as_posix()
    year = collection_year_from_name(relative)
    suffix = path.suffix.lower()
    base = {
        "path": path, "relative": relative, "collection_year": year,
        "year_from": "name" if year is not None else None,
    }
    try:
        if path.stat().st_size == 0:
            raise ExportError(f"{relative}: the file is empty (0 bytes); export it again")
        head = _head(path)
        if suffix == ".xml":
            root_tag = _xml_root(path, head)
            if root_tag not in XML_FAMILIES:
                return ExportFile(**base, kind="xml", family=None, reason=f"XML root <{root_tag}> is not a known export")
            family, sources = XML_FAMILIES[root_tag]
            return ExportFile(**base, kind="xml", family=family, parts=tuple(Part(s) for s in sources))
        kind = TABULAR.get(suffix)
        if kind is None:
            return ExportFile(**base, kind=None, family=None, reason="not a CSV, Excel, Parquet or XML export")
        if kind == "csv":
            text = _decode_head(relative, head)
            line = text.splitlines()[0] if text.strip() else ""
            if not line.strip():
                raise ExportError(f"{relative}: the file has no header row")
            part = _match_csv(text, contracts)
            if part is None:
                header = read_header(text)
                if ees.is_data_header(header) or (
                    ees.is_meta_header(header) and path.name.lower().endswith(".meta.csv")
                ):
                    what = "metadata" if ees.is_meta_header(header) else "data"
                    return ExportFile(
                        **{**base, "collection_year": None, "year_from": None}, kind=kind, family="ees",
                        reason=f"Explore Education Statistics {what} file: read as a comparator table",
                    )
                return ExportFile(**base, kind=kind, family=None, reason="header matches no known export")
            _check_width(relative, part, contracts, "the header")
            if len(head) < 65536 and not any(rest.strip() for rest in text.splitlines()[1:]):
                raise ExportError(
                    f"{relative}: the file has a header row but no data rows; export it again, "
                    "or remove it if the return truly has no rows"
                )
            return ExportFile(**base, kind=kind, family=contracts[part.source].family, parts=(part,))
        if kind == "parquet":
            import pyarrow.parquet as pq

            try:
                names = tuple(pq.read_schema(path).names)
            except Exception as exc:  # pyarrow raises several types for corrupt files
                raise ExportError(f"{relative}: not a readable Parquet file ({exc})") from exc
            part = match_contract(names, contracts, ("csv", "tabular"))
            if part is None:
                return ExportFile(**base, kind=kind, family=None, reason="columns match no known export")
            _check_width(relative, part, contracts, "the file")
            for number, name in enumerate(names, start=1):
                if "\x00" in name:
                    raise ExportError(
                        f"{relative}: column {number}'s name ({name!r}) holds a NUL byte (\\x00), which "
                        "no export has; rename the column and write the file again"
                    )
            return ExportFile(**base, kind=kind, family=contracts[part.source].family, parts=(part,))
        # Excel: each sheet may be a different table.
        import openpyxl

        try:
            workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises zipfile/KeyError/... for broken files
            raise ExportError(f"{relative}: not a readable Excel workbook ({exc})") from exc
        parts, sheets = [], []
        try:
            for sheet in workbook.worksheets:
                sheets.append(sheet.title)
                first = next(sheet.iter_rows(max_row=1, values_only=True), None)
                header = ["" if v is None else str(v) for v in (first or ())]
                while header and not header[-1].strip():  # formatted but empty cells at the end
                    header.pop()
                part = match_contract(tuple(header), contracts, ("csv", "tabular"))
                if part is not None:
                    _check_width(relative, part, contracts, f"sheet {sheet.title!r}")
                    parts.append(replace(part, sheet=sheet.title))
        finally:
            workbook.close()
        if not parts and is_annex_a(sheets):
            return ExportFile(
                **base, kind=kind, family=None,
                reason="Annex A: not supported yet (an Ofsted Annex A workbook of lists; "
                "its figures are not read, so it adds nothing to the measures)",
            )
        if not parts:
            return ExportFile(
                **base, kind=kind, family=None,
                reason=f"no sheet matches a known export (sheets: {', '.join(sheets)})",
            )
        return ExportFile(**base, kind=kind, family=contracts[parts[0].source].family, parts=tuple(parts))
    except ExportError as exc:
        return ExportFile(**base, kind=TABULAR.get(suffix, "xml" if suffix == ".xml" else None), family=None, error=str(exc))


def scan_exports(root: Path) -> list[ExportFile]:
    """Every data file under ``root`` (recursively), recognised, ignored or in error.

    Stories (``stories/`` and ``stories.csv`` at the top) are read by the stories asset and are
    not listed; hidden files are listed as ignored (a hidden folder once, for all its files),
    except the project's own (a run's lock and scratch folders)."""
    if not root.is_dir():
        raise ExportError(f"{root}: exports folder not found")
    contracts = load_contracts()
    found, hidden_folders = [], set()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        parts = path.relative_to(root).parts
        if parts[0] == "stories" or parts == ("stories.csv",):
            continue
        if any(OWN_FILES.match(part) for part in parts):
            continue
        hidden = next((i for i, part in enumerate(parts) if part.startswith(".")), None)
        if hidden is not None:
            if hidden == len(parts) - 1:
                found.append(_hidden(path, root, "hidden file (its name starts with '.'): not read"))
            elif parts[: hidden + 1] not in hidden_folders:
                hidden_folders.add(parts[: hidden + 1])
                found.append(_hidden(
                    root.joinpath(*parts[: hidden + 1]), root,
                    "hidden folder (its name starts with '.'): none of its files are read",
                ))
            continue
        if path.suffix.lower() in SKIP_SUFFIXES or path.name.startswith("~$"):
            continue
        found.append(recognise(path, root, contracts))
    return found


def _hidden(path: Path, root: Path, reason: str) -> ExportFile:
    relative = path.relative_to(root).as_posix() + ("/" if path.is_dir() else "")
    return ExportFile(path=path, relative=relative, kind=None, family=None, reason=reason)
