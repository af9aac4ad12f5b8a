import os
import re
import shutil
import tempfile
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from filelock import FileLock

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
# One pseudonymisation key for the whole test session, never the user's own; under pytest-xdist
# one for all the session's workers (they share built outputs, so they must pseudonymise alike).
_RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID")
if _RUN_ID:
    _KEY_DIR = os.path.join(tempfile.gettempdir(), f"oba-test-key-{_RUN_ID}")
    os.makedirs(_KEY_DIR, mode=0o700, exist_ok=True)
else:
    _KEY_DIR = tempfile.mkdtemp(prefix="oba-test-key-")
os.environ["OBA_PSEUDONYM_KEY"] = os.path.join(_KEY_DIR, "pseudonym.key")
with FileLock(os.path.join(_KEY_DIR, "pseudonym.key.lock")):  # the first worker writes it
    from pipelines.pseudonym import load_or_create_key

    load_or_create_key(Path(os.environ["OBA_PSEUDONYM_KEY"]))
# The suite runs a test process per core (`pytest -n auto`), and the runs they start run at once:
# a DuckDB thread each (OBA_DUCKDB_THREADS; DuckDB's own default is one per core) shares the cores
# with less switching. test_promises checks that another count reaches a run's DuckDB.
os.environ.setdefault("OBA_DUCKDB_THREADS", "1")
# Runs never record into the developer's Dagster instance (nor, DAGSTER_HOME unset, into a
# ``.dagster`` folder where the tests run): each test has its own (``hermetic_environment``), and
# session fixtures one for the session.
_SESSION_DAGSTER_HOME = tempfile.mkdtemp(prefix="oba-test-dagster-")
Path(_SESSION_DAGSTER_HOME, "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
os.environ["DAGSTER_HOME"] = _SESSION_DAGSTER_HOME

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[1]

# Hypothesis profiles: `ci` (chosen when the CI variable is set) is derandomised, so CI sees the
# same examples on every run; `dev` (locally) draws new random examples each run and replays
# failures from the example database, so local runs widen the search over time; `deep`
# (HYPOTHESIS_PROFILE=deep) draws ten times as many examples. Tests size their searches with
# ``examples(n)``, which the profile scales.
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, database=None, print_blob=True, deadline=None)
settings.register_profile("dev", deadline=None)
settings.register_profile("deep", deadline=None)
HYPOTHESIS_PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
settings.load_profile(HYPOTHESIS_PROFILE)


def examples(n: int) -> int:
    """``n`` examples, or ten times as many under the `deep` profile."""
    return n * (10 if HYPOTHESIS_PROFILE == "deep" else 1)


# A test file that defines a fixture of module or session scope builds it once for its own tests.
_OWN_SHARED_FIXTURE = re.compile(r"""@pytest\.fixture\(\s*scope=["'](module|session)["']""")


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # without pytest-xdist: not called
def pytest_xdist_make_scheduler(config, log):
    """`make test` (``-n auto --dist loadgroup``) hands tests to whichever pytest-xdist worker is
    free, one by one, except that a file defining a fixture of module or session scope (one
    built once for that file's tests) goes whole to one worker, so that fixture is built once;
    an ``xdist_group`` mark joins tests as usual. What several files share is built once per
    session whatever the worker (``built_once``). Whole files go out first, largest first, and
    single tests fill the workers' ends."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    whole: dict[str, bool] = {}

    class FileOrTest(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            if scope != nodeid:  # an xdist_group
                return scope
            file = nodeid.split("::", 1)[0]
            if file not in whole:
                path = config.rootpath / file
                whole[file] = path.suffix == ".py" and bool(
                    _OWN_SHARED_FIXTURE.search(path.read_text(encoding="utf-8"))
                )
            return file if whole[file] else nodeid

    return FileOrTest(config, log)


def _memory_tmp() -> str | None:
    """A memory-backed folder (``/dev/shm``) with room to spare, else None: each test's Dagster
    instance lives there, so the run's event-log commits (a few MB a run) wait on no disk."""
    folder = "/dev/shm"
    try:
        stats = os.statvfs(folder)
    except OSError:
        return None
    roomy = stats.f_bavail * stats.f_frsize >= 1 << 30
    return folder if roomy and os.access(folder, os.W_OK | os.X_OK) else None


