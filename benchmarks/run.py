"""Benchmarks: synthetic exports at tiny, council and national scale, the whole pipeline on each.

    .venv/bin/python -m benchmarks.run [--scales tiny,council,national] [--cache DIR]
                                       [--keep-outputs] [--repeat N] [--repeat-large N] [--report FILE]
                                       [--peer [--peer-children N] [--peer-script FILE]]

For each scale: generate the synthetic exports once (cached in ``<cache>/exports/<scale>-seed<S>``
and reused by later invocations), then run the whole pipeline on them in a fresh process
(``benchmarks.measure``: the ``oba run`` path, same Dagster job) into a fresh output folder, and
measure wall time and peak memory per stage, the scan floor and the XML rate. Prints a Markdown
report with the targets as ratios and writes it (and the raw JSON) to ``benchmarks/results/``.

``--peer`` (issue 20, target 2) also runs the closest peer, liiatools 0.2.0, side by side with the
whole pipeline on the same eight SSDA903 returns (``benchmarks/peer.py``): the peer's venv and the
returns are built once into the cache, then the peer's documented flow and the pipeline each run
once, both timed wall clock from their first command's start to their last one's end; the report
gives both times, the episodes, the ratio and the verdict against "≥ 15×". The peer is built
before anything else runs, and a peer that cannot be built stops the benchmark, naming why.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import peer as peer_flow
from benchmarks.report import machine, markdown
from pipelines import settings

ROOT = Path(__file__).resolve().parent
DEFAULT_CACHE = ROOT / ".cache"
MARKER = ".benchmark-complete.json"


def exports_for(scale: str, seed: int, cache: Path) -> tuple[Path, dict]:
    """The cached synthetic exports of ``scale`` (generated on first use)."""
    folder = cache / "exports" / f"{scale}-seed{seed}"
    marker = folder / MARKER
    if marker.is_file():
        return folder, json.loads(marker.read_text(encoding="utf-8"))
    if folder.exists():
        shutil.rmtree(folder)  # an interrupted generation
    from pipelines.synth import generate

    print(f"[{scale}] generating synthetic exports into {folder} ...", flush=True)
    started = time.perf_counter()
    summary = generate(folder, scale=scale, seed=seed)
    summary.pop("files", None)
    summary.pop("config", None)
    summary["generate_seconds"] = round(time.perf_counter() - started, 1)
    marker.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(f"[{scale}] generated in {summary['generate_seconds']} s", flush=True)
    return folder, summary


def disk_bytes(folder: Path) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for path in folder.rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            kind = path.suffix.lower().lstrip(".") or "other"
            sizes[kind] = sizes.get(kind, 0) + path.stat().st_size
    return sizes


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(
    scale: str, exports: Path, out: Path, cache: Path, timeout: float, xml_parse: bool, prewarm: bool = False
) -> dict:
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result_file = out.parent / f"{out.name}.json"
    log_file = out.parent / f"{out.name}.log"
    env = settings.child_environment(OBA_PSEUDONYM_KEY=str(cache / "pseudonym.key"))
    env.pop("DAGSTER_HOME", None)  # an ephemeral instance, as `oba run` uses by default
    env.setdefault("GX_ANALYTICS_ENABLED", "False")
    command = [
        sys.executable, "-m", "benchmarks.measure",
        "--exports", str(exports), "--out", str(out), "--json", str(result_file),
    ]
    if not xml_parse:
        command.append("--no-xml-parse")
    if prewarm:
        command.append("--prewarm-gx")
    print(f"[{scale}] running the pipeline (log: {log_file}) ...", flush=True)
    cpu0 = children_cpu_seconds()
    started = time.perf_counter()
    with log_file.open("w", encoding="utf-8") as log:
        completed = subprocess.run(
            command, cwd=ROOT.parent, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout
        )
    elapsed = time.perf_counter() - started
    outside_cpu = children_cpu_seconds() - cpu0
    if not result_file.is_file():
        raise RuntimeError(f"[{scale}] the benchmark process failed (exit {completed.returncode}); see {log_file}")
    result = json.loads(result_file.read_text(encoding="utf-8"))
    result["process_seconds"] = round(elapsed, 3)  # seen from here: interpreter start to exit
    result["outside_cpu_seconds"] = round(outside_cpu, 2)  # the process and every child it waited for
    result["command"] = " ".join(command)
    if result["exit_code"] != 0:
        print(f"[{scale}] WARNING: the pipeline run failed (exit {result['exit_code']}); see {log_file}")
    print(
        f"[{scale}] whole run {result['whole_seconds']:.1f} s, peak {result['peak_rss'] / 2**30:.2f} GiB, "
        f"scan floor {result['scan_floor']['seconds']:.2f} s",
        flush=True,
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="tiny,council,national",
                        help="comma-separated: tiny, council, region, national (default tiny,council,national)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--cache", default=str(DEFAULT_CACHE),
                        help=f"folder for generated exports and run outputs (default {DEFAULT_CACHE})")
    parser.add_argument("--keep-outputs", action="store_true", help="keep each run's warehouse, site and PDF")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of tiny and council (fixed costs are noisy); the fastest is reported (default 3)")
    parser.add_argument("--repeat-large", type=int, default=1, help="runs of region and national (default 1)")
    parser.add_argument("--timeout", type=float, default=25 * 60, help="seconds allowed per run (default 1500)")
    parser.add_argument("--no-xml-parse", action="store_true", help="skip the parse-only XML measurement")
    parser.add_argument("--prewarm-gx", action="store_true",
                        help="experiment: start the GX worker at process start (a proposed cli.py change)")
    parser.add_argument("--report", help="Markdown report path (default benchmarks/results/<date>.md)")
    parser.add_argument("--peer", action="store_true",
                        help="also run liiatools 0.2.0 and the pipeline side by side on the same SSDA903 "
                        "returns 2017-2024 (issue 20, target 2); fails if the peer cannot be built")
    parser.add_argument("--peer-children", type=int, default=peer_flow.DEFAULT_CHILDREN,
                        help=f"children of the synthetic council whose returns both read (default "
                        f"{peer_flow.DEFAULT_CHILDREN:,}: at least {peer_flow.MIN_EPISODES:,} episodes)")
    parser.add_argument("--peer-script",
                        help="the peer's build script (default: shared/peers/liiatools-env.sh beside the repository)")
    args = parser.parse_args(argv)

    scales = [s.strip() for s in args.scales.split(",") if s.strip()]
    cache = Path(args.cache).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    peer_setup = None
    if args.peer:  # before anything else: a peer that cannot be built stops the benchmark at once
        try:
            python, build = peer_flow.peer_python(cache, peer_flow.find_script(args.peer_script))
            returns, returns_info = peer_flow.returns_for(args.peer_children, args.seed, cache)
        except peer_flow.PeerError as exc:
            print(f"benchmarks.run --peer: {exc}", file=sys.stderr)
            return 2
        if returns_info["episodes"] < peer_flow.MIN_EPISODES:
            print(
                f"benchmarks.run --peer: the returns of {args.peer_children:,} children hold "
                f"{returns_info['episodes']:,} episodes, fewer than the {peer_flow.MIN_EPISODES:,} "
                "issue 20 asks for; give more with --peer-children",
                file=sys.stderr,
            )
            return 2
        peer_setup = (python, build, returns, returns_info)
    results = {}
    for scale in scales:
        exports, summary = exports_for(scale, args.seed, cache)
        runs = []
        repeat = args.repeat_large if scale in ("region", "national") else args.repeat
        for i in range(max(1, repeat)):
            out = cache / "out" / (f"{scale}" if repeat <= 1 else f"{scale}-{i + 1}")
            runs.append(
                measure(scale, exports, out, cache, args.timeout, not args.no_xml_parse, args.prewarm_gx)
            )
            if not args.keep_outputs:
                shutil.rmtree(out, ignore_errors=True)
        best = min(runs, key=lambda r: r["whole_seconds"])
        best["repeats"] = [r["whole_seconds"] for r in runs]
        best["synth"] = summary
        best["disk_bytes"] = disk_bytes(exports)
        results[scale] = best

    peer = None
    if peer_setup:
        python, build, returns, returns_info = peer_setup
        try:
            peer_run = peer_flow.run_peer(python, returns, cache / "out" / "peer-liiatools", args.timeout)
        except peer_flow.PeerError as exc:
            print(f"benchmarks.run --peer: {exc}", file=sys.stderr)
            return 2
        ours = measure("peer-oba", returns, cache / "out" / "peer-oba", cache, args.timeout, False)
        if not args.keep_outputs:
            shutil.rmtree(cache / "out" / "peer-oba", ignore_errors=True)
            shutil.rmtree(cache / "out" / "peer-liiatools", ignore_errors=True)
        peer = {**peer_flow.compare(peer_run, ours, returns_info), "build": build}
        print(
            f"[peer] {peer_flow.PEER} {peer_run['wall_seconds']:.1f} s, oba run {ours['process_seconds']:.1f} s: "
            f"{peer['ratio']:.1f}x",
            flush=True,
        )

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
    payload = {"when": stamp, "command": command.strip(), "machine": machine(), "results": results}
    if peer:
        payload["peer"] = peer
    folder = ROOT / "results"
    folder.mkdir(exist_ok=True)
    (folder / f"{stamp}.json").write_text(json.dumps(payload, indent=1, default=str) + "\n", encoding="utf-8")
    text = markdown(payload)
    report = Path(args.report) if args.report else folder / f"{stamp}.md"
    report.write_text(text, encoding="utf-8")
    print(text)
    print(f"Report: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
