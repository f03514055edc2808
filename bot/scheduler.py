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


def build_scheduler(
    jobs: list[tuple[str, timedelta, Callable[[], Awaitable[Any]]]],
) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(
        timezone="Asia/Ho_Chi_Minh",
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )
    for job_id, every, func in jobs:
        scheduler.add_job(
            func, "interval", seconds=every.total_seconds(), id=job_id, replace_existing=True
        )
    return scheduler
