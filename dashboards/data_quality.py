"""The data-quality page, the one renderer of ``data-quality.html`` for a run's site and for
``oba validate --out``.

In the order a person reads it: (a) per source of the data-contract catalogue, the files
received (the name as given, what it was read as, its collection year and where that came
from, rows read, kept, excluded and flagged, the file that superseded it), a source no file was
given for "not supplied"; (b) the problems by rule, each with its plain-English message, how the
rows were treated (excluded from the figures, kept with the value cleared, or kept with a
warning only, as ``pipelines.quality.TREATMENT`` says), how many rows and what to correct in the
case system; the measures not computed (a run's page); (c) the great-expectations results,
last. Everything comes from the published data-quality summary (``published.pub_source_files``,
``pub_quarantine_summary``, ``pub_export_files``, ``pub_contract_results``): counts and file
facts, never a value of a record.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from dashboards.outputs import write_text
from dashboards.published import PublishedTables
from dashboards.views import plain
from pipelines.quality import EXCLUDED, KEPT, TREATMENT, WARN

NOT_SUPPLIED = "not supplied"
# Where a file's collection year came from (raw._loads.year_from), as the page says it.
YEAR_FROM = {
    "config": "oba.yaml",
    "name": "the file or folder name",
    "header": "the return's header",
    "content": "the file's content",
}
# The problems a column check finds (pipelines/quality.py), worded without the value: what is
# wrong, and what to correct in the case system. ``{column}`` is the column's name.
COLUMN_CHECKS = {
    "missing_value": (
        "{column} is blank; a value is required.",
        "Record the {column} in the case system, then export again.",
    ),
    "unknown_code": (
        "{column} holds a code that is not in the DfE code list for the return's collection year.",
        "Record the {column} with a code from that year's code list in the case system (or check "
        "that the file's collection year is right).",
    ),
    "duplicate_key": (
        "The same {column} is given more than once in one file; only its first row is used.",
        "Remove the repeated record in the case system, or give it its own {column}.",
    ),
}
# The loader's own checks, which belong to no source of the catalogue.
LOADER_CHECKS = {"export_files": "Export files", "ees_comparators": "DfE comparator tables"}
FORMAT_KINDS = {"date": "date", "integer": "whole number", "number": "number", "boolean": "true/false value"}
RULE_FIX = (
    "Correct the {column} (or the record it contradicts) in the case system so that the rule "
    "holds, then export again."
)
# Problems in the order they matter: rows out of the figures first.
_ACTION_ORDER = {EXCLUDED: 0, "quarantine": 0, KEPT: 1, WARN: 2}


def year_label(year) -> str | None:
    """A collection year as the return names it: 2018 -> ``2017-18``."""
    if year is None or pd.isna(year):
        return None
    year = int(year)
    return f"{year - 1}-{year % 100:02d}"


def year_origin(year_from, note) -> str:
    """Where a file's collection year came from: ``the file or folder name (its folder name
    '2018-19')``, ``the file's content (its dates: ...)``; ``not dated (...)`` when no year was
    found."""
    origin = YEAR_FROM.get(year_from, year_from) if year_from else None
    note = note or None
    if origin is None:
        return "not dated" + (f" ({note})" if note else "")
    return origin + (f" ({note})" if note else "")


def rule_wording(rule: str, column: str, rule_message: str | None) -> tuple[str, str]:
    """(message, fix) of a rule: a column check's own wording, or a contract rule's message."""
    if rule in COLUMN_CHECKS:
        message, fix = COLUMN_CHECKS[rule]
    elif rule.endswith("_format"):
        kind = FORMAT_KINDS.get(rule.removesuffix("_format"), rule.removesuffix("_format"))
        message = f"{{column}} is not a {kind} in a form the export uses."
        fix = f"Record the {{column}} as a valid {kind} in the case system, then export again."
    else:
        message, fix = (rule_message or rule), RULE_FIX
    return message.format(column=column), fix.format(column=column)


def _records(frame: pd.DataFrame | None) -> list[dict]:
    return [] if frame is None else [plain(r) for r in frame.to_dict("records")]


def _count(value) -> int:
    return 0 if value is None else int(value)


def source_views(source_files: pd.DataFrame | None) -> list[dict]:
    """Each catalogue source with its files (none: not supplied) and their row counts."""
    sources: dict[str, dict] = {}
    for r in _records(source_files):
        source = sources.setdefault(
            r["source"],
            {"source": r["source"], "title": r.get("title") or r["source"], "files": [],
             "rows_read": 0, "rows_kept": 0, "rows_excluded": 0, "rows_flagged": 0},
        )
        if r.get("status") == NOT_SUPPLIED or not r.get("source_file"):
            continue
        name = r["source_file"] + (f" (sheet {r['part']})" if r.get("part") else "")
        source["files"].append({
            "name": name,
            "read_as": source["title"],
            "year": year_label(r.get("collection_year")) or "not known",
            "year_origin": year_origin(r.get("year_from"), r.get("year_note")),
            "rows_read": _count(r.get("rows_read")),
            "rows_kept": _count(r.get("rows_kept")),
            "rows_excluded": _count(r.get("rows_excluded")),
            "rows_cleared": _count(r.get("rows_cleared")),
            "rows_warned": _count(r.get("rows_warned")),
            "rows_flagged": _count(r.get("rows_flagged")),
            "superseded_by": r.get("superseded_by"),
        })
        for key in ("rows_read", "rows_kept", "rows_excluded", "rows_flagged"):
            source[key] += _count(r.get(key))
    for source in sources.values():
        source["supplied"] = bool(source["files"])
        source["superseded"] = sum(1 for f in source["files"] if f["superseded_by"])
    return sorted(sources.values(), key=lambda s: (not s["supplied"], s["title"]))


def problem_views(quarantine: pd.DataFrame | None, titles: dict[str, str]) -> list[dict]:
    """The rows that broke a rule, by source, rule, column and treatment, counted over files."""
    problems: dict[tuple, dict] = {}
    for r in _records(quarantine):
        action = r.get("action") or "quarantine"
        key = (r["source"], r["rule"], r.get("column_name") or "", action)
        if key not in problems:
            message, fix = rule_wording(r["rule"], key[2], r.get("rule_message"))
            problems[key] = {
                "source": titles.get(r["source"], r["source"]), "rule": r["rule"],
                "column": key[2], "message": message, "fix": fix, "action": action,
                "treatment": TREATMENT.get(action, action), "rows": 0, "files": set(),
            }
        problems[key]["rows"] += _count(r.get("rows"))
        problems[key]["files"].add(r.get("source_file"))
    rows = sorted(
        problems.values(),
        key=lambda p: (_ACTION_ORDER.get(p["action"], 3), -p["rows"], p["source"], p["rule"]),
    )
    for p in rows:
        p["files"] = len(p["files"])
    return rows


def check_views(contract_results: pd.DataFrame | None, sources: list[dict]) -> dict:
    """The great-expectations (and loader) checks: per source, how many ran and passed (a source
    not supplied is "not supplied", never failed), the checks that did not pass, and all."""
    checks = _records(contract_results)
    checks.sort(key=lambda r: (bool(r.get("success")), r.get("severity") != "blocking",
                               str(r.get("source")), str(r.get("check_name"))))
    by_source: dict[str, list[dict]] = {}
    for r in checks:
        by_source.setdefault(r["source"], []).append(r)
    titles = {**LOADER_CHECKS, **{s["source"]: s["title"] for s in sources}}
    summary = []
    catalogue = {s["source"] for s in sources}
    for s in sources:
        ran = by_source.get(s["source"], [])
        summary.append({
            "source": s["title"], "supplied": s["supplied"], "checks": len(ran),
            "passed": sum(1 for r in ran if r.get("success")),
            "failed": sum(1 for r in ran if not r.get("success")),
        })
    for name, ran in by_source.items():  # the loader's own checks (export files, comparators)
        if name not in catalogue:
            summary.append({
                "source": titles.get(name, name), "supplied": True, "checks": len(ran),
                "passed": sum(1 for r in ran if r.get("success")),
                "failed": sum(1 for r in ran if not r.get("success")),
            })
    for r in checks:
        r["source_title"] = titles.get(r["source"], r["source"])
    return {
        "check_summary": summary,
        "failed_checks": [r for r in checks if not r.get("success")],
        "checks": checks,
        "totals": {
            "checks": len(checks),
            "passed": sum(1 for r in checks if r.get("success")),
            "failed": sum(1 for r in checks if not r.get("success")),
            "blocking": sum(1 for r in checks if not r.get("success") and r.get("severity") == "blocking"),
        },
    }


def quality_context(tables: PublishedTables) -> dict:
    """Everything the data-quality template shows, from the published tables."""
    sources = source_views(tables.source_files)
    titles = {s["source"]: s["title"] for s in sources}
    read = {f["name"].split(" (sheet ")[0] for s in sources for f in s["files"]}
    other_files = [
        {"name": r["source_file"], "read_as": r.get("recognised_as"), "status": r.get("status"),
         "reason": r.get("reason")}
        for r in _records(tables.export_files)
        if r.get("source_file") not in read
    ]
    available = any(
        frame is not None and len(frame)
        for frame in (tables.source_files, tables.contract_results, tables.export_files, tables.quarantine)
    )
    return {
        "quality_available": bool(available),
        "sources": sources,
        "not_supplied": [s for s in sources if not s["supplied"]],
        "other_files": other_files,
        "problems": problem_views(tables.quarantine, titles),
        **check_views(tables.contract_results, sources),
    }


def render_quality_page(builder, *, measures: bool = True) -> str:
    """The data-quality page with ``builder``'s environment and common context (a
    ``dashboards.site.SiteBuilder``); ``measures=False`` leaves out the measures not computed
    (an export check computes none)."""
    return builder.render(
        "data_quality.html",
        page="data-quality",
        root="",
        not_computed=builder.not_computed_rows() if measures else None,
        **quality_context(builder.t),
    )


def write_quality_page(
    site_dir: Path, tables: PublishedTables, *, generated: dt.datetime | None = None
) -> Path:
    """Write ``site_dir/data-quality.html`` alone: the data-quality page of an export check
    (``oba validate --out``), from the checked warehouse's data-quality summary."""
    from dashboards.site import SiteBuilder

    builder = SiteBuilder(tables, generated or dt.datetime.now().replace(microsecond=0))
    return write_text(Path(site_dir) / "data-quality.html", render_quality_page(builder, measures=False))


__all__ = ["quality_context", "render_quality_page", "write_quality_page", "year_label"]
