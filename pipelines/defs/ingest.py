"""Raw layer: export files into ``raw.*`` tables, with contract checks and quarantine.

``raw/export_files`` takes stock of the exports folder (each file recognised by content, ignored
with a reason, or in error); one multi-asset per source family then loads its files into raw
tables, runs the contract's row checks (quarantine) and its great-expectations suite, reported
as one asset check per contract.
"""

import contextlib
import datetime as dt
import functools
import json
import tempfile
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from pipelines import expectations
from pipelines.contracts import load_contracts
from pipelines.defs.partitions import authority_partitions
from pipelines.defs.resources import ObaPaths, warehouse_connection
from pipelines.ingest import ExportError, scan_exports, sync_source
from pipelines.ingest.load import (
    LOADS_DDL,
    build_export_files,
    insert_tabular,
    mark_load_error,
    record_excluded,
    sha256_of,
)
from pipelines.ingest.timing import phase
from pipelines.ingest.xml_stage import XmlStager
from pipelines.ingest.years import date_files, dating_order, unused_pins
from pipelines.quality import CONTRACT_RESULTS_DDL, check_rows
from pipelines.settings import models_dir
from pipelines.sqlmodels import apply_duckdb_settings, load_catalogue, replace_table
from pipelines.stories import StoryError, load_stories, story_files


def _title(source: str) -> str:
    contract = load_contracts().get(source)
    return f"{contract.title} ({source})" if contract else source


def inventory(files) -> pd.DataFrame:
    rows = []
    for f in files:
        missing = sorted({m for p in f.parts for m in p.missing})
        extra = sorted({e for p in f.parts for e in p.extra})
        status = "error" if f.error or missing else (
            "recognised" if f.parts or f.family == "ees" else "ignored"
        )
        reason = f.error or (
            f"looks like {' and '.join(sorted({_title(p.source) for p in f.parts if p.missing}))} but "
            f"lacks required column(s) {', '.join(missing)}; export it again with every column of "
            "the return (a renamed column can be given as an alias in its data contract)"
            if missing
            else f.reason
        )
        rows.append(
            {
                "source_file": f.relative,
                "kind": f.kind,
                "family": f.family,
                "sources": ", ".join(
                    p.source + (f" (sheet {p.sheet})" if p.sheet else "") for p in f.parts
                ) or ("EES comparator table" if f.family == "ees" else ""),
                "collection_year": f.collection_year,
                "year_from": f.year_from,
                "year_note": f.year_note or None,
                "status": status,
                "reason": reason or "",
                "extra_columns": ", ".join(extra),
                "superseded_by": None,  # set by the loads (sync_source decides which file is later)
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=["source_file", "kind", "family", "sources", "collection_year", "year_from", "year_note",
                 "status", "reason", "extra_columns", "superseded_by"],
    )
    return frame.astype(
        {"collection_year": "Int64", "superseded_by": "string", "year_from": "string", "year_note": "string"}
    )


def _mark_superseded(con, source: str) -> list[tuple[str, str]]:
    """Copy the loader's supersession of ``source`` into raw.export_files (both files stay
    listed; the earlier one names the later); returns (file, superseded by) pairs."""
    pairs = con.execute(
        "select source_file, superseded_by from raw._loads "
        "where source = ? and superseded_by is not null order by source_file",
        [source],
    ).fetchall()
    if pairs and con.execute(
        "select count(*) from duckdb_columns() "
        "where schema_name = 'raw' and table_name = 'export_files' and column_name = 'superseded_by'"
    ).fetchone()[0]:
        con.execute(
            """update raw.export_files as e
            set superseded_by = l.superseded_by, status = 'superseded',
                reason = 'superseded by ' || l.superseded_by || ' (a later file for the same collection year)'
            from raw._loads as l
            where l.source = ? and l.superseded_by is not null
                and (l.source_file = e.source_file or starts_with(l.source_file, e.source_file || '#'))""",
            [source],
        )
    return pairs


def blocking_problems(files) -> list[str]:
    problems = []
    for f in files:
        if f.error:
            problems.append(f.error)
        for p in f.parts:
            if p.missing:
                problems.append(
                    f"{f.relative}{' sheet ' + p.sheet if p.sheet else ''}: looks like {_title(p.source)} "
                    f"but lacks required column(s) {', '.join(p.missing)}; export it again with every "
                    "column of the return (a renamed column can be given as an alias in its data contract)"
                )
    return problems


@dg.asset(
    key=["raw", "export_files"],
    group_name="raw",
    kinds={"duckdb", "python"},
    partitions_def=authority_partitions(),
)
def export_files(context: dg.AssetExecutionContext, duckdb: DuckDBResource, oba: ObaPaths) -> dg.MaterializeResult:
    """The exports folder's files: recognised as which source, ignored (and why), or in error."""
    expectations.prewarm()  # the contract checks' GX worker imports GX while the files load
    pins = oba.config().collection_years
    try:
        files = date_files(scan_exports(oba.exports), pins)
    except ExportError as exc:
        raise dg.Failure(description=str(exc)) from exc
    for key in unused_pins(files, pins):
        context.log.warning(f"oba.yaml collection_years: {key!r} names no file in the exports folder")
    frame = inventory(files)
    problems = blocking_problems(files)
    with warehouse_connection(duckdb) as con:
        replace_table(con, "raw.export_files", frame)
        build_export_files(con)
        con.execute(CONTRACT_RESULTS_DDL)
        con.execute("delete from quality.contract_results where source = 'export_files'")
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        for problem in problems:
            con.execute(
                "insert into quality.contract_results values ('export_files', 'file_readable', false, 1, "
                "'blocking', ?, 'loader', ?)",
                [problem, now],
            )
    for row in frame[frame["status"] == "ignored"].itertuples():
        context.log.warning(f"Ignored {row.source_file}: {row.reason}")
    if problems:
        raise dg.Failure(
            description="Blocking problems in the exports:\n" + "\n".join(f"- {p}" for p in problems),
            metadata={"problems": dg.MetadataValue.json(problems)},
        )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(frame),
            "recognised": int((frame["status"] == "recognised").sum()),
            "ignored": dg.MetadataValue.json(
                frame[frame["status"] == "ignored"][["source_file", "reason"]].to_dict("records")
            ),
        }
    )


