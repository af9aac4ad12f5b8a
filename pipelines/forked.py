"""A list of independent computations shared with a forked copy of this process.

A run's Python work holds one core while the machine has more: ``split_map`` hands every second
item to a child made by ``os.fork()``, which starts at once with everything this process has
imported and computed (no start-up, no pickling of the inputs), and computes the rest here. The
child sends its results back through a pipe, pickled, and ends with ``os._exit`` (no exit
handlers, no flushing of this process's buffers).

What the child may do: compute on the data it was given and write its own files. It must not
log, print, or touch a database connection or a browser of this process; those belong to this
process and to threads the child does not have. ``func`` is such a computation, and returns
anything the run should log as data.

Whatever goes wrong on the child's side (it fails, is killed, or sends nothing readable) costs
only time: its items are computed here, as if it had never been made.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import warnings
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Below this many items a fork costs more than it saves (a fork of a process holding a run's
# imports takes a few milliseconds; an item here is one series' fits or one page).
MIN_ITEMS = 6


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def can_fork() -> bool:
    """A fork is made only on a machine with another core, and never in a process that has
    loaded gRPC (a run started by the Dagster daemon talks to its code server over gRPC, whose
    fork handlers may abort a child forked while a call is in flight): there the work stays in
    the process."""
    return hasattr(os, "fork") and cores() > 1 and "grpc._cython.cygrpc" not in sys.modules


def split_map(func: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[func(x) for x in items]``, every second item computed in a forked child when the
    machine has another core and there are at least ``MIN_ITEMS`` items."""
    items = list(items)
    if len(items) < MIN_ITEMS or not can_fork():
        return [func(x) for x in items]
    ours, theirs = items[0::2], items[1::2]
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns that a child of a process with threads may deadlock on a lock one of
        # them held: the child takes none (see the module's docstring), and leaves at once.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: compute, send, leave
        code = 1
        try:
            os.close(read_end)
            try:
                payload = ("ok", [func(x) for x in theirs])
            except BaseException as exc:  # noqa: BLE001  (the parent computes these itself)
                payload = ("failed", f"{type(exc).__name__}: {exc}")
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    received = None
    try:
        mine = [func(x) for x in ours]
        with os.fdopen(read_end, "rb") as pipe:
            read_end = None
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
        pid = None
        if os.waitstatus_to_exitcode(status) == 0:
            with contextlib.suppress(Exception):
                kind, value = pickle.loads(data)
                if kind == "ok" and len(value) == len(theirs):
                    received = value
    finally:
        if read_end is not None:
            os.close(read_end)
        if pid is not None:  # this side failed or was stopped: the child goes too
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)
    if received is None:
        received = [func(x) for x in theirs]
    out: list[R] = []
    for index in range(len(items)):
        out.append(mine[index // 2] if index % 2 == 0 else received[index // 2])
    return out
