"""README promises no other test holds, each against values worked out by hand or in plain
Python (never the functions under test): stories.csv, `oba demo`, OBA_DUCKDB_MEMORY_LIMIT,
`--authority KEY`, a failing authority keeping its outputs, the pseudonym key, the SQLite
instance file, and the schedule's cron, time zone and default-off state."""

import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from conftest import REPO, fresh_python, materialise_all, materialise_ok, query

OBA = Path(sys.executable).parent / "oba"
# The children of tests/fixtures/hand_council (its README), as exported.
HAND_CHILDREN = {"100001", "100002", "100003", "100004", "100005", "100006", "100007"}


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".oba.lock")
    }


# -- stories.csv -----------------------------------------------------------------------------------


STORIES_CSV = """measure,date,title,text,force
cla_count,2024-02-01,Edge-of-care team,Referrals to the new team began in February.,positive
cla_count,2023-06-15,Court backlog,Hearings were delayed by three months.,negative
cla_rate_per_10k,2024-01-10,Sufficiency plan,More local foster carers recruited.,
"""


def test_stories_csv_reaches_the_warehouse_and_the_measure_page(hand_council, tmp_path):
    """README: stories behind the baseline come from `stories/<measure>.yml` or `stories.csv`."""
    exports = tmp_path / "exports"
    shutil.copytree(hand_council, exports)
    shutil.rmtree(exports / "stories")
    (exports / "stories.csv").write_text(STORIES_CSV, encoding="utf-8")
    out = materialise_ok(exports, tmp_path / "out")

    rows = query(out, "select measure_id, story, source_file from raw.stories order by measure_id")
    stories = {r.measure_id: json.loads(r.story) for r in rows.itertuples()}
    assert set(rows["source_file"]) == {"stories.csv"}
    assert stories == {
        "cla_count": [  # by date, whatever the order of the rows
            {"date": "2023-06-15", "title": "Court backlog", "force": "negative",
             "text": "Hearings were delayed by three months."},
            {"date": "2024-02-01", "title": "Edge-of-care team", "force": "positive",
             "text": "Referrals to the new team began in February."},
        ],
        "cla_rate_per_10k": [
            {"date": "2024-01-10", "title": "Sufficiency plan", "force": "neutral",
             "text": "More local foster carers recruited."},
        ],
    }
    page = (out / "site" / "measures" / "cla_count.html").read_text(encoding="utf-8")
    assert "Court backlog" in page and "Edge-of-care team" in page


