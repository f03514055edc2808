"""What the flows may ask of storage: narrow protocols named for what a caller needs.

`storage/` implements each of them (bound to the event's transaction); the fast flow
tests implement them in memory (`tests/fakes/stores.py`). Every tip read or change on
behalf of staff takes the acting staff id and is authorised inside the query.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from handlers.core.events import Item
from storage.approvals import Approval
from storage.campaigns import Campaign
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
from storage.subscriptions import Subscription


class TipIntake(Protocol):
    """Filing a tip and checking one with its receipt (the citizen side)."""

    async def add_tip(self, tip: NewTip) -> bool: ...

    async def tip_for_check(self, code: str) -> TipCheck | None: ...


class Routing(Protocol):
    """Sending a new tip to the units that cover it."""

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


class Relay(Protocol):
    """The tipster's side of the anonymous relay: the tip's follow-up link while it
    lives, then pull-only (after a check with code and receipt)."""

    async def open_followup(
        self,
        tip_id: str,
        *,
        channel: str,
        chat_key: str,
        address: bytes,
        locale: str | None,
        expires_at: datetime,
    ) -> None: ...

    async def tipster(self, tip_id: str, now: datetime) -> Recipient | None: ...

    async def tip_of_tipster(
        self, channel: str, chat_key: str, code: str, now: datetime
    ) -> TipRef | None: ...

    async def tip_by_code(self, code: str) -> TipRef | None: ...

    async def questions(self, tip_id: str) -> list[ThreadEntry]: ...

    async def add_answer(
        self, tip_id: str, text: str, now: datetime, *, kind: str = "answer"
    ) -> None: ...

    async def tip_handlers(self, tip_id: str) -> list[Recipient]: ...


class Quota(Protocol):
    """Tips per person per hour, kept where no table can link a tip to its sender."""

    def allow(self, user_key: str, now: datetime, per_hour: int) -> bool: ...


class AuditTrail(Protocol):
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


class StaffDirectory(Protocol):
    """Who a chat belongs to (read on every staff action), joining by invite, and the
    accounts an admin manages."""

    async def actor(self, channel: str, user_key: str) -> Actor | None: ...

    async def staff_chats(self, staff_ids: list[str]) -> list[Recipient]: ...

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

    async def deactivate(self, username: str) -> bool: ...


class UnitAdmin(Protocol):
    """Units, their coverage and their alert groups."""

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


class TipDesk(Protocol):
    """An officer's reads and actions on tips, each authorised in its query."""

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

    async def claim(self, staff_id: str, code: str, now: datetime) -> TipRef | None: ...

    async def unclaim(
        self, staff_id: str, code: str, now: datetime, claim_within: timedelta
    ) -> TipRef | None: ...

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


class SubscriptionStore(Protocol):
    """Citizens' awareness-message subscriptions and erasure."""

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

    async def unsubscribe(self, channel: str, user_key: str) -> bool: ...

    async def erase(self, channel: str, user_key: str) -> None: ...

    async def audience(self, wards: list[int], topics: list[str]) -> list[Subscription]: ...


class CampaignStore(Protocol):
    """Admins' broadcasts: drafts, audience, state changes, runs and their figures."""

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


class ApprovalStore(Protocol):
    """The two-person rule's requests."""

    async def request(
        self, kind: str, requested_by: str, params: dict[str, Any], now: datetime
    ) -> int: ...

    async def get(self, approval_id: int) -> Approval | None: ...

    async def pending(self, limit: int = 20) -> list[Approval]: ...

    async def decide(
        self, approval_id: int, decided_by: str, *, approve: bool, now: datetime
    ) -> bool: ...

    async def supervises(self, staff_id: str, unit_id: int) -> bool: ...


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
