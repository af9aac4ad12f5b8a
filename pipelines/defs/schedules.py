"""Scheduled refresh: the whole graph once a month (cron configurable with OBA_REFRESH_CRON)."""

import os

import dagster as dg

from pipelines.defs.jobs import refresh

DEFAULT_CRON = "0 6 2 * *"  # 06:00 on the 2nd of each month, after month-end extracts land

monthly_refresh = dg.ScheduleDefinition(
    name="monthly_refresh",
    job=refresh,
    cron_schedule=os.environ.get("OBA_REFRESH_CRON", DEFAULT_CRON),
    execution_timezone=os.environ.get("OBA_TIMEZONE", "Europe/London"),
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Refresh every measure, baseline and the published site on a schedule.",
)

defs = dg.Definitions(schedules=[monthly_refresh])
