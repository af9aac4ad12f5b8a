"""Scheduled refresh: the whole graph once a month (cron configurable with OBA_REFRESH_CRON)."""

import os

import dagster as dg

from pipelines.authorities import configured_region
from pipelines.defs.jobs import refresh

DEFAULT_CRON = "0 6 2 * *"  # 06:00 on the 2nd of each month, after month-end extracts land

@dg.schedule(
    name="monthly_refresh",
    job=refresh,
    cron_schedule=os.environ.get("OBA_REFRESH_CRON", DEFAULT_CRON),
    execution_timezone=os.environ.get("OBA_TIMEZONE", "Europe/London"),
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Refresh every measure, baseline and the published site (every authority) on a schedule.",
)
def monthly_refresh(context: dg.ScheduleEvaluationContext):
    region = configured_region()
    stamp = context.scheduled_execution_time.strftime("%Y-%m-%dT%H:%M")
    if region is None:
        return dg.RunRequest(run_key=f"refresh-{stamp}")
    return [
        dg.RunRequest(run_key=f"refresh-{key}-{stamp}", partition_key=key) for key in region.keys
    ]

defs = dg.Definitions(schedules=[monthly_refresh])
