"""Campaign schedules: once at a Vietnam-time moment, or a five-field cron line. The
one place that knows how cron is parsed (APScheduler's trigger), for the composer
and for the job that starts due campaigns."""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

from handlers.domain.vntime import VIETNAM


def parse(text: str, now: datetime) -> tuple[datetime | None, str | None]:
    """ "2026-12-01 08:00" (once, Vietnam time, in the future) or a five-field cron
    expression such as "0 8 * * mon" (recurring)."""
    text = text.strip()
    try:
        at = datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=VIETNAM)
    except ValueError:
        at = None
    if at is not None:
        return (at, None) if at > now else (None, None)
    if len(text.split()) == 5:
        try:
            CronTrigger.from_crontab(text, timezone=VIETNAM)
        except ValueError:
            return None, None
        return None, text
    return None, None


def next_run(cron: str, after: datetime) -> datetime | None:
    """The first time a recurring schedule fires after `after`."""
    trigger = CronTrigger.from_crontab(cron, timezone=VIETNAM)
    fire: datetime | None = trigger.get_next_fire_time(None, after + timedelta(seconds=1))
    return fire
