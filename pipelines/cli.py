"""The ``oba`` command line: synth, run, demo, serve. Every run materialises the one Definitions.

Exit codes: 0 success, 1 data or contract failure, 2 usage error.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import functools
import http.server
import logging
import os
import re
import shutil
import sys
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.text import Text

from pipelines import outfolder, settings
from pipelines.failures import describe, describe_exception, root_cause

# Markup off: file names, story text and error messages reach the console and are never read
# as rich markup; styles are given as arguments (``say``).
# soft_wrap: a line is never broken by the console (a path or a file name stays whole to copy)
console = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)

EXIT_OK, EXIT_DATA, EXIT_USAGE = 0, 1, 2
OUTPUTS = outfolder.OUTPUTS


def say(*parts, style: str | None = None) -> None:
    """Print plain text, or (text, style) pairs, to stderr; nothing in it is parsed as markup."""
    if len(parts) == 1 and isinstance(parts[0], str):
        console.print(Text(parts[0], style=style or ""))
        return
    console.print(Text.assemble(*parts))


class UsageError(Exception):
    pass


class _ProgressHandler(logging.Handler):
    def __init__(self, started: float):
        super().__init__()
        self.started = started

    def emit(self, record: logging.LogRecord) -> None:
        status, _, step = record.getMessage().partition(" ")
        name = step.replace("__", ".")
        elapsed = time.monotonic() - self.started
        mark = ("✓", "green") if status == "done" else ("✗", "red")
        say("  ", mark, f" {name} ", (f"({elapsed:5.1f} s)", "dim"))


def _scale(value: str) -> str | int:
    if value.isdigit() and int(value) >= 1:
        return int(value)
    if value in ("tiny", "council", "region", "national"):
        return value
    raise argparse.ArgumentTypeError("scale is tiny, council, region, national or a number of children")


def cmd_synth(args) -> int:
    from pipelines.synth import generate

    out = Path(args.out)
    say("Simulating a synthetic council (", (str(args.scale), "bold"), f", seed {args.seed}) into {out}")
    started = time.monotonic()
    summary = generate(
        out, scale=args.scale, seed=args.seed, council_errors=not getattr(args, "no_council_errors", False)
    )
    say(
        f"Wrote {summary.get('n_children', '?')} children's histories in "
        f"{time.monotonic() - started:.1f} s; truth in {out / 'truth.json'}"
    )
    return EXIT_OK


class RunRefused(Exception):
    pass


@contextlib.contextmanager
def output_lock(out: Path):
    """Hold ``<out>/.oba.lock`` for the run: a second run on the same output is refused."""
    import fcntl

    try:
        out.mkdir(parents=True, exist_ok=True)
        handle = (out / outfolder.LOCK).open("a+", encoding="utf-8")
    except OSError as exc:
        raise outfolder.OutFolderError(
            f"cannot write to the output folder {out}: {exc.strerror}; choose a folder you can "
            "write to for --out (or make this one writable)"
        ) from exc
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RunRefused(
                f"another run is already writing to {out} ({holder}); wait for it to finish "
                "or choose another --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}")
        handle.flush()
        for stale in out.glob(".run-*"):  # left by a run that was killed outright
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
        yield
    finally:
        handle.close()


@contextlib.contextmanager
def _signals_deferred():
    """Block SIGTERM/SIGINT while outputs are swapped, so a stop cannot land half-way."""
    import signal

    blocked = {signal.SIGTERM, signal.SIGINT}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def _terminate_as_interrupt():
    """Turn SIGTERM into KeyboardInterrupt so a stopped run unwinds and cleans up."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):
        raise KeyboardInterrupt(f"stopped by signal {signum}")

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _swap_outputs(work: Path, out: Path, force: bool = False) -> None:
    """Move a successful run's outputs over the previous ones, each in one rename."""
    clashing = [] if force else outfolder.conflicts(work, out)
    if clashing:
        shown = ", ".join(clashing[:8]) + (" …" if len(clashing) > 8 else "")
        raise outfolder.OutFolderError(
            f"{out} holds files turn-the-curve did not write where this run writes its outputs "
            f"({shown}); move them away, or run again with --force to replace them"
        )
    with _signals_deferred():
        outfolder.swap(work, out)


