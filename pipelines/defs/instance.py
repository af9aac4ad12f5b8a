"""The Dagster instance a run records into, and the SQLite event log it writes through.

Dagster's SQLite event log (the default when ``dagster.yaml`` names no storage) creates a new
engine and connection for every event it stores, and commits each with SQLite's default
``synchronous=FULL``, which syncs the write-ahead log to disk at every commit: a few hundred
events per run cost seconds. :class:`KeptSqliteEventLogStorage` is the same storage, the same
files in the same layout (``history/runs/<run id>.db`` and ``history/runs/index.db``, in the
write-ahead-log mode Dagster creates them in), with one kept connection per database and
``synchronous=NORMAL``: a commit appends to the log and the disk is synced at checkpoints. The
database stays consistent through a crash; at worst the last events before a power cut are
lost. ``dagster dev`` and any other process read and write the same files with Dagster's own
class. Write-ahead logging needs a local disk: a DAGSTER_HOME on a network share should name its
storage in ``dagster.yaml`` (PostgreSQL, ``deploy/dagster.yaml``), which this module then leaves
alone.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.schema import SqlEventLogStorageMetadata
from dagster._core.storage.event_log.sqlite import sqlite_event_log
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SqliteEventLogStorage,
)
from dagster._core.storage.sql import get_alembic_config
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy.pool import StaticPool

from pipelines.safeyaml import YamlFileError, load_yaml

# dagster.yaml keys that choose the storage; a file that names any of them is used as it is.
STORAGE_KEYS = ("storage", "run_storage", "event_log_storage", "schedule_storage", "instance_class")


def _write_ahead(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@functools.cache
def _event_log_migrations() -> ScriptDirectory:
    """Dagster's migration scripts for the SQLite event log, read once per process (alembic
    reads every script each time it is asked for the newest, twice for each database made)."""
    return ScriptDirectory.from_config(get_alembic_config(sqlite_event_log.__file__))


class KeptSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's run-sharded SQLite event log with one kept connection per database, synced at
    checkpoints (see the module docstring). Every access still goes through the storage's lock."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: dict[str, sa.Engine] = {}
        self._engines_lock = threading.Lock()
        self._tables: set[str] = set()
        self._asset_key_columns: set[str] = set()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> KeptSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> sa.Engine:
        with self._engines_lock:
            engine = self._engines.get(shard)
            if engine is None:
                engine = sa.create_engine(
                    self.conn_string_for_shard(shard),
                    poolclass=StaticPool,
                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
                )
                sa.event.listen(engine, "connect", _write_ahead)
                self._engines[shard] = engine
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[sa.Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn

    def _initdb(self, engine: sa.Engine, for_index_shard: bool = False) -> None:
        # Dagster's own reads its migration scripts to learn the newest, then again to stamp a new
        # database with it: done for every run's database, and the index's, each time a process
        # opens them. Here a database stamped before is left as it is (as Dagster's own leaves
        # it), and a run's new database is made as Dagster makes it (its tables, write-ahead
        # logging, the newest stamp) with the scripts read once per process. A new index, or a
        # database another process is making at the same moment (Dagster's own retries cover
        # that race), goes through Dagster's own.
        try:
            with engine.connect() as conn:
                context = MigrationContext.configure(conn)
                if context.get_current_revision() is not None:
                    return
                if not for_index_shard and not sa.inspect(conn).get_table_names():
                    SqlEventLogStorageMetadata.create_all(conn)
                    conn.exec_driver_sql("PRAGMA journal_mode=WAL;")
                    context.stamp(_event_log_migrations(), "head")
                    conn.commit()
                    return
        except (sa.exc.DatabaseError, sqlite3.DatabaseError):
            pass
        super()._initdb(engine, for_index_shard)

    def has_table(self, table_name: str) -> bool:
        # Asked for every asset event, inside the event's open transaction: Dagster's own check
        # (a connection of its own, outside the lock) is asked once per table, which is never
        # dropped while the storage is open.
        if table_name in self._tables:
            return True
        found = super().has_table(table_name)
        if found:
            self._tables.add(table_name)
        return found

    def _has_asset_key_col_on_connection(self, conn: sa.Connection, column_name: str) -> bool:
        # Asked for every asset event (whether the asset-key table has the columns of Dagster's
        # later migrations): a column once there stays while the storage is open, as a table does.
        if column_name in self._asset_key_columns:
            return True
        found = super()._has_asset_key_col_on_connection(conn, column_name)
        if found:
            self._asset_key_columns.add(column_name)
        return found

    def dispose(self) -> None:
        super().dispose()
        with self._engines_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


def open_instance(home: Path) -> dg.DagsterInstance:
    """The Dagster instance in ``home`` as its ``dagster.yaml`` configures it; where the file
    names no storage (the embedded SQLite default, ``deploy/dagster.local.yaml``), the event log
    is :class:`KeptSqliteEventLogStorage` on Dagster's own SQLite layout."""
    home = Path(home)
    config_file = home / "dagster.yaml"
    try:
        config = load_yaml(config_file, what="Dagster instance file") if config_file.is_file() else None
    except YamlFileError:  # not for us to judge: Dagster reads it (and names what is wrong)
        return dg.DagsterInstance.from_config(str(home))
    if isinstance(config, dict) and any(key in config for key in STORAGE_KEYS):
        return dg.DagsterInstance.from_config(str(home))
    event_log = {
        "module": __name__,
        "class": KeptSqliteEventLogStorage.__name__,
        "config": {"base_dir": str(home / "history" / "runs")},
    }
    ref = InstanceRef.from_dir(str(home), overrides={"event_log_storage": event_log})
    return dg.DagsterInstance.from_ref(ref)
