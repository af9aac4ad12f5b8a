"""Benchmark: a region of authorities on Dagster's run queue against the same runs one by one.

    .venv/bin/python -m benchmarks.region [--authorities 33] [--children 200000] [--cache DIR]
                                          [--seed S] [--report FILE]

A region's children (``--children``, the ``region`` scale's 200,000 by default) are split into
``--authorities`` synthetic authorities, each simulated with a seed of its own and written as
its own exports folder (cached in ``<cache>/exports/region<N>-<children>-seed<S>``). Then:

1. each authority alone: ``oba run --exports <authority> --out ...`` in a fresh process, one
   after another, each timed wall clock; their sum is the work;
2. the region: ``oba run --authorities authorities.yaml --out ...`` in a fresh process, on a
   fresh instance holding the shipped ``deploy/dagster.local.yaml`` with ``max_concurrent_runs``
   set to the machine's cores, timed wall clock from the command's start to its end (the
   daemon's and code server's start, every authority's run, the roll-up).

The target (issue 20, target 4): region wall time ≤ 1.3 × (sum of the single runs) ÷ cores.
The report and JSON go to ``benchmarks/results/<date>-region.{md,json}``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.report import machine
from pipelines import settings

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
DEFAULT_CACHE = ROOT / ".cache"
MARKER = ".benchmark-complete.json"
TARGET = 1.3
OBA = Path(sys.executable).parent / "oba"


def authorities_for(count: int, children: int, seed: int, cache: Path) -> Path:
    """The region's folder: ``count`` authorities' exports and its authorities.yaml (cached)."""
    folder = cache / "exports" / f"region{count}-{children}-seed{seed}"
    if (folder / MARKER).is_file():
        return folder
    if folder.exists():
        shutil.rmtree(folder)  # an interrupted generation
    folder.mkdir(parents=True)
    each = children // count
    keys = [f"la{i + 1:02d}" for i in range(count)]
    print(f"[region] generating {count} authorities of {each:,} children into {folder} ...", flush=True)
    started = time.perf_counter()

    def generate(i: int) -> None:
        subprocess.run(
            [str(OBA), "synth", "--out", str(folder / keys[i] / "exports"), "--scale", str(each),
             "--seed", str(seed + i)],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=3600,
        )

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(generate, range(count)))
    (folder / "authorities.yaml").write_text(
        "region: {name: Benchmark Region, code: E12000001}\n"
        "authorities:\n"
        + "".join(f"  - {{key: {key}, name: Authority {key[2:]}, code: E06{i + 1:06d}, exports: {key}/exports}}\n"
                  for i, key in enumerate(keys)),
        encoding="utf-8",
    )
    seconds = round(time.perf_counter() - started, 1)
    (folder / MARKER).write_text(json.dumps({"generate_seconds": seconds, "each": each}) + "\n", encoding="utf-8")
    print(f"[region] generated in {seconds} s", flush=True)
    return folder


def _home(folder: Path, runs_at_once: int) -> Path:
    """A fresh Dagster instance folder with the shipped instance file, ``runs_at_once`` at most."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shipped = (REPO / "deploy" / "dagster.local.yaml").read_text(encoding="utf-8")
    limited = shipped.replace("max_concurrent_runs: 4", f"max_concurrent_runs: {runs_at_once}")
    if limited == shipped and runs_at_once != 4:
        raise RuntimeError("deploy/dagster.local.yaml no longer says max_concurrent_runs: 4")
    (folder / "dagster.yaml").write_text(limited, encoding="utf-8")
    return folder


