"""Vietnam time: every date a person reads or types is Asia/Ho_Chi_Minh (UTC+7, no
daylight saving); storage keeps UTC."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


def local_time(moment: datetime) -> str:
    """A moment as officers and citizens read it: "27/11/2026 10:00"."""
    return moment.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M")