_MEMORY_TMP = _memory_tmp()


# The great-expectations server of the session (``OBA_GX_SERVER``), started by the process that
# runs pytest before any pytest-xdist worker starts, so every worker inherits the one socket.
_SESSION_GX_SERVER = "_OBA_TEST_SESSION_GX_SERVER"


def pytest_configure(config):
    """The controlling process starts one great-expectations server for the whole session: the
    workers' own runs and every `oba` process a test starts validate through a child forked
    from it, instead of each importing great-expectations (seconds of CPU each)."""
    if os.environ.get("PYTEST_XDIST_WORKER") or os.environ.get(_SESSION_GX_SERVER):
        return
    from pipelines.expectations import GxServer

    server = GxServer()
    config._oba_gx_server = server
    os.environ.update(server.environment())
    os.environ[_SESSION_GX_SERVER] = os.environ["OBA_GX_SERVER"]


def pytest_unconfigure(config):
    server = getattr(config, "_oba_gx_server", None)
    if server is not None:
        server.close()
        os.environ.pop(_SESSION_GX_SERVER, None)
        for name in server.environment():
            os.environ.pop(name, None)


@pytest.fixture(scope="session", autouse=True)
def gx_server():
    """The session's great-expectations server's socket, named by ``OBA_GX_SERVER`` in every
    test's environment (test_gx_server.py covers the worker a run starts for itself when no
    server is named)."""
    socket = os.environ.get(_SESSION_GX_SERVER)
    assert socket and Path(socket).is_socket(), "the session's great-expectations server is not running"
    os.environ["OBA_GX_SERVER"] = socket
    return Path(socket)


_EMPTY_INSTANCE: list[Path] = []