def _xml_year(family: str, f) -> int | None:
    """The collection year of an XML export as far as it is known before loading (config, name,
    the CIN census's ReferenceDate: ``years.date_files``); else its dates date it once loaded."""
    return f.collection_year


def _xml_to_load(con, xml_files: list, sources: list[str]) -> list:
    """The XML files of which some table will be (re)loaded: sync_source's own test (sha256
    differs from the one recorded in raw._loads). A file never loaded needs no hash to know, so
    its parsing starts at once; files loaded before are hashed two at a time."""
    con.execute(LOADS_DDL)
    recorded: dict[str, dict[str, str]] = defaultdict(dict)
    for source, source_file, digest in con.execute(
        f"select source, source_file, sha256 from raw._loads where source in ({', '.join('?' for _ in sources)})",
        sources,
    ).fetchall():
        recorded[source_file][source] = digest

    def changed(f) -> bool:
        names = [p.source for p in f.parts if p.source in sources]
        seen = recorded.get(f.relative, {})
        if not names:
            return False
        if any(name not in seen for name in names):
            return True
        digest = sha256_of(f.path)
        return any(seen[name] != digest for name in names)

    with ThreadPoolExecutor(2) as pool:  # hashlib releases the GIL
        flags = list(pool.map(changed, xml_files))
    return [f for f, flag in zip(xml_files, flags, strict=True) if flag]


