"""Several authorities on Dagster's run queue: one run per authority partition.

``oba run --authorities`` hands each authority to the Dagster instance as one run of the
``oba_refresh`` job for that authority's partition. The runs wait in the instance's queue (its
``QueuedRunCoordinator`` says how many run at once, and one at a time per output folder); a
``dagster-daemon`` this command starts takes them off the queue and has the instance's run
launcher start each in a process of its own (``DefaultRunLauncher`` here; ``K8sRunLauncher``, or
the Celery executor, in a deployment whose ``dagster.yaml`` names them). The definitions are
served once, by a code server (``dagster api grpc``) on a private socket, to the daemon, the run
processes and this command alike.

The command keeps what makes a run safe (``pipelines.cli``): it holds each output folder's lock,
gives each run a scratch folder through the run's configuration, and swaps a run's outputs in
only when the run succeeded. A stopped command cancels its queued and running runs, then stops
the daemon and the code server; if the command dies outright, both die with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipelines import settings
from pipelines.expectations import GxServer, server_answers

# The code location's name, as the daemon, the runs and the Dagster UI show it: pyproject.toml's
# [tool.dagster] code_location_name, so `dagster dev` finds the location of the runs it shows.
CODE_LOCATION = "turn_the_curve"
# How long the code server may take to load the definitions before the command gives up.
START_TIMEOUT_S = 180
# How long stopped runs get to wind down before the daemon and the code server are stopped.
CANCEL_GRACE_S = 60
POLL_S = 0.25

PARTITION_TAG = "dagster/partition"


class QueueError(Exception):
    """The queue could not be used: the message says why and what to do."""


# Run in a fresh interpreter between the fork and the service: asks the kernel to send SIGTERM
# when the command's process ends (even by SIGKILL), so no daemon or code server outlives the
# command that started it, then becomes the service. SIGTERM is first made to end the service
# whatever the command inherited (a service manager or a background shell may start it with
# SIGTERM ignored or blocked, and exec keeps both). Setting this in the child itself (a
# ``preexec_fn``) would make Python fork instead of vfork, and a child forked while the command
# talks gRPC to its code server can abort in gRPC's fork handler before it runs anything
# (grpcio 1.80 and later).
_DIE_WITH_PARENT = """\
import ctypes, os, signal, sys
signal.signal(signal.SIGTERM, signal.SIG_DFL)
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
try:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
except (OSError, AttributeError):  # no glibc: the command still stops its services itself
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit("the command that started this service has ended")
os.execv(sys.argv[2], sys.argv[2:])
"""


def start_service(command: list[str], **options) -> subprocess.Popen:
    """``command`` (an absolute path and its arguments) started in a session of its own, ended
    by the kernel with SIGTERM when this process ends however it ends. The child is spawned
    without running Python in it before ``exec``, so no fork handler runs there."""
    return subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", _DIE_WITH_PARENT, str(os.getpid()), *command],
        start_new_session=True, **options,
    )


@dataclass
class Finished:
    """A run that reached a final status."""

    run_id: str
    status: str
    seconds: float
    events: list = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.status == "SUCCESS"


class RunQueue:
    """The instance, a code server and a daemon, for the life of one ``oba run --authorities``."""

    def __init__(self, instance, context, services: list[subprocess.Popen], log: Path) -> None:
        self.instance = instance
        self._context = context
        self._services = services
        self._log = log

    # -- submitting ------------------------------------------------------------------------------

    def submit(self, job_name: str, run_config: Mapping, tags: Mapping[str, str]) -> str:
        """Queue one run of ``job_name`` with ``run_config`` and ``tags``; its run id."""
        from dagster._core.definitions.selector import JobSubsetSelector

        location = self._context.get_code_location(CODE_LOCATION)
        repository = next(iter(location.get_repositories().values()))
        remote_job = location.get_job(
            JobSubsetSelector(
                location_name=location.name, repository_name=repository.name, job_name=job_name,
                op_selection=None,
            )
        )
        plan = location.get_execution_plan(
            remote_job, dict(run_config), step_keys_to_execute=None, known_state=None,
            instance=self.instance,
        ).execution_plan_snapshot
        run = self.instance.create_run(
            job_name=job_name,
            run_id=None,
            run_config=dict(run_config),
            resolved_op_selection=None,
            step_keys_to_execute=plan.step_keys_to_execute,
            op_selection=None,
            status=None,
            root_run_id=None,
            parent_run_id=None,
            tags={**remote_job.tags, **tags},
            job_snapshot=remote_job.job_snapshot,
            execution_plan_snapshot=plan,
            parent_job_snapshot=remote_job.parent_job_snapshot,
            remote_job_origin=remote_job.get_remote_origin(),
            job_code_origin=remote_job.get_python_origin(),
            asset_selection=None,
            asset_check_selection=None,
            asset_graph=repository.asset_graph,
        )
        self.instance.submit_run(run.run_id, self._context)
        return run.run_id

    # -- waiting ---------------------------------------------------------------------------------

    def wait(self, run_ids: list[str]) -> Iterator[Finished]:
        """Each of ``run_ids`` as it reaches a final status (success, failure or canceled)."""
        from dagster import DagsterRunStatus, RunsFilter
        from dagster._core.storage.dagster_run import FINISHED_STATUSES as final

        pending = set(run_ids)
        while pending:
            self._check_services()
            for record in self.instance.get_run_records(RunsFilter(run_ids=sorted(pending))):
                run = record.dagster_run
                if run.status not in final:
                    continue
                pending.discard(run.run_id)
                started, ended = record.start_time, record.end_time
                yield Finished(
                    run_id=run.run_id,
                    status=run.status.value,
                    # the run's own time, from its process's start (not its time in the queue)
                    seconds=(ended - started) if started and ended else 0.0,
                    events=[] if run.status == DagsterRunStatus.SUCCESS else self.failure_events(run.run_id),
                )
            if pending:
                time.sleep(POLL_S)

    def failure_events(self, run_id: str) -> list:
        """The run's step and run failure events (Dagster's), in order."""
        from dagster import DagsterEventType

        events = []
        kinds = (DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE, DagsterEventType.ENGINE_EVENT)
        for kind in kinds:
            records = self.instance.get_records_for_run(run_id, of_type=kind, limit=1000).records
            events.extend(r.event_log_entry for r in records)
        events.sort(key=lambda entry: entry.timestamp)
        return [
            entry.dagster_event for entry in events
            if entry.dagster_event is not None
            and (not entry.dagster_event.is_engine_event or entry.dagster_event.engine_event_data.error)
        ]

    def cancel(self, run_ids: list[str]) -> None:
        """Take queued runs off the queue and stop started ones; wait a while for them to end."""
        from dagster import RunsFilter
        from dagster._core.storage.dagster_run import FINISHED_STATUSES as final

        live = [run.run_id for run in self.instance.get_runs(RunsFilter(run_ids=run_ids))
                if run.status not in final]
        for run_id in live:
            with contextlib.suppress(Exception):  # a run that ended meanwhile
                self.instance.run_coordinator.cancel_run(run_id)
        deadline = time.monotonic() + CANCEL_GRACE_S
        while live and time.monotonic() < deadline:
            live = [run.run_id for run in self.instance.get_runs(RunsFilter(run_ids=live))
                    if run.status not in final]
            time.sleep(POLL_S)

    def _check_services(self) -> None:
        for process in self._services:
            if process.poll() is not None:
                raise QueueError(
                    f"{_name(process)} stopped (exit status {process.returncode}) while runs were "
                    f"queued; its output:\n{_tail(self._log)}"
                )


def _name(process: subprocess.Popen) -> str:
    return "the Dagster daemon" if any("dagster-daemon" in str(a) for a in process.args) else "the code server"


def _tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def _queues(instance) -> bool:
    from dagster._core.run_coordinator import QueuedRunCoordinator

    return isinstance(instance.run_coordinator, QueuedRunCoordinator)


def has_queue(home: Path) -> bool:
    """Whether the Dagster instance in ``home`` queues runs (its run coordinator is Dagster's
    QueuedRunCoordinator, as in the shipped instance files)."""
    from pipelines.defs.instance import open_instance

    with open_instance(home) as instance:
        return _queues(instance)


def require_queue(instance, home: Path) -> None:
    """The instance queues runs, or the command says how to make it."""
    if not _queues(instance):
        raise QueueError(
            f"the Dagster instance in {home} has no run queue (its dagster.yaml names another "
            "run coordinator than QueuedRunCoordinator); copy the run_coordinator section of "
            "deploy/dagster.local.yaml into it, or run with --in-process"
        )


def _kept_event_log(instance) -> list[str]:
    """The daemon's options that give it, and so every run it launches (the run launcher hands
    each run process the launching instance), the event log this command records through:
    ``pipelines.defs.instance.KeptSqliteEventLogStorage`` where the instance's ``dagster.yaml``
    names no storage. The instance reference then holds only local paths; an instance whose
    file names its storage (PostgreSQL) is left for the daemon to read from the file."""
    from dagster._serdes import serialize_value

    from pipelines.defs.instance import KeptSqliteEventLogStorage

    if not isinstance(instance.event_log_storage, KeptSqliteEventLogStorage):
        return []
    return ["--instance-ref", serialize_value(instance.get_ref())]


def _wait_for_code_server(socket: Path, server: subprocess.Popen, log: Path) -> None:
    from dagster._grpc.client import DagsterGrpcClient

    deadline = time.monotonic() + START_TIMEOUT_S
    client = DagsterGrpcClient(socket=str(socket))
    while True:
        if server.poll() is not None:
            raise QueueError(
                f"the code server could not load the definitions (exit status {server.returncode}):"
                f"\n{_tail(log)}"
            )
        if socket.exists():
            with contextlib.suppress(Exception):
                client.ping("")
                return
        if time.monotonic() > deadline:
            raise QueueError(f"the code server did not start within {START_TIMEOUT_S} s:\n{_tail(log)}")
        time.sleep(0.1)


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def open_queue(instance, home: Path, environment: Mapping[str, str]) -> Iterator[RunQueue]:
    """A code server serving the definitions under ``environment``, a daemon on ``home``'s
    instance using it, and a workspace to submit runs through; all stopped on leaving."""
    from dagster import __version__ as dagster_version
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import GrpcServerTarget

    require_queue(instance, home)
    private = Path(tempfile.mkdtemp(prefix="oba-queue-"))  # 0700: the socket is ours alone
    socket = private / "code.sock"
    log = private / "services.log"
    bin_dir = Path(sys.executable).parent
    services: list[subprocess.Popen] = []
    gx_server = None
    try:
        # one great-expectations import for the region's runs: each run validates through a
        # child of a server instead of starting a worker (and importing GX) of its own; the
        # server the environment names (OBA_GX_SERVER) when it answers, else one of our own
        shared = settings.current().gx_server
        if shared is None or not server_answers(shared):
            with contextlib.suppress(OSError):  # else each run starts its own, as a lone run does
                gx_server = GxServer(DAGSTER_HOME=str(home))
        env = {**environment, "DAGSTER_HOME": str(home), **(gx_server.environment() if gx_server else {})}
        with log.open("ab") as output:
            spawn = {"env": env, "stdout": output, "stderr": subprocess.STDOUT, "stdin": subprocess.DEVNULL}
            services.append(start_service(
                [str(bin_dir / "dagster"), "api", "grpc", "--socket", str(socket),
                 "--module-name", "pipelines.definitions", "--attribute", "defs",
                 "--location-name", CODE_LOCATION, "--log-level", "warning"],
                **spawn,
            ))
            _wait_for_code_server(socket, services[0], log)
            workspace_file = private / "workspace.yaml"  # the daemon's: this code server, by name
            workspace_file.write_text(json.dumps({"load_from": [{"grpc_server": {
                "host": "localhost", "socket": str(socket), "location_name": CODE_LOCATION,
            }}]}), encoding="utf-8")  # JSON is YAML
            services.append(start_service(
                [str(bin_dir / "dagster-daemon"), "run", "--workspace", str(workspace_file),
                 "--log-level", "warning", *_kept_event_log(instance)],
                **spawn,
            ))
        target = GrpcServerTarget(host="localhost", port=None, socket=str(socket),
                                  location_name=CODE_LOCATION)
        with WorkspaceProcessContext(
            instance, target, version=dagster_version, read_only=False
        ) as workspace:
            context = workspace.create_request_context()
            if context.has_code_location_error(CODE_LOCATION):
                error = context.get_code_location_error(CODE_LOCATION)
                raise QueueError(f"the definitions did not load: {error.message if error else ''}")
            yield RunQueue(instance, context, services, log)
    finally:
        _stop(services[::-1])  # the daemon first: it launches nothing more
        if gx_server is not None:
            gx_server.close()
        shutil.rmtree(private, ignore_errors=True)
