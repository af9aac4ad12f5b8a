"""The `oba validate` report: per file, what it was recognised as, its rows, and its problems."""

from __future__ import annotations

from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table
from rich.text import Text


def _tables(con) -> set[str]:
    return {
        f"{s}.{t}"
        for s, t in con.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
    }


def collect(warehouse: Path) -> dict:
    """The validation results held in a checked warehouse, as plain rows."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        present = _tables(con)
        files = (
            con.execute("select * from raw.export_files order by source_file").df()
            if "raw.export_files" in present
            else None
        )
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
    "recognised": ("loaded", "green"),
    "superseded": ("superseded", "yellow"),
    "ignored": ("ignored", "yellow"),
    "error": ("error", "red"),
}


def print_report(warehouse: Path, console: Console) -> bool:
    """Print the report; returns True when a blocking problem was found."""
    report = collect(warehouse)
    files, loads, quarantine, failed = (
        report["files"], report["loads"], report["quarantine"], report["failed_checks"],
    )
    if files is not None:
        table = Table(title="Export files", show_lines=False)
        for column in ("file", "recognised as", "rows", "status"):
            table.add_column(column, overflow="fold")
        rows_by_file = {}
        if loads is not None:
            for r in loads.itertuples():
                key = r.source_file.split("#")[0]
                rows_by_file[key] = rows_by_file.get(key, 0) + int(r.rows)
        for r in files.itertuples():
            label, style = STATUS_LABELS.get(r.status, (str(r.status), ""))
            status = Text(label, style=style)
            if r.reason:
                status.append(f" – {r.reason}")
            table.add_row(
                Text(str(r.source_file)), Text(str(r.sources or "–")),
                str(rows_by_file.get(r.source_file, "–")), status,
            )
        console.print(table)
    if quarantine is not None and len(quarantine):
        table = Table(title="Row problems (quarantined rows are left out; warnings flow on)")
        for column in ("file", "rule", "column", "rows", "e.g. rows", "example"):
            table.add_column(column, overflow="fold")
        for r in quarantine.itertuples():
            label = r.rule + ("" if r.action == "quarantine" else " (warning)")
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


_PAGE = """<!DOCTYPE html>
<html lang="en-GB"><head><meta charset="utf-8"><title>Data quality – export check</title>
<style>body{font-family:Arial,Helvetica,sans-serif;max-width:1100px;margin:1rem auto;padding:0 1rem;color:#1b1b1b}
table{border-collapse:collapse;width:100%;margin:1rem 0}caption{text-align:left;font-weight:bold;padding:.4rem 0}
th,td{border-bottom:1px solid #ccc;padding:.35rem .5rem;text-align:left}.error{color:#b00020}.ignored{color:#7a5b00}</style>
</head><body><main>
<h1>Data quality: export check</h1>
<p>{{ 'Blocking problems found: the run would stop until they are fixed.' if blocking else 'No blocking problems.' }}</p>
{% if files is not none %}<table><caption>Export files and what each was recognised as</caption>
<thead><tr><th scope="col">File</th><th scope="col">Recognised as</th><th scope="col">Status</th><th scope="col">Detail</th></tr></thead><tbody>
{% for r in files %}<tr><td>{{ r.source_file }}</td><td>{{ r.sources or '–' }}</td><td class="{{ r.status }}">{{ r.status }}</td><td>{{ r.reason }}</td></tr>{% endfor %}
</tbody></table>{% endif %}
{% if quarantine %}<table><caption>Row problems by file and rule (quarantined rows are left out of every measure)</caption>
<thead><tr><th scope="col">File</th><th scope="col">Rule</th><th scope="col">Column</th><th scope="col">Rows</th><th scope="col">Example rows</th><th scope="col">Example</th></tr></thead><tbody>
{% for r in quarantine %}<tr><td>{{ r.source_file }}</td><td>{{ r.rule }}{% if r.action != 'quarantine' %} (warning){% endif %}</td><td>{{ r.column_name }}</td><td>{{ r.n }}</td><td>{{ r.example_rows | join(', ') }}</td><td>{{ r.example_message }}</td></tr>{% endfor %}
</tbody></table>{% else %}<p>No row problems.</p>{% endif %}
{% if failed %}<table><caption>Contract checks that failed</caption>
<thead><tr><th scope="col">Source</th><th scope="col">Check</th><th scope="col">Severity</th><th scope="col">Message</th></tr></thead><tbody>
{% for r in failed %}<tr><td>{{ r.source }}</td><td>{{ r.check_name }}</td><td>{{ r.severity }}</td><td>{{ r.message }}</td></tr>{% endfor %}
</tbody></table>{% endif %}
</main></body></html>
"""


def write_report_page(warehouse: Path, site_dir: Path) -> Path:
    """Write ``site_dir/data-quality.html`` from a checked warehouse."""
    from jinja2 import Environment

    report = collect(warehouse)
    env = Environment(autoescape=True)
    records = {
        k: (None if v is None else v.to_dict("records")) for k, v in report.items()
    }
    for r in records["quarantine"] or []:
        r["example_rows"] = [str(x) for x in r["example_rows"]]
    html = env.from_string(_PAGE).render(
        blocking=has_blocking(report),
        files=records["files"],
        quarantine=records["quarantine"],
        failed=records["failed_checks"],
    )
    site_dir.mkdir(parents=True, exist_ok=True)
    path = site_dir / "data-quality.html"
    path.write_text(html, encoding="utf-8")
    return path
