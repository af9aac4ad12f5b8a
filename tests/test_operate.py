"""Operating it unattended: the schedule and the exports-folder sensor."""

import datetime as dt

import dagster as dg


def _evaluate(sensor, cursor, exports):
    from pipelines.defs.resources import ObaPaths

    oba = ObaPaths(exports_dir=str(exports), out_dir=str(exports.parent / "out"))
    context = dg.build_sensor_context(cursor=cursor, resources={"oba": oba})
    result = sensor(context)
    return result, context.cursor


def test_sensor_fires_once_per_new_or_changed_file(tmp_path):
    from pipelines.defs.sensors import exports_folder

    exports = tmp_path / "exports"
    (exports / "ssda903" / "2024").mkdir(parents=True)
    episodes = exports / "ssda903" / "2024" / "episodes.csv"
    episodes.write_text("CHILD,DECOM\n1,01/04/2023\n")

    result, cursor = _evaluate(exports_folder, None, exports)
    assert isinstance(result, dg.RunRequest)
    assert result.tags["oba/files"] == "ssda903/2024/episodes.csv"

    again, cursor = _evaluate(exports_folder, cursor, exports)
    assert isinstance(again, dg.SkipReason)

    (exports / "population.csv").write_text("area_code,year,age,population\nE1,2023,0,10\n")
    new, cursor = _evaluate(exports_folder, cursor, exports)
    assert isinstance(new, dg.RunRequest)
    assert new.tags["oba/files"] == "population.csv"
    assert new.run_key != result.run_key

    episodes.write_text("CHILD,DECOM\n1,01/04/2023\n2,02/04/2023\n")
    changed, cursor = _evaluate(exports_folder, cursor, exports)
    assert isinstance(changed, dg.RunRequest) and changed.tags["oba/files"] == "ssda903/2024/episodes.csv"

    episodes.write_text("CHILD,DECOM\n1,01/04/2023\n")  # back to content already seen
    reverted, cursor = _evaluate(exports_folder, cursor, exports)
    assert isinstance(reverted, dg.SkipReason)


def test_schedule_evaluates_to_a_refresh_run_request():
    from pipelines.defs.schedules import monthly_refresh

    context = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2026, 12, 2, 6, 0, tzinfo=dt.UTC)
    )
    result = monthly_refresh.evaluate_tick(context)
    assert len(result.run_requests) == 1
    assert monthly_refresh.job_name == "oba_refresh"


def test_definitions_snapshot():
    from pipelines.definitions import defs

    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert {"raw/export_files", "raw/ssda903_episodes", "raw/cin_cp_plans", "raw/case_clients",
            "marts/measures", "marts/measure_values", "marts/measure_status"} <= keys
    assert {j.name for j in defs.resolve_all_job_defs()} >= {"oba_refresh", "oba_validate"}
    assert defs.resolve_schedule_def("monthly_refresh")
    assert defs.resolve_sensor_def("exports_folder")
    checks = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
    assert checks == {"contract"}


# -- safe failure ----------------------------------------------------------------------------------

import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from conftest import ProcessOutput  # noqa: E402


def _snapshot(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and not p.name.startswith(".oba.lock")
    }


def test_second_concurrent_run_is_refused(hand_council, tmp_path, capsys):
    from pipelines.cli import main, output_lock

    out = tmp_path / "out"
    with output_lock(out):
        code = main(["run", "--exports", str(hand_council), "--out", str(out)])
    output = capsys.readouterr().err
    assert code == 1
    assert "another run is already writing to" in " ".join(output.split())
    assert not (out / "warehouse.duckdb").exists()


def test_blocking_contract_failure_leaves_previous_outputs(council_run):
    from pipelines.cli import main

    exports, out = council_run
    before = _snapshot(out)
    (exports / "ssda903" / "2023-24" / "oc3.csv").write_bytes("CHILD,DOB\n".encode("utf-16"))
    assert main(["run", "--exports", str(exports), "--out", str(out)]) == 1
    assert _snapshot(out) == before
    assert not list(out.glob(".run-*"))


def _touch_episodes(exports: Path) -> None:
    """Rewrite an export so the next run has real work to do."""
    episodes = exports / "ssda903" / "2023-24" / "episodes.csv"
    episodes.write_text(episodes.read_text(encoding="utf-8-sig"))


