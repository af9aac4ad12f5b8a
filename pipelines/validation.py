"""The `oba validate` report: per file, what it was recognised as, its collection year and where
that came from (config, name, header or content), its rows read, kept and excluded, what
superseded it, and its problems. Files come from ``quality.export_files`` (DESIGN §2), or from
``raw.export_files`` in a warehouse built before it. With an output folder, the check also writes
the site's data-quality page, made as a run makes it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dashboards.data_quality import write_quality_page, year_label
from dashboards.published import PublishedTables
from pipelines.published import existing_tables, read_quality_summary
from pipelines.quality import TREATMENT


def collect(warehouse: Path) -> dict:
    """The validation results held in a checked warehouse, as plain rows."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        present = existing_tables(con)
        if "quality.export_files" in present:
            files = con.execute("select * from quality.export_files order by source_file").df()
        elif "raw.export_files" in present:
            files = con.execute(
                "select *, sources as recognised_as from raw.export_files order by source_file"
            ).df()
        else:
            files = None
        loads = (
            con.execute("select source, source_file, rows from raw._loads order by source_file").df()
            if "raw._loads" in present
            else None
        )
        quarantine = (
            con.execute(
                """select source, source_file, rule, action, column_name, count(*) as n,
                          list(row_number order by row_number)[1:3] as example_rows,
                          list(message order by row_number)[1] as example_message
                   from quality.quarantine group by all order by source_file, rule"""
            ).df()
            if "quality.quarantine" in present
            else None
        )
        results = (
            con.execute(
                "select * from quality.contract_results where not success order by source, check_name"
            ).df()
            if "quality.contract_results" in present
            else None
        )
    finally:
        con.close()
    return {"files": files, "loads": loads, "quarantine": quarantine, "failed_checks": results}


def has_blocking(report: dict) -> bool:
    files, failed = report["files"], report["failed_checks"]
    if files is not None and (files["status"] == "error").any():
        return True
    return failed is not None and (failed["severity"] == "blocking").any()


STATUS_LABELS = {
    "loaded": ("loaded", "green"),
    "recognised": ("recognised, not loaded", "yellow"),
    "superseded": ("superseded", "yellow"),
    "ignored": ("ignored", "yellow"),
    "error": ("error", "red"),
}




def _value(row, name: str):
    """A row's value, None when the column is absent or the value missing."""
    value = getattr(row, name, None)
    try:
        return None if value is None or pd.isna(value) else value
    except (TypeError, ValueError):
        return value


def year_text(year, year_from, note) -> str:
    """``2017-18, from content (its dates: ...)`` or ``not known (...)``."""
    if year is None:
        return "not known" + (f" ({note})" if note else "")
    text = year_label(year)
    if year_from:
        text += f", from {year_from}"
    return text + (f": {note}" if note else "")


def rows_text(row) -> str | None:
    read = _value(row, "rows_read")
    if read is None:
        return None
    kept, excluded, cleared = (_value(row, c) for c in ("rows_kept", "rows_quarantined", "rows_cleared"))
    text = f"rows read {int(read):,}, kept {int(kept if kept is not None else read):,}, excluded {int(excluded or 0):,}"
    if cleared:
        text += f" ({int(cleared):,} kept with a value cleared)"
    return text


def file_lines(row) -> list[Text]:
    """One file of the report: status and what it is; year; rows; superseded by."""
    status = str(row.status)
    label, style = STATUS_LABELS.get(status, (status, ""))
    first = Text(str(row.source_file), style="bold")
    first.append(": ")
    first.append(label, style=style)
    recognised = _value(row, "recognised_as")
    if recognised:
        first.append(f" as {recognised}")
    reason = _value(row, "reason")
    if reason and status in ("error", "ignored", "recognised"):
        first.append(f" – {reason}")
    lines = [first]
    if status in ("loaded", "superseded", "recognised") or _value(row, "rows_read") is not None:
        year = _value(row, "collection_year")
        lines.append(Text("  year " + year_text(year, _value(row, "year_from"), _value(row, "year_note"))))
        rows = rows_text(row)
        if rows:
            lines.append(Text("  " + rows))
        superseded = _value(row, "superseded_by")
        if superseded:
            lines.append(Text(f"  superseded by {superseded}", style="yellow"))
        if reason and status in ("loaded", "superseded"):
            lines.append(Text(f"  {reason}"))
    return lines


def print_report(warehouse: Path, console: Console) -> bool:
    """Print the report; returns True when a blocking problem was found."""
    report = collect(warehouse)
    files, loads, quarantine, failed = (
        report["files"], report["loads"], report["quarantine"], report["failed_checks"],
    )
    if files is not None:
        if "rows_read" not in files.columns and loads is not None:  # (a warehouse built before)
            rows = {}
            for r in loads.itertuples():
                key = r.source_file.split("#")[0]
                rows[key] = rows.get(key, 0) + int(r.rows)
            files = files.assign(
                rows_read=files["source_file"].map(rows),
                status=files["status"].replace({"recognised": "loaded"}),
            )
        console.print(Text("Export files (year: the collection year, e.g. 2017-18, and where it came from)",
                           style="bold"))
        if not len(files):
            console.print("  No files found.")
        for r in files.itertuples():
            for line in file_lines(r):
                console.print(line)
    if quarantine is not None and len(quarantine):
        table = Table(title="Row problems (an excluded row is left out of the figures; a cleared value or a warning leaves its row in)")
        for column in ("file", "rule", "column", "rows", "e.g. rows", "example"):
            table.add_column(column, overflow="fold")
        for r in quarantine.itertuples():
            label = f"{r.rule} ({TREATMENT.get(r.action, r.action)})"
            table.add_row(
                Text(str(r.source_file)), Text(label), Text(str(r.column_name)), str(r.n),
                ", ".join(str(x) for x in r.example_rows), Text(str(r.example_message)),
            )
        console.print(table)
    elif quarantine is not None:
        console.print("No row problems.")
    if failed is not None and len(failed):
        table = Table(title="Contract checks that failed")
        for column in ("source", "check", "severity", "message"):
            table.add_column(column, overflow="fold")
        for r in failed.itertuples():
            table.add_row(Text(str(r.source)), Text(str(r.check_name)), r.severity, Text(str(r.message)))
        console.print(table)
    return has_blocking(report)


def write_report_page(warehouse: Path, site_dir: Path) -> Path:
    """Write ``site_dir/data-quality.html`` from a checked warehouse: the data-quality page a run
    publishes (its summary counts rows by file, column and rule and shows no failing value)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        summary = read_quality_summary(con)
    finally:
        con.close()
    return write_quality_page(site_dir, PublishedTables.from_tables(summary))
