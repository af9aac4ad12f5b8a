"""The great-expectations server several processes share (``GxServer``), and the worker a
process starts for itself when no server is named: both give the rows validation in the process
itself gives."""

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from pipelines import expectations
from pipelines.contracts import load_contracts
from pipelines.expectations import GxServer

# A child process validates one contract's frame and prints how: through a server's child
# ("server"), or a worker process of its own ("own"), and the rows.
CLIENT = """
import json, sys
import pandas as pd
from pipelines import expectations
from pipelines.contracts import load_contracts

contract = load_contracts()[sys.argv[1]]
frame = pd.read_json(sys.stdin, dtype=str)
rows = expectations.validate_async(contract, frame).result()
worker = expectations._WORKER["worker"]
print(json.dumps({"via": "server" if worker.connection is not None else "own",
                  "rows": [{k: v for k, v in r.items() if k != "checked_at"} for r in rows]}))
"""


def _frame(contract) -> pd.DataFrame:
    """Two good-looking rows and one that fails: a blank in every column."""
    columns = [c.sql_name for c in contract.columns]
    return pd.DataFrame({c: ["1", "2", None] for c in columns}, dtype=object)


def _validate_in_child(contract, frame: pd.DataFrame, env: dict) -> dict:
    import json

    done = subprocess.run(
        [sys.executable, "-c", CLIENT, contract.source], input=frame.to_json(), env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _expected(contract, frame) -> list[dict]:
    rows = expectations.validate(contract, frame)
    return [{k: v for k, v in r.items() if k != "checked_at"} for r in rows]


def _server_children(server: GxServer) -> list[int]:
    """The processes of the server's process group other than the server: its children."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, pgid = int(stat_file.parent.name), int(fields[2])
        if pgid == server.process.pid and pid != server.process.pid and fields[0] != "Z":
            found.append(pid)
    return found


@pytest.fixture(scope="module")
def contract():
    return load_contracts()["ssda903_episodes"]


def test_processes_validate_through_one_server_with_the_rows_of_a_worker(contract, gx_server):
    """Two processes name the server (the session's, a ``GxServer`` like any other): each is
    answered by a child of it (no worker, no import of its own), with the rows validating in
    the test's own process gives."""
    frame = _frame(contract)
    expected = _expected(contract, frame)
    assert any(not r["success"] for r in expected)  # the blank row fails something
    assert stat.S_IMODE(gx_server.parent.stat().st_mode) == 0o700  # the socket is this user's
    env = {**os.environ, "OBA_GX_SERVER": str(gx_server)}
    for _ in range(2):
        answer = _validate_in_child(contract, frame, env)
        assert answer["via"] == "server"
        assert answer["rows"] == expected


def test_without_a_server_a_process_starts_its_own_worker(contract):
    frame = _frame(contract)
    env = {k: v for k, v in os.environ.items() if k != "OBA_GX_SERVER"}
    answer = _validate_in_child(contract, frame, env)
    assert answer == {"via": "own", "rows": _expected(contract, frame)}


def test_a_server_that_is_gone_leaves_the_process_its_own_worker(contract, tmp_path):
    frame = _frame(contract)
    env = {**os.environ, "OBA_GX_SERVER": str(tmp_path / "gone.sock")}
    answer = _validate_in_child(contract, frame, env)
    assert answer == {"via": "own", "rows": _expected(contract, frame)}


def test_closing_the_server_ends_it_and_every_child(contract):
    """A child still serving a connected process ends with the server, and the socket's
    folder goes."""
    server = GxServer()
    client = expectations.GxWorker(server.socket)
    try:
        client.submit(contract, _frame(contract), None).result(timeout=120)
        assert len(_server_children(server)) == 1
    finally:
        server.close()
    assert server.process.returncode is not None
    assert not server.folder.exists()
    deadline = time.monotonic() + 10
    while _server_children(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _server_children(server)
    client.close()


def test_the_server_ends_when_its_host_is_killed(tmp_path):
    """The host killed outright (no chance to close it): the server sees its stdin close and
    ends, removing its socket and the socket's folder."""
    host = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from pipelines.expectations import GxServer\n"
         "server = GxServer()\n"
         "print(server.process.pid, server.socket, flush=True)\n"
         "time.sleep(300)\n"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        pid, socket_path = host.stdout.readline().split()
        assert Path(socket_path).exists()
        host.send_signal(signal.SIGKILL)
        host.wait(timeout=10)
        deadline = time.monotonic() + 30
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            stat_text = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}/stat").exists() else ""
            if stat_text and stat_text.rsplit(")", 1)[1].split()[0] == "Z":
                break  # ended (its parent, killed, left it to be reaped)
            time.sleep(0.05)
        assert time.monotonic() < deadline, "the server outlived its host"
        assert not Path(socket_path).exists()
        assert not Path(socket_path).parent.exists()
    finally:
        host.kill()
        host.stdout.close()


@pytest.mark.parametrize("where", ["server", "in-process"])
def test_each_validation_sees_only_the_frame_it_was_handed(contract, where):
    """A process validates every frame of a source through one GX data asset: a validation
    sees its own frame, never an earlier one (CIN codes: 1 and 2 are not codes, N1..N3 are)."""
    def cin_failures(frame: pd.DataFrame) -> int:
        rows = (expectations.validate_async(contract, frame).result() if where == "server"
                else expectations.validate(contract, frame))
        (row,) = [r for r in rows if r["check_name"] == "expect_column_values_to_be_in_set[cin]"]
        return row["unexpected_count"]

    bad = _frame(contract)
    good = bad.assign(cin=["N1", "N2", "N3"])
    assert [cin_failures(bad), cin_failures(good), cin_failures(bad)] == [2, 0, 2]


def test_a_worker_of_its_own_answers_and_ends_with_exit_0_when_closed(contract):
    """The worker leaves at once when its parent closes it (``os._exit``), having answered
    everything it was sent, and with a clean exit."""
    frame = _frame(contract)
    worker = expectations.GxWorker()
    try:
        futures = [worker.submit(contract, frame, None) for _ in range(2)]
        answers = [f.result(timeout=300) for f in futures]
    finally:
        worker.close()
    expected = _expected(contract, frame)
    assert [[{k: v for k, v in r.items() if k != "checked_at"} for r in rows] for rows in answers] == [expected] * 2
    assert worker.process.returncode == 0