def _was_stopped(events) -> bool:
    """Whether a failed run failed because SIGTERM or Ctrl+C interrupted it, inside a step (the
    step fails with Dagster's interruption error) or between steps (the run fails as an
    unexpected termination); ``events`` are the run's Dagster events."""
    interrupted = {"DagsterExecutionInterruptedError", "KeyboardInterrupt"}
    for event in events:
        if event.is_step_failure:
            error = event.step_failure_data.error
        elif event.is_job_failure:
            data = event.job_failure_data
            if data is None:  # a run failed from outside its process (it never started)
                continue
            reason = getattr(data.failure_reason, "value", None)
            if reason == "UNEXPECTED_TERMINATION":
                return True
            error = data.error
        else:
            continue
        if error is not None and error.cls_name in interrupted:
            return True
    return False


def run_pipeline(
    exports: Path | None,
    out: Path,
    config: Path | None = None,
    job_name: str = "oba_refresh",
    *,
    authorities: Path | None = None,
    partition: str | None = None,
    force: bool = False,
    keep: tuple[str, ...] = (),
    accept_shrink: bool = False,
    audience: str | None = None,
) -> int:
    """Materialise the job's assets into ``out``; previous outputs survive a failure.

    With ``authorities``, ``partition`` names one authority (its outputs go to ``out/<key>``);
    no partition runs the regional roll-up into ``out/region``. ``force`` lets the run use an
    output folder that holds files it did not write; ``keep`` names entries the caller put
    there itself (``oba demo``'s exports). ``accept_shrink`` lets a run publish over outputs
    that had more (DESIGN §2b). ``audience`` (internal or public) overrides oba.yaml's
    ``publish.audience`` for the site and board pack of this run.
    """
    if authorities is None:
        if exports is None or not exports.is_dir():
            raise UsageError(f"exports folder not found: {exports}")
        target = out
    else:
        from pipelines.authorities import REGION_KEY

        target = out / (partition or REGION_KEY)
    if config is not None and not config.is_file():
        raise UsageError(f"config file not found: {config}")
    _check_config(exports, config, authorities, partition)
    dagster_home(settings.current())  # a DAGSTER_HOME that is no folder stops the run here
    outfolder.claim(target, force=force, keep=keep)
    outfolder.writable(target)
    previous_umask = os.umask(0o077)  # what the run writes is its user's alone until swapped in
    try:
        with output_lock(target), _terminate_as_interrupt():
            return _run_locked(
                exports, out, target, config, job_name, authorities, partition, force, accept_shrink,
                audience,
            )
    finally:
        os.umask(previous_umask)


# Where runs are recorded when DAGSTER_HOME is not set: ``.dagster`` in the folder the command
# runs from (the project), the folder ``make dagster`` opens the UI on.
PROJECT_DAGSTER_HOME = ".dagster"


# Dagster's warning for each step it leaves out because a step it depends on failed.
_SKIPPED_STEP = re.compile(r"Dependencies for step (\S+) (?:failed|were not executed)\b")


def _say_run_log(entries, prefix: str = "") -> None:
    """A run's warnings (what its steps logged at warning level or above), each on a line of its
    own, and the steps left out after a failure on one line; ``prefix`` names the authority."""
    skipped = []
    for entry in entries:
        if entry.dagster_event is None and entry.level >= logging.WARNING:
            step = _SKIPPED_STEP.match(entry.user_message)
            if step:  # Dagster's note per step left out after a failure: one line below
                skipped.append(step.group(1).replace("__", "."))
            else:
                say(("Warning: ", "yellow"), prefix + entry.user_message)
    if skipped:
        say(("Not run, as a step they need failed: ", "yellow"), prefix + ", ".join(skipped))