def _report(context, con, files, source, outcome, rows, seconds, future):
    """Write a source's contract results and yield its materialisation and contract check."""
    with phase("expectations", source, seconds):
        results = future.result()
        con.execute(CONTRACT_RESULTS_DDL)
        con.execute("delete from quality.contract_results where source = ?", [source])
        if results:
            con.register("_results", pd.DataFrame(results))
            try:
                con.execute("insert into quality.contract_results select * from _results")
            finally:
                con.unregister("_results")
        # The loader's warnings (a CSV file read as Windows-1252), kept with each file's load.
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        for source_file, warning in con.execute(
            "select source_file, warning from raw._loads where source = ? and warning is not null "
            "order by source_file",
            [source],
        ).fetchall():
            context.log.warning(f"{source_file}: {warning}")
            con.execute(
                "insert into quality.contract_results values (?, 'file_encoding', false, 1, 'warning', ?, "
                "'loader', ?)",
                [source, f"{source_file}: {warning}", now],
            )
    extra = [f.relative for f in files for p in f.parts if p.source == source and p.extra]
    if extra:
        context.log.warning(f"{source}: extra columns kept aside in _extra for {', '.join(extra)}")
    context.log.info(
        f"raw.{source}: {len(outcome['loaded'])} file(s) loaded, {len(outcome['unchanged'])} "
        f"unchanged, {len(outcome['removed'])} removed; {rows['quarantined_rows']} row(s) quarantined"
    )
    failed = [r for r in results if not r["success"]]
    blocking = [r for r in failed if r["severity"] == "blocking"]
    yield dg.MaterializeResult(
        asset_key=dg.AssetKey(["raw", source]),
        metadata={
            "dagster/row_count": outcome["rows"],
            "files_loaded": dg.MetadataValue.json(outcome["loaded"]),
            "files_unchanged": len(outcome["unchanged"]),
            "files_removed": dg.MetadataValue.json(outcome["removed"]),
            "quarantined_rows": rows["quarantined_rows"],
            "seconds": dg.MetadataValue.json(seconds),
        },
    )
    yield dg.AssetCheckResult(
        asset_key=dg.AssetKey(["raw", source]),
        check_name="contract",
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
        metadata={
            "quarantined_rows": rows["quarantined_rows"],
            "rows": rows["rows"],
            "row_failures_by_rule": dg.MetadataValue.json(rows["by_rule"]),
            "failed_expectations": dg.MetadataValue.json(
                [f"{r['check_name']}: {r['message']}" for r in failed]
            ),
        },
    )


