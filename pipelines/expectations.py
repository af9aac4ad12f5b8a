"""great-expectations suites generated from the data contracts (contract-level checks).

Each contract becomes one expectation suite, validated on the source's active raw rows with
GX's pandas engine in an ephemeral context (GX is imported lazily: it is slow to import).
Results are rows of ``quality.contract_results``. Row-level rules that must quarantine single
rows are SQL (pipelines.quality); these suites give the contract-level view: is each required
column filled, are dates in the declared format, are codes in the code list, are keys unique.

Large sources (more than ``FULL_ROWS`` active rows) are validated on a bounded, deterministic
sample chosen so that GX's verdicts are the ones it would give on every row
(``contract_frame``): for each expectation, every row that could fail it (found by a SQL
condition that is a superset of GX's own test: it never misses a row GX would flag) up to
``FLAGGED_ROWS`` per expectation, plus a systematic sample of ``SAMPLE_ROWS`` rows. A failing
expectation therefore fails on the sample, a passing one passes, and the unexpected counts are
exact unless an expectation has more than ``FLAGGED_ROWS`` suspect rows (then the message says
"at least"). The message of a sampled check says how many rows it saw.

Importing GX takes seconds, so suites run in a worker process (``python -m
pipelines.expectations``, a plain subprocess that imports GX once and then validates what it is
sent, in order): ``prewarm()`` starts it early (``oba run`` does before it even imports Dagster,
and the raw layer's first step does), so the import overlaps start-up and loading on another
core, and ``validate_async`` hands it a suite while the loader goes
on. If the worker cannot be used, validation runs in this process as before.

Several processes can share one import: a :class:`GxServer` (``python -m pipelines.expectations
--listen SOCKET``) imports GX once and forks a child, GX already imported, for each process that
connects; a process whose ``OBA_GX_SERVER`` names the socket validates through its child instead
of starting a worker. ``oba run --authorities`` on the run queue hosts one for its region's runs.
If the server cannot be reached, the process starts its own worker.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import logging
import os
import pickle
import queue
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import warnings
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines import settings
from pipelines.sqlquote import quote_literal

if TYPE_CHECKING:  # pandas is imported by the callers (and by the worker, for GX)
    import pandas as pd

    from pipelines.contracts import Contract

# GX progress bars would flood run logs
settings.library_defaults(GX_ANALYTICS_ENABLED="False", TQDM_DISABLE="1")

FULL_ROWS = 250_000  # sources with at most this many active rows are validated on every row
SAMPLE_ROWS = 50_000  # larger ones: a systematic sample of about this many rows ...
FLAGGED_ROWS = 50_000  # ... plus up to this many rows per expectation that could fail it
# Characters Python's str.strip() removes (pandas .str.strip), as an RE2 class.
_PY_SPACE = r"[\s\x{0B}\x{1C}-\x{1F}\x{85}\p{Z}]"


def _non_ascii(x: str) -> str:
    """SQL true when the text has a character beyond ASCII: more bytes than characters (a
    regular expression looked at every character; this compares two lengths)."""
    return f"strlen({x}) <> length({x})"


@dataclass(frozen=True)
class ColumnExpectation:
    """One column expectation of a suite: the GX expectation (its class name and arguments, so
    that it is described without importing GX) and ``suspect``, a SQL condition on the raw text
    that holds for every row GX could count as unexpected (and perhaps a few more: codes or
    dates with non-ASCII characters, whitespace Python strips but DuckDB's trim keeps). The
    suspect condition only chooses the rows a sampled validation must include."""

    expectation: str
    column: str
    kwargs: dict
    suspect: str


def column_expectations(contract: Contract) -> list[ColumnExpectation]:
    """The suite's column expectations: one for each of the contract's column checks GX makes
    (a required value, a date's format, a code in the code list of any year)."""
    items = []
    for check in contract.column_checks:
        c = check.column
        x = f'"{c.sql_name}"'
        if check.rule == "missing_value":
            items.append(ColumnExpectation(
                "ExpectColumnValuesToNotBeNull", c.sql_name, {},
                f"({x} is null or regexp_full_match({x}, '{_PY_SPACE}*'))",
            ))
        elif check.rule == "date_format":
            regex = _date_regex(c.formats)
            pattern = regex[1:-1]  # GX searches for ^...$; regexp_full_match anchors itself
            items.append(ColumnExpectation(
                "ExpectColumnValuesToMatchRegex", c.sql_name, {"regex": regex},
                f"({x} is not null and ({_non_ascii(x)} or not regexp_full_match({x}, {quote_literal(pattern)})))",
            ))
        elif check.rule == "unknown_code":
            codes = contract.codes(c)
            listed = ", ".join(quote_literal(code) for code in codes)
            items.append(ColumnExpectation(
                "ExpectColumnValuesToBeInSet", c.sql_name, {"value_set": codes},
                f"({x} is not null and ({_non_ascii(x)} or upper(trim({x})) not in ({listed})))",
            ))
    return items


def build_expectations(contract: Contract) -> list[tuple[object, str]]:
    """(expectation, severity) pairs for ``contract``."""
    import great_expectations as gx

    items: list[tuple[object, str]] = [
        (gx.expectations.ExpectTableRowCountToBeBetween(min_value=1), "warning"),
    ]
    for e in column_expectations(contract):
        items.append((getattr(gx.expectations, e.expectation)(column=e.column, **e.kwargs), "warning"))
    return items


def _date_regex(formats: tuple[str, ...]) -> str:
    patterns = {
        "%d/%m/%Y": r"\d{2}/\d{2}/\d{4}",
        "%Y-%m-%d": r"\d{4}-\d{2}-\d{2}",
    }
    alternatives = [patterns.get(f, r".+") for f in formats]
    return r"^\s*(" + "|".join(alternatives) + r")\s*$"


def suspect_conditions(contract: Contract) -> list[str]:
    """For each column expectation of ``build_expectations``, in the same order, its suspect
    condition (see ``ColumnExpectation``)."""
    return [e.suspect for e in column_expectations(contract)]


def contract_frame(con, contract: Contract) -> tuple[pd.DataFrame, dict | None]:
    """The active raw rows the suite is validated on, and how they were sampled (None: all).

    Up to ``FULL_ROWS`` active rows: all of them. Beyond: every row a suspect condition holds
    for (up to ``FLAGGED_ROWS`` per expectation) plus every k-th row, in table order.
    """
    table = f"raw.{contract.source}"
    total = con.execute(f"select count(*) from {table} where _active").fetchone()[0]
    if total <= FULL_ROWS:
        frame = con.execute(
            f"select * exclude (_extra, _active, _quarantined) from {table} where _active"
        ).df()
        return frame, None
    step = max(1, -(-total // SAMPLE_ROWS))
    conditions = suspect_conditions(contract)
    # One scan keeps the candidates (every k-th row and every suspect row); the picks per
    # condition are then made among them rather than by a scan of the table each.
    suspect = " or ".join(f"({condition})" for condition in conditions)
    con.execute(
        f"create or replace temp table _gx_candidates as "
        f"select rowid as _rid, * exclude (_extra, _active, _quarantined) from {table} "
        f"where _active and (rowid % {step} = 0{' or ' + suspect if suspect else ''})"
    )
    picks = [f"select _rid from _gx_candidates where _rid % {step} = 0"]
    picks += [
        f"(select _rid from _gx_candidates where {condition} order by _rid limit {FLAGGED_ROWS + 1})"
        for condition in conditions
    ]
    try:
        con.execute(
            f"create or replace temp table _gx_sample as "
            f"select * from _gx_candidates where _rid in ({' union '.join(picks)})"
        )
    finally:
        con.execute("drop table if exists _gx_candidates")
    try:
        capped = [
            i
            for i, condition in enumerate(conditions)
            if con.execute(f"select count(*) > {FLAGGED_ROWS} from _gx_sample where {condition}").fetchone()[0]
        ]
        frame = con.execute("select * exclude (_rid) from _gx_sample order by _rid").df()
    finally:
        con.execute("drop table if exists _gx_sample")
    return frame, {"rows": total, "validated": len(frame), "capped": capped}


_CONTEXT: dict = {}
# What GX works out per expectation: the failing count and up to 20 failing values (what the
# results keep), without SUMMARY's counts of each failing value.
RESULT_FORMAT = "BASIC"


def _context():
    """One ephemeral GX context and pandas data source per process (creating them per source
    cost more than validating a small source)."""
    import great_expectations as gx

    if not _CONTEXT:
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = gx.data_context.types.base.ProgressBarsConfig(globally=False)
        _CONTEXT["context"] = context
        _CONTEXT["source"] = context.data_sources.add_pandas(name="oba_contracts")
        _CONTEXT["batches"] = {}
    return _CONTEXT["source"]


_GX_LOCK = threading.Lock()


def _batch_definition(source: str):
    """The source's data asset and whole-dataframe batch definition, added to the context once
    per process: each validation hands it that validation's frame (adding and removing an asset
    per validation made the context write its configuration out each time)."""
    data_source = _context()
    batches = _CONTEXT["batches"]
    if source not in batches:
        asset = data_source.add_dataframe_asset(name=source)
        batches[source] = asset.add_batch_definition_whole_dataframe(f"{source}_all")
    return batches[source]


def validate(contract: Contract, frame: pd.DataFrame, sample: dict | None = None) -> list[dict]:
    """Run the contract's suite on ``frame`` (raw text columns, codes upper-cased).

    ``sample`` (from ``contract_frame``) says the frame is a sample of a larger source; the
    messages then say how many rows were validated.
    """
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    frame = frame.copy()
    for c in contract.columns:
        if c.sql_name in frame.columns:
            series = frame[c.sql_name].astype("string").str.strip()
            series = series.mask(series == "")
            if c.type == "code":
                series = series.str.upper()
            frame[c.sql_name] = series.astype(object).where(series.notna(), None)
    items = build_expectations(contract)
    with warnings.catch_warnings(), _GX_LOCK:  # one GX context per process, one user at a time
        warnings.simplefilter("ignore")
        batch_definition = _batch_definition(contract.source)
        suite = gx.ExpectationSuite(name=f"{contract.source}_contract", expectations=[e for e, _ in items])
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(suite, result_format=RESULT_FORMAT)
    checked_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    severity = {type(e).__name__ + str(getattr(e, "column", "")): s for e, s in items}
    capped_columns = set()
    if sample:
        column_items = column_expectations(contract)
        capped_columns = {(column_items[i].expectation, column_items[i].column) for i in sample["capped"]}
        note = (
            f" (validated on {sample['validated']:,} of {sample['rows']:,} rows: every row that "
            "could fail a check and a systematic sample)"
        )
    rows = []
    for r in result.results:
        config = r.expectation_config
        column = config.kwargs.get("column", "")
        name = config.type + (f"[{column}]" if column else "")
        unexpected = int((r.result or {}).get("unexpected_count") or 0)
        examples = (r.result or {}).get("partial_unexpected_list") or []
        at_least = "at least " if (_class_name(config.type), column) in capped_columns else ""
        message = (
            "passed"
            if r.success
            else (f"observed {(r.result or {}).get('observed_value')}" if not column else f"{at_least}{unexpected} value(s) fail")
        )
        if sample:
            message += note
        if not r.success and examples and column in _code_columns(contract):
            message += f"; e.g. {', '.join(map(str, examples[:3]))}"
        rows.append(
            {
                "source": contract.source,
                "check_name": name,
                "success": bool(r.success),
                "unexpected_count": unexpected,
                "severity": severity.get(_class_name(config.type) + column, "warning"),
                "message": message,
                "engine": "great_expectations",
                "checked_at": checked_at,
            }
        )
    return rows


def _code_columns(contract: Contract) -> set[str]:
    """Columns whose failing values may be quoted: code lists hold no personal data."""
    return {c.sql_name for c in contract.columns if c.type == "code" and c.name not in contract.identifiers}


def _class_name(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


def _gx_environment(**extra: str) -> dict[str, str]:
    """The environment of a process that imports GX: this one's, GX's analytics and progress
    bars off."""
    return settings.child_environment(GX_ANALYTICS_ENABLED="False", TQDM_DISABLE="1", **extra)


class GxWorker:
    """A worker that imports great-expectations once and validates suites in order: a process
    of its own, or, given a shared server's socket (:class:`GxServer`), the server's child
    forked for this process (GX already imported)."""

    def __init__(self, server: Path | None = None):
        self.process: subprocess.Popen | None = None
        self.connection: socket.socket | None = None
        if server is None:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pipelines.expectations"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=_gx_environment(),
            )
            self.writer, self.reader = self.process.stdin, self.process.stdout
        else:
            self.connection = _connect(server)
            self.writer, self.reader = self.connection.makefile("wb"), self.connection.makefile("rb")
        self.requests: queue.Queue = queue.Queue()
        self.broken: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, name="gx-worker", daemon=True)
        self.thread.start()

    def alive(self) -> bool:
        return self.broken is None and (self.process is None or self.process.poll() is None)

    def submit(self, contract: Contract, frame: pd.DataFrame, sample: dict | None) -> Future:
        future: Future = Future()
        self.requests.put((future, (contract, frame, sample)))
        return future

    def _serve(self) -> None:
        while True:
            future, payload = self.requests.get()
            if future is None:
                return
            if self.broken is not None:
                future.set_exception(self.broken)
                continue
            try:
                pickle.dump(payload, self.writer, protocol=pickle.HIGHEST_PROTOCOL)
                self.writer.flush()
                status, value = pickle.load(self.reader)
            except BaseException as exc:  # the worker died: every later request falls back
                self.broken = exc
                future.set_exception(exc)
                continue
            if status == "ok":
                future.set_result(value)
            else:
                future.set_exception(RuntimeError(value))

    def close(self) -> None:
        self.requests.put((None, None))
        if self.connection is not None:  # the server's child sees the end, a read in flight ends
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            self.connection.close()
            return
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _peer_uid(connection: socket.socket) -> int | None:
    """The user id of the process at the other end of a Unix socket (None where the system
    cannot tell; the socket's folder, private to its user, then stands alone)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    _pid, uid, _gid = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i")))
    return uid


def _connect(server: Path) -> socket.socket:
    """A connection to the shared server at ``server``, which must run as this user (what
    crosses it is pickled: only the same user may be at either end)."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(str(server))
        uid = _peer_uid(connection)
        if uid is not None and uid != os.getuid():
            raise PermissionError(f"{server}: the server runs as user {uid}, not as this user")
    except BaseException:
        connection.close()
        raise
    return connection


def server_answers(server: Path) -> bool:
    """Whether a shared server (:class:`GxServer`) of this user listens at ``server``."""
    try:
        _connect(server).close()
    except OSError:  # PermissionError too: another user's server is not for us
        return False
    return True


class GxServer:
    """A great-expectations server for several processes, running while this object is open.

    ``python -m pipelines.expectations --listen SOCKET`` imports GX once; each process that
    connects (a run whose ``OBA_GX_SERVER`` names the socket) gets a child forked from it, GX
    already imported, that answers its suites as a worker of its own would, alongside the
    others'. The socket is made in a new folder only this user can enter, and each end checks
    the other runs as this user. The server ends when its host closes it or ends (its stdin
    closes); a child ends when its process disconnects."""

    def __init__(self, **environment: str) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="oba-gx-"))  # 0700
        self.socket = self.folder / "gx.sock"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.expectations", "--listen", str(self.socket)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_gx_environment(**environment),
            start_new_session=True,  # a Ctrl+C at the terminal is for the host to handle
        )
        # the server listens before it imports GX: a process may connect at once, and waits
        # for its first answer while the import finishes
        if self.process.stdout.readline().strip() != b"listening":
            self.close()
            raise OSError("the great-expectations server did not start")

    def environment(self) -> dict[str, str]:
        """What a child process's environment needs to validate through this server."""
        return {"OBA_GX_SERVER": str(self.socket)}

    def close(self) -> None:
        """End the server and any child still serving a process (they share its process group)."""
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        # (before the server is reaped, while its process group cannot be another's)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process.stdout.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> GxServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_WORKER: dict = {}
_LOCK = threading.Lock()


