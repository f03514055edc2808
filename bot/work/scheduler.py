"""Periodic housekeeping on APScheduler 3.11.

Jobs keep no state of their own: what is due (expired drafts, old inbox keys) is read
from the database each time, so a restart loses nothing. Fixed ids + replace_existing
mean a restart never duplicates a job; coalesce turns missed runs into one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

TIME_ZONE = "Asia/Ho_Chi_Minh"


def build_scheduler(
    jobs: list[tuple[str, timedelta | CronTrigger, Callable[[], Awaitable[Any]]]],
) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(
        timezone=TIME_ZONE,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )
    for job_id, when, func in jobs:
        if isinstance(when, CronTrigger):
            scheduler.add_job(func, when, id=job_id, replace_existing=True)
        else:
            scheduler.add_job(
                func, "interval", seconds=when.total_seconds(), id=job_id, replace_existing=True
            )
    return scheduler


def daily_at(hour: int, day_of_week: str = "*") -> CronTrigger:
    return CronTrigger(hour=hour, minute=0, day_of_week=day_of_week, timezone=TIME_ZONE)
