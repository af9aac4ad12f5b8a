"""One benchmark run in a fresh process; ``benchmarks.run`` starts one of these per scale.

``python -m benchmarks.measure --exports DIR --out DIR --json FILE``

Runs the real pipeline (``pipelines.cli.run_pipeline``, the ``oba run`` path: the same Dagster
job, in-process executor, ephemeral instance) and then, in the same process, the scan floor of
DESIGN §6 and the XML parse rate. The clock starts before anything heavy is imported, so the
whole run includes imports, Dagster start-up and output swapping, as ``oba run`` does.

- Per stage wall time: Dagster step events (STEP_START → STEP_SUCCESS/FAILURE timestamps of the
  run's event log), each step mapped to a stage by its asset group; a raw loader step is split
  into ingest and contract checks by the loader's own phase timings (``oba.timing`` logger).
- Peak memory per stage: the largest RSS sample (every 20 ms, /proc/self/statm) inside the
  stage's windows; the whole-run peak is getrusage's ru_maxrss, taken before the scan floor.
- Scan floor: ``select count(*) from read_csv(...)`` over every CSV/Parquet export file once,
  with the loader's own CSV options, in a fresh in-memory DuckDB connection.
- XML: staged MB/s (parse + write into DuckDB, as the loader does it, measured in the run) and
  parse-only MB/s of the largest XML file, with the RSS growth while parsing it.
- Input floor (issue 20, DESIGN §6): the scan floor plus lxml parsing every XML export once
  (iterparse, elements cleared, no per-element Python work) in one process per core.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()
WALL0 = time.time()

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
from pathlib import Path  # noqa: E402

from benchmarks.sampler import RssSampler, peak_rss_bytes, rss_bytes  # noqa: E402

LOAD0 = os.getloadavg()

STAGES = ("ingest", "contracts", "models", "baselines", "publish")
CONTRACT_PHASES = ("row_checks", "expectations")


class PhaseRecorder(logging.Handler):
    """Collects the raw loaders' phase windows (pipelines.ingest.timing)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.phases: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        info = getattr(record, "oba_phase", None)
        if info:
            self.phases.append(dict(info))


def step_stages() -> dict[str, tuple[str, str]]:
    """Step key (op name) → (asset group, stage)."""
    from pipelines.definitions import defs

    stages = {}
    for assets_def in defs.resolve_asset_graph().assets_defs:
        if not assets_def.is_executable:
            continue
        groups = sorted(set(assets_def.group_names_by_key.values()))
        group = groups[0] if groups else "default"
        name = assets_def.node_def.name
        keys = {k.to_user_string() for k in assets_def.keys}
        if group == "raw":
            stage = "raw"
        elif group in ("staging", "intermediate"):
            stage = "models"
        elif group == "marts":
            stage = "baselines" if keys == {"marts/measure_status"} else "models"
        elif group == "published":
            stage = "publish"
        else:
            stage = "other"
        stages[name] = (group, stage)
    return stages


def step_windows(entries) -> list[dict]:
    starts, steps = {}, []
    for entry in entries:
        event = entry.dagster_event
        if event is None or not entry.step_key:
            continue
        kind = event.event_type_value
        if kind == "STEP_START":
            starts[entry.step_key] = entry.timestamp
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and entry.step_key in starts:
            steps.append(
                {
                    "step": entry.step_key,
                    "start": starts[entry.step_key],
                    "end": entry.timestamp,
                    "ok": kind == "STEP_SUCCESS",
                }
            )
    return sorted(steps, key=lambda s: s["start"])


def scan_floor(exports: Path) -> dict:
    """DuckDB reading every CSV/Parquet export file once (count(*))."""
    import duckdb

    from pipelines.ingest import scan_exports
    from pipelines.ingest.load import CSV_OPTIONS  # the loader's own options

    files = [f for f in scan_exports(exports) if f.recognised and f.kind in ("csv", "parquet")]
    con = duckdb.connect()
    rows = 0
    started = time.perf_counter()
    for f in files:
        if f.kind == "csv":
            sql = f"select count(*) from read_csv(?, {CSV_OPTIONS})"
        else:
            sql = "select count(*) from read_parquet(?)"
        rows += con.execute(sql, [str(f.path)]).fetchone()[0]
    seconds = time.perf_counter() - started
    con.close()
    return {
        "seconds": round(seconds, 3),
        "files": len(files),
        "bytes": sum(f.path.stat().st_size for f in files),
        "rows": rows,
        "threads": os.cpu_count(),
    }


def _lxml_parse_only(path: str, family: str) -> tuple[str, int, float]:
    """One XML export parsed by lxml alone: the readers' own ``_iterparse`` (same parser options,
    only the record elements handed to Python, each cleared with the siblings before it), with
    nothing read from the records."""
    from pipelines.ingest.xml_readers import RECORD_TAGS, _iterparse

    started = time.perf_counter()
    records = sum(1 for _ in _iterparse(Path(path), RECORD_TAGS[family]))
    return path, records, time.perf_counter() - started


def xml_floor(exports: Path) -> dict | None:
    """The XML half of issue 20's input floor: lxml parsing every XML export once (iterparse,
    elements cleared, no per-element Python work), one process per core, largest files first.
    ``seconds`` is the pool's wall time; ``per_core_mb_per_s`` is bytes over the files' summed
    parse seconds (what one core parses per second)."""
    from concurrent.futures import ProcessPoolExecutor

    from pipelines.ingest import scan_exports

    xml = sorted(
        (f for f in scan_exports(exports) if f.recognised and f.kind == "xml"),
        key=lambda f: f.path.stat().st_size, reverse=True,
    )
    if not xml:
        return None
    size = sum(f.path.stat().st_size for f in xml)
    processes = os.cpu_count() or 1
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=processes) as pool:
        parsed = list(pool.map(_lxml_parse_only, [str(f.path) for f in xml], [f.family for f in xml]))
    seconds = time.perf_counter() - started
    busy = sum(s for _, _, s in parsed)
    return {
        "files": len(xml),
        "bytes": size,
        "records": sum(r for _, r, _ in parsed),
        "processes": processes,
        "seconds": round(seconds, 3),
        "mb_per_s": round(size / 1e6 / seconds, 1),
        "per_core_mb_per_s": round(size / 1e6 / busy, 1) if busy else None,
    }


def xml_parse(exports: Path, sampler: RssSampler) -> dict | None:
    """Parse-only rate of the largest XML export, and how far RSS grows while parsing it."""
    from pipelines.ingest import scan_exports
    from pipelines.ingest.xml_readers import READERS

    xml = [f for f in scan_exports(exports) if f.recognised and f.kind == "xml"]
    if not xml:
        return None
    largest = max(xml, key=lambda f: f.path.stat().st_size)
    size = largest.path.stat().st_size
    before = rss_bytes()
    start_wall, started = time.time(), time.perf_counter()
    rows = sum(1 for _ in READERS[largest.family](largest.path))
    seconds = time.perf_counter() - started
    time.sleep(sampler.interval * 2)
    peak = sampler.peak(start_wall, time.time()) or rss_bytes()
    return {
        "file": largest.relative,
        "bytes": size,
        "rows": rows,
        "seconds": round(seconds, 3),
        "mb_per_s": round(size / 1e6 / seconds, 1),
        "rss_before": before,
        "rss_peak": peak,
        "rss_growth": max(0, peak - before),
    }


