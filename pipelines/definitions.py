"""The one set of Dagster definitions: loaded by `dagster dev` and by the `oba` CLI.

Partitions, schedule, sensor and the resources' defaults follow the settings in force when this
module loads (``pipelines.settings``: the environment, or what the CLI put in force).
"""

import dagster as dg

import pipelines.defs

defs = dg.Definitions.merge(
    dg.load_defs(defs_root=pipelines.defs),
    # DuckDB allows one writer per file: run every step in one process, one at a time.
    dg.Definitions(executor=dg.in_process_executor),
)