def _start_run(exports: Path, out: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, ProcessOutput]:
    """An `oba run` in its own process, returned once it is part-way through the graph."""
    oba = Path(sys.executable).parent / "oba"
    proc = subprocess.Popen(
        [str(oba), "run", "--exports", str(exports), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    output = ProcessOutput(proc)
    output.wait_for("staging.stg_ssda903_episodes", timeout=120)  # part-way through the graph
    assert proc.poll() is None, f"run finished before it could be stopped:\n{output.text}"
    return proc, output


def _stalled_chromium(folder: Path) -> tuple[dict[str, str], Path]:
    """An OBA_CHROMIUM that notes its process id and never answers: a run using it cannot get
    past its board pack (the browser's launch waits 60 s) so it cannot reach the swap while a
    test stops it. Returns the environment to run with and the file of process ids."""
    pids = folder / "chromium.pids"
    script = folder / "chromium"
    script.write_text(f"#!/bin/sh\necho $$ >> '{pids}'\nexec sleep 300\n")
    script.chmod(0o755)
    return {"OBA_CHROMIUM": str(script)}, pids


def _wait_for_file(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout} s"
        time.sleep(0.05)


def _end_stalled_chromium(pids: Path) -> None:
    if pids.exists():
        for pid in pids.read_text().split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_a_stopped_run_leaves_previous_outputs_and_no_scratch(council_run, tmp_path, stop):
    """SIGTERM (a service manager) or SIGINT (Ctrl+C) during a run: exit 130 with a message,
    the previous outputs byte for byte, no half-written file and no scratch folder. The run's
    browser never answers, so the stop always lands before the swap."""
    exports, out = council_run
    before = _snapshot(out)
    _touch_episodes(exports)
    env, pids = _stalled_chromium(tmp_path)
    try:
        proc, output = _start_run(exports, out, env)
        _wait_for_file(pids, timeout=60)  # the run has started its (stalled) browser
        assert proc.poll() is None
        proc.send_signal(stop)
        text = output.finish(timeout=60)
    finally:
        _end_stalled_chromium(pids)
    assert proc.returncode == 130, text
    assert "Stopped; previous outputs left in place." in " ".join(text.split())
    assert _snapshot(out) == before
    assert not list(out.glob(".run-*"))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_run_killed_outright_is_cleared_by_the_next(council_run):
    from pipelines.cli import main

    exports, out = council_run
    before = _snapshot(out)
    _touch_episodes(exports)
    proc, output = _start_run(exports, out)
    proc.kill()  # SIGKILL: no handler runs, the run's scratch folder stays behind
    output.finish(timeout=60)
    assert {path: data for path, data in _snapshot(out).items() if not path.startswith(".run-")} == before
    assert list(out.glob(".run-*")), "a killed run leaves its scratch folder"
    assert main(["run", "--exports", str(exports), "--out", str(out)]) == 0
    assert not list(out.glob(".run-*"))


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_second_run_process_is_refused_while_one_runs(council_run):
    exports, out = council_run
    _touch_episodes(exports)
    first, output = _start_run(exports, out)
    oba = Path(sys.executable).parent / "oba"
    second = subprocess.run(
        [str(oba), "run", "--exports", str(exports), "--out", str(out)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
    )
    text = output.finish(timeout=300)
    assert second.returncode == 1, second.stdout + second.stderr
    assert "another run is already writing to" in " ".join((second.stdout + second.stderr).split())
    assert first.returncode == 0, text
    assert not list(out.glob(".run-*"))


# -- run history -----------------------------------------------------------------------------------


def _recorded(home: Path) -> tuple[list, set[str]]:
    """The runs recorded in the Dagster instance folder ``home``, and the asset keys the first
    materialised, read as `dagster dev` with DAGSTER_HOME=home reads them."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        keys = set()
        if runs:
            records = instance.get_records_for_run(
                runs[0].run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
            ).records
            keys = {r.event_log_entry.dagster_event.asset_key.to_user_string() for r in records}
        return runs, keys


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_run_is_recorded_where_dagster_dev_reads(hand_council, tmp_path):
    """`oba run` records its run and materialisations in ``.dagster`` of the folder it runs from
    when DAGSTER_HOME is unset (what `make dagster` opens). (DAGSTER_HOME set: the run is
    recorded there and nothing is written into the project, test_promises'
    ``test_the_sqlite_instance_file_loads_and_records_the_run``.)"""
    project = tmp_path / "project"
    project.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    home = project / ".dagster"
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "oba"), "run", "--exports", str(hand_council), "--out", "out"],
        cwd=project, env=env, capture_output=True, text=True, timeout=500,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert home.is_dir()
    runs, keys = _recorded(home)
    assert [(r.job_name, r.status) for r in runs] == [("oba_refresh", dg.DagsterRunStatus.SUCCESS)]
    assert {"raw/ssda903_episodes", "marts/measure_values", "published/site"} <= keys, sorted(keys)