def _empty_instance(tmp_path_factory) -> Path:
    """A Dagster instance folder with no runs, its SQLite storage already created, made once
    per test process: each test's instance is a copy, so its runs open the storage instead of
    creating it and stamping its migrations (0.17 s of CPU a run). Tests of a new instance
    (test_instance, the processes given a home of their own) make their own folder."""
    if not _EMPTY_INSTANCE:
        from pipelines.defs.instance import open_instance

        folder = tmp_path_factory.mktemp("empty_dagster_home")
        (folder / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
        with open_instance(folder):
            pass
        _EMPTY_INSTANCE.append(folder)
    return _EMPTY_INSTANCE[0]


@pytest.fixture(autouse=True)
def hermetic_environment(tmp_path_factory, gx_server):
    """Each test starts from the session's environment with its own empty Dagster instance
    (``DAGSTER_HOME`` a fresh folder, never the developer's), and whatever the test or the code
    under test sets in ``os.environ`` is undone after it; an ``OBA_*`` variable left set fails
    the test."""
    # Not monkeypatch: a test's own monkeypatch is undone first, so what is left is the code's.
    saved = dict(os.environ)
    if _MEMORY_TMP:
        home = Path(tempfile.mkdtemp(prefix="oba-test-dagster-", dir=_MEMORY_TMP))
    else:
        home = tmp_path_factory.mktemp("dagster_home")
    shutil.copytree(_empty_instance(tmp_path_factory), home, dirs_exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    yield
    leaked = {k: v for k, v in os.environ.items() if k.startswith("OBA_") and saved.get(k) != v}
    os.environ.clear()
    os.environ.update(saved)
    if _MEMORY_TMP:
        shutil.rmtree(home, ignore_errors=True)
    assert not leaked, f"the test left {sorted(leaked)} in the environment"


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory):
    """A folder for pictures a person may want to look at; copied to the repository's
    ``test-artifacts/`` when the session ends (tests never write into the repository)."""
    folder = tmp_path_factory.mktemp("artifacts")
    yield folder
    target = REPO / "test-artifacts"
    target.mkdir(exist_ok=True)
    for path in folder.iterdir():
        if path.is_file():
            shutil.copy2(path, target / path.name)

# The core measures of DESIGN.md §2: population indicators (with a truth in the synthetic
# council) and the programme measures of the case export.
POPULATION_MEASURES = (
    "cla_count",
    "cla_rate_per_10k",
    "cla_starts_12m",
    "placement_stability_3plus_pct",
    "cpp_count",
    "cpp_rate_per_10k",
    "cpp_repeat_pct_12m",
    "care_leavers_suitable_accommodation_pct",
    "care_leavers_eet_pct",
    # DOMAIN.md §3b, the wider catalogue
    "cin_count",
    "cin_rate_per_10k",
    "referrals_12m",
    "referral_rate_per_10k",
    "rereferrals_12m_pct",
    "assessments_45wd_pct",
    "s47_rate_per_10k_12m",
    "icpc_15wd_pct",
    "cpp_2yrs_pct_12m",
    "placement_stability_long_term_pct",
    "cla_missing_12m_pct",
    "uasc_count",
    "cla_health_assessment_pct",
    "cla_teeth_check_pct",
    "cla_sdq_recorded_pct",
    "adoption_entry_to_placed_days_3y",
    "care_leavers_17_18_suitable_accommodation_pct",
)
PROGRAM_MEASURES = (
    "program_clients_served_12m",
    "program_plan_within_30d_pct",
    "program_improved_pct",
    "program_reliable_improvement_pct",
)
CORE_MEASURES = POPULATION_MEASURES + PROGRAM_MEASURES
SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"


def materialise_all(
    exports: Path, out: Path, config: Path | None = None, groups: tuple[str, ...] | None = None
) -> dg.ExecuteInProcessResult:
    """Materialise the project's asset graph (or only the named groups) on ``exports``."""
    from pipelines.definitions import defs
    from pipelines.defs.resources import ObaPaths, Warehouse

    assets = list(defs.assets)
    out.mkdir(parents=True, exist_ok=True)
    return dg.materialize(
        assets,
        resources={
            # the warehouse resource `oba run` uses: held open for the run, a cursor per step
            "duckdb": Warehouse(database=str(out / "warehouse.duckdb")),
            "oba": ObaPaths(
                exports_dir=str(exports), out_dir=str(out), config_path=str(config or "")
            ),
        },
        selection=dg.AssetSelection.groups(*groups) if groups else None,
        raise_on_error=False,
    )


def materialise_ok(exports: Path, out: Path, config: Path | None = None) -> Path:
    """Materialise the whole graph on ``exports`` into ``out``; a failed step fails the caller
    with every failing step's message."""
    result = materialise_all(exports, out, config)
    if not result.success:
        failures = [
            f"{e.step_key}: {e.step_failure_data.error.message if e.step_failure_data.error else ''}"
            for e in result.all_events
            if e.is_step_failure
        ]
        raise AssertionError(f"the run on {exports} failed: " + "; ".join(failures))
    return out


def text_columns_holding(out: Path, values: set[str], schemas: tuple[str, ...] | None = None) -> list[str]:
    """The text columns of ``out``'s warehouse, in ``schemas`` (default: every schema but raw),
    that hold one of ``values`` (surrounding spaces ignored)."""
    from pipelines.sqlquote import quote_identifier

    con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    try:
        in_schemas = "table_schema in (select unnest(?))" if schemas else "table_schema <> 'raw'"
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            f"where {in_schemas} and data_type = 'VARCHAR'",
            [list(schemas)] if schemas else [],
        ).fetchall()
        if schemas:
            assert {c[0] for c in columns} == set(schemas), "every schema asked for has text columns"
        by_table: dict[tuple[str, str], list[str]] = {}
        for schema, table, column in columns:
            by_table.setdefault((schema, table), []).append(column)
        held = []
        for (schema, table), names in by_table.items():  # one scan of each table
            counts = ", ".join(
                f"count(*) filter (where trim({quote_identifier(c)}) in (select unnest($values)))" for c in names
            )
            hits = con.execute(
                f"select {counts} from {quote_identifier(schema)}.{quote_identifier(table)}",
                {"values": sorted(values)},
            ).fetchone()
            held += [f"{schema}.{table}.{c}" for c, n in zip(names, hits, strict=True) if n]
        return held
    finally:
        con.close()