def prewarm() -> None:
    """Start the GX worker now (it imports great-expectations while other work goes on)."""
    _worker()


def _worker() -> GxWorker | None:
    if settings.current().gx_in_process:
        return None
    with _LOCK:
        worker = _WORKER.get("worker")
        if worker is not None and worker.alive():
            return worker
        if _WORKER.get("failures", 0) >= 2:
            return None
        server = settings.current().gx_server
        try:
            try:
                worker = GxWorker(server)
            except OSError:
                if server is None:
                    raise
                worker = GxWorker()  # the shared server is gone: a worker of our own
        except OSError:
            _WORKER["failures"] = _WORKER.get("failures", 0) + 1
            return None
        if not _WORKER:
            atexit.register(_shutdown)
        _WORKER["worker"] = worker
        return worker


def _shutdown() -> None:
    worker = _WORKER.pop("worker", None)
    if worker is not None:
        worker.close()


def validate_async(contract: Contract, frame: pd.DataFrame, sample: dict | None = None) -> Future:
    """``validate`` in the worker process; the future's result is the same rows. Falls back to
    validating in this process when the worker is unavailable or fails."""
    worker = _worker()
    if worker is not None:
        inner = worker.submit(contract, frame, sample)
        outer: Future = Future()

        def settle(done: Future) -> None:
            try:
                outer.set_result(done.result())
            except Exception:  # the worker failed: validate here instead
                _WORKER["failures"] = _WORKER.get("failures", 0) + 1
                try:
                    outer.set_result(validate(contract, frame, sample))
                except BaseException as exc:
                    outer.set_exception(exc)

        inner.add_done_callback(settle)
        return outer
    future: Future = Future()
    try:
        future.set_result(validate(contract, frame, sample))
    except BaseException as exc:
        future.set_exception(exc)
    return future


