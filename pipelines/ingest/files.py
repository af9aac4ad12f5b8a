"""Finding and recognising export files by their content, whatever their names.

CSV, Excel and Parquet files are matched to a data contract by their header row (names or the
contract's aliases, case-insensitive); XML files by their root element (``EXPSSDA903`` for the
SSDA903 return, ``Message`` for the CIN census). Anything else is listed as ignored, with why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.contracts import Contract, load_contracts


class ExportError(ValueError):
    """An export file cannot be read; the message names the file and what to do."""


XML_FAMILIES = {
    "EXPSSDA903": ("ssda903", ("ssda903_header", "ssda903_episodes", "ssda903_oc3")),
    "Message": ("cin", ("cin_children", "cin_details", "cin_cp_plans")),
}
TABULAR = {".csv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".parquet": "parquet", ".pq": "parquet"}
SKIP_SUFFIXES = {".md", ".json", ".yaml", ".yml", ".txt", ".duckdb", ".wal", ".pdf", ".html", ".key"}

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


def _decode_head(path: Path, head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ExportError(
            f"{path.name}: the file is UTF-16 encoded; save it as 'CSV UTF-8' and export again"
        )
    if b"\x00" in head:
        raise ExportError(
            f"{path.name}: the file is binary, not text; export the table as a UTF-8 CSV file"
        )
    try:
        return head.decode("utf-8-sig")
    except UnicodeDecodeError:
        # A multi-byte character cut at the end of the block is fine; anything else is not.
        try:
            return head[:-4].decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ExportError(
                f"{path.name}: the file is not UTF-8 text (byte {exc.start}); save it as 'CSV UTF-8'"
            ) from exc


def split_header(line: str) -> tuple[str, ...]:
    import csv

    row = next(csv.reader([line]), [])
    return tuple(h.strip() for h in row)


def match_contract(
    header: tuple[str, ...], contracts: dict[str, Contract], formats: tuple[str, ...] = ("csv",)
) -> Part | None:
    """The contract whose recognising columns the header holds (the most specific one wins)."""
    best, best_size = None, 0
    for contract in contracts.values():
        if contract.format not in formats:
            continue
        mapped = contract.header_map(header)
        present = {name.upper() for name in mapped}
        if contract.recognise_by <= present and len(contract.recognise_by) > best_size:
            best, best_size = contract, len(contract.recognise_by)
    if best is None:
        return None
    mapped = best.header_map(header)
    known = {v.upper() for v in mapped.values()}
    missing = tuple(c.name for c in best.columns if c.required and c.name not in mapped)
    extra = tuple(h for h in header if h and h.upper() not in known)
    return Part(best.source, None, header, mapped, missing, extra)


def _xml_root(path: Path, head: bytes) -> str:
    text = head.decode("utf-8", errors="replace")
    text = re.sub(r"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", "", text, flags=re.S)
    match = re.search(r"<\s*([A-Za-z_][\w.:-]*)", text)
    if not match:
        raise ExportError(f"{path.name}: not well-formed XML (no root element found)")
    return match.group(1).split(":")[-1]


def recognise(path: Path, root: Path, contracts: dict[str, Contract] | None = None) -> ExportFile:
    """Match one file to the contracts it feeds; never raises for content problems."""
    contracts = contracts if contracts is not None else load_contracts()
    relative = path.relative_to(root).as_posix()
    year = collection_year_from_name(relative)
    suffix = path.suffix.lower()
    base = {"path": path, "relative": relative, "collection_year": year}
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
            text = _decode_head(path, head)
            line = text.splitlines()[0] if text.strip() else ""
            if not line.strip():
                raise ExportError(f"{relative}: the file has no header row")
            part = match_contract(split_header(line), contracts)
            if part is None:
                return ExportFile(**base, kind=kind, family=None, reason="header matches no known export")
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
                header = tuple("" if v is None else str(v).strip() for v in (first or ()))
                part = match_contract(header, contracts, ("csv", "tabular"))
                if part is not None:
                    parts.append(Part(part.source, sheet.title, part.header, part.columns, part.missing, part.extra))
        finally:
            workbook.close()
        if not parts:
            return ExportFile(
                **base, kind=kind, family=None,
                reason=f"no sheet matches a known export (sheets: {', '.join(sheets)})",
            )
        return ExportFile(**base, kind=kind, family=contracts[parts[0].source].family, parts=tuple(parts))
    except ExportError as exc:
        return ExportFile(**base, kind=TABULAR.get(suffix, "xml" if suffix == ".xml" else None), family=None, error=str(exc))


def scan_exports(root: Path) -> list[ExportFile]:
    """Every data file under ``root`` (recursively), recognised, ignored or in error."""
    if not root.is_dir():
        raise ExportError(f"{root}: exports folder not found")
    contracts = load_contracts()
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        parts = path.relative_to(root).parts
        if any(part.startswith(".") for part in parts) or parts[0] == "stories":
            continue
        if path.suffix.lower() in SKIP_SUFFIXES or path.name.startswith("~$"):
            continue
        found.append(recognise(path, root, contracts))
    return found