def assert_no_identifier_leaves_raw(out: Path, ids: set[str]) -> None:
    """None of ``ids`` (raw identifiers) is a value of a text column outside raw, or stands
    alone (not digits of a longer number) in a published file of ``out``."""
    import re

    assert ids
    held = text_columns_holding(out, ids)
    assert not held, f"{held[0]} holds a raw identifier"
    # Every run of word characters that stands alone (not after a dot, not before a decimal
    # part) is looked up among the identifiers: what a pattern of all of them, each standing
    # alone, would find, without one alternative per identifier.
    assert all(re.fullmatch(r"\w+", i) for i in ids), "identifiers are runs of word characters"
    standalone = re.compile(r"(?<![\w.])(\w+)(?!\w|\.\d)")
    wanted = set(ids)
    checked = 0
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".csv", ".json", ".txt") and path.name != "plotly.min.js":
            text = path.read_text(encoding="utf-8", errors="replace")
            found = next((t for t in standalone.findall(text) if t in wanted), None)
            assert found is None, f"{path} holds the raw identifier {found!r}"
            checked += 1
    assert checked > 10, f"only {checked} published files under {out}"


def memory_duckdb() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for a property's examples, with the session's threads per run
    (OBA_DUCKDB_THREADS): a database each example, small data, a test process per core."""
    threads = os.environ.get("OBA_DUCKDB_THREADS")
    return duckdb.connect(config={"threads": int(threads)} if threads else {})


def query(out: Path, sql: str, params=None):
    con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).df()
    finally:
        con.close()


# -- outputs built once per session -----------------------------------------------------------
#
# A whole run takes tens of seconds, so a build that several test files only read is made once
# per session, by whichever process (pytest-xdist worker) asks first, in a folder every worker
# of the session shares; the others wait on its file lock and get the same folder. What it
# holds is read-only (its files and folders lose their write permission, a reader opens the
# warehouse with read_only=True); a test that changes outputs or exports works on a copy
# (``copy_of``).


def shared_root(tmp_path_factory) -> Path:
    """The session's folder common to all its processes: the base temporary folder, or under
    pytest-xdist the controller's one that holds each worker's."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _read_only(folder: Path) -> None:
    for path in [*folder.rglob("*"), folder]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & ~0o222)


def _writable(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)


def built_once(tmp_path_factory, name: str, build) -> Path:
    """The folder ``name`` under the session's shared root, made by ``build(folder)`` the first
    time any process of the session asks for it, then read-only and the same for every caller.
    A build that fails is tried afresh by the next caller (and fails it the same way)."""
    root = shared_root(tmp_path_factory) / "built"
    root.mkdir(exist_ok=True)
    folder = root / name
    with FileLock(str(root / f"{name}.lock")):
        if not (root / f"{name}.done").exists():
            if folder.exists():
                _writable(folder)
                shutil.rmtree(folder)
            folder.mkdir()
            build(folder)
            _read_only(folder)
            (root / f"{name}.done").touch()
    return folder


def copy_of(shared: Path, dest: Path) -> Path:
    """A writable copy of a shared build's folder (or part of it) at ``dest``, modification
    times kept; symbolic links are copied as links."""
    shutil.copytree(shared, dest, symlinks=True)
    _writable(dest)
    return dest


