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


def _start_run(exports: Path, out: Path) -> tuple[subprocess.Popen, str]:
    """An `oba run` in its own process, returned once it is part-way through the graph."""
    oba = Path(sys.executable).parent / "oba"
    proc = subprocess.Popen(
        [str(oba), "run", "--exports", str(exports), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    seen = ""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen += line
        if "staging.stg_ssda903_episodes" in line:  # part-way through the graph
            break
        if not line and proc.poll() is not None:
            break
    assert proc.poll() is None, f"run finished before it could be stopped:\n{seen}"
    return proc, seen


def test_run_killed_midway_leaves_previous_outputs(council_run):
    exports, out = council_run
    before = _snapshot(out)
    _touch_episodes(exports)
    proc, seen = _start_run(exports, out)
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, seen + rest
    assert _snapshot(out) == before
    assert not list(out.glob(".run-*"))


def test_a_run_killed_outright_is_cleared_by_the_next(council_run):
    from pipelines.cli import main

    exports, out = council_run
    before = _snapshot(out)
    _touch_episodes(exports)
    proc, _ = _start_run(exports, out)
    proc.kill()  # SIGKILL: no handler runs, the run's scratch folder stays behind
    proc.communicate(timeout=60)
    assert {path: data for path, data in _snapshot(out).items() if not path.startswith(".run-")} == before
    assert list(out.glob(".run-*")), "a killed run leaves its scratch folder"
    assert main(["run", "--exports", str(exports), "--out", str(out)]) == 0
    assert not list(out.glob(".run-*"))


def test_a_second_run_process_is_refused_while_one_runs(council_run):
    exports, out = council_run
    _touch_episodes(exports)
    first, seen = _start_run(exports, out)
    oba = Path(sys.executable).parent / "oba"
    second = subprocess.run(
        [str(oba), "run", "--exports", str(exports), "--out", str(out)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
    )
    rest, _ = first.communicate(timeout=300)
    assert second.returncode == 1, second.stdout + second.stderr
    assert "another run is already writing to" in " ".join((second.stdout + second.stderr).split())
    assert first.returncode == 0, seen + rest
    assert not list(out.glob(".run-*"))
