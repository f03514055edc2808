"""What a flow may ask of the world: time, limits, places and a narrow storage interface."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from handlers.events import Item
from handlers.places import Gazetteer
from handlers.receipts import ReceiptHasher, ReceiptMinter
from storage.campaigns import Campaign, Subscription
from storage.models import (
    Actor,
    NewTip,
    Recipient,
    ThreadEntry,
    TipCheck,
    TipLine,
    TipRef,
    TipView,
    Unit,
)


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
    claim_urgent_within: timedelta = timedelta(minutes=10)
    claim_within: timedelta = timedelta(hours=24)
    invite_ttl: timedelta = timedelta(days=7)


class TipStore(Protocol):
    """The storage capabilities the citizen flows need, inside the event's transaction."""

    async def count_tips_since(self, tipster_key: str, since: datetime) -> int: ...

    async def add_tip(self, tip: NewTip) -> bool: ...

    async def tip_for_check(self, code: str) -> TipCheck | None: ...


class OfficeStore(Protocol):
    """What the officer and admin flows may ask of storage. Every tip read or change
    takes the acting staff id and is authorised inside the query."""

    async def actor(self, channel: str, user_key: str) -> Actor | None: ...

    async def redeem_invite(
        self,
        code: str,
        *,
        channel: str,
        user_key: str,
        address: bytes,
        locale: str | None,
        now: datetime,
    ) -> Actor | None: ...

    async def create_invite(
        self,
        *,
        role: str,
        unit_id: int | None,
        name: str | None,
        staff_id: str | None,
        created_by: str | None,
        now: datetime,
        ttl: timedelta,
    ) -> str: ...

    async def staff_list(self) -> list[tuple[str, str, bool, list[str]]]: ...

    async def deactivate_staff(self, username: str) -> bool: ...

    async def add_unit(
        self,
        name: str,
        *,
        parent_id: int | None,
        city_level: bool,
        wards: list[int],
        categories: list[str],
        now: datetime,
    ) -> int: ...

    async def set_unit_scope(
        self, unit_id: int, *, wards: list[int] | None = None, categories: list[str] | None = None
    ) -> None: ...

    async def list_units(self) -> list[Unit]: ...

    async def unit_exists(self, unit_id: int) -> bool: ...

    async def add_pending_group(
        self, channel: str, chat_key: str, address: bytes, added_by: str, now: datetime
    ) -> str: ...

    async def bind_group(self, group_id: str, unit_id: int, admin_id: str) -> bool: ...

    async def route_tip(
        self,
        tip_id: str,
        *,
        ward_code: int | None,
        category: str,
        urgent: bool,
        now: datetime,
        claim_within: timedelta,
    ) -> list[int]: ...

    async def tip_view(self, staff_id: str, code: str) -> TipView | None: ...

    async def search(
        self,
        staff_id: str,
        *,
        open_only: bool = False,
        claimed_by_me: bool = False,
        code: str | None = None,
        wards: list[int] | None = None,
        categories: list[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 20,
    ) -> list[TipLine]: ...

    async def tip_ref(self, staff_id: str, code: str) -> TipRef | None: ...

    async def tip_of_tipster(self, channel: str, tipster_key: str, code: str) -> TipRef | None: ...

    async def claim(self, staff_id: str, code: str, now: datetime) -> TipRef | None: ...

    async def set_status(
        self, staff_id: str, code: str, status: str, now: datetime
    ) -> TipRef | None: ...

    async def transfer(
        self, staff_id: str, code: str, unit_id: int, now: datetime, claim_within: timedelta
    ) -> TipRef | None: ...

    async def add_event(
        self,
        tip_id: str,
        kind: str,
        now: datetime,
        *,
        staff_id: str | None = None,
        detail: str | None = None,
        body: str | None = None,
    ) -> None: ...

    async def thread(self, tip_id: str, limit: int = 30) -> list[ThreadEntry]: ...

    async def tipster(self, channel: str, tipster_key: str) -> Recipient | None: ...

    async def staff_chats(self, staff_ids: list[str]) -> list[Recipient]: ...

    async def tip_handlers(self, tip_id: str) -> list[Recipient]: ...

    async def audit(
        self,
        now: datetime,
        action: str,
        outcome: str,
        *,
        staff_id: str | None = None,
        actor_key: str | None = None,
        tip_id: str | None = None,
        target: str | None = None,
    ) -> None: ...


class CampaignStore(Protocol):
    """What the subscription and broadcast flows may ask of storage."""

    async def subscribe(
        self,
        *,
        channel: str,
        user_key: str,
        address: bytes,
        locale: str,
        wards: list[int],
        topics: list[str],
        consent_text: str,
        now: datetime,
    ) -> None: ...

    async def subscription(self, channel: str, user_key: str) -> Subscription | None: ...

    async def unsubscribe(self, channel: str, user_key: str) -> bool: ...

    async def erase(self, channel: str, user_key: str) -> None: ...

    async def audience(self, wards: list[int], topics: list[str]) -> list[Subscription]: ...

    async def create(
        self,
        *,
        created_by: str,
        text: str,
        photo_channel: str | None,
        photo_ref: str | None,
        report_button: bool,
        now: datetime,
    ) -> int: ...

    async def get(self, campaign_id: int) -> Campaign | None: ...

    async def set_audience(self, campaign_id: int, wards: list[int], topics: list[str]) -> None: ...

    async def transition(
        self, campaign_id: int, *, admin_id: str | None, from_: tuple[str, ...], **values: Any
    ) -> bool: ...

    async def start_run(
        self, campaign_id: int, now: datetime, *, keep_status: bool = False
    ) -> int: ...

    async def progress(self, campaign_id: int, run: int | None = None) -> dict[str, int]: ...

    async def recent(self, limit: int = 20) -> list[Campaign]: ...

    async def sent_between(self, campaign_id: int) -> tuple[datetime | None, datetime | None]: ...

    async def tips_count(
        self, wards: list[int], categories: list[str], since: datetime, until: datetime
    ) -> int: ...


class ReportMaker(Protocol):
    """Statistics with a chart, and CSV exports (rendered outside the flows)."""

    async def stats(
        self, since: datetime, until: datetime, now: datetime, locale: str
    ) -> list[Item]: ...

    async def export_file(
        self,
        since: datetime,
        until: datetime,
        *,
        categories: list[str] | None = None,
        with_contact: bool = False,
    ) -> tuple[Item, int]: ...


@dataclass(frozen=True, slots=True)
class FlowContext:
    now: datetime
    limits: Limits
    places: Gazetteer
    hasher: ReceiptHasher
    minter: ReceiptMinter
    tips: TipStore
    office: OfficeStore
    campaigns: CampaignStore
    reports: ReportMaker
    seal: Callable[[str], bytes]  # seals a chat address for storage