class dagster_home_at:
    """``DAGSTER_HOME`` set to ``folder`` (made, telemetry off) while the block runs, so a
    shared build's run records into an instance of its own, kept beside its outputs."""

    def __init__(self, folder: Path):
        self.folder = folder

    def __enter__(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
        self.saved = os.environ.get("DAGSTER_HOME")
        os.environ["DAGSTER_HOME"] = str(self.folder)
        return self.folder

    def __exit__(self, *exc) -> None:
        if self.saved is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = self.saved


def cli_run_once(tmp_path_factory, name: str, make_exports, *options: str) -> tuple[Path, Path]:
    """``oba run [options]`` on the exports ``make_exports(folder)`` writes, built once per
    session as ``name`` (``built_once``): its ``exports``, and its ``out``; the asset keys the
    run materialised, read from its own Dagster instance, are ``materialised_by(out)``."""
    from pipelines.cli import main

    def build(folder: Path) -> None:
        make_exports(folder / "exports")
        with dagster_home_at(folder / "dagster_home") as home:
            code = main(["run", "--exports", str(folder / "exports"), "--out", str(folder / "out"), *options])
            assert code == 0, f"oba run for the shared build {name!r} exited {code}"
            with dg.DagsterInstance.from_config(str(home)) as instance:
                (run,) = instance.get_runs()
                records = instance.get_records_for_run(
                    run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
                ).records
                keys = {r.event_log_entry.dagster_event.asset_key.to_user_string() for r in records}
        (folder / "materialised.txt").write_text("\n".join(sorted(keys)) + "\n", encoding="utf-8")

    folder = built_once(tmp_path_factory, name, build)
    return folder / "exports", folder / "out"


def materialised_by(out: Path) -> set[str]:
    """The asset keys the run of a shared build (``cli_run_once``) materialised, as its Dagster
    instance recorded them."""
    return set((out.parent / "materialised.txt").read_text(encoding="utf-8").split())


def hand_council_outputs(tmp_path_factory) -> tuple[Path, Path]:
    """`oba run` on tests/fixtures/hand_council as it is (its own oba.yaml), once per session:
    (exports, out), read-only."""
    return cli_run_once(
        tmp_path_factory, "hand_council", lambda exports: shutil.copytree(FIXTURES / "hand_council", exports)
    )


def synthetic_tiny_outputs(tmp_path_factory) -> tuple[Path, Path]:
    """`oba run` on the tiny synthetic council of seed 2026 (what `oba synth --scale tiny`
    writes), once per session: (exports, out), read-only."""
    from pipelines.synth import generate

    return cli_run_once(tmp_path_factory, "synthetic_tiny_2026",
                        lambda exports: generate(exports, scale="tiny", seed=2026))


@pytest.fixture(scope="session")
def hand_council() -> Path:
    return FIXTURES / "hand_council"


@pytest.fixture(scope="session")
def hand_council_run(tmp_path_factory) -> tuple[Path, Path]:
    """The hand-worked council's exports and a good `oba run`'s outputs of them, shared by the
    session and read-only (``hand_council_outputs``)."""
    return hand_council_outputs(tmp_path_factory)


@pytest.fixture
def council_run(hand_council_run, tmp_path) -> tuple[Path, Path]:
    """The hand-worked council's exports in ``tmp_path/exports`` and a good run's outputs of
    them in ``tmp_path/out`` (copies of the session's ``hand_council_run``), for a test to
    change the exports and run again."""
    exports, out = hand_council_run
    return copy_of(exports, tmp_path / "exports"), copy_of(out, tmp_path / "out")


@pytest.fixture(scope="session")
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"shared samples not found at {SAMPLES}")
    return SAMPLES


class ProcessOutput:
    """A child process's combined output, read by a thread so that waiting for a line has a
    real deadline (a blocking ``readline()`` would wait for ever on a silent process)."""

    def __init__(self, proc):
        import queue
        import threading

        self.proc = proc
        self.lines: list[str] = []
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, needle: str, timeout: float) -> str:
        """The line holding ``needle``; fails the test when the deadline passes or the output
        ends first."""
        import queue
        import time

        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                raise AssertionError(f"output ended before {needle!r}:\n{self.text}")
            if needle in line:
                return line
        raise AssertionError(f"no {needle!r} within {timeout} s:\n{self.text}")

    def finish(self, timeout: float) -> str:
        """Wait for the process to end (killing it after ``timeout``) and return all its output."""
        import subprocess

        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
            raise
        finally:
            self._thread.join(timeout=30)
        return self.text


def fresh_python(code: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    """What ``code`` prints when a fresh Python process runs it (this environment, with ``env``
    over it, or ``env`` alone when it is the whole environment); fails on a non-zero exit."""
    import subprocess
    import sys

    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
        env=env if env is not None else None,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout
