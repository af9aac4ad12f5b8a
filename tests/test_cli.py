"""The oba command line: serve, validate on clean synthetic exports, usage errors, and the one
configuration object it builds from the environment and its flags."""

import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from conftest import ProcessOutput

REPO = Path(__file__).resolve().parents[1]

OBA = Path(sys.executable).parent / "oba"


@pytest.mark.timeout(120)
def test_serve_binds_loopback_and_serves_the_site(tmp_path):
    site = tmp_path / "out" / "site"
    site.mkdir(parents=True)
    (site / "index.html").write_text("<!DOCTYPE html><title>Report card</title><h1>Report card</h1>")
    proc = subprocess.Popen(
        [str(OBA), "serve", "--out", str(tmp_path / "out"), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    output = ProcessOutput(proc)
    try:
        line = output.wait_for("http://127.0.0.1:", timeout=60)
        url = line[line.index("http://127.0.0.1:"):].split()[0].rstrip("/")
        with urllib.request.urlopen(url + "/index.html", timeout=10) as response:
            assert response.status == 200
            assert b"Report card" in response.read()
    finally:
        proc.terminate()
        output.finish(timeout=30)


# Starts `oba serve` with known signal dispositions whatever the test process inherited: every
# signal's default restored and none blocked, then the named ones ignored (as a service manager
# or a background shell may start it); exec keeps ignored signals ignored and the mask.
_LAUNCHER = """
import os, signal, sys
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, signal.SIG_DFL)
signal.pthread_sigmask(signal.SIG_SETMASK, [])
for name in sys.argv[1].split(","):
    if name:
        signal.signal(getattr(signal, name), signal.SIG_IGN)
os.execv(sys.argv[2], sys.argv[2:])
"""


def _serve_with_ignored(out: Path, ignored: tuple[str, ...]) -> tuple[subprocess.Popen, ProcessOutput, str]:
    """`oba serve` in its own session (no signal meant for the test's process group reaches
    it), returned once the server answers, with its address."""
    import time

    proc = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, ",".join(ignored), str(OBA), "serve", "--out", str(out),
         "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        env={**os.environ, "COLUMNS": "400"},
    )
    output = ProcessOutput(proc)
    line = output.wait_for("http://127.0.0.1:", timeout=60)
    url = line[line.index("http://127.0.0.1:"):].split()[0].rstrip("/")
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url + "/index.html", timeout=5) as response:
                assert response.status == 200
                return proc, output, url
        except OSError:
            assert time.monotonic() < deadline, f"the server never answered:\n{output.text}"
            time.sleep(0.1)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "stop, ignored, code",
    [
        (signal.SIGTERM, ("SIGTERM",), 0),
        (signal.SIGTERM, (), 0),
        (signal.SIGINT, ("SIGINT",), 130),
        (signal.SIGINT, (), 130),
    ],
    ids=["sigterm-started-ignored", "sigterm", "sigint-started-ignored", "sigint"],
)
def test_serve_stops_on_sigterm_even_when_started_with_it_ignored(tmp_path, stop, ignored, code):
    """SIGTERM is a clean stop (exit 0) and Ctrl+C an interruption (exit 130), whether or not
    the process was started with the signal ignored."""
    (tmp_path / "out" / "site").mkdir(parents=True)
    (tmp_path / "out" / "site" / "index.html").write_text("<h1>Report card</h1>")
    proc, output, _ = _serve_with_ignored(tmp_path / "out", ignored)
    try:
        proc.send_signal(stop)
        output.finish(timeout=30)
        assert proc.returncode == code, output.text
        assert f"Stopped by {stop.name}." in output.text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def test_serve_without_a_site_is_a_usage_error(tmp_path):
    completed = subprocess.run([str(OBA), "serve", "--out", str(tmp_path)], capture_output=True, text=True)
    assert completed.returncode == 2
    assert "no site at" in completed.stderr


