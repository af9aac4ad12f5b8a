"""The daemon and the code server `oba run --authorities` starts (``pipelines.runqueue``): each
ends with the command however the command ends, and starting one runs no Python in the forked
child (a child forked while the command talks gRPC to its code server can abort in gRPC's fork
handler before it runs the service)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import fresh_python


def _ended(pid: int) -> bool:
    """Whether ``pid`` has ended (gone, or a zombie waiting for whoever adopted it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


# The command as a service manager or a background shell may start it: SIGTERM as it is,
# ignored, or blocked (exec keeps an ignored signal ignored and the mask).
_INHERITED = {
    "default": "",
    "ignored": "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n",
    "blocked": "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})\n",
}


def _status(pid: int) -> str:
    """The process's state and signal masks, for a failure's message."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return "gone"
    return "; ".join(line for line in lines if line.startswith(("State", "PPid", "SigBlk", "SigIgn")))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sigterm", list(_INHERITED))
def test_a_service_ends_when_the_command_is_killed_outright(sigterm):
    """SIGKILL gives the command no chance to stop what it started: the kernel ends it, with
    SIGTERM, whatever the command inherited."""
    command = subprocess.Popen(
        [sys.executable, "-c",
         "import signal, sys, time\n"
         + _INHERITED[sigterm]
         + "from pipelines.runqueue import start_service\n"
         "service = start_service(['/bin/sleep', '300'])\n"
         "print(service.pid, flush=True)\n"
         "time.sleep(300)\n"],
        stdout=subprocess.PIPE, text=True,
    )
    pid = None
    try:
        pid = int(command.stdout.readline())
        deadline = time.monotonic() + 30
        while Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] != b"/bin/sleep":
            assert time.monotonic() < deadline, "the service never started"
            time.sleep(0.05)
        assert not _ended(pid)
        command.kill()
        command.wait(timeout=30)
        deadline = time.monotonic() + 30
        while not _ended(pid):
            assert time.monotonic() < deadline, f"the service outlived the command: {_status(pid)}"
            time.sleep(0.05)
    finally:
        command.kill()
        command.wait(timeout=30)
        if pid is not None and not _ended(pid):
            os.kill(pid, signal.SIGKILL)


def test_starting_a_service_runs_no_python_in_the_forked_child():
    """A fork handler registered in the command never runs for a service (it would for a child
    that runs Python before ``exec``, as a ``preexec_fn`` makes it)."""
    printed = fresh_python(
        "import os, subprocess\n"
        "from pipelines.runqueue import start_service\n"
        "read, write = os.pipe()\n"
        "os.register_at_fork(after_in_child=lambda: os.write(write, b'x'))\n"
        "start_service(['/bin/true'], pass_fds=()).wait()\n"
        "os.set_blocking(read, False)\n"
        "def forked():\n"
        "    try:\n"
        "        return len(os.read(read, 100))\n"
        "    except BlockingIOError:\n"
        "        return 0\n"
        "service = forked()\n"
        "subprocess.Popen(['/bin/true'], preexec_fn=lambda: None).wait()\n"
        "print(service, forked())\n"
    )
    service, with_preexec = printed.split()
    assert with_preexec == "1", "the check sees a child that runs Python before exec"
    assert service == "0", "starting a service ran Python in the forked child"


def test_a_service_does_not_start_once_its_command_has_ended(tmp_path):
    """Between the fork and the service, the command may already have ended: the service is
    then not started (nothing would end it)."""
    from pipelines.runqueue import _DIE_WITH_PARENT

    marker = tmp_path / "started"
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _DIE_WITH_PARENT, str(os.getpid() + 1_000_000),
         "/usr/bin/touch", str(marker)],
        capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 1
    assert "has ended" in completed.stderr
    assert not marker.exists()
    # and with the right parent it is started
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _DIE_WITH_PARENT, str(os.getpid()), "/usr/bin/touch", str(marker)],
        timeout=60,
    )
    assert completed.returncode == 0 and marker.exists()
