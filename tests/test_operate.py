"""Operating it unattended: the schedule and the exports-folder sensor."""

import datetime as dt

import dagster as dg


def _evaluate(sensor, cursor, monkeypatch, exports):
    monkeypatch.setenv("OBA_EXPORTS", str(exports))
    context = dg.build_sensor_context(cursor=cursor)
    result = sensor(context)
    return result, context.cursor


def test_sensor_fires_once_per_new_or_changed_file(tmp_path, monkeypatch):
    from pipelines.defs.sensors import exports_folder

    exports = tmp_path / "exports"
    (exports / "ssda903" / "2024").mkdir(parents=True)
    episodes = exports / "ssda903" / "2024" / "episodes.csv"
    episodes.write_text("CHILD,DECOM\n1,01/04/2023\n")

    result, cursor = _evaluate(exports_folder, None, monkeypatch, exports)
    assert isinstance(result, dg.RunRequest)
    assert result.tags["oba/files"] == "ssda903/2024/episodes.csv"

    again, cursor = _evaluate(exports_folder, cursor, monkeypatch, exports)
    assert isinstance(again, dg.SkipReason)

    (exports / "population.csv").write_text("area_code,year,age,population\nE1,2023,0,10\n")
    new, cursor = _evaluate(exports_folder, cursor, monkeypatch, exports)
    assert isinstance(new, dg.RunRequest)
    assert new.tags["oba/files"] == "population.csv"
    assert new.run_key != result.run_key

    episodes.write_text("CHILD,DECOM\n1,01/04/2023\n2,02/04/2023\n")
    changed, cursor = _evaluate(exports_folder, cursor, monkeypatch, exports)
    assert isinstance(changed, dg.RunRequest) and changed.tags["oba/files"] == "ssda903/2024/episodes.csv"

    episodes.write_text("CHILD,DECOM\n1,01/04/2023\n")  # back to content already seen
    reverted, cursor = _evaluate(exports_folder, cursor, monkeypatch, exports)
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
