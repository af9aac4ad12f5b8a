"""Resources: the warehouse (DuckDB) and the run's folders, built from the run's ``Settings``.

With authorities set, a partitioned run (one authority) reads that authority's exports and
writes ``<out>/<authority>/``; an unpartitioned run (the regional roll-up) writes
``<out>/region/``. The partition comes from the run's tags, so assets need not know.
``resources_for`` builds both resources from one ``Settings``: the Definitions' defaults come
from the settings in force when they load (the environment, under ``dagster dev``), and the
``oba`` CLI passes each run its own.
"""

import os
import threading
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path

import dagster as dg
import duckdb as duckdb_lib
from dagster_duckdb import DuckDBResource
from pydantic import PrivateAttr

from pipelines.authorities import REGION_KEY, AuthoritiesError, load_region
from pipelines.config import ConfigError, ObaConfig, load_config
from pipelines.settings import Settings, current


def _partition(context: dg.InitResourceContext) -> str | None:
    run = getattr(context, "dagster_run", None)
    return run.tags.get("dagster/partition") if run is not None else None


class ObaPaths(dg.ConfigurableResource):
    """Where a run reads exports and writes the site, board pack and downloads."""

    exports_dir: str
    out_dir: str
    config_path: str = ""
    authorities_file: str = ""
    published_root: str = ""
    audience_override: str = ""
    # The warehouse of the outputs this run would replace; the run stops before its models when
    # the exports give less (pipelines.defs.models.shrink_guard). Empty: no check (--accept-shrink,
    # oba validate, runs started from the Dagster UI).
    shrink_guard: str = ""
    _authority: str | None = PrivateAttr(default=None)
    _loaded: ObaConfig | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings: Settings) -> "ObaPaths":
        return cls(
            exports_dir=str(settings.exports or ""),
            out_dir=str(settings.out),
            config_path=str(settings.config or ""),
            authorities_file=str(settings.authorities or ""),
            published_root=str(settings.published_root or ""),
            audience_override=settings.audience or "",
            shrink_guard=str(settings.shrink_guard or ""),
        )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._authority = _partition(context) if self.authorities_file else None
        self._loaded = None

    @property
    def region(self):
        return load_region(str(Path(self.authorities_file).resolve())) if self.authorities_file else None

    @property
    def authority_key(self) -> str | None:
        return self._authority

    @property
    def exports(self) -> Path:
        if self.region and self._authority:
            return self.region.authority(self._authority).exports
        return Path(self.exports_dir)

    @property
    def out(self) -> Path:
        if self.region:
            return Path(self.out_dir) / (self._authority or REGION_KEY)
        return Path(self.out_dir)

    def published_out(self, key: str) -> Path:
        """Where an authority's finished outputs live (the CLI works in a scratch folder)."""
        root = self.published_root or self.out_dir
        return Path(root) / key

    @property
    def audience(self) -> str:
        """Who the site and board pack are for: the run's override (``oba run --audience``),
        else oba.yaml's ``publish.audience`` (internal by default)."""
        return self.audience_override or self.config().publish_audience

    def config(self) -> ObaConfig:
        """The run's oba.yaml, read once per run; a bad one fails the step with the file, key
        and value named."""
        if self._loaded is None:
            try:
                self._loaded = self._config()
            except (ConfigError, AuthoritiesError) as exc:
                raise dg.Failure(description=str(exc)) from exc
        return self._loaded

    def _config(self) -> ObaConfig:
        region = self.region
        if region and self._authority:
            authority = region.authority(self._authority)
            cfg = load_config(authority.config, authority.exports)
            return replace(
                cfg,
                authority_name=authority.name,
                authority_code=authority.code or cfg.authority_code,
            )
        cfg = load_config(Path(self.config_path) if self.config_path else None, self.exports)
        if region:
            return replace(cfg, authority_name=region.name, authority_code=region.code)
        return cfg


SCHEMAS = ("raw", "staging", "intermediate", "marts", "quality", "published", "internal")
# While a run executes, its warehouse stays open and each step gets a connection to it (a
# DuckDB cursor: its own session, temp objects and settings), so a step does not pay for
# opening the file, and the tables a step writes are checkpointed into the file once, when the
# run ends, rather than each time the file is closed. DuckDB's memory budget (OBA_DUCKDB_MEMORY_LIMIT,
# 2 GB by default) bounds what the open database holds. (Closing it after every step that left
# more than 256 MB in memory cost the national benchmark ~20 CPU seconds of repeated checkpoints
# and re-reads, for 0.1 GB less peak memory.)


class Warehouse(DuckDBResource):
    """The DuckDB warehouse; per authority (and one for the region) when authorities are set."""

    authorities_file: str = ""
    out_dir: str = ""
    _path: str | None = PrivateAttr(default=None)
    _holding: bool = PrivateAttr(default=False)
    _held: object = PrivateAttr(default=None)
    _schemas_ready: bool = PrivateAttr(default=False)
    _lock: object = PrivateAttr(default_factory=threading.Lock)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if self.authorities_file:
            key = _partition(context) or REGION_KEY
            self._path = str(Path(self.out_dir) / key / "warehouse.duckdb")
        self._holding = True

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        with self._lock:
            self._holding = False
            self._release()

    @property
    def path(self) -> str:
        return self._path or self.database

    @property
    def schemas_ready(self) -> bool:
        """The layers' schemas were created on the warehouse held open (no need to again)."""
        return self._schemas_ready

    def note_schemas_ready(self) -> None:
        if self._held is not None:
            self._schemas_ready = True

    def _connect(self):
        path = Path(self.path)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        con = duckdb_lib.connect(self.path, config={"custom_user_agent": "dagster", **self.connection_config})
        # raw holds identifiers as exported: the file is its owner's alone, whoever started the run
        with suppress(OSError):
            os.chmod(path, 0o600)
        return con

    def _release(self) -> None:
        held, self._held, self._schemas_ready = self._held, None, False
        if held is not None:
            held.close()

    @contextmanager
    def get_connection(self):
        if not self._holding:
            con = self._connect()
            try:
                yield con
            finally:
                con.close()
            return
        with self._lock:
            if self._held is None:
                from pipelines.sqlmodels import apply_duckdb_settings

                self._held = self._connect()
                apply_duckdb_settings(self._held)  # the budget holds from the first step on
            con = self._held.cursor()
        try:
            yield con
        finally:
            con.close()


def resources_for(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """The warehouse and the run's folders, as ``settings`` give them."""
    return {
        "duckdb": Warehouse(
            database=str(settings.warehouse),
            authorities_file=str(settings.authorities or ""),
            out_dir=str(settings.out),
        ),
        "oba": ObaPaths.from_settings(settings),
    }


defs = dg.Definitions(resources=resources_for(current()))


def warehouse_connection(duckdb: DuckDBResource):
    """A connection to the warehouse, creating its folder first, with the layers on the search path."""
    from pipelines.pseudonym import register_macro
    from pipelines.sqlmodels import SEARCH_PATH

    @contextmanager
    def _connect():
        path = getattr(duckdb, "path", duckdb.database)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with duckdb.get_connection() as con:
            if not getattr(duckdb, "schemas_ready", False):
                for schema in SCHEMAS:
                    con.execute(f"create schema if not exists {schema}")
                if hasattr(duckdb, "note_schemas_ready"):
                    duckdb.note_schemas_ready()
            con.execute(f"set search_path = '{SEARCH_PATH}'")
            register_macro(con)
            yield con

    return _connect()
