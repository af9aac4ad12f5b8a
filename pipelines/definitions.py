"""The one set of Dagster definitions: loaded by `dagster dev` and by the `oba` CLI."""


import dagster as dg

import pipelines.defs
from pipelines.settings import apply_env_defaults

apply_env_defaults()

defs = dg.Definitions.merge(
    dg.load_defs(defs_root=pipelines.defs),
    # DuckDB allows one writer per file: run every step in one process, one at a time.
    dg.Definitions(executor=dg.in_process_executor),
)
