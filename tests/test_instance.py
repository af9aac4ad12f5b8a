"""The Dagster instance a run records into (pipelines.defs.instance): the embedded SQLite default
is written through one kept connection per database, synced at checkpoints, and read back by
Dagster's own classes, as ``dagster dev`` reads it; a dagster.yaml that names its storage is used
as it is."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import dagster as dg

from pipelines.defs.instance import KeptSqliteEventLogStorage, open_instance


@dg.asset
def upstream() -> int:
    return 1


@dg.asset
def downstream(upstream: int) -> int:
    return upstream + 1


def _home(folder: Path, yaml_text: str = "telemetry:\n  enabled: false\n") -> Path:
    folder.mkdir()
    (folder / "dagster.yaml").write_text(yaml_text, encoding="utf-8")
    return folder


def test_default_instance_writes_what_dagsters_own_storage_reads(tmp_path):
    home = _home(tmp_path / "home")
    with open_instance(home) as instance:
        storage = instance.event_log_storage
        assert type(storage) is KeptSqliteEventLogStorage
        result = dg.materialize([upstream, downstream], instance=instance)
        assert result.success
        written = len(instance.all_logs(result.run_id))
        # one connection kept per database, syncing at checkpoints (NORMAL = 1), not per commit
        raw = []
        for _ in range(2):
            with storage.run_connection(result.run_id) as conn:
                raw.append(conn.connection.dbapi_connection)
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1
        assert raw[0] is raw[1]
    # The files are Dagster's default layout, in its write-ahead-log mode, with no log left behind.
    runs = home / "history" / "runs"
    assert sorted(p.name for p in runs.iterdir()) == sorted([f"{result.run_id}.db", "index.db"])
    for db in runs.iterdir():
        with sqlite3.connect(db) as con:
            assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # Read as `dagster dev` reads it: Dagster's own SQLite classes on the same folder.
    with dg.DagsterInstance.from_config(str(home)) as reader:
        assert type(reader.event_log_storage) is not KeptSqliteEventLogStorage
        (run,) = reader.get_runs()
        assert run.run_id == result.run_id and run.status == dg.DagsterRunStatus.SUCCESS
        assert len(reader.all_logs(run.run_id)) == written
        for key in ("upstream", "downstream"):
            event = reader.get_latest_materialization_event(dg.AssetKey(key))
            assert event is not None and event.run_id == run.run_id
    # A second run through the kept connections finds the first run's history.
    with open_instance(home) as instance:
        second = dg.materialize([upstream, downstream], instance=instance, selection=["downstream"])
        assert second.success
        assert {r.run_id for r in instance.get_runs()} == {result.run_id, second.run_id}


def _schema(db: Path) -> tuple[list, list]:
    """A SQLite database's migration stamp and its tables and indexes (name and SQL)."""
    with sqlite3.connect(db) as con:
        stamp = con.execute("select version_num from alembic_version").fetchall()
        objects = con.execute(
            "select type, name, sql from sqlite_master where type in ('table', 'index') order by type, name"
        ).fetchall()
    return stamp, objects


def test_a_runs_database_is_made_as_dagsters_own_storage_makes_it(tmp_path):
    """Each run's database (made by the kept storage, its migration scripts read once per
    process) has the tables, indexes and migration stamp Dagster's own storage gives one."""
    made = {}
    for name, opener in (("kept", open_instance), ("dagster", lambda h: dg.DagsterInstance.from_config(str(h)))):
        home = _home(tmp_path / name)
        with opener(home) as instance:
            runs = [dg.materialize([upstream], instance=instance).run_id for _ in range(2)]
        made[name] = [_schema(home / "history" / "runs" / f"{run}.db") for run in runs]
    assert made["kept"][0] == made["kept"][1] == made["dagster"][0] == made["dagster"][1]
    assert made["kept"][0][0] and made["kept"][0][1]


def test_a_dagster_yaml_naming_its_storage_is_used_as_it_is(tmp_path):
    home = _home(
        tmp_path / "home",
        "telemetry:\n  enabled: false\n"
        "event_log_storage:\n"
        "  module: dagster._core.storage.event_log\n"
        "  class: ConsolidatedSqliteEventLogStorage\n"
        f"  config:\n    base_dir: {tmp_path / 'events'}\n",
    )
    with open_instance(home) as instance:
        assert type(instance.event_log_storage).__name__ == "ConsolidatedSqliteEventLogStorage"
        assert dg.materialize([upstream], instance=instance).success
    assert (tmp_path / "events").is_dir()