@pytest.mark.slow
def test_validate_clean_synthetic_exports_exits_0(tmp_path):
    from pipelines.synth import generate

    generate(tmp_path / "exports", scale="tiny", seed=7)
    completed = subprocess.run(
        [str(OBA), "validate", "--exports", str(tmp_path / "exports")],
        capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "No blocking problems" in completed.stderr


# -- configuration ---------------------------------------------------------------------------------


def test_settings_read_every_documented_variable(tmp_path):
    from pipelines.settings import DEFAULT_KEY_PATH, DEFAULT_MODELS_DIR, Settings

    defaults = Settings.from_env({})
    assert defaults.warehouse == defaults.out / "warehouse.duckdb"
    assert defaults.config is None and defaults.authorities is None and defaults.published_root is None
    assert defaults.models == DEFAULT_MODELS_DIR
    assert defaults.pseudonym_key == DEFAULT_KEY_PATH.expanduser()
    assert (defaults.duckdb_memory_limit, defaults.refresh_cron, defaults.timezone) == (
        "2GB", "0 6 2 * *", "Europe/London",
    )
    assert (defaults.sensor_interval, defaults.gx_in_process, defaults.debug) == (60, False, False)
    assert defaults.gx_server is None and defaults.duckdb_threads is None

    given = Settings.from_env({
        "OBA_EXPORTS": str(tmp_path / "exports"),
        "OBA_OUT": str(tmp_path / "out"),
        "OBA_CONFIG": str(tmp_path / "oba.yaml"),
        "OBA_AUTHORITIES": str(tmp_path / "authorities.yaml"),
        "OBA_PUBLISHED_ROOT": str(tmp_path / "published"),
        "OBA_MODELS": str(tmp_path / "models"),
        "OBA_PSEUDONYM_KEY": str(tmp_path / "key"),
        "OBA_DUCKDB_MEMORY_LIMIT": " 8GB ",
        "OBA_DUCKDB_THREADS": " 3 ",
        "OBA_CHROMIUM": "/opt/chromium ",
        "OBA_REFRESH_CRON": "0 7 * * 1",
        "OBA_TIMEZONE": "UTC",
        "OBA_SENSOR_INTERVAL": "300",
        "OBA_GX_IN_PROCESS": "1",
        "OBA_GX_SERVER": str(tmp_path / "gx.sock"),
        "OBA_DEBUG": "1",
        "DAGSTER_HOME": str(tmp_path / "home"),
    })
    assert given.exports == tmp_path / "exports"
    assert given.warehouse == tmp_path / "out" / "warehouse.duckdb"
    assert given.config == tmp_path / "oba.yaml" and given.authorities == tmp_path / "authorities.yaml"
    assert given.published_root == tmp_path / "published" and given.models == tmp_path / "models"
    assert given.pseudonym_key == tmp_path / "key" and given.dagster_home == tmp_path / "home"
    assert (given.duckdb_memory_limit, given.duckdb_threads, given.chromium) == ("8GB", 3, "/opt/chromium")
    assert (given.refresh_cron, given.timezone, given.sensor_interval) == ("0 7 * * 1", "UTC", 300)
    assert given.gx_in_process and given.debug and given.gx_server == tmp_path / "gx.sock"


def test_a_bad_sensor_interval_is_a_usage_error_naming_it(tmp_path, monkeypatch, capsys):
    from pipelines.cli import main
    from pipelines.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="OBA_SENSOR_INTERVAL.*'soon'"):
        Settings.from_env({"OBA_SENSOR_INTERVAL": "soon"})
    monkeypatch.setenv("OBA_SENSOR_INTERVAL", "soon")
    assert main(["run", "--exports", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "OBA_SENSOR_INTERVAL" in capsys.readouterr().err


@pytest.mark.parametrize("threads", ["0", "two", "-1", "1.5"])
def test_a_bad_thread_count_is_a_usage_error_naming_it(threads, tmp_path, monkeypatch, capsys):
    from pipelines.cli import main
    from pipelines.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match=f"OBA_DUCKDB_THREADS.*'{re.escape(threads)}'"):
        Settings.from_env({"OBA_DUCKDB_THREADS": threads})
    monkeypatch.setenv("OBA_DUCKDB_THREADS", threads)
    assert main(["run", "--exports", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "OBA_DUCKDB_THREADS" in capsys.readouterr().err


def test_resources_are_built_from_the_settings(tmp_path):
    from pipelines.defs.resources import resources_for
    from pipelines.settings import Settings

    run = Settings().for_run(
        exports=None,
        out=tmp_path / "scratch",
        warehouse=tmp_path / "scratch" / "warehouse.duckdb",
        authorities=tmp_path / "authorities.yaml",
        published_root=tmp_path / "out",
    )
    resources = resources_for(run)
    oba = resources["oba"]
    assert (oba.exports_dir, oba.out_dir) == ("", str(tmp_path / "scratch"))
    assert oba.authorities_file == str(tmp_path / "authorities.yaml")
    assert oba.published_out("north") == tmp_path / "out" / "north"
    assert resources["duckdb"].database == str(tmp_path / "scratch" / "warehouse.duckdb")


@pytest.mark.slow
def test_a_run_in_process_leaves_the_environment_as_it_was(hand_council, tmp_path):
    import pipelines.baselines
    import pipelines.expectations  # noqa: F401  (both set their libraries' defaults on import)
    from pipelines.cli import main
    from pipelines.settings import Settings, current

    before = dict(os.environ)
    assert main(["run", "--exports", str(hand_council), "--out", str(tmp_path / "out")]) == 0
    assert dict(os.environ) == before
    assert current() == Settings.from_env()  # nothing the run put in force outlives it


def test_only_the_settings_module_touches_the_environment():
    pattern = re.compile(r"os\.environ|getenv|from os import")
    touching = sorted(
        path.relative_to(REPO).as_posix()
        for folder in ("pipelines", "dashboards")
        for path in (REPO / folder).rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    )
    assert touching == ["pipelines/settings.py"]


def test_a_dagster_home_that_is_no_folder_is_a_usage_error_before_anything_runs(hand_council, tmp_path, monkeypatch, capsys):
    from pipelines.cli import main

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "no such folder"))
    assert main(["run", "--exports", str(hand_council), "--out", str(tmp_path / "out")]) == 2
    assert "DAGSTER_HOME" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


EXIT_NOW = """
import atexit, sys, threading, time
from pathlib import Path
from pipelines.cli import exit_now

folder = Path(sys.argv[1])
atexit.register(lambda: (folder / "atexit").write_text("ran"))

def late():
    time.sleep(0.5)
    (folder / "thread").write_text("finished")

threading.Thread(target=late).start()
sys.stdout.write("no newline, still buffered")
sys.stderr.write("to stderr")
exit_now(3)
"""


def test_the_command_exits_with_its_code_after_threads_exit_handlers_and_flushing(tmp_path):
    """``exit_now`` (how ``oba`` ends): the code is the process's, a thread still running is
    waited for, the exit handlers run, and buffered output is not lost."""
    completed = subprocess.run(
        [sys.executable, "-c", EXIT_NOW, str(tmp_path)], capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 3, completed.stderr
    assert completed.stdout == "no newline, still buffered"
    assert completed.stderr == "to stderr"
    assert (tmp_path / "thread").read_text() == "finished"
    assert (tmp_path / "atexit").read_text() == "ran"


EXIT_WITH_A_POOL = """
import sys
from concurrent.futures import ThreadPoolExecutor
from pipelines.cli import exit_now

pool = ThreadPoolExecutor(2)  # never shut down: its idle workers wait for more work
print(pool.submit(lambda: "done").result(), flush=True)
exit_now(0)
"""


def test_the_command_exits_with_a_thread_pool_left_open():
    """An idle pool's workers (not daemons) are told the work is over, as Python's own exit
    tells them, rather than waited for for ever."""
    completed = subprocess.run(
        [sys.executable, "-c", EXIT_WITH_A_POOL], capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "done\n"
