"""The benchmark report: machine, versions, per-stage table and the targets as ratios."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

STAGE_ROWS = (
    ("ingest", "ingest (raw loading)"),
    ("contracts", "contracts (row checks + GX suites)"),
    ("models", "models (staging/intermediate/marts SQL)"),
    ("baselines", "baselines (marts.measure_status)"),
    ("publish", "publish (published SQL, site, board pack, downloads)"),
    ("startup", "start-up (imports, definitions, run launch)"),
    ("dagster", "between steps (Dagster overhead, output swap)"),
)
PACKAGES = ("duckdb", "dagster", "pandas", "great-expectations", "pyarrow", "lxml")
GB = 1e9
MB = 1e6
# DESIGN.md §6's fixed cost: a whole run on the tiny council, process start to done (issue 20).
FIXED_COST_SECONDS = 5


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    ram = int(line.split()[1]) * 1024
    except OSError:
        pass
    versions = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_bytes": ram,
        "os": platform.platform(),
        "versions": versions,
    }


def _s(value) -> str:
    return "–" if value is None else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _gb(value) -> str:
    return "–" if not value else f"{value / GB:.2f}"


def _verdict(ok: bool) -> str:
    return "**pass**" if ok else "**MISS**"


def targets(results: dict) -> list[tuple[str, str, str, str]]:
    """(target, measured, ratio, verdict) rows for the scales present."""
    rows = []
    tiny, council, national = results.get("tiny"), results.get("council"), results.get("national")
    if tiny:
        rows.append((
            f"issue 20, target 1: whole run at tiny ≤ {FIXED_COST_SECONDS} s",
            f"{tiny['whole_seconds']:.1f} s",
            f"{tiny['whole_seconds'] / FIXED_COST_SECONDS:.2f} × {FIXED_COST_SECONDS} s",
            _verdict(tiny["whole_seconds"] <= FIXED_COST_SECONDS),
        ))
    if national and national.get("input_floor"):
        floor = national["input_floor"]
        rows.append((
            "issue 20, target 3: whole run at national ≤ 1.5 × the input floor (DuckDB over every "
            "CSV/Parquet export + lxml over every XML export, one process per core)",
            f"{national['whole_seconds']:.1f} s vs floor {floor['seconds']:.1f} s "
            f"(CSV {floor['csv_seconds']:.1f} s + XML {floor['xml_seconds']:.1f} s)",
            f"{national['whole_seconds'] / floor['seconds']:.2f} × floor",
            _verdict(national["whole_seconds"] <= 1.5 * floor["seconds"]),
        ))
        peak = national["peak_rss"]
        tree = national.get("peak_pss_tree")
        rows.append((
            "issue 20, target 3: peak memory at national ≤ 3 GB (the pipeline process, getrusage)",
            f"{peak / GB:.2f} GB" + (f" (whole process tree, PSS: {tree / GB:.2f} GB)" if tree else ""),
            f"{peak / (3 * GB):.2f} × 3 GB",
            _verdict(peak <= 3 * GB),
        ))
        staged, parse = national["xml_staged"], national.get("xml_floor")
        if staged.get("mb_per_s") and parse and parse.get("per_core_mb_per_s"):
            rows.append((
                "issue 20, target 3: XML loading in the run (parse, stage, insert) ≥ lxml's parse-only rate per core",
                f"{staged['mb_per_s']:.1f} MB/s vs {parse['per_core_mb_per_s']:.1f} MB/s per core",
                f"{staged['mb_per_s'] / parse['per_core_mb_per_s']:.2f} × per-core rate",
                _verdict(staged["mb_per_s"] >= parse["per_core_mb_per_s"]),
            ))
    if national and council:
        time_ratio = national["whole_seconds"] / council["whole_seconds"]
        episode_ratio = national["synth"]["episodes"] / council["synth"]["episodes"]
        rows.append((
            "issue 20, target 5: linear growth, national/council time ratio ≤ 1.3 × episode ratio",
            f"time × {time_ratio:.1f}, episodes × {episode_ratio:.1f}",
            f"{time_ratio / episode_ratio:.2f} × episode ratio",
            _verdict(time_ratio <= 1.3 * episode_ratio),
        ))
    if national:
        floor = national["scan_floor"]["seconds"]
        if tiny:
            cost = national["whole_seconds"] - tiny["whole_seconds"]
            xml = (national["xml_staged"]["seconds"] or 0) - (tiny["xml_staged"]["seconds"] or 0)
            rows.append((
                "issue 8: data-dependent cost ≤ 10 × scan floor (national − tiny, XML staging excluded: XML has its own MB/s target)",
                f"{cost - xml:.1f} s vs floor {floor:.2f} s",
                f"{(cost - xml) / floor:.1f} × floor",
                _verdict((cost - xml) <= 10 * floor),
            ))
            rows.append((
                "(for reference) national − tiny including XML staging",
                f"{cost:.1f} s",
                f"{cost / floor:.1f} × floor",
                "–",
            ))
        models = national["stages"]["models"]["seconds"]
        rows.append((
            "issue 8: SQL models alone ≤ 4 × scan floor (national)",
            f"{models:.1f} s",
            f"{models / floor:.1f} × floor",
            _verdict(models <= 4 * floor),
        ))
        peak = national["peak_rss"]
        rows.append((
            "issue 8: peak memory at national ≤ 3 GB (whole process, getrusage)",
            f"{peak / GB:.2f} GB",
            f"{peak / (3 * GB):.2f} × 3 GB",
            _verdict(peak <= 3 * GB),
        ))
    for name, r in results.items():
        xml = r["xml_staged"]
        if xml and xml.get("mb_per_s") and xml["bytes"] >= 10 * MB:
            rows.append((
                f"issue 8: XML ≥ 30 MB/s ({name}: parse, stage and insert, in the run; judged with ≥ 10 MB of XML)",
                f"{xml['mb_per_s']:.1f} MB/s over {xml['bytes'] / MB:.0f} MB",
                f"{xml['mb_per_s'] / 30:.2f} × 30 MB/s",
                _verdict(xml["mb_per_s"] >= 30),
            ))
    return rows


def peer_target(peer: dict) -> tuple[str, str, str, str]:
    """Issue 20, target 2: the (target, measured, ratio, verdict) row."""
    p, o = peer["peer_run"], peer["ours"]
    measured = f"{peer['peer']} {p['wall_seconds']:.1f} s vs `oba run` {o['wall_seconds']:.1f} s"
    if o["exit_code"] != 0:
        measured += f" (the pipeline run FAILED, exit {o['exit_code']})"
    return (
        f"whole `oba run` ≥ {peer['target']:g} × faster than {peer['peer']}'s documented flow "
        f"(same {len(peer['returns']['files'])} SSDA903 files 2017–2024, {peer['returns']['episodes']:,} episodes; "
        "wall clock)",
        measured,
        f"{peer['ratio']:.1f} × (CPU {peer['cpu_ratio']:.1f} ×)" if peer.get("cpu_ratio") else f"{peer['ratio']:.1f} ×",
        _verdict(peer["ok"]),
    )


def peer_lines(peer: dict) -> list[str]:
    """The side-by-side section: both runs, what each ran, the episodes."""
    r, p, o, b = peer["returns"], peer["peer_run"], peer["ours"], peer.get("build", {})
    by_kind = ", ".join(f"{k} {v:.1f} s" for k, v in p["seconds_by_command"].items())
    return [
        "",
        f"Side by side with the peer (issue 20, target 2): {peer['peer']} (Python {b.get('python')}, pandas "
        f"{b.get('pandas')}, its own venv built by `{b.get('script')}`) and the whole `oba run` on the same "
        f"{len(r['files'])} files, `SSDA903_<YYYY>_<table>.csv`, the returns 2017–2024 of a synthetic council "
        f"of {r['children']:,} children (seed {r['seed']}): {r['episodes']:,} distinct episodes (child, DECOM), "
        f"{r['episode_rows']:,} episode rows across the eight returns, {r['bytes'] / MB:.1f} MB. "
        "Each timed wall clock from its first command's start to its last one's end; CPU seconds are the "
        "processes' and their children's (getrusage). The peer runs on a copy of the folder "
        "(its cleanfile rewrites its input).",
        "",
        "| | wall s | CPU s | processes |",
        "|---|---:|---:|---|",
        f"| {peer['peer']}: cleanfile, la-agg, pan-agg per file, one process per command (its documented flow) "
        f"| {p['wall_seconds']:.1f} | {p['cpu_seconds']:.1f} | {p['commands']} ({by_kind}) |",
        f"| `oba run` (whole pipeline: {o['n_steps']} Dagster steps, warehouse, site, board pack; "
        f"benchmarks.measure; {o['whole_seconds']:.1f} s from its clock's start to the run's end) "
        f"| {o['wall_seconds']:.1f} | {o['cpu_seconds']:.1f} | 1 (+ its workers and Chromium) |",
        f"| ratio | **{peer['ratio']:.1f} ×** | {peer['cpu_ratio'] or 0:.1f} × | |",
        "",
        f"The peer's la-agg kept {p.get('merged_episodes')} episodes (its de-duplication by CHILD and DECOM). "
        "Its commands for the first file:",
        "",
        "```",
        *p["example"],
        "```",
        "",
        f"Ours: `{o['command']}`",
        "",
        f"Load average (1 min) before → after: {peer['peer']} {p['loadavg_before'][0]:.1f} → "
        f"{p['loadavg_after'][0]:.1f}, `oba run` {o['loadavg_before'][0]:.1f} → {o['loadavg_after'][0]:.1f}.",
    ]


def scale_lines(results: dict, m: dict) -> list[str]:
    """Each scale's run: the data, per-stage wall, CPU and memory, the machine's load."""
    names = list(results)
    lines = [
        "",
        "| | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
        "| SSDA903 episodes | " + " | ".join(f"{r['synth']['episodes']:,}" for r in results.values()) + " |",
        "| children simulated | " + " | ".join(f"{r['synth']['n_children']:,}" for r in results.values()) + " |",
        "| runs (whole-run seconds; the fastest is shown) | "
        + " | ".join(", ".join(f"{x:.1f}" for x in r.get("repeats", [])) for r in results.values()) + " |",
        "| CSV/Parquet exports (MB) | " + " | ".join(f"{r['scan_floor']['bytes'] / MB:,.0f}" for r in results.values()) + " |",
        "| XML exports (MB) | " + " | ".join(f"{r['disk_bytes'].get('xml', 0) / MB:,.0f}" for r in results.values()) + " |",
        "",
        "Wall time (s), CPU time of the pipeline process (s, all threads, Chromium excluded) and "
        "peak RSS (GB = 10⁹ bytes) of the pipeline process, per stage:",
        "",
        "| stage | " + " | ".join(f"{n} wall s | {n} CPU s | {n} peak GB" for n in names) + " |",
        "|---|" + "---:|---:|---:|" * len(names),
    ]
    for key, label in STAGE_ROWS:
        cells = []
        for r in results.values():
            stage = r["stages"].get(key, {})
            cells += [_s(stage.get("seconds")), _s(stage.get("cpu_seconds")), _gb(stage.get("peak_rss"))]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    cells = []
    for r in results.values():
        cells += [f"**{_s(r['whole_seconds'])}**", _s(r.get("cpu_seconds")), f"**{_gb(r['peak_rss'])}**"]
    lines.append("| **whole run** (process start → run done) | " + " | ".join(cells) + " |")
    cells = []
    for r in results.values():
        cells += [_s(r["scan_floor"]["seconds"]), "–", "–"]
    lines.append("| scan floor: DuckDB count(*) over every CSV/Parquet export | " + " | ".join(cells) + " |")
    cells = []
    for r in results.values():
        x = r.get("xml_floor")
        cells += [f"{_s(x['seconds'])} ({x['mb_per_s']:.1f} MB/s; {x['per_core_mb_per_s']:.1f} per core)" if x else "–",
                  "–", "–"]
    lines.append(f"| XML floor: lxml iterparse over every XML export, one process per core ({m['cores']}) | "
                 + " | ".join(cells) + " |")
    cells = []
    for r in results.values():
        floor = r.get("input_floor")
        cells += [f"**{_s(floor['seconds'])}**" if floor else "–", "–", "–"]
    lines.append("| **input floor** (scan floor + XML floor, issue 20) | " + " | ".join(cells) + " |")
    cells = []
    for r in results.values():
        x = r["xml_staged"]
        cells += [f"{_s(x['seconds'])} ({x['mb_per_s'] or 0:.1f} MB/s)" if x["files"] else "–", "–", _gb(x.get("peak_rss"))]
    lines.append("| of which loading XML (parse, stage, insert; in ingest) | " + " | ".join(cells) + " |")
    cells = []
    for r in results.values():
        x = r.get("xml_parse")
        cells += [f"{x['mb_per_s']:.1f} MB/s" if x else "–", "–",
                  f"+{x['rss_growth'] / 1e6:.0f} MB" if x else "–"]
    lines.append("| XML parse only, largest file (rate / RSS growth) | " + " | ".join(cells) + " |")
    cells = []
    for r in results.values():
        cells += [str(r["n_steps"]), _s(r.get("cpu_seconds_children")), _gb(r.get("peak_pss_tree"))]
    lines.append(
        "| Dagster steps / child processes' CPU s / peak PSS of the process tree (pipeline + GX and XML workers + Chromium, sampled every 0.5 s) | "
        + " | ".join(cells) + " |"
    )
    lines += [
        "",
        "Load average (1 min) before → after each run: "
        + ", ".join(
            f"{n} {r['loadavg_before'][0]:.1f} → {r['loadavg_after'][0]:.1f}"
            for n, r in results.items() if r.get("loadavg_before")
        )
        + f" (on {m['cores']} cores; above the core count the machine was shared and wall times are inflated).",
    ]
    return lines


def markdown(payload: dict) -> str:
    results = payload["results"]
    m = payload["machine"]
    lines = [
        f"Benchmark {payload['when']}: `{payload['command']}`",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {(m['ram_bytes'] or 0) / 2**30:.1f} GiB RAM; {m['os']}",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
    ]
    peer = payload.get("peer")
    if results:
        lines += scale_lines(results, m)
    if peer:
        lines += peer_lines(peer)
    lines += ["", "Targets:", "", "| target | measured | ratio | verdict |", "|---|---|---|---|"]
    for row in targets(results) + ([peer_target(peer)] if peer else []):
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Slowest steps:", ""] if results else []
    for name, r in results.items():
        top = sorted(r["steps"], key=lambda s: -s["seconds"])[:6]
        lines.append(
            f"- {name}: " + ", ".join(f"{s['step']} {s['seconds']:.1f} s" for s in top)
        )
    return "\n".join(lines) + "\n"