def _family_asset(family: str, sources: list[str]) -> dg.AssetsDefinition:
    contracts = load_contracts()
    specs = [
        dg.AssetSpec(
            key=dg.AssetKey(["raw", source]),
            group_name="raw",
            kinds={"duckdb", "python"},
            deps=[dg.AssetKey(["raw", "export_files"])],
            partitions_def=authority_partitions(),
            description=f"{contracts[source].title}: every row as exported (text), with quarantine flags.",
        )
        for source in sources
    ]
    check_specs = [
        dg.AssetCheckSpec(
            name="contract",
            asset=dg.AssetKey(["raw", source]),
            blocking=True,
            description=f"data_contracts/{source}.yml: great-expectations suite and row rules",
        )
        for source in sources
    ]

    @dg.multi_asset(name=f"load_{family}", specs=specs, check_specs=check_specs)
    def _load(context: dg.AssetExecutionContext, duckdb: DuckDBResource, oba: ObaPaths):
        files = [
            f for f in date_files(scan_exports(oba.exports), oba.config().collection_years)
            if f.family == family and f.recognised
        ]
        with (
            warehouse_connection(duckdb) as con,
            tempfile.TemporaryDirectory(prefix="oba-xml-") as scratch,
            contextlib.ExitStack() as stack,
        ):
            apply_duckdb_settings(con)
            staged_xml = _xml_to_load(con, [f for f in files if f.kind == "xml"], sources)
            stager = stack.enter_context(
                XmlStager(
                    Path(scratch),
                    parallel=XmlStager.worth_parallel([f.path.stat().st_size for f in staged_xml]),
                )
            )
            columns = {source: [c.name for c in contracts[source].columns] for source in sources}
            items = defaultdict(list)
            for index, f in enumerate(files):
                if f.kind == "xml":
                    wanted = {p.source: columns[p.source] for p in f.parts}
                    stem = str(index)
                    if f in staged_xml:
                        stager.submit(stem, family, f.path, wanted)
                    staged = {}

                    def stage(f=f, staged=staged, stem=stem, wanted=wanted):
                        if not staged:
                            with phase("xml_stage", f.relative, bytes=f.path.stat().st_size):
                                paths = stager.result(stem, family, f.path, wanted)
                            staged.update(year=_xml_year(family, f), paths=paths)
                        return staged

                    for p in f.parts:
                        def insert(table, f=f, p=p, stage=stage):
                            s = stage()
                            cols = ", ".join(
                                f'"{c.name}" as "{c.sql_name}"' for c in contracts[p.source].columns
                            )
                            with phase("xml_insert", f"{f.relative}#{p.source}"):
                                con.execute(
                                    f"insert into {table} select {cols}, null, ?, _row_number, ?, true, false "
                                    "from read_parquet(?)",
                                    [f.relative, s["year"], s["paths"][p.source]],
                                )

                        items[p.source].append((f, p, insert))
                else:
                    for p in f.parts:
                        def insert(table, f=f, p=p):
                            return insert_tabular(con, contracts[p.source], f, p, table)

                        items[p.source].append((f, p, insert))
            # Each source: load, row checks, then its GX suite handed to the worker process
            # while the next source loads; results are written and reported once all are in.
            pending = []
            try:
                # The table that dates a return first, then those with dates: the others take
                # the year of their file's or their folder's dated tables (years.py).
                for source in dating_order({s: contracts[s] for s in sources}):
                    contract = contracts[source]
                    seconds: dict[str, float] = {}
                    with phase("load", source, seconds):
                        try:
                            outcome = sync_source(con, contract, items.get(source, []))
                        except ExportError as exc:
                            build_export_files(con)
                            mark_load_error(con, exc)
                            raise dg.Failure(description=str(exc)) from exc
                        for old, new in _mark_superseded(con, source):
                            context.log.info(f"{source}: {old} is superseded by {new} (a later file for the same year)")
                    with phase("row_checks", source, seconds):
                        rows = check_rows(con, contract)
                        if rows["rows"]:
                            record_excluded(con, contract)
                    with phase("expectations", source, seconds):
                        if rows["rows"]:
                            frame, sample = expectations.contract_frame(con, contract)
                            future = expectations.validate_async(contract, frame, sample)
                            del frame
                        else:  # no export of this source: nothing to check (not "did not pass")
                            future = Future()
                            future.set_result([])
                    pending.append((source, outcome, rows, seconds, future))
                build_export_files(con)  # each file's year, rows and supersession (quality.*)
            except Exception:
                for entry in pending:  # sources done before the failure are reported as before
                    yield from _report(context, con, files, *entry)
                raise
            for entry in pending:
                yield from _report(context, con, files, *entry)

    return _load


def _family_assets() -> list[dg.AssetsDefinition]:
    families = defaultdict(list)
    for contract in load_contracts().values():
        families[contract.family].append(contract.source)
    return [_family_asset(family, sorted(sources)) for family, sources in sorted(families.items())]


@dg.asset(
    key=["raw", "oba_config"],
    group_name="raw",
    kinds={"duckdb", "python"},
    partitions_def=authority_partitions(),
)
def oba_config(duckdb: DuckDBResource, oba: ObaPaths) -> dg.MaterializeResult:
    """The run's settings from oba.yaml (authority, suppression), one row, for the SQL models."""
    cfg = oba.config()
    frame = pd.DataFrame(
        [
            {
                "authority_name": cfg.authority_name,
                "authority_code": cfg.authority_code,
                "suppression_upper": cfg.suppression_upper,
                "headline_measures": json.dumps(list(cfg.headline_measures)),
                "config_file": str(cfg.source) if cfg.source else None,
            }
        ]
    ).astype({"authority_code": "string", "config_file": "string"})
    with warehouse_connection(duckdb) as con:
        replace_table(con, "raw.oba_config", frame)
    return dg.MaterializeResult(metadata={"dagster/row_count": 1})


