"""The peer side by side (issue 20, target 2): liiatools' documented SSDA903 flow and ``oba run``
on the same eight SSDA903 returns.

``python -m benchmarks.run --peer`` uses this module:

- :func:`peer_python` builds Social Finance's liiatools 0.2.0 once, in its own virtual environment
  under the benchmark cache, with the shared build script (``shared/peers/liiatools-env.sh``, found
  beside the repository; ``--peer-script`` names another), and reuses it afterwards;
- :func:`returns_for` generates a synthetic council once (cached) and copies its 2017–2024 SSDA903
  returns into one folder as ``SSDA903_<YYYY>_<table>.csv`` (YYYY: the year the return ends), only
  the tables the peer has schemas for; both tools read exactly these files;
- :func:`run_peer` runs the peer's documented flow on a copy of that folder (its ``cleanfile``
  rewrites its input file in place): for each file, ``cleanfile``, ``la-agg`` on the cleaned file,
  ``pan-agg`` on the merged file, one process per command, timed from the start of the first to
  the end of the last.

Anything that stops the peer from being built or run raises :class:`PeerError`, naming why.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import shutil
import subprocess
import time
from pathlib import Path

from pipelines.ingest.files import collection_year_from_name

ROOT = Path(__file__).resolve().parent
SCRIPT_NAME = Path("shared") / "peers" / "liiatools-env.sh"
PEER = "liiatools 0.2.0"
LA_CODE = "bar"  # one of the 33 London codes the peer knows (Barnet)
FIRST_YEAR, LAST_YEAR = 2017, 2024  # the years the peer ships SSDA903 schemas for
# The peer's SSDA903 tables (liiatools/datasets/s903/lds_ssda903_clean/columns.py) by the
# synthetic council's file stem; la-agg names its merged file by the peer's table name.
PEER_TABLES = {
    "header": "Header",
    "episodes": "Episodes",
    "reviews": "Reviews",
    "uasc": "UASC",
    "oc2": "OC2",
    "oc3": "OC3",
    "ad1": "AD1",
    "placed_adoption": "PlacedAdoption",
    "prev_perm": "PrevPerm",
    "missing": "Missing",
}
TABLE_ORDER = list(PEER_TABLES)
# Children simulated: the smallest round number whose 2017–2024 returns hold at least
# MIN_EPISODES distinct episodes (child and DECOM) with seed 2026: 15,385 (86,000 give 14,199).
DEFAULT_CHILDREN = 88_000
MIN_EPISODES = 15_000
TARGET_RATIO = 15.0
READY = ".peer-ready.json"


class PeerError(RuntimeError):
    """The peer cannot be built or run; the message says why."""


def _seconds_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def find_script(given: str | None = None) -> Path:
    """The peer's build script: ``given``, else ``shared/peers/liiatools-env.sh`` in the nearest
    folder above the repository that has one."""
    if given:
        path = Path(given).resolve()
        if not path.is_file():
            raise PeerError(f"the peer's build script {path} does not exist (--peer-script)")
        return path
    tried = []
    for folder in ROOT.parent.parents:
        path = folder / SCRIPT_NAME
        tried.append(str(path))
        if path.is_file():
            return path
    raise PeerError(
        f"the peer's build script {SCRIPT_NAME} was not found beside the repository (tried "
        + ", ".join(tried) + "); name it with --peer-script"
    )


def peer_python(cache: Path, script: Path, timeout: float = 1800) -> tuple[Path, dict]:
    """The peer's interpreter in ``<cache>/peer/liiatools-0.2.0`` (built on first use with
    ``script``) and what the build took."""
    venv = cache / "peer" / "liiatools-0.2.0"
    python = venv / "bin" / "python"
    ready = venv / READY
    if ready.is_file():
        check = subprocess.run(
            [str(python), "-m", "liiatools", "s903", "--help"], capture_output=True, text=True
        )
        if check.returncode == 0:
            return python, json.loads(ready.read_text(encoding="utf-8"))
        print(f"[peer] the cached venv {venv} no longer runs the peer; building it again", flush=True)
    if venv.exists():
        shutil.rmtree(venv)  # an interrupted or broken build
    venv.parent.mkdir(parents=True, exist_ok=True)
    log = venv.parent / "liiatools-env.log"
    print(f"[peer] building {PEER} into {venv} with {script} (log: {log}) ...", flush=True)
    started = time.perf_counter()
    try:
        completed = subprocess.run(
            ["bash", str(script), str(venv)], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise PeerError(f"building {PEER} with {script} took more than {timeout:.0f} s") from exc
    log.write_text(completed.stdout + completed.stderr, encoding="utf-8")
    if completed.returncode != 0 or not python.is_file():
        raise PeerError(
            f"{PEER} could not be built: `bash {script} {venv}` exited {completed.returncode}; "
            f"the end of its output (all of it in {log}):\n{_tail(completed.stdout + completed.stderr)}"
        )
    check = subprocess.run([str(python), "-m", "liiatools", "s903", "--help"], capture_output=True, text=True)
    if check.returncode != 0:
        raise PeerError(
            f"{PEER} was installed into {venv} but `python -m liiatools s903 --help` fails:\n"
            + _tail(check.stdout + check.stderr)
        )
    version = subprocess.run(
        [str(python), "-c", "import sys, importlib.metadata as m; "
         "print(sys.version.split()[0], m.version('liiatools'), m.version('pandas'))"],
        capture_output=True, text=True,
    ).stdout.split()
    info = {
        "script": str(script),
        "venv": str(venv),
        "build_seconds": round(time.perf_counter() - started, 1),
        "python": version[0] if version else None,
        "liiatools": version[1] if len(version) > 1 else None,
        "pandas": version[2] if len(version) > 2 else None,
    }
    ready.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    print(f"[peer] built in {info['build_seconds']} s", flush=True)
    return python, info


def returns_name(year_folder: str, table: str) -> str | None:
    """``SSDA903_<YYYY>_<table>.csv`` for a synthetic return (``ssda903/2016-17/episodes.csv`` →
    ``SSDA903_2017_episodes.csv``), or None outside 2017–2024 or for a table the peer lacks."""
    year = collection_year_from_name(year_folder)
    if year is None or not FIRST_YEAR <= year <= LAST_YEAR or table not in PEER_TABLES:
        return None
    return f"SSDA903_{year}_{table}.csv"


def count_episodes(folder: Path) -> dict:
    """Episode rows of the returns' episodes files, and distinct episodes (child, DECOM)."""
    rows, distinct = 0, set()
    for path in sorted(folder.glob("SSDA903_*_episodes.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            for record in csv.DictReader(handle):
                rows += 1
                distinct.add((record["CHILD"], record["DECOM"]))
    return {"episode_rows": rows, "episodes": len(distinct)}


def returns_for(children: int, seed: int, cache: Path) -> tuple[Path, dict]:
    """The cached folder of SSDA903 returns 2017–2024 of a synthetic council of ``children``
    children (generated on first use), and its summary."""
    base = cache / "peer"
    folder = base / f"returns-{children}-seed{seed}"
    marker = base / f"returns-{children}-seed{seed}.json"  # outside: the folder holds only returns
    if marker.is_file() and folder.is_dir():
        return folder, json.loads(marker.read_text(encoding="utf-8"))
    from pipelines.synth import generate

    scratch = base / f"synth-{children}-seed{seed}"
    for path in (folder, scratch):
        if path.exists():
            shutil.rmtree(path)
    print(f"[peer] generating a synthetic council of {children:,} children into {scratch} ...", flush=True)
    started = time.perf_counter()
    summary = generate(scratch, scale=children, seed=seed)
    folder.mkdir(parents=True)
    copied, left_out = [], []
    for path in sorted((scratch / "ssda903").glob("*/*.csv")):
        name = returns_name(path.parent.name, path.stem)
        if name is None:
            left_out.append(path.relative_to(scratch).as_posix())
            continue
        shutil.copyfile(path, folder / name)
        copied.append(name)
    shutil.rmtree(scratch)
    info = {
        "children": children,
        "seed": seed,
        "folder": str(folder),
        "files": copied,
        "left_out": left_out,
        "bytes": sum((folder / name).stat().st_size for name in copied),
        "generate_seconds": round(time.perf_counter() - started, 1),
        "synth_episodes_2017_2026": summary.get("episodes"),
        **count_episodes(folder),
    }
    marker.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    print(
        f"[peer] {len(copied)} files, {info['episodes']:,} episodes ({info['episode_rows']:,} episode rows) "
        f"in {folder}",
        flush=True,
    )
    return folder, info


def _order(name: str) -> tuple[int, int]:
    _, year, table = Path(name).stem.split("_", 2)
    return int(year), TABLE_ORDER.index(table)


def peer_commands(python: Path, name: str, work: Path) -> list[tuple[str, list[str]]]:
    """The peer's documented flow for one return file in ``work/input`` (its README, one process
    per command): cleanfile, la-agg on the cleaned file, pan-agg on the merged table."""
    stem = Path(name).stem
    table = PEER_TABLES[stem.split("_", 2)[2]]
    peer = [str(python), "-m", "liiatools", "s903"]
    return [
        ("cleanfile", peer + ["cleanfile", "--i", str(work / "input" / name), "--la_code", LA_CODE,
                              "--la_log_dir", str(work / "LOG"), "--o", str(work / "CLEAN")]),
        ("la-agg", peer + ["la-agg", "--i", str(work / "CLEAN" / f"{stem}_clean.csv"), "--o", str(work / "AGG")]),
        ("pan-agg", peer + ["pan-agg", "--i", str(work / "AGG" / f"SSDA903_{table}_merged.csv"),
                            "--la_code", LA_CODE, "--o", str(work / "PAN")]),
    ]


def _rows(path: Path) -> int | None:
    if not path.is_file():
        return None
    with path.open(newline="", encoding="utf-8") as handle:
        return max(sum(1 for _ in csv.reader(handle)) - 1, 0)


def run_peer(python: Path, returns: Path, work: Path, timeout: float) -> dict:
    """The peer's documented flow on every file of ``returns`` (copied into ``work/input`` first,
    untimed), timed wall clock from the first command's start to the last one's end."""
    if work.exists():
        shutil.rmtree(work)
    for sub in ("LOG", "CLEAN", "AGG", "PAN"):
        (work / sub).mkdir(parents=True)
    shutil.copytree(returns, work / "input")
    names = sorted((p.name for p in returns.glob("SSDA903_*.csv")), key=_order)
    if not names:
        raise PeerError(f"{returns} holds no SSDA903_<YYYY>_<table>.csv files")
    log_path = work.parent / f"{work.name}.log"
    by_kind: dict[str, float] = {}
    commands = 0
    print(f"[peer] running {PEER}'s flow on {len(names)} files (log: {log_path}) ...", flush=True)
    load_before = os.getloadavg()
    cpu0 = _seconds_cpu()
    started = time.perf_counter()
    with log_path.open("w", encoding="utf-8") as log:
        for name in names:
            for kind, command in peer_commands(python, name, work):
                log.write("$ " + " ".join(command) + "\n")
                log.flush()
                t0 = time.perf_counter()
                try:
                    completed = subprocess.run(
                        command, cwd=work, stdout=log, stderr=subprocess.STDOUT, timeout=timeout
                    )
                except subprocess.TimeoutExpired as exc:
                    raise PeerError(f"the peer's {kind} on {name} took more than {timeout:.0f} s") from exc
                by_kind[kind] = by_kind.get(kind, 0.0) + time.perf_counter() - t0
                log.write(f"# exit {completed.returncode}, {time.perf_counter() - t0:.1f} s\n")
                commands += 1
                if completed.returncode != 0:
                    raise PeerError(
                        f"the peer's {kind} on {name} exited {completed.returncode}: `{' '.join(command)}`; "
                        f"see {log_path}"
                    )
                if kind == "cleanfile" and not (work / "CLEAN" / f"{Path(name).stem}_clean.csv").is_file():
                    errors = sorted(p.name for p in (work / "LOG").iterdir())
                    raise PeerError(
                        f"the peer's cleanfile wrote nothing for {name} (its log folder {work / 'LOG'} "
                        f"holds {', '.join(errors) or 'nothing'}); see {log_path}"
                    )
    seconds = time.perf_counter() - started
    cpu = _seconds_cpu() - cpu0
    result = {
        "files": len(names),
        "commands": commands,
        "wall_seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 2),
        "seconds_by_command": {k: round(v, 3) for k, v in by_kind.items()},
        "merged_episodes": _rows(work / "AGG" / "SSDA903_Episodes_merged.csv"),
        "pan_episodes": _rows(work / "PAN" / "pan_London_SSDA903_Episodes.csv"),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "log": str(log_path),
        "example": [" ".join(c) for _, c in peer_commands(python, names[0], work)],
    }
    (work.parent / f"{work.name}.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(
        f"[peer] {commands} commands in {seconds:.1f} s (CPU {cpu:.1f} s); la-agg merged "
        f"{result['merged_episodes']} episodes",
        flush=True,
    )
    return result


def compare(peer: dict, ours: dict, returns: dict) -> dict:
    """Both times on the same returns, the ratio and the verdict against ≥ 15×."""
    ours_wall = ours["process_seconds"]
    ratio = peer["wall_seconds"] / ours_wall
    return {
        "peer": PEER,
        "returns": returns,
        "peer_run": peer,
        "ours": {
            "wall_seconds": ours_wall,
            "whole_seconds": ours["whole_seconds"],
            "cpu_seconds": ours["outside_cpu_seconds"],
            "exit_code": ours["exit_code"],
            "n_steps": ours["n_steps"],
            "command": ours["command"],
            "loadavg_before": ours["loadavg_before"],
            "loadavg_after": ours["loadavg_after"],
        },
        "ratio": round(ratio, 2),
        "cpu_ratio": round(peer["cpu_seconds"] / ours["outside_cpu_seconds"], 2)
        if ours["outside_cpu_seconds"] else None,
        "target": TARGET_RATIO,
        "ok": ratio >= TARGET_RATIO and ours["exit_code"] == 0,
    }
