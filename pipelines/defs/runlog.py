"""A run's Dagster event log, kept for the benchmarks' per-step timings."""

from __future__ import annotations

import dagster as dg


def capture_event_log(store: dict) -> None:
    """Keep the entries of every in-process run's event log in ``store`` (run_id, entries):
    wraps JobDefinition.execute_in_process for the life of this process."""
    original = dg.JobDefinition.execute_in_process

    def execute_in_process(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        instance = kwargs.get("instance")
        store["run_id"] = result.run_id
        store["entries"] = list(instance.all_logs(result.run_id)) if instance is not None else []
        return result

    dg.JobDefinition.execute_in_process = execute_in_process
