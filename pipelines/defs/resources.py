"""Resources: the warehouse (DuckDB) and the run's folders, from OBA_* environment variables."""


from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipelines.config import ObaConfig, load_config
from pipelines.settings import apply_env_defaults

apply_env_defaults()


class ObaPaths(dg.ConfigurableResource):
    """Where a run reads exports and writes the site, board pack and downloads."""

    exports_dir: str
    out_dir: str
    config_path: str = ""

    @property
    def exports(self) -> Path:
        return Path(self.exports_dir)

    @property
    def out(self) -> Path:
        return Path(self.out_dir)

    def config(self) -> ObaConfig:
        return load_config(Path(self.config_path) if self.config_path else None, self.exports)


defs = dg.Definitions(
    resources={
        "duckdb": DuckDBResource(database=dg.EnvVar("OBA_WAREHOUSE")),
        "oba": ObaPaths(
            exports_dir=dg.EnvVar("OBA_EXPORTS"),
            out_dir=dg.EnvVar("OBA_OUT"),
            config_path=dg.EnvVar("OBA_CONFIG"),
        ),
    }
)


def warehouse_connection(duckdb: DuckDBResource):
    """A connection to the warehouse, creating its folder first, with the layers on the search path."""
    from contextlib import contextmanager

    from pipelines.pseudonym import register_macro
    from pipelines.sqlmodels import SEARCH_PATH

    @contextmanager
    def _connect():
        Path(duckdb.database).parent.mkdir(parents=True, exist_ok=True)
        with duckdb.get_connection() as con:
            for schema in ("raw", "staging", "intermediate", "marts", "quality", "published"):
                con.execute(f"create schema if not exists {schema}")
            con.execute(f"set search_path = '{SEARCH_PATH}'")
            register_macro(con)
            yield con

    return _connect()
