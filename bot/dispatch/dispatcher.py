"""Inbox → ordered dispatch → one transaction per batch → outbox.

Every inbound payload is first written to the inbox (`ingest`), which is what makes it
safe to acknowledge to the platform. The dispatcher then takes pending rows in arrival
order and, in ONE write transaction per batch, runs the flows, saves conversations and
tips, queues the replies in the outbox and marks the rows done. A crash anywhere
before the commit leaves the rows pending, to be replayed; after it, the outbox holds
the replies. Per-citizen order holds because rows are processed sequentially in
arrival order by a single dispatcher.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.aio import Worker, cancelling
from bot.channels.base import Channel, Ignored
from bot.clock import Clock
from bot.crash import CrashPoints
from bot.dispatch.render import Renderer
from bot.figures import Reports
from bot.identity import Identity
from handlers.core.context import FlowContext, Limits
from handlers.core.conversation import Conversation
from handlers.core.events import Deliver, Event, EventKind, Msg, Outgoing, Reply
from handlers.core.router import Router, expire
from handlers.domain.places import Gazetteer
from handlers.domain.quota import TipQuota
from handlers.domain.receipts import ReceiptHasher, ReceiptMinter
from storage import conversations, inbox, outbox
from storage.db import Database, WriteTurn, take_changes
from storage.models import InboxRow, OutboxMessage, OutboxRow, Recipient, StoredConversation
from storage.stores import Stores

log = logging.getLogger(__name__)


class Pipeline:
    def __init__(
        self,
        *,
        db: Database,
        channels: dict[str, Channel],
        identity: Identity,
        router: Router,
        renderer: Renderer,
        places: Gazetteer,
        hasher: ReceiptHasher,
        minter: ReceiptMinter,
        limits: Limits,
        clock: Clock,
        crash: CrashPoints | None = None,
        batch_size: int = 200,
        on_outbox: Callable[[Collection[str]], None] = lambda _changes: None,
        hand_off: Callable[[list[OutboxRow]], None] | None = None,
        lease: timedelta = timedelta(seconds=60),
        data_dir: Path = Path("data"),
        quota: TipQuota | None = None,
        idle: timedelta = timedelta(hours=1),
    ) -> None:
        self.db = db
        self.channels = channels
        self.identity = identity
        self.router = router
        self.renderer = renderer
        self.places = places
        self.hasher = hasher
        self.minter = minter
        self.limits = limits
        self.clock = clock
        self.crash = crash or CrashPoints(None)
        self.batch_size = batch_size
        # Called after a commit with what it changed besides the outbox (storage/db.py:
        # ALERTS, CAMPAIGNS), so only the workers with new work look at the database.
        self.on_outbox = on_outbox
        self._changes: set[str] = set()
        # SQLite (one process): replies are written already leased and handed to the
        # sender after the commit, without a claim transaction between (decision 0018).
        self.hand_off = hand_off
        self.lease = lease
        self._handed: list[OutboxRow] = []
        self.data_dir = data_dir  # where exports and charts are written
        # Per-person tip limits, in memory only (see handlers/domain/quota.py).
        self.quota = quota or TipQuota()
        self.idle = idle
        self.worker = Worker("dispatcher", self._drain)

    # ---- intake -------------------------------------------------------------------
    async def ingest(self, channel: str, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Store raw payloads durably; only after this returns may they be acknowledged."""
        adapter = self.channels.get(channel)
        keys = [adapter.order_key(p) if adapter else None for _, p in items]
        async with self.db.turn() as turn:
            async with turn.transaction() as conn:
                await inbox.add(conn, channel, items, self.clock.now(), keys)
            self.crash.hit("after_inbox_insert")
            if not self.db.is_sqlite:
                self.worker.wake()  # the dispatchers of every replica share the inbox
                return
            # SQLite has one writer: while we hold the turn, process what is waiting
            # (these updates, in arrival order after any earlier ones) in a second
            # transaction, rather than wake the dispatcher to wait for the turn again.
            # The update is stored either way; if this fails, the dispatcher retries it.
            try:
                taken = await self._process_turn(turn)
            except _BatchFailed:
                taken = self.batch_size  # the dispatcher isolates the broken event
            except Exception as exc:
                if cancelling():
                    raise
                log.warning("intake left processing to the dispatcher (%s)", type(exc).__name__)
                taken = self.batch_size
        if taken:
            self._after_commit()
        if taken >= self.batch_size:
            self.worker.wake()  # more may be waiting, or a failure to isolate

    def wake(self) -> None:
        self.worker.wake()

    async def settled(self, channel: str, key: str, seconds: float = 5.0) -> bool:
        """Wait until one stored update has been processed (a desk form waits for its
        action's answer before it redirects); False if it is still pending at the end."""
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            async with self.db.read() as conn:
                status = await inbox.status_of(conn, channel, key)
            if status not in (None, "pending"):
                return True
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.02)

    # ---- dispatch -----------------------------------------------------------------
    async def run(self) -> None:
        """Process the inbox until cancelled; resumes whatever was left pending."""
        await self.worker.run()

    async def _drain(self) -> None:
        while await self.process_pending():
            pass

    async def process_pending(self) -> int:
        """Process one batch; returns how many rows were taken."""
        try:
            async with self.db.turn() as turn:
                taken = await self._process_turn(turn)
            if not taken:
                return 0
        except _BatchFailed as failure:
            # One event broke the batch: replay the rows one per transaction, so the
            # broken one is isolated and counted, and the others go through.
            log.warning("batch failed (%s); replaying its rows one by one", failure.kind)
            async with self.db.write() as conn:
                rows = await inbox.pending(conn, self.batch_size)
            for row in rows:
                await self._process_alone(row)
            taken = len(rows)
        self._after_commit()
        return taken

    async def _process_turn(self, turn: WriteTurn) -> int:
        """Process one batch of waiting rows in one transaction; how many were taken."""
        handed: list[OutboxRow] = []
        async with turn.transaction() as conn:
            rows = await inbox.pending(conn, self.batch_size)
            if rows:
                handed = await self._process(conn, rows)
        self._handed += handed  # committed: now they may be sent
        return len(rows)

    def _after_commit(self) -> None:
        self.crash.hit("after_commit")
        changes, self._changes = self._changes, set()
        handed, self._handed = self._handed, []
        if handed and self.hand_off is not None:
            self.hand_off(handed)
        self.on_outbox(changes)

    async def _process_alone(self, row: InboxRow) -> None:
        try:
            async with self.db.write() as conn:
                handed = await self._process(conn, [row])
            self._handed += handed
        except _BatchFailed as failure:
            error_id = uuid.uuid4().hex[:12]
            log.error("event failed: error_id=%s row=%s type=%s", error_id, row.id, failure.kind)
            async with self.db.write() as conn:
                gave_up = await inbox.mark_failed(conn, row.id, self.clock.now())
                if gave_up and failure.event is not None:
                    await self._queue(
                        conn,
                        failure.event,
                        failure.locale,
                        [Reply.of(Msg("error.generic", {"id": error_id}))],
                    )

    async def _process(self, conn: Any, rows: list[InboxRow]) -> list[OutboxRow]:
        """Handle rows in the caller's transaction; returns the replies written leased
        to this process (to hand to the sender once, and only if, it commits)."""
        take_changes(conn)  # nothing from an earlier transaction on this connection
        handed = await self._handle(conn, rows)
        # What the batch queued for other workers; they are woken after the commit (a
        # row replayed alone after a failed batch counts too).
        self._changes |= take_changes(conn)
        return handed

    async def _handle(self, conn: Any, rows: list[InboxRow]) -> list[OutboxRow]:
        now = self.clock.now()
        parsed: list[tuple[InboxRow, Event | Ignored]] = []
        for row in rows:
            channel = self.channels.get(row.channel)
            if channel is None or row.payload is None:
                parsed.append((row, Ignored("no-channel")))
                continue
            try:
                parsed.append((row, channel.parse(row.payload)))
            except Exception as exc:  # a payload the adapter cannot read: drop, keep going
                log.warning("unparseable payload row=%s type=%s", row.id, type(exc).__name__)
                parsed.append((row, Ignored("unparseable")))

        keys = [(e.channel, e.user_key) for _, e in parsed if isinstance(e, Event)]
        stored = await conversations.load_many(conn, keys)
        live: dict[tuple[str, str], tuple[Conversation, Event]] = {}
        ctx = self.context(Stores(conn), now)
        messages: list[OutboxMessage] = []
        reachable: dict[str, list[str]] = {}

        for row, item in parsed:
            if isinstance(item, Ignored):
                if item.leave_address and item.chat_key:
                    messages.append(
                        OutboxMessage(
                            channel=row.channel,
                            chat_key=item.chat_key,
                            address=self.identity.seal(item.leave_address),
                            payload={"t": "leave"},
                        )
                    )
                continue
            event = item
            if event.in_group:
                # Group chats have no conversation: a button on a unit's alert, or the
                # bot being added. The replies go privately to the person (or leave).
                try:
                    replies = await self.router.handle_group(event, ctx)
                except Exception as exc:
                    raise _BatchFailed(type(exc).__name__, None, None) from exc
                messages += self._render_group(event, replies)
                continue
            key = (event.channel, event.user_key)
            if key in live:
                conv = live[key][0]
            elif key in stored:
                s = stored[key]
                conv = self.router.restore(s.state, s.locale, s.draft, s.flood, s.expires_at)
            else:
                conv = Conversation()
            if event.kind is EventKind.BLOCKED:
                await outbox.mark_unreachable(conn, event.channel, event.user_key, now)
            else:
                reachable.setdefault(event.channel, []).append(event.user_key)
            try:
                replies = await self.router.handle(conv, event, ctx)
            except Exception as exc:
                raise _BatchFailed(type(exc).__name__, event, conv.locale) from exc
            live[key] = (conv, event)
            messages += self._render(event, conv.locale or "vi", replies)

        for channel_name, chat_keys in reachable.items():
            await outbox.mark_reachable(conn, channel_name, chat_keys)
        await conversations.save_many(
            conn,
            [
                StoredConversation(
                    channel=event.channel,
                    user_key=event.user_key,
                    address=self.identity.seal(event.address),
                    locale=conv.locale,
                    state=conv.state,
                    draft=conv.dump_draft(),
                    flood=conv.flood.model_dump(mode="json"),
                    updated_at=now,
                    expires_at=conv.expires_at,
                )
                for conv, event in live.values()
                if not conv.forget  # "delete my data": the row was erased, keep it so
            ],
        )
        handed = await outbox.enqueue(
            conn, messages, now, lease=self.lease if self.hand_off is not None else None
        )
        self.crash.hit("mid_txn")
        await inbox.mark_done(conn, [row.id for row, _ in parsed], now)
        return handed

    def context(self, stores: Stores, now: datetime) -> FlowContext:
        """What the flows may use while handling this batch (inside its transaction)."""
        return FlowContext(
            now=now,
            limits=self.limits,
            places=self.places,
            hasher=self.hasher,
            minter=self.minter,
            seal=self.identity.seal,
            tips=stores.tips,
            quota=self.quota,
            routing=stores.units,
            relay=stores.relay,
            audit=stores.audit,
            staff=stores.staff,
            units=stores.units,
            desk=stores.desk,
            subscriptions=stores.subscriptions,
            campaigns=stores.campaigns,
            approvals=stores.approvals,
            reports=Reports(
                stores.conn,
                catalog=self.renderer.catalog,
                places=self.places,
                data_dir=self.data_dir,
            ),
        )

    def _render(self, event: Event, locale: str, replies: list[Outgoing]) -> list[OutboxMessage]:
        here = Recipient(
            channel=event.channel,
            chat_key=event.user_key,
            address=self.identity.seal(event.address),
            locale=locale,
        )
        return self.render_for(here, replies)

    def _render_group(self, event: Event, replies: list[Outgoing]) -> list[OutboxMessage]:
        group = Recipient(
            channel=event.channel,
            chat_key=event.chat_key or event.user_key,
            address=self.identity.seal(event.address),
            group=True,
        )
        return self.render_for(group, replies)

    def render_for(self, here: Recipient, replies: list[Outgoing]) -> list[OutboxMessage]:
        """Outbox rows for replies: to `here`, or to whoever a Deliver names."""
        out: list[OutboxMessage] = []
        for reply in replies:
            if isinstance(reply, Deliver):
                out += self.render_for(reply.to, list(reply.items))
                continue
            for payload in self.renderer.render(reply, here.locale or "vi", here.channel):
                if here.group:
                    payload["group"] = True
                out.append(
                    OutboxMessage(
                        channel=here.channel,
                        chat_key=here.chat_key,
                        address=here.address,
                        payload=payload,
                    )
                )
        return out

    async def _queue(
        self, conn: Any, event: Event, locale: str | None, replies: list[Outgoing]
    ) -> None:
        await outbox.enqueue(conn, self._render(event, locale or "vi", replies), self.clock.now())

    # ---- expiry -------------------------------------------------------------------
    async def expire_drafts(self) -> int:
        """End drafts left alone past their time to live, telling each citizen once."""
        now = self.clock.now()
        async with self.db.write() as conn:
            rows = await conversations.expired(conn, now, limit=500)
            messages: list[OutboxMessage] = []
            updated: list[StoredConversation] = []
            for s in rows:
                conv = self.router.restore(s.state, s.locale, s.draft, s.flood, s.expires_at)
                here = Recipient(
                    channel=s.channel,
                    chat_key=s.user_key,
                    address=s.address,
                    locale=conv.locale or "vi",
                )
                messages += self.render_for(here, expire(conv))
                updated.append(
                    s.model_copy(
                        update={
                            "state": conv.state,
                            "draft": None,
                            "expires_at": None,
                            "updated_at": now,
                        }
                    )
                )
            await conversations.save_many(conn, updated)
            await outbox.enqueue(conn, messages, now)
        if rows:
            self.on_outbox(())
        return len(rows)

    async def forget_links(self) -> int:
        """Delete follow-up links past their window or of closed tips, and conversation
        rows idle at the menu: what could tie a tip or a person to a chat."""
        now = self.clock.now()
        async with self.db.write() as conn:
            links = await Stores(conn).relay.forget_followups(now)
            idle = await conversations.purge_idle(conn, now - self.idle)
        return links + idle

    async def purge_inbox(self, keep: timedelta) -> int:
        async with self.db.write() as conn:
            return await inbox.purge_done(conn, self.clock.now() - keep)


class _BatchFailed(Exception):
    def __init__(self, kind: str, event: Event | None, locale: str | None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.event = event
        self.locale = locale
