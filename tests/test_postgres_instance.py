"""The production instance: Dagster run and event storage in a real PostgreSQL server."""

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import fresh_python

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture(scope="module")
def postgres():
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not bins:
        pytest.fail("PostgreSQL server not installed: `make test` installs Debian's postgresql")
    bin_dir = Path(bins[-1]).parent
    data = Path(tempfile.mkdtemp(prefix="oba-pg-"))
    data.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = _free_port()
    subprocess.run(
        _as_postgres([str(bin_dir / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "oba"]),
        check=True, capture_output=True,
    )
    subprocess.run(
        _as_postgres([
            str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-l", str(data / "server.log"), "-w",
            "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start",
        ]),
        check=True, capture_output=True,
    )
    try:
        subprocess.run(
            [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "oba", "dagster"],
            check=True, capture_output=True,
        )
        yield port
    finally:
        subprocess.run(
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-m", "fast", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(data, ignore_errors=True)


@pytest.mark.slow
def test_run_is_recorded_in_postgres_instance(postgres, hand_council, tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": f"postgresql+psycopg2://oba@127.0.0.1:{postgres}/dagster",
    }
    oba = Path(sys.executable).parent / "oba"
    completed = subprocess.run(
        [str(oba), "run", "--exports", str(hand_council), "--out", str(tmp_path / "out")],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    shown = fresh_python(
        "import dagster as dg; i = dg.DagsterInstance.get(); "
        "runs = i.get_runs(); "
        "print(type(i.run_storage).__name__, len(runs), runs[0].job_name, runs[0].status.value)",
        env, timeout=120,
    )
    assert shown.split() == ["PostgresRunStorage", "1", "oba_refresh", "SUCCESS"]