def _timed(command: list[str], env: dict, log: Path) -> float:
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as output:
        completed = subprocess.run(command, env=env, stdout=output, stderr=subprocess.STDOUT, cwd=REPO)
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed (exit {completed.returncode}); see {log}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.region", description=__doc__.splitlines()[0])
    parser.add_argument("--authorities", type=int, default=33)
    parser.add_argument("--children", type=int, default=200_000, help="the region's children (default 200,000)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--cache", default=str(DEFAULT_CACHE))
    parser.add_argument("--report", help="Markdown report path (default benchmarks/results/<date>-region.md)")
    args = parser.parse_args(argv)

    cache = Path(args.cache).resolve()
    cores = os.cpu_count() or 1
    region = authorities_for(args.authorities, args.children, args.seed, cache)
    keys = sorted(p.name for p in region.iterdir() if (p / "exports").is_dir())
    work = cache / "out" / "region-queue"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    env = settings.child_environment(OBA_PSEUDONYM_KEY=str(cache / "pseudonym.key"))
    env.setdefault("GX_ANALYTICS_ENABLED", "False")

    single = {}
    home = _home(work / "home-single", cores)
    for key in keys:
        seconds = _timed(
            [str(OBA), "run", "--exports", str(region / key / "exports"), "--out", str(work / "single" / key)],
            {**env, "DAGSTER_HOME": str(home)}, work / f"single-{key}.log",
        )
        single[key] = round(seconds, 2)
        print(f"[region] {key} alone: {seconds:.1f} s", flush=True)
        shutil.rmtree(work / "single" / key, ignore_errors=True)

    home = _home(work / "home-queue", cores)
    queued = _timed(
        [str(OBA), "run", "--authorities", str(region / "authorities.yaml"), "--out", str(work / "queue")],
        {**env, "DAGSTER_HOME": str(home)}, work / "queue.log",
    )
    print(f"[region] all {len(keys)} on the run queue, then the roll-up: {queued:.1f} s", flush=True)
    total = sum(single.values())
    ratio = queued / (total / cores)
    payload = {
        "when": dt.datetime.now().strftime("%Y%m%d-%H%M%S"),
        "command": "python -m benchmarks.region " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "authorities": len(keys),
        "children_each": args.children // args.authorities,
        "runs_at_once": cores,
        "single_seconds": single,
        "single_sum_seconds": round(total, 1),
        "queue_seconds": round(queued, 1),
        "ratio": round(ratio, 3),
        "target": TARGET,
        "pass": ratio <= TARGET,
    }
    text = markdown(payload)
    folder = ROOT / "results"
    folder.mkdir(exist_ok=True)
    (folder / f"{payload['when']}-region.json").write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    report = Path(args.report) if args.report else folder / f"{payload['when']}-region.md"
    report.write_text(text, encoding="utf-8")
    print(text)
    print(f"Report: {report}")
    shutil.rmtree(work / "queue", ignore_errors=True)
    return 0


def markdown(p: dict) -> str:
    m = p["machine"]
    v = m.get("versions", {})
    singles = sorted(p["single_seconds"].values())
    return "\n".join([
        f"# Region on the run queue ({p['when']})",
        "",
        f"`{p['command'].strip()}`",
        "",
        f"Machine: {m.get('cpu', '')}, {m.get('cores', '')} cores, {(m.get('ram_bytes') or 0) / 2**30:.1f} GiB; "
        f"Python {v.get('python', '')}, Dagster {v.get('dagster', '')}, DuckDB {v.get('duckdb', '')}.",
        "",
        f"{p['authorities']} authorities of {p['children_each']:,} children each; "
        f"the instance's run queue allowed {p['runs_at_once']} runs at once.",
        "",
        "| | seconds |",
        "|---|---:|",
        f"| each authority alone (`oba run --exports`), summed | {p['single_sum_seconds']:.1f} |",
        f"| of which the fastest / median / slowest | {singles[0]:.1f} / {singles[len(singles) // 2]:.1f} / {singles[-1]:.1f} |",
        f"| sum ÷ cores | {p['single_sum_seconds'] / p['runs_at_once']:.1f} |",
        f"| the region (`oba run --authorities`): daemon, every authority's run, roll-up | {p['queue_seconds']:.1f} |",
        "",
        f"Region ÷ (sum ÷ cores) = **{p['ratio']:.2f}** (target ≤ {p['target']}): "
        f"**{'pass' if p['pass'] else 'MISS'}**.",
        "",
    ])


if __name__ == "__main__":
    sys.exit(main())
