"""CSV downloads of the published tables, safe to open in a spreadsheet.

CSV injection: a spreadsheet runs a cell as a formula when its text begins with ``=``, ``+``,
``-`` or ``@`` (and some also after a tab or carriage return). Every text cell that begins with
one of those characters is written with a leading apostrophe (``'=SUM(A1)``), which spreadsheets
show as text, as OWASP recommends. The one exception is a plain number: a cell whose whole text
is a decimal number (``-1.5``, ``+2``, ``-17``) is written unchanged, so negative changes stay
numbers that sort and sum; a plain number cannot run anything. Numeric columns (floats,
integers) are written as numbers. ``README.txt`` beside the CSVs says all this to the reader.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import shutil
from pathlib import Path

import pandas as pd

from dashboards.formatting import CODES
from dashboards.outputs import replacing_folder

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")

# file name -> (table, columns, description)
DOWNLOADS = {
    "measures.csv": (
        "pub_measures",
        ["measure_id", "name", "oba_kind", "unit", "direction_of_good", "frequency", "sources",
         "breakdowns", "is_headline", "description", "journey"],
        "The measures: definition, unit, which direction is good, headline flag, the stage of "
        "the child's journey.",
    ),
    "measure_values.csv": (
        "pub_measure_values",
        ["measure_id", "period_end", "breakdown", "breakdown_value", "numerator", "denominator",
         "value"],
        "Every published figure by period and breakdown (suppressed, rounded).",
    ),
    "baselines.csv": (
        "pub_measure_status",
        ["measure_id", "period_end", "value_text", "forecast", "forecast_lower",
         "forecast_upper", "baseline_end", "status", "spc_signal", "spc_mean", "spc_lower",
         "spc_upper", "target", "assurance"],
        "Whole-population series with the baseline forecast, 80% interval, SPC and status.",
    ),
    "report_card.csv": (
        "pub_report_card",
        ["measure_id", "name", "program", "latest_period", "latest_text", "year_ago_period",
         "year_ago_text", "change_text", "status", "spc_signal", "assurance", "target",
         "journey"],
        "The report card: latest value, change on a year ago, status and SPC signal.",
    ),
    "breakdown_codes.csv": (
        "pub_breakdown_codes",
        ["breakdown", "code", "label"],
        "The plain label of each breakdown code in measure_values.csv (e.g. N1 Abuse or neglect).",
    ),
    "comparator_values.csv": (
        "pub_comparator_values",
        ["measure_id", "period_end", "area_type", "area_code", "area_name", "value_text",
         "source_file"],
        "DfE's published figures for England, the region and each statistical neighbour (and the "
        "neighbours' mean) by 31 March; c, x, z, u, k are DfE's own symbols.",
    ),
    "comparator_rank.csv": (
        "pub_comparator_rank",
        ["measure_id", "period_end", "value_text", "value_source", "rank", "out_of", "quartile",
         "england", "region", "neighbours_mean", "neighbours_min", "neighbours_max"],
        "The authority's rank among all local authorities (1 = best) and quartile (1 = best) "
        "each 31 March, beside England, the region and the neighbours' mean and range.",
    ),
    "not_computed.csv": (
        "pub_not_computed",
        ["measure_id", "name", "coverage", "reason", "fix", "missing_inputs"],
        "Measures this run could not compute (or only for some periods): why, and what to do.",
    ),
}


def safe_cell(value):
    """A CSV cell that a spreadsheet will not run as a formula (see the module docstring)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and (value != value):  # NaN
            return ""
        return value
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def write_csv(path: Path, frame: pd.DataFrame) -> int:
    """Write ``frame`` to ``path`` (UTF-8 with BOM for Excel) with every cell made safe."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL)
        writer.writerow([safe_cell(c) for c in frame.columns])
        if len(frame.columns):
            # Column by column (the same values a row-by-row walk gives), then row by row.
            writer.writerows(zip(*(_cells(frame.iloc[:, k]) for k in range(len(frame.columns))), strict=True))
        else:
            writer.writerows([] for _ in range(len(frame)))
    return len(frame)


def _cells(column: pd.Series) -> list:
    """``safe_cell(_plain(v))`` of every value of ``column``, the common types without the calls."""
    texts: dict[str, str] = {}  # a column repeats its codes and names: each made safe once
    dates: dict[tuple, str] = {}  # ... and its periods
    cells = []
    for value in _values(column):
        kind = type(value)
        if kind is float:
            cells.append("" if value != value else value)
        elif kind is int:
            cells.append(value)
        elif kind is str:
            cell = texts.get(value)
            if cell is None:
                cell = texts[value] = safe_cell(value)
            cells.append(cell)
        elif kind is pd.Timestamp or kind is dt.date:
            key = (kind, value, getattr(value, "tz", None))
            cell = dates.get(key)
            if cell is None:
                cell = dates[key] = safe_cell(_plain(value))
            cells.append(cell)
        else:
            cells.append(safe_cell(_plain(value)))
    return cells


def _values(column: pd.Series):
    """The column's values as iterating it gives them; Arrow-backed text and numbers are read
    in one call (a missing value is then None rather than NA or NaN: its cell is empty either way)."""
    array = column.array
    if hasattr(array, "__arrow_array__") and isinstance(column.dtype, (pd.ArrowDtype, pd.StringDtype)):
        import pyarrow as pa

        arrow = array.__arrow_array__()
        kind = arrow.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind) \
                or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
            return arrow.to_pylist()
    return column


def _plain(value):
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return value.item()
        except (ValueError, AttributeError):
            return value
    if hasattr(value, "isoformat") and not isinstance(value, str):
        if pd.isna(value):
            return None
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    return value


def readme_text(suppression_upper: int) -> str:
    lines = [
        "Published figures (turn-the-curve). Aggregates only; no child-level data.",
        "",
        "Codes (as in the Department for Education's statistics):",
        f"  c  suppressed: a count from 1 to {suppression_upper}, or a figure hidden so that one "
        "cannot be worked out from a total",
        "  z  not applicable",
        "  x  not available",
        "  0  a true zero",
        "Rounding: counts and mean days to whole numbers; percentages and rates per 10,000 to 1",
        "decimal place.",
        "A percentage or rate is c when its numerator or denominator is. A mean number of days",
        "(unit days: numerator the days added up, denominator the children counted) is c when",
        "its denominator is, and its numerator with it.",
        "",
        "Spreadsheet safety: a text cell beginning with = + - @ (or a tab) is written with a",
        "leading apostrophe so that it is shown as text, never run as a formula. Plain numbers",
        "(such as -1.5) are written unchanged.",
        "",
        "Files:",
    ]
    lines += [f"  {name}  {description}" for name, (_, _, description) in DOWNLOADS.items()]
    return "\n".join(lines) + "\n"


def write_downloads_into(folder: Path, tables: dict[str, pd.DataFrame], suppression_upper: int) -> dict[str, int]:
    """Write every download into an existing ``folder``; returns rows per file."""
    written = {}
    for name, (table, columns, _) in DOWNLOADS.items():
        frame = tables.get(table)
        if frame is None:
            frame = pd.DataFrame(columns=columns)
        frame = frame[[c for c in columns if c in frame.columns]]
        written[name] = write_csv(folder / name, frame)
    (folder / "README.txt").write_text(readme_text(suppression_upper), encoding="utf-8")
    return written


def write_downloads(target: Path, tables: dict[str, pd.DataFrame], suppression_upper: int = 5) -> dict[str, int]:
    """Write the CSVs into ``target`` (replacing it whole, atomically); returns rows per file."""
    with replacing_folder(target) as work:
        written = write_downloads_into(work, tables, suppression_upper)
    return written


def copy_downloads(source: Path, folder: Path) -> None:
    """Copy the downloads written in ``source`` (every CSV and the README) into ``folder``."""
    for name in (*DOWNLOADS, "README.txt"):
        shutil.copyfile(source / name, folder / name)


__all__ = ["CODES", "DOWNLOADS", "copy_downloads", "safe_cell", "write_csv", "write_downloads"]
