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
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.aio import cancelling, woken
from bot.channels.base import Channel, Ignored, Payload
from bot.channels.uploads import UploadStore
from bot.clock import Clock
from bot.crash import CrashPoints
from bot.identity import Identity
from bot.reports import Reports
from handlers.context import FlowContext, Limits
from handlers.conversation import Conversation
from handlers.events import (
    Chart,
    Deliver,
    Event,
    EventKind,
    File,
    Item,
    Leave,
    Msg,
    Outgoing,
    Pin,
    Reply,
    Toast,
)
from handlers.i18n import Catalog
from handlers.places import Gazetteer
from handlers.receipts import ReceiptHasher, ReceiptMinter
from handlers.router import Router, expire
from handlers.text import split_html, split_units
from storage import conversations, inbox, outbox
from storage.campaigns import Campaigns
from storage.db import Database
from storage.models import InboxRow, OutboxMessage, Recipient, StoredConversation
from storage.office import Office
from storage.tips import TipRepository

log = logging.getLogger(__name__)

MAX_TEXT_UNITS = 4096
CAPTION_UNITS = 1024  # Telegram's limit for a photo's caption


class Renderer:
    """Turns replies (catalog keys) into channel-neutral outbox payloads in a locale."""

    def __init__(self, catalog: Catalog, uploads: UploadStore | None = None) -> None:
        self.catalog = catalog
        self.uploads = uploads  # files we hold ourselves (web uploads) can go anywhere

    def _held(self, item: File) -> Path | None:
        if self.uploads is None or item.channel != self.uploads.channel:
            return None
        return self.uploads.clean_path(item.file_ref)

    def render(self, item: Toast | Item | Leave, locale: str, channel: str = "") -> list[Payload]:
        """Payloads for one item; `channel` is where they go (a file that belongs to
        another channel cannot be re-sent there and becomes a short note)."""
        if isinstance(item, Toast):
            text = self.catalog.text(locale, item.text) if item.text else None
            return [{"t": "answer", "id": item.callback_id, "text": text}]
        if isinstance(item, Leave):
            return [{"t": "leave"}]
        if isinstance(item, Pin):
            return [{"t": "pin", "lat": item.latitude, "lon": item.longitude, "protect": True}]
        if isinstance(item, File):
            payload: Payload = {"t": "file", "kind": item.kind, "ref": item.file_ref}
            if channel and item.channel != channel:
                path = self._held(item)
                if path is None:  # another platform's file id means nothing here
                    note = Msg(
                        "officer.file_elsewhere", {"kind": item.kind, "channel": item.channel}
                    )
                    return [{"t": "msg", "text": self.catalog.text(locale, note)}]
                # A file we hold: uploaded (the metadata-stripped copy) where it goes.
                payload = {"t": "upload", "kind": item.kind, "path": str(path)}
            if item.protect:
                payload["protect"] = True
            if item.caption is not None:
                caption = self.render(item.caption, locale, channel)
                text = "\n\n".join(p["text"] for p in caption)
                payload["caption"] = split_units(text, CAPTION_UNITS)[0]
                if caption[-1].get("buttons"):
                    payload.update(buttons=caption[-1]["buttons"], kb=caption[-1]["kb"])
            return [payload]
        if isinstance(item, Chart):
            return [
                {
                    "t": "chart",
                    "path": item.path,
                    "caption": self.catalog.text(locale, item.caption),
                    "document": item.document,
                }
            ]
        escape = item.html
        text = "\n\n".join(self.catalog.text(locale, part, escape=escape) for part in item.parts)
        buttons = [
            [
                {"label": self.catalog.text(locale, c.label), "data": c.data, "request": c.request}
                for c in row
            ]
            for row in item.choices
        ]
        chunks = (split_html if item.html else split_units)(text, MAX_TEXT_UNITS)
        payloads: list[Payload] = [{"t": "msg", "text": chunk} for chunk in chunks]
        for payload in payloads:
            if item.html:
                payload["html"] = True
            if item.protect:
                payload["protect"] = True
        if buttons:
            payloads[-1].update(buttons=buttons, kb=item.keyboard)
        return payloads


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
        on_outbox: Callable[[], None] = lambda: None,
        data_dir: Path = Path("data"),
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
        self.on_outbox = on_outbox
        self.data_dir = data_dir  # where exports and charts are written
        self._wake = asyncio.Event()

    # ---- intake -------------------------------------------------------------------
    async def ingest(self, channel: str, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Store raw payloads durably; only after this returns may they be acknowledged."""
        async with self.db.write() as conn:
            await inbox.add(conn, channel, items, self.clock.now())
        self.crash.hit("after_inbox_insert")
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    # ---- dispatch -----------------------------------------------------------------
    async def run(self) -> None:
        """Process the inbox until cancelled; resumes whatever was left pending."""
        while True:
            # Clear before looking, so a wake-up that arrives while we work is not lost.
            self._wake.clear()
            try:
                while await self.process_pending():
                    pass
            except Exception:
                if cancelling():
                    raise
                # A database outage: keep the rows, wait, try again (nothing is lost).
                log.exception("dispatcher pass failed; retrying")
                await asyncio.sleep(1.0)
            await woken(self._wake, 1.0)

    async def process_pending(self) -> int:
        """Process one batch; returns how many rows were taken."""
        try:
            async with self.db.write() as conn:
                rows = await inbox.pending(conn, self.batch_size)
                if not rows:
                    return 0
                await self._process(conn, rows)
        except _BatchFailed as failure:
            # One event broke the batch: replay the rows one per transaction, so the
            # broken one is isolated and counted, and the others go through.
            log.warning("batch failed (%s); replaying its rows one by one", failure.kind)
            async with self.db.write() as conn:
                rows = await inbox.pending(conn, self.batch_size)
            for row in rows:
                await self._process_alone(row)
        self.crash.hit("after_commit")
        self.on_outbox()
        return len(rows)

    async def _process_alone(self, row: InboxRow) -> None:
        try:
            async with self.db.write() as conn:
                await self._process(conn, [row])
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

    async def _process(self, conn: Any, rows: list[InboxRow]) -> None:
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
        tips = TipRepository(conn)
        ctx = FlowContext(
            now=now,
            limits=self.limits,
            places=self.places,
            hasher=self.hasher,
            minter=self.minter,
            tips=tips,
            office=Office(conn),
            campaigns=Campaigns(conn),
            reports=Reports(
                conn, catalog=self.renderer.catalog, places=self.places, data_dir=self.data_dir
            ),
            seal=self.identity.seal,
        )
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
                conv = Conversation.restore(s.state, s.locale, s.draft, s.flood, s.expires_at)
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
                    state=conv.state.value,
                    draft=conv.draft.model_dump(mode="json") if conv.draft else None,
                    flood=conv.flood.model_dump(mode="json"),
                    updated_at=now,
                    expires_at=conv.expires_at,
                )
                for conv, event in live.values()
                if not conv.forget  # "delete my data": the row was erased, keep it so
            ],
        )
        await outbox.enqueue(conn, messages, now)
        self.crash.hit("mid_txn")
        await inbox.mark_done(conn, [row.id for row, _ in parsed], now)

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
                conv = Conversation.restore(s.state, s.locale, s.draft, s.flood, s.expires_at)
                replies = expire(conv)
                for reply in replies:
                    assert not isinstance(reply, Deliver)  # expiry only answers the citizen
                    for payload in self.renderer.render(reply, conv.locale or "vi", s.channel):
                        messages.append(
                            OutboxMessage(
                                channel=s.channel,
                                chat_key=s.user_key,
                                address=s.address,
                                payload=payload,
                            )
                        )
                updated.append(
                    s.model_copy(
                        update={
                            "state": conv.state.value,
                            "draft": None,
                            "expires_at": None,
                            "updated_at": now,
                        }
                    )
                )
            await conversations.save_many(conn, updated)
            await outbox.enqueue(conn, messages, now)
        if rows:
            self.on_outbox()
        return len(rows)

    async def purge_inbox(self, keep: timedelta) -> int:
        async with self.db.write() as conn:
            return await inbox.purge_done(conn, self.clock.now() - keep)


class _BatchFailed(Exception):
    def __init__(self, kind: str, event: Event | None, locale: str | None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.event = event
        self.locale = locale