def _prepare() -> None:
    """The GX context and the data asset of every shipped contract's source, made before the
    first suite arrives (a source not among them gets its asset when first validated)."""
    from pipelines.contracts import load_contracts

    with _GX_LOCK:
        _context()  # the context even when no contract loads
        with contextlib.suppress(Exception):  # a contract that does not load fails its run, not this
            for contract in load_contracts().values():
                _batch_definition(contract.source)


def _answer(requests, replies) -> int:
    """Answer pickled (contract, frame, sample) requests until the asker closes its end."""
    _prepare()  # a no-op in a child of the server, which inherits what its server made
    while True:
        try:
            contract, frame, sample = pickle.load(requests)
        except EOFError:
            return 0
        try:
            reply = ("ok", validate(contract, frame, sample))
        except Exception as exc:  # reported to the parent, which validates itself
            reply = ("error", f"{type(exc).__name__}: {exc}")
        pickle.dump(reply, replies, protocol=pickle.HIGHEST_PROTOCOL)
        replies.flush()


def _serve_forever() -> int:
    """The worker: import GX, then answer pickled (contract, frame, sample) requests on stdin."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; EOF on stdin ends us
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but replies may reach the pipe
    import great_expectations  # noqa: F401  (the slow import, once)

    return _answer(requests, replies)


def _serve_shared(path: Path) -> int:
    """The shared server (:class:`GxServer`): listen on ``path``, import GX, then fork a child
    for each connection from this user, until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(64)
    sys.stdout.write("listening\n")
    sys.stdout.flush()
    sys.stdout = sys.stderr
    import great_expectations  # noqa: F401  (the slow import, once for every process served)

    _prepare()  # made once, inherited by every child
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the system
    host = sys.stdin.fileno()
    try:
        while True:
            ready, _, _ = select.select([listener, host], [], [])
            if host in ready and not os.read(host, 4096):
                return 0  # the host closed us, or ended
            if listener not in ready:
                continue
            connection, _ = listener.accept()
            if _peer_uid(connection) not in (None, os.getuid()):
                connection.close()
                continue
            if os.fork() == 0:  # the child: this connection's worker
                code = 1
                try:
                    listener.close()
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    code = _answer(connection.makefile("rb"), connection.makefile("wb"))
                except BaseException:  # the process went away mid-answer: nothing to tell
                    pass
                finally:
                    os._exit(code)
            connection.close()
    finally:
        listener.close()
        with contextlib.suppress(OSError):
            path.unlink()
            path.parent.rmdir()  # GxServer's own folder (only ever removed when empty)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--listen"] and len(sys.argv) == 3:
        sys.exit(_serve_shared(Path(sys.argv[2])))
    code = _serve_forever()
    # Out at once: every reply is flushed, and unwinding GX's imports would keep the parent
    # waiting in ``GxWorker.close`` for most of a second.
    sys.stderr.flush()
    os._exit(code)