def dagster_home(run_settings: settings.Settings) -> Path:
    """The Dagster instance folder a run records into: DAGSTER_HOME, else ``./.dagster``
    (created with the shipped SQLite instance file, ``deploy/dagster.local.yaml``), which
    ``DAGSTER_HOME=$PWD/.dagster dagster dev`` run from the same folder reads."""
    if run_settings.dagster_home is not None:
        if not run_settings.dagster_home.is_dir():
            raise UsageError(
                f"DAGSTER_HOME is {run_settings.dagster_home}, which is not a folder; create it, "
                "or unset DAGSTER_HOME to record runs in .dagster/ here"
            )
        return run_settings.dagster_home.resolve()
    home = (Path.cwd() / PROJECT_DAGSTER_HOME).resolve()
    home.mkdir(exist_ok=True)
    shipped = settings.PROJECT_ROOT / "deploy" / "dagster.local.yaml"
    if not (home / "dagster.yaml").exists() and shipped.is_file():
        shutil.copyfile(shipped, home / "dagster.yaml")
    return home


def _check_config(
    exports: Path | None, config: Path | None, authorities: Path | None, partition: str | None
) -> None:
    """Read the run's configuration before anything runs: a bad key is a usage error that
    names the file, the key and the value."""
    from pipelines.config import ConfigError, load_config

    try:
        if authorities is None:
            load_config(config, exports)
        elif partition:
            from pipelines.authorities import load_region

            authority = load_region(str(authorities.resolve())).authority(partition)
            load_config(authority.config, authority.exports)
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc


def _prepare_scratch(target: Path, per_authority: bool) -> tuple[Path, Path]:
    """A run's scratch folder in ``target`` (``.run-*``), and the folder in it that takes the
    place of ``target`` on success, holding a copy of the previous warehouse and baseline locks
    (the run starts from them)."""
    scratch = target / f".run-{os.getpid()}-{time.time_ns()}"
    work = scratch / target.name if per_authority else scratch
    work.mkdir(parents=True)
    for name in outfolder.STATE:
        previous = target / name
        if previous.is_dir() and not previous.is_symlink():
            shutil.copytree(previous, work / name, symlinks=True)
        elif previous.is_file() and not previous.is_symlink():
            shutil.copy2(previous, work / name)
    if (work / "warehouse.duckdb").exists():
        os.chmod(work / "warehouse.duckdb", outfolder.PRIVATE_FILE)
    return scratch, work


def _say_failures(events, target: Path, prefix: str = "") -> None:
    """One line per failed step of a run (``events``: its Dagster events): the step and why;
    for a run that failed outside its steps (a queued run that could not start), why."""
    events = list(events)
    outside_steps = not any(event.is_step_failure for event in events)
    for event in events:
        if event.is_step_failure:
            data = event.step_failure_data
            description = data.user_failure_data.description if data.user_failure_data else None
            if description:
                message = description
            elif data.error is not None:
                message = describe(*root_cause(data.error))
                if "[Errno" in message and str(target) not in message and "/" not in message:
                    message += f" (while writing in {target})"
            else:
                message = "unknown error"
            say(("Failed: ", "red"), f"{prefix}{event.step_key.replace('__', '.')}: {message}")
        elif outside_steps:
            if event.is_job_failure:
                error = event.job_failure_data.error if event.job_failure_data else None
            else:  # Dagster's note of why a queued run could not start
                error = event.engine_event_data.error if event.is_engine_event else None
            if error is not None:
                say(("Failed: ", "red"), f"{prefix}the run: {describe(*root_cause(error))}")