def summarise(entries, phases, sampler: RssSampler, whole_end: float) -> dict:
    mapping = step_stages()
    steps = step_windows(entries)
    seconds = {s: 0.0 for s in STAGES}
    windows: list[tuple[float, float, str]] = []  # contract phases first: they sit inside raw steps
    for p in phases:
        if p["phase"] in CONTRACT_PHASES:
            seconds["contracts"] += p["end"] - p["start"]
            windows.append((p["start"], p["end"], "contracts"))
    step_rows = []
    for s in steps:
        group, stage = mapping.get(s["step"], ("?", "other"))
        duration = s["end"] - s["start"]
        inner = sum(
            p["end"] - p["start"]
            for p in phases
            if p["phase"] in CONTRACT_PHASES and s["start"] <= p["start"] <= s["end"]
        )
        if stage == "raw":
            seconds["ingest"] += duration - inner
            stage_for_window = "ingest"
        else:
            seconds.setdefault(stage, 0.0)
            seconds[stage] += duration
            stage_for_window = stage
        windows.append((s["start"], s["end"], stage_for_window))
        step_rows.append(
            {"step": s["step"], "group": group, "stage": stage, "seconds": round(duration, 3),
             "contracts_seconds": round(inner, 3), "ok": s["ok"]}
        )
    first_start = steps[0]["start"] if steps else whole_end
    stepped = sum(s["end"] - s["start"] for s in steps)
    whole = whole_end - WALL0
    startup = first_start - WALL0
    overhead = whole - startup - stepped
    windows.append((WALL0, first_start, "startup"))
    tree_peaks: dict[str, int] = {}
    for t, pss in list(sampler.tree_samples):
        if t > whole_end:
            break
        stage = next((name for start, end, name in windows if start <= t <= end), "dagster")
        tree_peaks[stage] = max(tree_peaks.get(stage, 0), pss)
    peaks: dict[str, int] = {}
    cpu: dict[str, float] = {}
    previous = None
    for t, rss, used in list(sampler.samples):
        if t > whole_end:
            break
        stage = "dagster"
        for start, end, name in windows:
            if start <= t <= end:
                stage = name
                break
        peaks[stage] = max(peaks.get(stage, 0), rss)
        if previous is not None:  # CPU used since the previous sample, charged to this one's stage
            cpu[stage] = cpu.get(stage, 0.0) + used - previous
        previous = used
    stages = {
        name: {
            "seconds": round(value, 3),
            "peak_rss": peaks.get(name),
            "peak_pss_tree": tree_peaks.get(name),
            "cpu_seconds": round(cpu.get(name, 0.0), 2),
        }
        for name, value in seconds.items()
    }
    stages["startup"] = {"seconds": round(startup, 3), "peak_rss": peaks.get("startup"),
                         "cpu_seconds": round(cpu.get("startup", 0.0) + (sampler.samples[0][2] if sampler.samples else 0), 2)}
    stages["dagster"] = {"seconds": round(overhead, 3), "peak_rss": peaks.get("dagster"),
                         "cpu_seconds": round(cpu.get("dagster", 0.0), 2)}
    # XML rate: bytes over the load phases that staged XML (parse in workers or here, Parquet,
    # insert of the first table of each file), not only the time spent waiting for workers,
    # plus the inserts of the file's other tables from its Parquet (loaded as later sources).
    xml_phases = [p for p in phases if p["phase"] == "xml_stage"]
    xml_bytes = sum(p.get("bytes", 0) for p in xml_phases)
    xml_loads = [
        p for p in phases
        if p["phase"] == "load" and any(p["start"] <= x["start"] <= p["end"] for x in xml_phases)
    ]
    later_inserts = [
        p for p in phases
        if p["phase"] == "xml_insert" and not any(x["start"] <= p["start"] <= x["end"] for x in xml_loads)
    ]
    xml_seconds = sum(p["end"] - p["start"] for p in xml_loads + later_inserts)
    return {
        "stages": stages,
        "steps": step_rows,
        "n_steps": len(steps),
        "phases": phases,
        "xml_staged": {
            "files": len(xml_phases),
            "bytes": xml_bytes,
            "seconds": round(xml_seconds, 3),
            "mb_per_s": round(xml_bytes / 1e6 / xml_seconds, 1) if xml_seconds else None,
            "waiting_seconds": round(sum(p["end"] - p["start"] for p in xml_phases), 3),
            "peak_rss": max(
                (sampler.peak(p["start"], p["end"]) or 0 for p in xml_loads), default=None
            ),
            "peak_pss_tree": max(
                (sampler.tree_peak(p["start"], p["end"]) or 0 for p in xml_loads), default=None
            ),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.measure")
    parser.add_argument("--exports", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--json", required=True)
    parser.add_argument("--no-xml-parse", action="store_true", help="skip the parse-only XML rate")
    parser.add_argument(
        "--prewarm-gx", action="store_true",
        help="experiment: start the GX worker at process start, as a one-line change to "
        "pipelines/cli.py would; off by default (the benchmark measures the code as it is)",
    )
    args = parser.parse_args(argv)
    exports, out = Path(args.exports), Path(args.out)

    sampler = RssSampler()
    sampler.start()
    recorder = PhaseRecorder()
    timing = logging.getLogger("oba.timing")
    timing.addHandler(recorder)
    timing.setLevel(logging.DEBUG)
    timing.propagate = False
    from pipelines.defs.runlog import capture_event_log

    store: dict = {}
    capture_event_log(store)

    if args.prewarm_gx:
        from pipelines import expectations

        expectations.prewarm()
    from pipelines.cli import run_pipeline

    code = run_pipeline(exports, out)
    whole_end = time.time()
    whole_seconds = time.perf_counter() - T0
    peak_whole = peak_rss_bytes()
    cpu_self = resource.getrusage(resource.RUSAGE_SELF)
    cpu_children = resource.getrusage(resource.RUSAGE_CHILDREN)

    result = {
        "exports": str(exports),
        "prewarm_gx": args.prewarm_gx,
        "exit_code": code,
        "whole_seconds": round(whole_seconds, 3),
        "peak_rss": peak_whole,
        "peak_pss_tree": sampler.tree_peak(WALL0, whole_end),
        "cpu_seconds": round(cpu_self.ru_utime + cpu_self.ru_stime, 2),
        "cpu_seconds_children": round(cpu_children.ru_utime + cpu_children.ru_stime, 2),
        "loadavg_before": LOAD0,
        "loadavg_after": os.getloadavg(),
        **summarise(store.get("entries", []), recorder.phases, sampler, whole_end),
    }
    result["scan_floor"] = scan_floor(exports)
    result["xml_floor"] = xml_floor(exports)
    floor_xml = (result["xml_floor"] or {}).get("seconds", 0.0)
    result["input_floor"] = {
        "seconds": round(result["scan_floor"]["seconds"] + floor_xml, 3),
        "csv_seconds": result["scan_floor"]["seconds"],
        "xml_seconds": floor_xml,
    }
    result["xml_parse"] = None if args.no_xml_parse else xml_parse(exports, sampler)
    sampler.stop()
    Path(args.json).write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    from pipelines.cli import exit_now

    exit_now(main())  # as the ``oba`` command ends
