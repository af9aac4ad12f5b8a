"""Resident-memory sampling of this process from /proc (no third-party dependency)."""

from __future__ import annotations

import os
import resource
import threading
import time

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Current resident set size of this process."""
    with open("/proc/self/statm", "rb") as handle:
        return int(handle.read().split()[1]) * PAGE


def _children(pid: int) -> list[int]:
    found = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children", "rb") as handle:
                    found += [int(x) for x in handle.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return found


def _pss(pid: int) -> int:
    """Proportional set size: shared pages (Chromium's processes share a lot) counted once."""
    with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
        for line in handle:
            if line.startswith(b"Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def tree_pss_bytes(pid: int | None = None) -> int:
    """PSS of this process plus every descendant (GX and XML workers, Chromium)."""
    pid = pid or os.getpid()
    total, todo, seen = 0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            total += _pss(current)
        except (OSError, IndexError, ValueError):
            continue
        todo += _children(current)
    return total


def cpu_seconds() -> float:
    """User + system CPU time of this process (every thread), children excluded."""
    times = os.times()
    return times.user + times.system


def peak_rss_bytes(who: int = resource.RUSAGE_SELF) -> int:
    """Peak resident set size (getrusage; Linux reports KiB)."""
    return resource.getrusage(who).ru_maxrss * 1024


class RssSampler(threading.Thread):
    """Samples (wall time, RSS, process CPU seconds) every ``interval`` seconds until stopped.

    Peak memory of a time window is the largest sample inside it; spikes shorter than the
    interval may be missed, so whole-run peaks come from getrusage instead.
    """

    def __init__(self, interval: float = 0.02, tree_every: int = 25):
        super().__init__(name="rss-sampler", daemon=True)
        self.interval = interval
        # Reading the PSS of the whole tree costs ~30 ms once Chromium's processes are up, in
        # this (the measured) process: every 0.5 s it is ~6 % of a core, every 0.1 s it was ~30 %.
        self.tree_every = tree_every
        self.samples: list[tuple[float, int, float]] = []
        self.tree_samples: list[tuple[float, int]] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            now = time.time()
            self.samples.append((now, rss_bytes(), cpu_seconds()))
            if len(self.samples) % self.tree_every == 1:  # the tree's PSS is dearer to read
                self.tree_samples.append((now, tree_pss_bytes()))
            self._stop_event.wait(self.interval)

    def stop(self) -> list[tuple[float, int, float]]:
        self._stop_event.set()
        self.join()
        self.samples.append((time.time(), rss_bytes(), cpu_seconds()))
        return self.samples

    def peak(self, start: float, end: float) -> int | None:
        inside = [rss for t, rss, _ in list(self.samples) if start <= t <= end]
        return max(inside) if inside else None

    def tree_peak(self, start: float, end: float) -> int | None:
        inside = [rss for t, rss in list(self.tree_samples) if start <= t <= end]
        return max(inside) if inside else None