def _run_locked(
    exports: Path | None,
    out: Path,
    target: Path,
    config: Path | None,
    job_name: str,
    authorities: Path | None,
    partition: str | None,
    force: bool = False,
    accept_shrink: bool = False,
    audience: str | None = None,
) -> int:
    from pipelines import expectations

    # The contract checks' GX worker imports great-expectations (seconds) while this process
    # imports Dagster and the definitions and loads the exports.
    expectations.prewarm()
    scratch, work = _prepare_scratch(target, authorities is not None)
    run_settings = settings.current().for_run(
        exports=exports,
        out=scratch,
        warehouse=work / "warehouse.duckdb",
        config=config,
        authorities=authorities,
        published_root=out if authorities else None,
        audience=audience,
        # the run stops before its models if its exports give less than the outputs in place
        shrink_guard=target / "warehouse.duckdb" if job_name == "oba_refresh" and not accept_shrink else None,
    )
    # The definitions' partitions, and every setting read while the run executes, follow the run's.
    with settings.use(run_settings):
        started = time.monotonic()
        handler = _ProgressHandler(started)
        progress = logging.getLogger("oba.progress")
        progress.addHandler(handler)
        progress.setLevel(logging.INFO)
        progress.propagate = False
        try:

            from pipelines.definitions import defs
            from pipelines.defs.instance import open_instance
            from pipelines.defs.resources import resources_for

            where = f"authority {partition}" if partition else ("the region" if authorities else exports)
            say(f"Running the asset graph on {where} → {target}")
            job = defs.resolve_job_def(job_name)
            with open_instance(dagster_home(run_settings)) as instance:
                result = job.execute_in_process(
                    instance=instance,
                    raise_on_error=False,
                    partition_key=partition,
                    resources=resources_for(run_settings),
                    run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
                )
                _say_run_log(instance.all_logs(result.run_id))
            if not result.success:
                if _was_stopped(result.all_events):  # SIGTERM or Ctrl+C: stopped, not a data failure
                    raise KeyboardInterrupt("run stopped")
                _say_failures(result.all_events, target)
                if job_name == "oba_validate":
                    _swap_outputs(work, target, force)
                else:
                    say("Run failed; previous outputs left in place.", style="red")
                return EXIT_DATA
            _swap_outputs(work, target, force)
        finally:
            progress.removeHandler(handler)
            shutil.rmtree(scratch, ignore_errors=True)
        say(f"Finished in {time.monotonic() - started:.1f} s")
        return EXIT_OK


def cmd_run(args) -> int:
    out = Path(args.out)
    if not args.authorities:
        if not args.exports:
            raise UsageError("--exports is required (or --authorities for several authorities)")
        code = run_pipeline(
            Path(args.exports), out, Path(args.config) if args.config else None,
            force=args.force, accept_shrink=args.accept_shrink, audience=args.audience,
        )
        if code == EXIT_OK:
            print(out.resolve() / "site" / "index.html")
        return code
    from pipelines.authorities import AuthoritiesError, load_region

    authorities = Path(args.authorities)
    try:
        region = load_region(str(authorities.resolve()))
        keys = args.authority or region.keys
        for key in keys:
            region.authority(key)
    except AuthoritiesError as exc:
        raise UsageError(str(exc)) from exc
    in_process = args.in_process
    if not in_process:
        from pipelines import runqueue

        home = dagster_home(settings.current())
        if not runqueue.has_queue(home):
            say(("Warning: ", "yellow"),
                f"the Dagster instance in {home} has no run queue (its dagster.yaml names another "
                "run coordinator than QueuedRunCoordinator, as deploy/dagster.local.yaml has), so "
                "the authorities run one after another in this process")
            in_process = True
    if in_process:
        failed = []
        for key in keys:
            code = run_pipeline(
                None, out, authorities=authorities, partition=key, force=args.force,
                accept_shrink=args.accept_shrink, audience=args.audience,
            )
            if code != EXIT_OK:
                failed.append(key)
        code = None
        if not failed:
            code = run_pipeline(None, out, job_name="oba_region", authorities=authorities, force=args.force)
    else:
        failed, code = run_on_queue(
            authorities, out, keys, force=args.force, accept_shrink=args.accept_shrink,
            audience=args.audience,
        )
    for key in keys:
        if key not in failed:
            print(out.resolve() / key / "site" / "index.html")
    if code == EXIT_OK:
        print(out.resolve() / "region" / "site" / "index.html")
    if failed:
        say(f"Authorities that failed (previous outputs kept): {', '.join(failed)}", style="red")
        say("Regional roll-up not run, as it needs every authority's run to succeed; the previous "
            "regional outputs are kept.", style="red")
    return EXIT_DATA if failed or code != EXIT_OK else EXIT_OK


