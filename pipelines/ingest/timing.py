"""Phase timings inside the raw loaders: loading, row checks, expectations, XML staging.

``phase(name, source)`` times a block and adds its seconds to the ``timings`` dict it is given
(shown as asset metadata). Each finished phase is also logged at DEBUG level to the
``oba.timing`` logger with its wall-clock window in ``record.oba_phase``; nothing listens there
by default (the logger is silent), the benchmarks attach a handler to split a loader step into
ingest and contract checks.
"""

from __future__ import annotations

import contextlib
import logging
import time

log = logging.getLogger("oba.timing")


@contextlib.contextmanager
def phase(name: str, source: str, timings: dict | None = None, **extra):
    start = time.time()
    try:
        yield
    finally:
        end = time.time()
        if timings is not None:
            timings[name] = round(timings.get(name, 0.0) + end - start, 3)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s %.3f s",
                name,
                source,
                end - start,
                extra={"oba_phase": {"phase": name, "source": source, "start": start, "end": end, **extra}},
            )
