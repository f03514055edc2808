"""Drives the flows directly — the real router, registry, flows and catalogs, with
in-memory storage ports — so a flow test takes milliseconds. The end-to-end tests keep
the pipeline, the channels and crash safety covered."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from handlers.core.context import FlowContext, Limits
from handlers.core.conversation import Conversation
from handlers.core.events import Event, EventKind, Location, Outgoing, Reply
from handlers.core.i18n import Catalog
from handlers.domain.places import gazetteer
from handlers.domain.quota import TipQuota
from handlers.domain.receipts import ReceiptHasher, ReceiptMinter
from handlers.flows import build_router
from tests.fakes.stores import FakeAudit, FakeStaff, FakeSubscriptions, FakeTips, Untouched

CATALOG = Catalog()
PLACES = gazetteer("ha_noi")
HASHER = ReceiptHasher(time_cost=1, memory_kib=8)


@dataclass
class FlowWorld:
    """One person talking to the flows, and the fake storage they write to."""

    user_key: str = "citizen-1"
    channel: str = "telegram"
    locale: str = "vi"
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 30, 3, tzinfo=UTC))
    conv: Conversation = field(default_factory=Conversation)
    tips: FakeTips = field(default_factory=FakeTips)
    audit: FakeAudit = field(default_factory=FakeAudit)
    staff: FakeStaff = field(default_factory=FakeStaff)
    subscriptions: FakeSubscriptions = field(default_factory=FakeSubscriptions)
    last: list[Outgoing] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.router = build_router(CATALOG)
        self.minter = ReceiptMinter(HASHER, capacity=0)
        self.quota = TipQuota()

    def context(self) -> FlowContext:
        return FlowContext(
            now=self.now,
            limits=Limits(flood_burst=1000),
            places=PLACES,
            hasher=HASHER,
            minter=self.minter,
            seal=lambda address: address.encode(),
            tips=self.tips,
            quota=self.quota,
            routing=self.tips,
            relay=self.tips,
            audit=self.audit,
            staff=self.staff,
            units=Untouched("units"),  # type: ignore[arg-type]
            desk=Untouched("desk"),  # type: ignore[arg-type]
            subscriptions=self.subscriptions,
            campaigns=Untouched("campaigns"),  # type: ignore[arg-type]
            reports=Untouched("reports"),  # type: ignore[arg-type]
            approvals=Untouched("approvals"),  # type: ignore[arg-type]
        )

    async def send(self, event: Event) -> list[str]:
        """Route one event; return the texts of the replies, in the person's locale."""
        self.now += timedelta(seconds=2)
        self.last = await self.router.handle(self.conv, event, self.context())
        return [self.render(o) for o in self.last if isinstance(o, Reply)]

    def event(self, kind: EventKind, **fields: object) -> Event:
        return Event(kind, self.channel, self.user_key, "chat-1", self.locale, **fields)  # type: ignore[arg-type]

    async def say(self, text: str) -> list[str]:
        if text.startswith("/"):
            name, _, args = text[1:].partition(" ")
            return await self.send(self.event(EventKind.COMMAND, command=name, args=args))
        return await self.send(self.event(EventKind.TEXT, text=text))

    async def press(self, label: str) -> list[str]:
        """Press the button whose label contains `label` (in the last replies)."""
        return await self.send(self.event(EventKind.CHOICE, choice=self.button(label)))

    async def share_location(self, lat: float, lon: float) -> list[str]:
        return await self.send(self.event(EventKind.LOCATION, location=Location(lat, lon)))

    def button(self, label: str) -> str:
        for reply in reversed([o for o in self.last if isinstance(o, Reply)]):
            for choice in reply.flat_choices():
                if label.lower() in CATALOG.text(self.locale, choice.label).lower():
                    return choice.data
        raise AssertionError(f"no button with {label!r}")

    def render(self, reply: Reply) -> str:
        return "\n\n".join(CATALOG.text(self.locale, part) for part in reply.parts)
