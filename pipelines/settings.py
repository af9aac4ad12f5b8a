"""Configuration: where things live and how a run behaves, read from the environment in one place.

The repository's own folders are constants. Everything an operator can change is one frozen
``Settings`` object, read from these environment variables (the ``oba`` CLI reads them once per
command and adds its flags; ``dagster dev`` and deployments set them):

- ``OBA_EXPORTS``             folder of case exports to ingest (default ``demo/exports``)
- ``OBA_OUT``                 output folder: warehouse, site, board pack (default ``demo``)
- ``OBA_WAREHOUSE``           DuckDB file (default ``<OBA_OUT>/warehouse.duckdb``)
- ``OBA_CONFIG``              path of an ``oba.yaml`` (default: ``<exports>/oba.yaml`` when present)
- ``OBA_AUTHORITIES``         an ``authorities.yaml``: one partition per authority, and the region
- ``OBA_PUBLISHED_ROOT``      where authorities' finished outputs live (default ``OBA_OUT``)
- ``OBA_MODELS``              SQL models folder (default: ``models/`` of this repository)
- ``OBA_PSEUDONYM_KEY``       the pseudonymisation key (default ``~/.config/turn-the-curve/pseudonym.key``)
- ``OBA_DUCKDB_MEMORY_LIMIT`` DuckDB's memory budget (default ``2GB``; empty: DuckDB's own, 80% of RAM)
- ``OBA_DUCKDB_THREADS``      DuckDB's worker threads for a run (default: DuckDB's own, one per core)
- ``OBA_CHROMIUM``            the Chromium that prints the board pack (default: Debian's, or on PATH)
- ``OBA_REFRESH_CRON``        the ``monthly_refresh`` schedule (default ``0 6 2 * *``)
- ``OBA_TIMEZONE``            its time zone (default ``Europe/London``)
- ``OBA_SENSOR_INTERVAL``     seconds between checks of the exports folder (default 60)
- ``OBA_GX_IN_PROCESS``       set: great-expectations runs in the run's process, not a worker
- ``OBA_GX_SERVER``           the socket of a great-expectations server shared by several processes
                              (``pipelines.expectations.GxServer``; set for the runs it serves;
                              ``oba run --authorities`` uses one it names that answers)
- ``OBA_DEBUG``               set: a failure shows its traceback
- ``DAGSTER_HOME``            the Dagster instance runs are recorded in (unset: ``.dagster`` where ``oba`` runs)

This is the only module that reads or writes the process environment: other modules take
``current()`` (or a Dagster resource built from it), and set what third-party libraries read
through ``library_defaults`` and ``child_environment``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONTRACTS_DIR = PROJECT_ROOT / "data_contracts"
DEFAULT_MODELS_DIR = PROJECT_ROOT / "models"
DEFAULT_EXPORTS_DIR = PROJECT_ROOT / "demo" / "exports"
DEFAULT_OUT_DIR = PROJECT_ROOT / "demo"
DEFAULT_KEY_PATH = Path("~/.config/turn-the-curve/pseudonym.key")
DEFAULT_MEMORY_LIMIT = "2GB"
DEFAULT_CRON = "0 6 2 * *"  # 06:00 on the 2nd of each month, after month-end extracts land
DEFAULT_TIMEZONE = "Europe/London"
DEFAULT_SENSOR_INTERVAL = 60


class SettingsError(ValueError):
    """An environment variable holds a value that cannot be used; the message names it."""


@dataclass(frozen=True)
class Settings:
    """One run's configuration: its folders, and the knobs of the libraries it drives."""

    exports: Path | None = DEFAULT_EXPORTS_DIR
    out: Path = DEFAULT_OUT_DIR
    warehouse: Path = DEFAULT_OUT_DIR / "warehouse.duckdb"
    config: Path | None = None
    authorities: Path | None = None
    published_root: Path | None = None
    models: Path = DEFAULT_MODELS_DIR
    pseudonym_key: Path = DEFAULT_KEY_PATH.expanduser()
    duckdb_memory_limit: str = DEFAULT_MEMORY_LIMIT
    # DuckDB's threads for a run's warehouse (None: DuckDB's own, one per core); several runs at
    # once (the run queue, parallel tests) share the cores better with fewer each
    duckdb_threads: int | None = None
    chromium: str = ""
    refresh_cron: str = DEFAULT_CRON
    timezone: str = DEFAULT_TIMEZONE
    sensor_interval: int = DEFAULT_SENSOR_INTERVAL
    gx_in_process: bool = False
    # a shared great-expectations server's socket (OBA_GX_SERVER): the runs of `oba run
    # --authorities` on the run queue validate through one server instead of a worker each
    gx_server: Path | None = None
    debug: bool = False
    dagster_home: Path | None = None
    # who the site and board pack are for, overriding oba.yaml's publish.audience for one run
    # (oba run --audience); None: the configuration's
    audience: str | None = None
    # the warehouse of the outputs a run would replace, which it must not publish less than
    # (DESIGN §2b); None: no check (oba run --accept-shrink, oba validate, the Dagster UI)
    shrink_guard: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings the environment gives (``os.environ`` unless another mapping is given)."""
        env = os.environ if environ is None else environ

        def path(name: str) -> Path | None:
            value = env.get(name, "")
            return Path(value).expanduser() if value else None

        out = path("OBA_OUT") or DEFAULT_OUT_DIR
        interval = env.get("OBA_SENSOR_INTERVAL", "").strip() or str(DEFAULT_SENSOR_INTERVAL)
        if not interval.isdigit() or int(interval) < 1:
            raise SettingsError(f"OBA_SENSOR_INTERVAL: expected a whole number of seconds, got {interval!r}")
        threads = env.get("OBA_DUCKDB_THREADS", "").strip()
        if threads and (not threads.isdigit() or int(threads) < 1):
            raise SettingsError(f"OBA_DUCKDB_THREADS: expected a whole number of threads (1 or more), got {threads!r}")
        return cls(
            exports=path("OBA_EXPORTS") or DEFAULT_EXPORTS_DIR,
            out=out,
            warehouse=path("OBA_WAREHOUSE") or out / "warehouse.duckdb",
            config=path("OBA_CONFIG"),
            authorities=path("OBA_AUTHORITIES"),
            published_root=path("OBA_PUBLISHED_ROOT"),
            models=path("OBA_MODELS") or DEFAULT_MODELS_DIR,
            pseudonym_key=path("OBA_PSEUDONYM_KEY") or DEFAULT_KEY_PATH.expanduser(),
            duckdb_memory_limit=env.get("OBA_DUCKDB_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT).strip(),
            duckdb_threads=int(threads) if threads else None,
            chromium=env.get("OBA_CHROMIUM", "").strip(),
            refresh_cron=env.get("OBA_REFRESH_CRON", DEFAULT_CRON),
            timezone=env.get("OBA_TIMEZONE", DEFAULT_TIMEZONE),
            sensor_interval=int(interval),
            gx_in_process=bool(env.get("OBA_GX_IN_PROCESS")),
            gx_server=path("OBA_GX_SERVER"),
            debug=bool(env.get("OBA_DEBUG")),
            dagster_home=path("DAGSTER_HOME"),
        )

    def for_run(
        self,
        *,
        exports: Path | None,
        out: Path,
        warehouse: Path,
        config: Path | None = None,
        authorities: Path | None = None,
        published_root: Path | None = None,
        audience: str | None = None,
        shrink_guard: Path | None = None,
    ) -> Settings:
        """These settings with a run's folders (as absolute paths) in place of the environment's;
        no ``exports`` for a run over ``authorities`` (each names its own)."""

        def absolute(path: Path | None) -> Path | None:
            return path.resolve() if path is not None else None

        return replace(
            self,
            exports=absolute(exports),
            out=out.resolve(),
            warehouse=warehouse.resolve(),
            config=absolute(config),
            authorities=absolute(authorities),
            published_root=absolute(published_root),
            audience=audience,
            shrink_guard=absolute(shrink_guard),
        )


_IN_FORCE: list[Settings] = []


def current() -> Settings:
    """The settings in force: those a command put in force with ``use``, else the environment's."""
    return _IN_FORCE[-1] if _IN_FORCE else Settings.from_env()


@contextmanager
def use(settings: Settings) -> Iterator[Settings]:
    """Put ``settings`` in force for what runs inside the block (a command, one run)."""
    _IN_FORCE.append(settings)
    try:
        yield settings
    finally:
        _IN_FORCE.pop()


def models_dir() -> Path:
    return current().models


def library_defaults(**values: str) -> None:
    """Set environment variables a third-party library reads when it loads, unless already set."""
    for name, value in values.items():
        os.environ.setdefault(name, value)


def child_environment(**overrides: str) -> dict[str, str]:
    """The environment for a child process: this process's, with ``overrides``."""
    return {**os.environ, **overrides}
