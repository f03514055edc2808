"""What a flow may ask of the world: time, limits, places, receipts and the storage
ports, all bound to the event's transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from handlers.core import ports
from handlers.core.conversation import Conversation
from handlers.core.events import Msg, Reply
from handlers.domain.places import Gazetteer
from handlers.domain.receipts import ReceiptHasher, ReceiptMinter


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
    followup: timedelta = timedelta(days=30)  # how long an open tip can reach its tipster
    # Campaigns: the free Telegram rate, and paid broadcasts when offered (stars per
    # message; None: not offered).
    broadcast_rate: float = 30.0
    paid_rate: float = 1000.0
    paid_stars_per_message: float | None = None


def _no_prompt(_: Conversation) -> Reply:
    return Reply.of(Msg("menu.ask"))


@dataclass(frozen=True, slots=True)
class FlowContext:
    now: datetime
    limits: Limits
    places: Gazetteer
    hasher: ReceiptHasher
    minter: ReceiptMinter
    seal: Callable[[str], bytes]  # seals a chat address for storage
    tips: ports.TipIntake
    quota: ports.Quota
    routing: ports.Routing
    relay: ports.Relay
    audit: ports.AuditTrail
    staff: ports.StaffDirectory
    units: ports.UnitAdmin
    desk: ports.TipDesk
    subscriptions: ports.SubscriptionStore
    campaigns: ports.CampaignStore
    reports: ports.ReportMaker
    approvals: ports.ApprovalStore
    # The question the conversation's current state asks (set by the router for the
    # event, so a flow can re-ask whatever step the person is on without knowing it).
    prompt: Callable[[Conversation], Reply] = field(default=_no_prompt)