def _run_config(run_settings: settings.Settings) -> dict:
    """The run configuration that gives a queued run the folders of ``run_settings``."""
    from pipelines.defs.resources import resources_for

    return {
        "resources": {name: {"config": resource.model_dump()}
                      for name, resource in resources_for(run_settings).items()},
    }


def run_on_queue(
    authorities: Path, out: Path, keys: list[str], *, force: bool = False,
    accept_shrink: bool = False, audience: str | None = None,
) -> tuple[list[str], int | None]:
    """Run each of ``keys`` as one Dagster run of its partition through the instance's run queue
    (``pipelines.runqueue``), swapping each run's outputs in as it succeeds, then, when every one
    succeeded, the regional roll-up the same way. The authorities that failed, and the roll-up's
    exit code (None: not run)."""
    from pipelines import runqueue
    from pipelines.authorities import REGION_KEY
    from pipelines.defs.instance import open_instance
    from pipelines.defs.jobs import OUTPUT_TAG

    for key in keys:
        _check_config(None, None, authorities, key)
    base = settings.current()
    home = dagster_home(base)
    targets = {key: out / key for key in keys}
    region = out / REGION_KEY
    for target in (*targets.values(), region):
        outfolder.claim(target, force=force)
        outfolder.writable(target)
    # the code server, the daemon and the run processes load the definitions with these
    # authorities' partitions, and the rest of the settings from the environment, as the CLI has it
    environment = settings.child_environment(OBA_AUTHORITIES=str(authorities.resolve()))
    scratches: list[Path] = []
    done: list[str] = []
    previous_umask = os.umask(0o077)  # what the runs write is this user's alone until swapped in
    started = time.monotonic()
    try:
        with contextlib.ExitStack() as stack:
            for target in (*targets.values(), region):
                stack.enter_context(output_lock(target))
            stack.enter_context(_terminate_as_interrupt())
            instance = stack.enter_context(open_instance(home))
            say(f"Starting the Dagster daemon and a code server on the instance in {home}")
            try:
                queue = stack.enter_context(runqueue.open_queue(instance, home, environment))
            except runqueue.QueueError as exc:
                raise UsageError(str(exc)) from exc

            def submit(job_name: str, target: Path, key: str | None) -> tuple[str, Path]:
                scratch, work = _prepare_scratch(target, True)
                scratches.append(scratch)
                run_settings = base.for_run(
                    exports=None, out=scratch, warehouse=work / "warehouse.duckdb",
                    authorities=authorities, published_root=out,
                    audience=audience if key else None,
                    shrink_guard=target / "warehouse.duckdb" if key and not accept_shrink else None,
                )
                tags = {OUTPUT_TAG: str(target.resolve())}
                if key:
                    tags[runqueue.PARTITION_TAG] = key
                return queue.submit(job_name, _run_config(run_settings), tags), work

            runs = {}
            try:
                for key in keys:
                    run_id, work = submit("oba_refresh", targets[key], key)
                    runs[run_id] = (key, work)
                say(f"Queued {len(keys)} authority run(s): {', '.join(keys)}")
                failed = []
                for finished in queue.wait(list(runs)):
                    key, work = runs[finished.run_id]
                    _say_run_log(queue.instance.all_logs(finished.run_id), prefix=f"{key}: ")
                    if finished.success:
                        _swap_outputs(work, targets[key], force)
                        done.append(key)
                        say(f"Authority {key}: done in {finished.seconds:.1f} s (run {finished.run_id})")
                    else:
                        if _was_stopped(finished.events):
                            raise KeyboardInterrupt("run stopped")
                        _say_failures(finished.events, targets[key], prefix=f"{key}: ")
                        say(f"Authority {key}: run {finished.status.lower()} "
                            f"(run {finished.run_id}); previous outputs left in place.", style="red")
                        failed.append(key)
                if failed:
                    return [key for key in keys if key in failed], None
                run_id, work = submit("oba_region", region, None)
                runs[run_id] = (REGION_KEY, work)
                (finished,) = queue.wait([run_id])
                _say_run_log(queue.instance.all_logs(finished.run_id), prefix="region: ")
                if not finished.success:
                    if _was_stopped(finished.events):
                        raise KeyboardInterrupt("run stopped")
                    _say_failures(finished.events, region, prefix="region: ")
                    say("Regional roll-up failed; previous regional outputs left in place.", style="red")
                    return [], EXIT_DATA
                _swap_outputs(work, region, force)
                say(f"Regional roll-up: done in {finished.seconds:.1f} s (run {finished.run_id})")
            except BaseException:
                queue.cancel(list(runs))
                raise
    except runqueue.QueueError as exc:
        say(("Failed: ", "red"), str(exc))
        return [key for key in keys if key not in done], None
    finally:
        os.umask(previous_umask)
        for scratch in scratches:
            shutil.rmtree(scratch, ignore_errors=True)
    say(f"Finished in {time.monotonic() - started:.1f} s")
    return [], EXIT_OK


