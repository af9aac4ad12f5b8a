"""A list of independent computations shared with a forked copy of this process.

A run's Python work holds one core while the machine has more: ``split_map`` deals the items in
turn to this process and to one child per other core, each made by ``os.fork()``: a child starts
at once with everything this process has imported and computed (no start-up, no pickling of the
inputs). Each child sends its results back through a pipe, pickled, and ends with ``os._exit``
(no exit handlers, no flushing of this process's buffers).

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
# More children than this gain little on these lists (tens of items) and copy more of the process.
MAX_SHARES = 8


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


def shares(n_items: int) -> int:
    """How many ways ``split_map`` splits ``n_items``: one share per core (at most
    ``MAX_SHARES``) and at least ``MIN_ITEMS // 2`` items a share; 1 where no fork is made."""
    if n_items < MIN_ITEMS or not can_fork():
        return 1
    return max(1, min(cores(), MAX_SHARES, n_items // (MIN_ITEMS // 2)))


def split_map(func: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[func(x) for x in items]``, the items dealt in turn to this process and to a forked
    child per other core (``shares``): with two cores, every second item is the child's."""
    items = list(items)
    k = shares(len(items))
    if k == 1:
        return [func(x) for x in items]
    dealt = [items[i::k] for i in range(k)]  # share 0 is this process's
    children: dict[int, tuple[int, int]] = {}  # share → (pid, read end)
    try:
        for share in range(1, k):
            read_end, write_end = os.pipe()
            with warnings.catch_warnings():
                # Python 3.12+ warns that a child of a process with threads may deadlock on a
                # lock one of them held: the child takes none (see the module's docstring), and
                # leaves at once.
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:  # the child: compute its share, send it, leave
                _child(func, dealt[share], read_end, write_end, [r for _, r in children.values()])
            os.close(write_end)
            children[share] = (pid, read_end)
        results = {0: [func(x) for x in dealt[0]]}
        for share in range(1, k):
            pid, read_end = children.pop(share)  # _receive closes its pipe and reaps it
            results[share] = _receive(pid, read_end, len(dealt[share]))
    finally:
        for pid, read_end in children.values():  # this side failed or was stopped: they go too
            with contextlib.suppress(OSError):
                os.close(read_end)
            _end(pid)
    for share in range(1, k):
        if results[share] is None:  # the child failed: its items are computed here
            results[share] = [func(x) for x in dealt[share]]
    return [results[i % k][i // k] for i in range(len(items))]


def _child(func, items: list, read_end: int, write_end: int, siblings: list[int]) -> None:
    """In a forked child: compute ``items``, send them pickled through ``write_end``, and end
    the process (never returns)."""
    code = 1
    try:
        os.close(read_end)
        for other in siblings:  # the earlier children's pipes are this process's to read
            os.close(other)
        try:
            payload = ("ok", [func(x) for x in items])
        except BaseException as exc:  # noqa: BLE001  (the parent computes these itself)
            payload = ("failed", f"{type(exc).__name__}: {exc}")
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
        code = 0
    finally:
        os._exit(code)


def _end(pid: int) -> None:
    """Kill a child and reap it."""
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.waitpid(pid, 0)


def _receive(pid: int, read_end: int, expected: int) -> list | None:
    """A child's results, read to the end of its pipe once it has ended well; None otherwise.
    The pipe is closed and the child reaped whatever happens (killed first if this process is
    interrupted while it waits)."""
    status = None
    try:
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
    finally:
        if status is None:
            _end(pid)
    if os.waitstatus_to_exitcode(status) != 0:
        return None
    try:
        kind, value = pickle.loads(data)
    except Exception:  # noqa: BLE001  (nothing readable: the parent computes these itself)
        return None
    return value if kind == "ok" and len(value) == expected else None
