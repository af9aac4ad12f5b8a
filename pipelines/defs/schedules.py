"""Scheduled refresh: the whole graph once a month (cron and time zone from the settings)."""

import dagster as dg

from pipelines.authorities import configured_region
from pipelines.defs.jobs import refresh
from pipelines.settings import current


@dg.schedule(
    name="monthly_refresh",
    job=refresh,
    cron_schedule=current().refresh_cron,
    execution_timezone=current().timezone,
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