def cmd_demo(args) -> int:
    out = Path(args.out)
    exports = out / "exports"
    outfolder.claim(out, force=args.force, keep=("exports",))  # before the exports land in it
    args.out = str(exports)
    # The demo's returns are as a council submits them after DfE's validator (no council errors).
    args.no_council_errors = True
    cmd_synth(args)
    code = run_pipeline(exports, out, force=args.force, keep=("exports",))
    if code == EXIT_OK:
        index = (out / "site" / "index.html").resolve()
        say(("Site: ", "bold"), str(index))
        print(index)
    return code


def cmd_validate(args) -> int:
    import tempfile

    from pipelines.validation import print_report, write_report_page

    exports = Path(args.exports)
    keep = Path(args.out) if args.out else None
    with tempfile.TemporaryDirectory(prefix="oba-validate-") as scratch:
        out = keep or Path(scratch)
        code = run_pipeline(
            exports, out, Path(args.config) if args.config else None, "oba_validate",
            force=bool(args.force) or keep is None,
        )
        warehouse = out / "warehouse.duckdb"
        if warehouse.exists():
            blocking = print_report(warehouse, console)
            if keep:
                page = write_report_page(warehouse, keep / "site")
                outfolder.record(keep, page)
                say(f"Data-quality page: {page}")
            if blocking:
                code = EXIT_DATA
    if code == EXIT_OK:
        say("No blocking problems.", style="green")
    else:
        say("Blocking problems found.", style="red")
    return code


def cmd_rebaseline(args) -> int:
    import datetime as dt

    import duckdb

    from pipelines.baselines import (
        assess_series,
        baseline_lock_dir,
        load_series_inputs,
        lock_baseline,
    )
    from pipelines.config import ConfigError, load_config

    try:
        end = dt.date.fromisoformat(args.end)
    except ValueError as exc:
        raise UsageError(f"--end must be a date YYYY-MM-DD, got {args.end!r}") from exc
    warehouse = Path(args.out) / "warehouse.duckdb"
    if not warehouse.is_file():
        raise UsageError(f"no warehouse at {warehouse}; run 'oba run' first")
    try:
        load_config(Path(args.config) if args.config else None, Path(args.exports))
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        found = con.execute(
            "select direction_of_good from marts.measures where measure_id = ?", [args.measure]
        ).fetchone()
        if found is None:
            raise UsageError(f"unknown measure {args.measure!r}")
        inputs = load_series_inputs(con, args.measure, args.program)  # as the run judges it
    finally:
        con.close()
    if inputs is None or inputs.values.dropna().empty:
        raise UsageError(f"no values for {args.measure} {args.program or 'all'!r} in {warehouse}")
    series = inputs.values
    assessed = assess_series(series, inputs.direction_of_good, baseline_end=end, **inputs.options)
    if not assessed["forecast"].notna().any():  # locked as soon as there is a forecast, as a run does
        notes = assessed["status_note"].dropna()
        why = notes.iloc[0] if len(notes) else f"fewer than 12 values up to {end}."
        say(f"{args.measure}: no forecast to lock: {why} Nothing locked.", style="red")
        return EXIT_DATA
    key = inputs.key
    latest = series.dropna().index.max().date()
    with output_lock(Path(args.out)):
        path = lock_baseline(
            key, assessed, baseline_lock_dir(Path(args.out)), data_vintage=f"data to {latest}; rebaselined"
        )
    say(f"Locked a new baseline for {key} ending {end}: {path}")
    say("Run 'oba run' again to judge the curve against it.")
    return EXIT_OK


