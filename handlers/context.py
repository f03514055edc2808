"""What a flow may ask of the world: time, limits, places and a narrow storage interface."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from handlers.places import Gazetteer
from handlers.receipts import ReceiptHasher, ReceiptMinter
from storage.models import NewTip, TipCheck


@dataclass(frozen=True, slots=True)
class Limits:
    draft_ttl: timedelta = timedelta(hours=24)
    tips_per_hour: int = 5
    flood_burst: int = 8
    flood_rate_per_second: float = 1.0
    status_checks_per_hour: int = 10
    max_attachments: int = 30
    max_description_chars: int = 20_000
    max_download_mb: int = 20


class TipStore(Protocol):
    """The storage capabilities the citizen flows need, inside the event's transaction."""

    async def count_tips_since(self, tipster_key: str, since: datetime) -> int: ...

    async def add_tip(self, tip: NewTip) -> None: ...

    async def tip_for_check(self, code: str) -> TipCheck | None: ...


@dataclass(frozen=True, slots=True)
class FlowContext:
    now: datetime
    limits: Limits
    places: Gazetteer
    hasher: ReceiptHasher
    minter: ReceiptMinter
    tips: TipStore