@dg.asset(
    key=["raw", "assessment_tools"],
    group_name="raw",
    kinds={"duckdb", "python"},
    partitions_def=authority_partitions(),
)
def assessment_tools(duckdb: DuckDBResource, oba: ObaPaths) -> dg.MaterializeResult:
    """The assessment tools of oba.yaml (assessment_tools): one row per tool with the standard
    deviation of its total score and its reliability, for the reliable change criterion."""
    cfg = oba.config()
    frame = pd.DataFrame(
        [{"tool": name, "sd": tool.sd, "reliability": tool.reliability} for name, tool in cfg.assessment_tools.items()],
        columns=["tool", "sd", "reliability"],
    ).astype({"tool": "string", "sd": "float64", "reliability": "float64"})
    with warehouse_connection(duckdb) as con:
        replace_table(con, "raw.assessment_tools", frame)
    return dg.MaterializeResult(metadata={"dagster/row_count": len(frame)})


# The years the working-day calendar covers: every date a return can hold. The holidays package
# works bank holidays out by rule, so future years are known too.
BANK_HOLIDAY_YEARS = range(1990, 2051)


@functools.cache
def _bank_holidays() -> tuple[tuple[dt.date, str], ...]:
    """(date, name) of every bank holiday of BANK_HOLIDAY_YEARS, in date order: worked out
    once per process (the rules give the same days every time; a second run reuses them)."""
    import holidays

    return tuple(sorted(holidays.country_holidays("GB", subdiv="ENG", years=BANK_HOLIDAY_YEARS).items()))


@dg.asset(
    key=["raw", "bank_holidays"],
    group_name="raw",
    kinds={"duckdb", "python"},
    partitions_def=authority_partitions(),
)
def bank_holidays(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """England and Wales bank holidays (the holidays package, GB subdivision ENG), one row per
    day, for the working-day calendar (int_calendar) that timeliness measures count with."""
    frame = pd.DataFrame(
        _bank_holidays(), columns=["holiday_date", "holiday_name"]
    ).astype({"holiday_name": "string"})
    frame["holiday_date"] = pd.to_datetime(frame["holiday_date"])
    with warehouse_connection(duckdb) as con:
        replace_table(con, "raw.bank_holidays", frame)
        con.execute("alter table raw.bank_holidays alter holiday_date type date")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(frame),
            "years": f"{BANK_HOLIDAY_YEARS.start}-{BANK_HOLIDAY_YEARS.stop - 1}",
        }
    )


@dg.asset(
    key=["raw", "stories"],
    group_name="raw",
    kinds={"duckdb", "python"},
    partitions_def=authority_partitions(),
)
def stories(context: dg.AssetExecutionContext, duckdb: DuckDBResource, oba: ObaPaths) -> dg.MaterializeResult:
    """Stories behind the baseline (stories/*.yml or stories.csv), one row per measure."""
    cfg = oba.config()
    directory = cfg.stories_dir or oba.exports / "stories"
    try:
        found = load_stories(
            story_files(directory, oba.exports),
            oba.exports,
            known_measures=load_catalogue(models_dir()).keys(),
            warn=context.log.warning,
        )
    except StoryError as exc:
        raise dg.Failure(description=str(exc)) from exc
    columns = ["measure_id", "baseline_end", "target", "story", "partners", "what_works",
               "actions", "data_development", "source_file"]
    frame = pd.DataFrame(
        [
            {
                "measure_id": s.measure_id,
                "baseline_end": s.baseline_end,
                "target": s.target,
                "story": json.dumps(s.story),
                "partners": json.dumps(s.partners),
                "what_works": json.dumps(s.what_works),
                "actions": json.dumps(s.actions),
                "data_development": json.dumps(s.data_development),
                "source_file": s.source_file,
            }
            for s in found
        ],
        columns=columns,
    )
    frame["baseline_end"] = pd.to_datetime(frame["baseline_end"]).dt.date
    frame = frame.astype(
        {c: "string" for c in columns if c not in ("baseline_end", "target")}
    ).astype({"target": "float64"})
    with warehouse_connection(duckdb) as con:
        replace_table(con, "raw.stories", frame)
        con.execute("alter table raw.stories alter baseline_end type date")
    return dg.MaterializeResult(metadata={"dagster/row_count": len(frame)})


defs = dg.Definitions(assets=[export_files, *_family_assets(), oba_config, assessment_tools, bank_holidays, stories])