# How ``oba serve`` ends: SIGTERM (a service manager's stop) is a clean stop, exit 0; SIGINT
# (Ctrl+C) is an interruption, exit 130 as for a run.
SERVE_EXIT = {"SIGTERM": EXIT_OK, "SIGINT": 130}


def cmd_serve(args) -> int:
    site = Path(args.out) / "site"
    if not (site / "index.html").is_file():
        raise UsageError(f"no site at {site}; run 'oba run' or 'oba demo' first")
    import signal
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    # Both stops are handled here whatever the process inherited (a service manager or a
    # background shell may start it with SIGTERM or SIGINT ignored or blocked): the handler only
    # notes the signal, and the main thread stops the server it serves from another thread, so
    # no exception can land half-way through starting or closing it.
    received: list[int] = []
    stops = (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.signal(s, lambda signum, frame: received.append(signum)) for s in stops}
    signal.pthread_sigmask(signal.SIG_UNBLOCK, set(stops))
    try:
        with http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler) as server:
            serving = threading.Thread(target=server.serve_forever, name="oba-serve", daemon=True)
            serving.start()
            say(f"Serving {site} at http://127.0.0.1:{server.server_address[1]}/ (Ctrl+C stops)")
            while not received:
                time.sleep(0.1)  # a signal's handler runs between these sleeps
            server.shutdown()
            serving.join()
    finally:
        for s, action in previous.items():
            signal.signal(s, action)
    name = signal.Signals(received[0]).name
    say(f"Stopped by {name}.")
    return SERVE_EXIT[name]


