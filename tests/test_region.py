"""Several authorities: one static partition each, run independently, rolled up to the region."""

import base64
import contextlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import REPO, ProcessOutput, fresh_python

OBA = Path(sys.executable).parent / "oba"


AUTHORITIES = {"north": "Northshire", "south": "Southshire", "east": "Eastshire"}
QUEUE_LIMIT = 2  # runs at once in the fixture's instance: three authorities, so one waits


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    """Three authorities run by `oba run --authorities` in its own process, on an instance with
    the shipped run queue (deploy/dagster.local.yaml) limited to two runs at once."""
    from pipelines.synth import generate

    root = tmp_path_factory.mktemp("region")
    for seed, key in enumerate(AUTHORITIES, start=11):
        generate(root / key / "exports", scale="tiny", seed=seed)
    (root / "authorities.yaml").write_text(
        "region: {name: Test Region, code: E12000009}\n"
        "authorities:\n"
        + "".join(f"  - {{key: {key}, name: {name}, code: E09000999, exports: {key}/exports}}\n"
                  for key, name in AUTHORITIES.items())
    )
    home = root / "dagster_home"
    home.mkdir()
    shipped = (REPO / "deploy" / "dagster.local.yaml").read_text(encoding="utf-8")
    assert "max_concurrent_runs: 4" in shipped
    (home / "dagster.yaml").write_text(
        shipped.replace("max_concurrent_runs: 4", f"max_concurrent_runs: {QUEUE_LIMIT}"), encoding="utf-8"
    )
    # OBA_GX_SERVER names the session's great-expectations server: the command and its runs
    # validate through it, starting no server or worker of their own (watched while it runs)
    assert os.environ.get("OBA_GX_SERVER")
    proc = subprocess.Popen(
        [str(OBA), "run", "--authorities", str(root / "authorities.yaml"), "--out", str(root / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "DAGSTER_HOME": str(home)},
    )
    output = ProcessOutput(proc)
    own_gx: set[str] = set()
    deadline = time.monotonic() + 900
    while proc.poll() is None:
        assert time.monotonic() < deadline, output.text
        own_gx.update(_processes(home, b"pipelines.expectations"))
        time.sleep(0.2)
    text = output.finish(timeout=60)
    assert proc.returncode == 0, text
    assert not own_gx, own_gx
    return root


def test_definitions_are_partitioned_by_authority(region):
    code = (
        "from pipelines.definitions import defs; "
        "job = defs.resolve_job_def('oba_refresh'); "
        "print(sorted(job.partitions_def.get_partition_keys())); "
        "print(sorted(k.to_user_string() for k in defs.resolve_job_def('oba_region').asset_layer.executable_asset_keys))"
    )
    lines = fresh_python(code, {**os.environ, "OBA_AUTHORITIES": str(region / "authorities.yaml")}).strip().splitlines()
    assert lines[0] == str(sorted(AUTHORITIES))
    assert "marts/regional_measure_values" in lines[1] and "published/regional_site" in lines[1]


def _runs(home: Path) -> list[dict]:
    """Each run the instance in ``home`` recorded: job, partition, status, tags, and the times
    (seconds) it was queued, started in its own process and ended, read in a fresh process."""
    code = (
        "import json, dagster as dg; i = dg.DagsterInstance.get(); out = []\n"
        "for r in i.get_runs():\n"
        "    times = {}\n"
        "    for e in i.all_logs(r.run_id):\n"
        "        ev = e.dagster_event\n"
        "        if ev is not None: times.setdefault(ev.event_type_value, e.timestamp)\n"
        "        if ev is not None and ev.event_type_value == 'PIPELINE_START': times['pid'] = ev.pid\n"
        "    out.append({'job': r.job_name, 'partition': r.tags.get('dagster/partition'),\n"
        "                'status': r.status.value, 'tags': dict(r.tags), 'times': times})\n"
        "print(json.dumps(out))"
    )
    return json.loads(fresh_python(code, {**os.environ, "DAGSTER_HOME": str(home)}).strip().splitlines()[-1])


def test_each_authority_is_one_run_of_its_partition_through_the_run_queue(region):
    """Each authority is one Dagster run of its partition: queued on the instance, taken off the
    queue by the daemon the command started, and run in a process of its own by the run
    launcher, never more at once than the queue allows; the roll-up is queued once all have
    succeeded."""
    location = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["dagster"][
        "code_location_name"]
    runs = _runs(region / "dagster_home")
    refresh = [r for r in runs if r["job"] == "oba_refresh"]
    assert sorted(r["partition"] for r in refresh) == sorted(AUTHORITIES)
    (rollup,) = [r for r in runs if r["job"] == "oba_region"]
    assert len(runs) == len(AUTHORITIES) + 1
    for r in [*refresh, rollup]:
        assert r["status"] == "SUCCESS"
        # queued, then dequeued and launched (the launcher's note of the process it started)
        assert {"PIPELINE_ENQUEUED", "PIPELINE_STARTING", "PIPELINE_START", "PIPELINE_SUCCESS"} <= set(r["times"])
        assert r["times"]["PIPELINE_ENQUEUED"] <= r["times"]["PIPELINE_STARTING"] <= r["times"]["PIPELINE_START"]
        assert ".dagster/grpc_info" in r["tags"]  # launched through the code server
        assert r["tags"]["dagster/code_location"] == location  # as `dagster dev` names it
    for r in refresh:
        assert r["tags"]["oba/output"] == str((region / "out" / r["partition"]).resolve())
    assert rollup["tags"]["oba/output"] == str((region / "out" / "region").resolve())
    # each run in its own process
    assert len({r["times"]["pid"] for r in [*refresh, rollup]}) == len(AUTHORITIES) + 1
    # never more than the limit at once, and the queue did run them side by side
    spans = [(r["times"]["PIPELINE_STARTING"], r["times"]["PIPELINE_SUCCESS"]) for r in refresh]
    most = max(sum(1 for start, end in spans if start <= t < end) for t, _ in spans)
    assert most == QUEUE_LIMIT
    assert rollup["times"]["PIPELINE_ENQUEUED"] >= max(end for _, end in spans)


def _processes(home: Path, needle: bytes) -> list[str]:
    """The command lines, holding ``needle``, of the running processes whose environment sets
    DAGSTER_HOME to ``home``: what a command on that instance started."""
    token = f"DAGSTER_HOME={home}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            variables = environ.read_bytes().split(b"\0")
            command = (environ.parent / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:  # ended meanwhile, or not ours to read
            continue
        if token in variables and needle in command:
            found.append(command.decode(errors="replace"))
    return found


def test_the_daemon_and_code_server_end_with_the_command(region):
    """Nothing the command started is left running once it has finished."""
    assert not _processes(region / "dagster_home", b"")


def test_each_authority_has_its_own_outputs(region):
    for key in AUTHORITIES:
        out = region / "out" / key
        assert (out / "warehouse.duckdb").is_file()
        assert (out / "site" / "index.html").is_file()
        con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
        name = con.execute("select authority_name from raw.oba_config").fetchone()[0]
        con.close()
        assert name == AUTHORITIES[key]


def test_rollup_adds_authority_breakdown_and_region_totals(region):
    con = duckdb.connect(str(region / "out" / "region" / "warehouse.duckdb"), read_only=True)
    rows = con.execute(
        "select breakdown, breakdown_value, value, numerator, denominator from marts.regional_measure_values "
        "where measure_id = 'cla_count' and period_end = date '2026-03-31' order by breakdown, breakdown_value"
    ).fetchall()
    rate = con.execute(
        "select breakdown_value, numerator, denominator, value from marts.regional_measure_values "
        "where measure_id = 'cla_rate_per_10k' and period_end = date '2026-03-31' and breakdown = 'all'"
    ).fetchone()
    con.close()
    by = {(b, v): value for b, v, value, _, _ in rows}
    assert set(by) == {("all", "all"), *(("authority", name) for name in AUTHORITIES.values())}
    assert by[("all", "all")] == sum(by[("authority", name)] for name in AUTHORITIES.values())
    assert rate[3] == pytest.approx(10000 * rate[1] / rate[2])
    site = (region / "out" / "region" / "site" / "index.html").read_text()
    assert "Northshire" in site and "Southshire" in site and "Region" in site
    csv = (region / "out" / "region" / "published" / "regional_measure_values.csv").read_text()
    assert "Northshire" in csv


# --- the published regional output: rounded and suppressed (DESIGN.md §5) ----------------------

UPPER = 5  # the fixture's authorities set no suppression threshold: the default, counts 1 to 5 are c


def _round10(n: float) -> int:
    """``n`` to the nearest 10, halves away from zero (as the published tables round)."""
    return int(math.floor(abs(n) / 10 + 0.5) * 10 * (1 if n >= 0 else -1))


def _number(text) -> float | None:
    """A published cell as a number, or None for a code (c, x, z) or an empty cell."""
    try:
        return float(str(text).replace(",", ""))
    except ValueError:
        return None


def _possible(text, rounded: bool, alone: bool = True) -> tuple[float, float] | None:
    """The exact counts a published count cell allows, as (lowest, highest); None when it is x
    or z. c is 1 to UPPER when it is the only c that could be hiding a small count (``alone``),
    else any count from 1 (it may hide a larger count beside a small one); 0 is a true zero; a
    number is exact unless ``rounded`` (the output shows only multiples of 10), when it allows
    the counts rounding to it, less the suppressed ones."""
    if str(text) == "c":
        return (1, UPPER if alone else math.inf)
    n = _number(text)
    if n is None:
        return None
    n = int(n)
    if n == 0 or not rounded:
        return (n, n)
    return (max(n - 5, UPPER + 1), n + 4)


def _bounds(areas: dict, rounded: dict[bool, bool]) -> dict[str, tuple[float, float] | None]:
    """What someone reading one measure, period and part of the output knows of each area's
    exact count (area ``all`` is the region's total)."""
    hidden = [a for a, (_, text) in areas.items() if a != "all" and text == "c"]
    shown = [a for a, (_, text) in areas.items() if a != "all" and (_number(text) or 0) > 0]
    bounds = {
        a: _possible(text, rounded[False], alone=len(hidden) == 1)
        for a, (_, text) in areas.items() if a != "all"
    }
    if "all" in areas:
        # a hidden total is small unless no authority is shown (it may then hide their sum)
        bounds["all"] = _possible(areas["all"][1], rounded[True], alone=bool(shown))
    return bounds


def _rounded(cells: dict) -> dict[bool, bool]:
    """Whether the output shows the authorities' counts (key False) and the region's (key True)
    only as multiples of 10, as someone reading it would see: one other number shows it does not."""
    numbers = {True: [], False: []}
    for areas in cells.values():
        for area, (_, text) in areas.items():
            if _number(text) is not None:
                numbers[area == "all"].append(_number(text))
    return {kind: all(n % 10 == 0 for n in ns) for kind, ns in numbers.items()}


def _regional_cells(root: Path) -> tuple[pd.DataFrame, dict]:
    """The published regional download and its exact warehouse values, as count cells.

    Returns the download (one row per measure, period and area, text as published) joined to
    the exact values, and the cells: (measure_id, period_end, part) → {area: (exact count,
    published text)}, part ``count`` for a count measure, ``numerator`` and ``denominator``
    for a percentage or rate; area ``all`` is the region's total."""
    out = root / "out" / "region"
    con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    exact = con.execute(
        "select r.measure_id, strftime(r.period_end, '%Y-%m-%d') as period_end, r.breakdown, "
        "r.breakdown_value, r.numerator as exact_numerator, r.denominator as exact_denominator, "
        "r.value as exact_value, m.unit "
        "from marts.regional_measure_values as r inner join marts.measures as m using (measure_id)"
    ).df()
    table = con.execute(
        "select measure_id, strftime(period_end, '%Y-%m-%d') as period_end, breakdown, breakdown_value, shown "
        "from published.regional_measure_values"
    ).df()
    con.close()
    download = pd.read_csv(out / "published" / "regional_measure_values.csv", dtype=str, keep_default_na=False)
    keys = ["measure_id", "period_end", "breakdown", "breakdown_value"]
    # the site and the download show the same thing
    assert download.merge(table, on=keys, suffixes=("", "_table")).eval("shown == shown_table").all()
    for column in ("numerator", "denominator"):
        if column not in download:  # not published: checked by the caller, not fatal here
            download[column] = ""
    rows = download.merge(exact, on=keys, how="inner", validate="one_to_one")
    assert len(rows) == len(download) == len(exact)
    cells: dict = {}
    for r in rows.itertuples():
        area = "all" if r.breakdown == "all" else r.breakdown_value
        if r.unit == "count":
            parts = [("count", r.exact_value, r.shown)]
        elif r.unit == "days":  # a mean: its numerator is days added up, not a count of anyone
            parts = [("denominator", r.exact_denominator, r.denominator)]
        else:
            parts = [("numerator", r.exact_numerator, r.numerator), ("denominator", r.exact_denominator, r.denominator)]
        for part, exact_n, text in parts:
            if pd.notna(exact_n) and text != "":
                cells.setdefault((r.measure_id, r.period_end, part), {})[area] = (round(exact_n), text)
    return rows, cells


def test_regional_authority_counts_are_rounded_or_suppressed(region):
    """(a) Every published count of the regional output (an authority's or the region's; a count
    measure's value, a percentage's or rate's numerator and denominator) is c when it is 1 to 5,
    0 when it is 0 and otherwise the exact count rounded to the nearest 10 (the region's from
    its exact total, not from the rounded authorities); a percentage or rate is c when either
    of its counts is, else worked out from the unrounded counts to 1 decimal place."""
    rows, cells = _regional_cells(region)
    unrounded = []
    for key, areas in sorted(cells.items()):
        for area, (n, text) in areas.items():
            if 1 <= n <= UPPER:
                assert text == "c", f"{key} {area}: exact {n} published as {text!r}"
            elif text != "c":
                if _number(text) != _round10(n):
                    unrounded.append((key, area, n, text))
    assert not unrounded, f"{len(unrounded)} counts not rounded to the nearest 10, e.g. {unrounded[:5]}"
    assert {"numerator", "denominator"} <= set(rows[rows["unit"] != "count"].dropna(axis=1).columns)
    assert (rows.loc[rows["unit"] != "count", ["numerator", "denominator"]] != "").all().all()
    for r in rows[rows["unit"] != "count"].itertuples():
        if "c" in (r.numerator, r.denominator):
            assert r.shown == "c", (r.measure_id, r.period_end, r.breakdown_value)
        elif pd.notna(r.exact_value):
            # to 1 decimal place; a mean number of days to whole days
            assert _number(r.shown) == pytest.approx(r.exact_value, abs=(0.5 if r.unit == "days" else 0.05) + 1e-9), r


def test_regional_suppressed_counts_cannot_be_worked_out(region):
    """(b) Differencing: the region's published total less what the other authorities' published
    counts allow never pins a suppressed count to one value; nor do the authorities pin a
    suppressed region total."""
    _, cells = _regional_cells(region)
    rounded = _rounded(cells)
    pinned = []
    checked = 0
    for key, areas in sorted(cells.items()):
        if "all" not in areas:
            continue
        bounds = _bounds(areas, rounded)
        if None in bounds.values():
            continue
        authorities = {a: b for a, b in bounds.items() if a != "all"}
        for area, (n, text) in areas.items():
            if text != "c":
                continue
            checked += 1
            others = [b for a, b in authorities.items() if a != area]
            if area == "all":
                low, high = sum(lo for lo, _ in others), sum(hi for _, hi in others)
            else:
                low = bounds["all"][0] - sum(hi for _, hi in others)
                high = bounds["all"][1] - sum(lo for lo, _ in others)
            low, high = max(low, bounds[area][0]), min(high, bounds[area][1])
            assert low <= n <= high, f"{key} {area}: the published figures rule out the exact {n}"
            if low == high and n <= UPPER:
                pinned.append((key, area, n))
    assert checked, "the fixture has no suppressed count to check"
    assert not pinned, f"{len(pinned)} suppressed counts worked out from the others, e.g. {pinned[:5]}"


def test_regional_exact_totals_cannot_be_recovered_from_authorities(region):
    """(c) Where an authority's exact count is not a multiple of 10, the published authority rows
    allow more than one region total (so adding them up gives no exact total), and the exact
    total is among those they allow."""
    _, cells = _regional_cells(region)
    rounded = _rounded(cells)
    recovered = []
    checked = 0
    for key, areas in sorted(cells.items()):
        if "all" not in areas:
            continue
        authorities = {a: (n, text) for a, (n, text) in areas.items() if a != "all"}
        if all(n % 10 == 0 for n, _ in authorities.values()):
            continue
        bounds = [b for a, b in _bounds(areas, rounded).items() if a != "all"]
        if None in bounds:
            continue
        checked += 1
        low, high = sum(lo for lo, _ in bounds), sum(hi for _, hi in bounds)
        exact_total = areas["all"][0]
        assert low <= exact_total <= high, f"{key}: the published authorities rule out the exact total"
        if low == high:
            recovered.append((key, exact_total))
    assert checked, "the fixture has no authority count that rounding changes"
    assert not recovered, f"{len(recovered)} exact region totals recovered, e.g. {recovered[:5]}"


def _page_figures(html: str) -> dict[str, dict]:
    """Each measure section of the regional page: its table (area → text shown) and its chart
    (trace name → y values, plotly's binary arrays decoded)."""
    sections = {}
    for measure_id, body in re.findall(r'<section aria-labelledby="h-([\w-]+)">(.*?)</section>', html, re.S):
        table = dict(re.findall(r'<th scope="row">(.*?)</th><td class="num">(.*?)</td>', body))
        start = body.index(f'"chart-{measure_id}",') + len(f'"chart-{measure_id}",')
        traces, _ = json.JSONDecoder().raw_decode(body[start:].lstrip())
        chart = {}
        for trace in traces:
            y = trace["y"]
            if isinstance(y, dict):
                y = np.frombuffer(base64.b64decode(y["bdata"]), dtype=np.dtype(y["dtype"])).tolist()
            chart[trace["name"]] = [v for v in y if v is not None and not math.isnan(v)]
        sections[measure_id] = {"table": table, "chart": chart}
    return sections


def test_regional_page_shows_no_small_or_exact_count(region):
    """The regional page's tables and charts show counts only as c, 0 or a multiple of 10."""
    con = duckdb.connect(str(region / "out" / "region" / "warehouse.duckdb"), read_only=True)
    units = dict(con.execute("select measure_id, unit from marts.measures").fetchall())
    con.close()
    sections = _page_figures((region / "out" / "region" / "site" / "index.html").read_text())
    counts = [m for m in sections if units[m] == "count"]
    assert counts
    for measure_id in counts:
        shown = sections[measure_id]["table"]
        assert {"Northshire", "Southshire", "Region"} <= set(shown)
        for area, text in shown.items():
            n = _number(text)
            assert text == "c" or (n is not None and n % 10 == 0), f"{measure_id} {area}: {text!r}"
        for name, ys in sections[measure_id]["chart"].items():
            bad = [v for v in ys if v % 10]
            assert not bad, f"{measure_id} chart {name}: unrounded counts {bad[:5]}"


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every output file but the lock (which names the last run that held it)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".oba.lock"
    }


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_stopped_region_run_cancels_its_runs_and_keeps_the_outputs(region, tmp_path):
    """SIGTERM while authorities run on the queue: the queued run is taken off the queue, the
    running ones are stopped, the command exits 130 with every previous output as it was, no
    scratch folder, and no daemon, code server or run process left. The runs' browser never
    answers, so no run could reach its swap before the stop even if the stop came late."""
    out = tmp_path / "out"
    shutil.copytree(region / "out", out)
    before = _snapshot(out)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(region / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    pids = tmp_path / "chromium.pids"
    chromium = tmp_path / "chromium"
    chromium.write_text(f"#!/bin/sh\necho $$ >> '{pids}'\nexec sleep 300\n")
    chromium.chmod(0o755)
    proc = subprocess.Popen(
        [str(OBA), "run", "--authorities", str(region / "authorities.yaml"), "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # no OBA_GX_SERVER: the command starts a great-expectations server of its own
        env={**{k: v for k, v in os.environ.items() if k != "OBA_GX_SERVER"},
             "DAGSTER_HOME": str(home), "OBA_CHROMIUM": str(chromium), "COLUMNS": "200"},
    )
    output = ProcessOutput(proc)
    try:
        output.wait_for("Queued 3 authority run(s)", timeout=180)
        deadline = time.monotonic() + 300
        while len(_processes(home, b"pipelines.expectations")) < QUEUE_LIMIT + 1:
            # two runs are loading their exports: each validates its contracts through a child
            # of the command's one great-expectations server (the server and two children)
            assert proc.poll() is None and time.monotonic() < deadline, output.text
            time.sleep(0.1)
        # no run started a great-expectations worker (and import) of its own
        assert all("--listen" in c for c in _processes(home, b"pipelines.expectations"))
        # the daemon, and each run it launches, records through the event log `oba run` uses
        (daemon,) = _processes(home, b"dagster-daemon")
        assert "KeptSqliteEventLogStorage" in daemon
        proc.send_signal(signal.SIGTERM)
        text = output.finish(timeout=180)
    finally:
        if pids.exists():
            for pid in pids.read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
    assert proc.returncode == 130, text
    assert "Stopped; previous outputs left in place." in " ".join(text.split())
    assert _snapshot(out) == before
    assert not list(out.glob("*/.run-*"))
    runs = _runs(home)
    assert len(runs) == len(AUTHORITIES)  # no roll-up was queued
    assert {r["status"] for r in runs} <= {"CANCELED", "FAILURE"}
    # two runs at once: the third was still waiting when the command stopped, and was taken off
    queued = [r for r in runs if "PIPELINE_STARTING" not in r["times"]]
    assert queued and all(r["status"] == "CANCELED" for r in queued)
    assert not _processes(home, b"")