# -- oba demo --------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_oba_demo_writes_everything_readme_lists(tmp_path):
    """README: `make demo` (`oba demo --out demo`) writes the synthetic council's exports,
    the warehouse, the site, the board pack and the downloads, and prints the site's path."""
    out = tmp_path / "demo"
    completed = subprocess.run(
        [str(OBA), "demo", "--out", str(out), "--scale", "tiny", "--seed", "5"],
        capture_output=True, text=True, timeout=840,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    index = out / "site" / "index.html"
    assert completed.stdout.strip().splitlines()[-1] == str(index.resolve())
    exports = {p.name for p in (out / "exports").iterdir()}
    # annual returns, CIN census, case export, population and stories
    assert {"population.csv", "stories"} <= exports
    found = {p.suffix for p in (out / "exports").rglob("*") if p.is_file()}
    assert {".csv", ".xml", ".yml"} <= found
    assert (out / "warehouse.duckdb").is_file() and index.is_file()
    assert (out / "board_pack.pdf").read_bytes()[:5] == b"%PDF-"
    published = {p.name for p in (out / "published").glob("*.csv")}
    assert {"measure_values.csv", "breakdown_codes.csv"} <= published
    con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from raw.ssda903_episodes").fetchone()[0] > 0
        assert con.execute("select count(*) from raw.cin_cp_plans").fetchone()[0] > 0
        assert con.execute("select count(*) from raw.case_clients").fetchone()[0] > 0
    finally:
        con.close()


# -- OBA_DUCKDB_MEMORY_LIMIT and the SQLite instance ---------------------------------------------


@pytest.fixture(scope="module")
def instance_run(hand_council, tmp_path_factory):
    """`oba run` on the hand council in its own process, with a memory limit and a thread
    count, a models folder holding one extra model that records DuckDB's settings as a run
    sees them, and
    DAGSTER_HOME holding the shipped SQLite instance file."""
    root = tmp_path_factory.mktemp("instance_run")
    models = root / "models"
    shutil.copytree(REPO / "models", models)
    (models / "marts" / "probe_memory_limit.sql").write_text(
        "select current_setting('memory_limit') as memory_limit, current_setting('threads') as threads\n",
        encoding="utf-8",
    )
    home = root / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO / "deploy" / "dagster.local.yaml", home / "dagster.yaml")
    env = {**os.environ, "OBA_DUCKDB_MEMORY_LIMIT": "300MB", "OBA_DUCKDB_THREADS": "3", "OBA_MODELS": str(models),
           "DAGSTER_HOME": str(home)}
    project = root / "project"  # the folder it runs from: with DAGSTER_HOME set, left as it was
    project.mkdir()
    completed = subprocess.run(
        [str(OBA), "run", "--exports", str(hand_council), "--out", str(root / "out")],
        capture_output=True, text=True, timeout=600, env=env, cwd=project,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return root


@pytest.mark.timeout(900)
def test_the_memory_limit_and_threads_reach_duckdb_in_a_run(instance_run):
    # 300 MB = 300,000,000 bytes = 286.1 MiB, as DuckDB shows it (its default is 80% of RAM);
    # three threads (its default is one per core)
    probe = query(instance_run / "out", "select memory_limit, threads from marts.probe_memory_limit")
    assert probe.to_dict("records") == [{"memory_limit": "286.1 MiB", "threads": 3}]


@pytest.mark.timeout(900)
def test_the_sqlite_instance_file_loads_and_records_the_run(instance_run):
    """README: deploy/dagster.local.yaml is the embedded SQLite default; `oba run` records its
    runs there whenever DAGSTER_HOME is set (what `dagster dev` then reads), and writes no
    ``.dagster`` into the folder it runs from. (DAGSTER_HOME unset: test_operate.)"""
    assert list((instance_run / "project").iterdir()) == []
    with dg.DagsterInstance.from_config(str(instance_run / "dagster_home")) as instance:
        (run,) = instance.get_runs()
        records = instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records
        keys = {r.event_log_entry.dagster_event.asset_key.to_user_string() for r in records}
    assert {"raw/ssda903_episodes", "marts/measure_values", "published/site"} <= keys, sorted(keys)
    code = (
        "import dagster as dg; i = dg.DagsterInstance.get(); "
        "print(type(i.run_storage).__name__, type(i.run_coordinator).__name__, "
        "i.run_coordinator.inst_data.config_dict['max_concurrent_runs'], "
        "[(t['key'], t['limit']) for t in i.run_coordinator.inst_data.config_dict['tag_concurrency_limits']]); "
        "runs = i.get_runs(); print(len(runs), runs[0].job_name, runs[0].status.value)"
    )
    shown = fresh_python(code, {**os.environ, "DAGSTER_HOME": str(instance_run / "dagster_home")})
    assert shown.split() == [
        "SqliteRunStorage", "QueuedRunCoordinator", "4", "[('oba/output',", "1)]",
        "1", "oba_refresh", "SUCCESS"
    ]


# -- the pseudonym key -----------------------------------------------------------------------------


def _hmac_uuid(key: bytes, value: str) -> uuid.UUID:
    """README: HMAC-SHA256 under the key, the first 128 bits, as a UUID (plain Python)."""
    return uuid.UUID(bytes=hmac.new(key, value.encode("utf-8"), hashlib.sha256).digest()[:16])


def test_a_different_pseudonym_key_gives_different_pseudonyms(hand_council, tmp_path, monkeypatch):
    staged = {}
    keys = {}
    for name in ("first", "second"):
        key_file = tmp_path / name / "pseudonym.key"
        monkeypatch.setenv("OBA_PSEUDONYM_KEY", str(key_file))
        out = tmp_path / name / "out"
        assert materialise_all(hand_council, out, groups=("raw", "staging")).success
        keys[name] = bytes.fromhex(key_file.read_text(encoding="ascii").strip())
        staged[name] = set(query(out, "select distinct child_id from staging.stg_ssda903_episodes")["child_id"])
    assert keys["first"] != keys["second"]  # a key generated on first use, one per path
    for name in ("first", "second"):
        assert staged[name] == {_hmac_uuid(keys[name], child) for child in HAND_CHILDREN}
    assert not staged["first"] & staged["second"]


# -- several authorities: --authority KEY, and a failing authority --------------------------------


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_one_authority_runs_alone_and_a_failing_one_keeps_its_outputs(hand_council, tmp_path):
    """README: `--authority KEY` runs that authority only (then the roll-up); an authority
    whose run fails keeps its previous outputs while the others are published."""
    for key in ("north", "south"):
        shutil.copytree(hand_council, tmp_path / key / "exports")
    authorities = tmp_path / "authorities.yaml"
    authorities.write_text(
        "region: {name: Test Region, code: E12000009}\n"
        "authorities:\n"
        "  - {key: north, name: Northshire, code: E09000999, exports: north/exports}\n"
        "  - {key: south, name: Southshire, code: E09000999, exports: south/exports}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"

    def run(*extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(OBA), "run", "--authorities", str(authorities), "--out", str(out), *extra],
            capture_output=True, text=True, timeout=900, env={**os.environ, "COLUMNS": "200", **(env or {})},
        )

    # the first on an instance without a run queue: said, then run in the command's process
    unqueued = tmp_path / "dagster_home"
    unqueued.mkdir()
    (unqueued / "dagster.yaml").write_text(
        "run_coordinator: {module: dagster._core.run_coordinator, class: DefaultRunCoordinator}\n"
        "telemetry: {enabled: false}\n", encoding="utf-8",
    )
    first = run("--authority", "north", env={"DAGSTER_HOME": str(unqueued)})
    assert first.returncode == 0, first.stdout + first.stderr
    assert "has no run queue" in " ".join(first.stderr.split())
    assert "authority run(s)" not in first.stderr
    assert (out / "north" / "site" / "index.html").is_file()
    assert not (out / "south").exists()
    assert first.stdout.split() == [
        str((out / "north" / "site" / "index.html").resolve()),
        str((out / "region" / "site" / "index.html").resolve()),
    ]

    north_before = _snapshot(out / "north")
    (tmp_path / "north" / "exports" / "ssda903" / "2023-24" / "oc3.csv").write_bytes("CHILD,DOB\n".encode("utf-16"))
    # a column the contract does not know, in south's episodes: kept aside, with a warning
    episodes = tmp_path / "south" / "exports" / "ssda903" / "2023-24" / "episodes.csv"
    lines = episodes.read_text(encoding="utf-8-sig").splitlines()
    episodes.write_text("\n".join([lines[0] + ",NOTES"] + [line + ",x" for line in lines[1:]]) + "\n",
                        encoding="utf-8")
    queued = tmp_path / "dagster_home_queued"  # the shipped instance file: the run queue
    queued.mkdir()
    shutil.copyfile(REPO / "deploy" / "dagster.local.yaml", queued / "dagster.yaml")
    second = run(env={"DAGSTER_HOME": str(queued)})
    assert second.returncode == 1, second.stdout + second.stderr
    assert "Queued 2 authority run(s)" in second.stderr
    # each queued run's warnings, as a lone run prints them, named with the authority
    assert "Warning: south: ssda903_episodes: extra columns kept aside in _extra for " \
        "ssda903/2023-24/episodes.csv" in " ".join(second.stderr.split()), second.stderr
    assert "Authorities that failed (previous outputs kept): north" in " ".join(second.stderr.split())
    assert "Regional roll-up not run" in " ".join(second.stderr.split())
    # why, read from the failed run's events in the instance: the step and the file
    assert re.search(r"Failed: north: raw\.\S+: .*oc3\.csv", " ".join(second.stderr.split())), second.stderr
    assert _snapshot(out / "north") == north_before
    assert (out / "south" / "site" / "index.html").is_file()
    assert str((out / "south" / "site" / "index.html").resolve()) in second.stdout.split()
    assert not list((out / "north").glob(".run-*")) and not list((out / "south").glob(".run-*"))


# -- the schedule ----------------------------------------------------------------------------------


def _schedule_as_loaded(**overrides: str) -> list[str]:
    """The schedule and sensor as a fresh process loads the definitions under ``overrides``."""
    code = (
        "from pipelines.definitions import defs; "
        "s = defs.resolve_schedule_def('monthly_refresh'); "
        "e = defs.resolve_sensor_def('exports_folder'); "
        "print('|'.join([s.cron_schedule, s.execution_timezone, s.default_status.value, e.default_status.value]))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OBA_REFRESH_CRON", "OBA_TIMEZONE")}
    return fresh_python(code, {**env, **overrides}).strip().splitlines()[-1].split("|")


@pytest.mark.timeout(600)
def test_schedule_is_monthly_at_six_london_time_and_starts_switched_off():
    """README: 06:00 on the 2nd of each month, Europe/London; OBA_REFRESH_CRON and
    OBA_TIMEZONE change it; the schedule and the sensor both start switched off."""
    assert _schedule_as_loaded() == ["0 6 2 * *", "Europe/London", "STOPPED", "STOPPED"]
    assert _schedule_as_loaded(OBA_REFRESH_CRON="30 7 * * 1", OBA_TIMEZONE="UTC") == [
        "30 7 * * 1", "UTC", "STOPPED", "STOPPED"
    ]