FORCE_HELP = (
    "use an --out folder that holds files turn-the-curve did not write (outputs of the same "
    "name are replaced; other files are kept)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oba", description="Outcomes-Based Accountability on case data: turn the curve."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    synth = sub.add_parser("synth", help="write a synthetic council's exports")
    synth.add_argument("--out", required=True, help="folder to write the exports into")
    synth.add_argument("--scale", type=_scale, default="council", help="tiny|council|region|national|N")
    synth.add_argument("--seed", type=int, default=2026)
    synth.add_argument(
        "--no-council-errors",
        action="store_true",
        help="returns as submitted after DfE's checks, without the errors real returns hold",
    )
    synth.set_defaults(func=cmd_synth)

    run = sub.add_parser("run", help="ingest, check, model, baseline and publish")
    run.add_argument("--exports", help="folder of export files")
    run.add_argument("--out", required=True, help="output folder")
    run.add_argument("--config", help="oba.yaml (default: <exports>/oba.yaml when present)")
    run.add_argument("--authorities", help="authorities.yaml: run each authority, then the region")
    run.add_argument("--authority", action="append", help="with --authorities: only this one (repeatable)")
    run.add_argument(
        "--in-process", action="store_true",
        help="with --authorities: run the authorities one after another in this process, not as "
        "Dagster runs on the instance's run queue",
    )
    run.add_argument("--force", action="store_true", help=FORCE_HELP)
    run.add_argument(
        "--accept-shrink", action="store_true",
        help="publish even when the exports give no rows, or under half the rows, for a source "
        "the outputs in place had",
    )
    run.add_argument(
        "--audience", choices=("internal", "public"),
        help="who the site and board pack are for, overriding oba.yaml's publish.audience: "
        "internal (exact figures) or public (suppressed, as the published CSVs always are); "
        "--audience public builds a public copy",
    )
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="synthesise a council and run everything on it")
    demo.add_argument("--out", default="demo", help="output folder (default: demo)")
    demo.add_argument("--scale", type=_scale, default="council")
    demo.add_argument("--seed", type=int, default=2026)
    demo.add_argument("--force", action="store_true", help=FORCE_HELP)
    demo.set_defaults(func=cmd_demo)

    validate = sub.add_parser("validate", help="check exports against the data contracts")
    validate.add_argument("--exports", required=True, help="folder of export files")
    validate.add_argument("--out", help="keep the checked warehouse and data-quality page here")
    validate.add_argument("--config", help="oba.yaml (default: <exports>/oba.yaml when present)")
    validate.add_argument("--force", action="store_true", help=FORCE_HELP)
    validate.set_defaults(func=cmd_validate)

    rebaseline = sub.add_parser("rebaseline", help="lock a new baseline forecast for a measure")
    rebaseline.add_argument("measure", help="measure id, e.g. cla_rate_per_10k")
    rebaseline.add_argument("--end", required=True, help="new baseline end, YYYY-MM-DD")
    rebaseline.add_argument("--exports", required=True, help="exports folder (stories live there)")
    rebaseline.add_argument("--out", required=True, help="output folder of a run")
    rebaseline.add_argument("--program", help="programme name, for programme measures")
    rebaseline.add_argument("--config", help="oba.yaml (default: <exports>/oba.yaml when present)")
    rebaseline.set_defaults(func=cmd_rebaseline)

    serve = sub.add_parser("serve", help="serve the site on 127.0.0.1")
    serve.add_argument("--out", required=True, help="output folder of a run")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command: the environment's settings are read once, the flags added per run."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else EXIT_OK
    try:
        base = settings.Settings.from_env()
    except settings.SettingsError as exc:
        say(("Usage error: ", "red"), str(exc))
        return EXIT_USAGE
    try:
        with settings.use(base):
            return args.func(args)
    except UsageError as exc:
        say(("Usage error: ", "red"), str(exc))
        return EXIT_USAGE
    except outfolder.OutFolderError as exc:
        say(("Refused: ", "red"), str(exc))
        return EXIT_USAGE
    except RunRefused as exc:
        say(("Refused: ", "red"), str(exc))
        return EXIT_DATA
    except KeyboardInterrupt:
        say("Stopped; previous outputs left in place.", style="red")
        return 130
    except Exception as exc:  # no traceback for the user: the cause, and what to do
        if base.debug:
            raise
        say(("Failed: ", "red"), describe_exception(exc))
        say("Previous outputs left in place. (OBA_DEBUG=1 shows the traceback.)", style="red")
        return EXIT_DATA


def exit_now(code: int) -> None:
    """End the process as Python's own exit would, less its teardown of every imported module.

    The other threads are waited for and the exit handlers run (the GX worker and Chromium
    closed, logs flushed), then the process ends without unwinding the interpreter: with
    Dagster, pandas and plotly loaded that unwinding takes about a second, and nothing in it
    writes. Every output is written and closed by then; the standard streams are flushed here."""
    # What Python's own exit does first, in its order (CPython's functions, there since 3.0):
    # tell pools their work is over and wait for every other non-daemon thread, then run the
    # exit handlers.
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None and threading.current_thread() is threading.main_thread():
        shutdown()
    else:
        for thread in threading.enumerate():
            if thread is not threading.current_thread() and not thread.daemon:
                thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def entry() -> None:
    """The ``oba`` command (pyproject's script): ``main``, then ``exit_now``."""
    exit_now(main())


if __name__ == "__main__":
    entry()
