"""Campaign delivery: the ledger's pending rows, sent under the channel's global rate
limit (shared with ordinary replies) and at most one message a second per chat.

Each batch is marked `sending` and committed before any send starts, then the
outcomes are written. A crash in between leaves `sending` rows, which the next start
turns into `ambiguous` (counted, not retried): a recipient never gets a campaign twice
and is never skipped silently. Replicas on PostgreSQL all send, claiming batches that
skip each other's; there a `sending` row older than CLAIM_LEASE is a dead replica's
and becomes `ambiguous`. Outcomes:
- ok → sent; 403 → blocked (and the chat marked unreachable);
- 429 → pending again after `retry_after`, and the channel's sending pauses that long;
- timeout → ambiguous (it may have arrived); other errors → retried with backoff,
  failed after MAX_ATTEMPTS; other 4xx → failed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta

from bot.aio import Worker
from bot.channels.base import Channel, Payload, SendResult
from bot.clock import Clock
from bot.crash import CrashPoints
from bot.delivery.pacing import ChatPacer, SharedWindow, SlidingWindow
from bot.dispatch.render import Renderer
from bot.identity import Identity
from handlers.admin.broadcasts import citizen_view
from handlers.domain import schedules
from storage import outbox
from storage.campaigns import Campaign, Campaigns, LedgerRow
from storage.db import Database

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
# A live replica writes a batch's outcomes within seconds (a send times out after 15 s).
CLAIM_LEASE = timedelta(minutes=2)
RECOVER_EVERY_S = 30.0
FINISH_EVERY_S = 10.0  # also look for campaigns another replica's sends completed


class Broadcaster:
    def __init__(
        self,
        *,
        db: Database,
        channels: dict[str, Channel],
        identity: Identity,
        renderer: Renderer,
        windows: dict[str, SlidingWindow | SharedWindow],
        clock: Clock,
        batch: int = 15,
        paid_windows: dict[str, SlidingWindow | SharedWindow] | None = None,
        crash: CrashPoints | None = None,
    ) -> None:
        self.db = db
        self.channels = channels
        self.identity = identity
        self.renderer = renderer
        self.windows = windows
        self.clock = clock
        self.batch = batch
        # Paid campaigns (allow_paid_broadcast; decision 0017) have their own window at
        # the paid rate, and bigger batches so that claims keep up with it.
        self.paid_windows = paid_windows or {}
        self.paid_batch = max([batch, *(w.rate // 4 for w in self.paid_windows.values())])
        self._paid_running = False
        self.delivered = 0  # messages this process sent (replicas share the campaigns)
        self._unfinished = False  # sent since campaigns were last checked for the end
        self._finished_at = 0.0
        self._payloads: dict[tuple[int, str, str, bool], Payload] = {}
        self.crash = crash or CrashPoints(None)
        self.per_chat = ChatPacer(interval=1.0, burst=1)
        self.paused_until: dict[str, float] = {}  # channel → monotonic time (after a 429)
        self._campaigns: dict[int, Campaign] = {}
        self._recovered_at: float | None = None
        self._previous: asyncio.Task[int] | None = None
        self.worker = Worker("broadcasts", self._step)

    def wake(self) -> None:
        self.worker.wake()

    async def run(self) -> None:
        """Send until cancelled."""
        try:
            await self.worker.run()
        finally:
            if self._previous is not None:
                self._previous.cancel()

    async def _step(self) -> float | None:
        """One step. Two batches overlap: the next is claimed and queued on the rate
        window while the previous one's last sends are in flight, so the window never
        idles between batches."""
        await self._recover()
        previous, self._previous = self._previous, None
        if previous is None and not await self._due():
            # Woken by every commit of the pipeline: nothing to send is the usual
            # answer, found by a read rather than two write transactions.
            if self._unfinished or time.monotonic() - self._finished_at > FINISH_EVERY_S:
                await self._finish()
            return None
        rows = await self._claim()
        if rows:
            self._previous = asyncio.create_task(self._deliver(rows))
        if previous is not None:
            await previous
            return 0.0
        if rows:
            return 0.0
        await self._finish()
        return None

    async def _recover(self) -> None:
        """What a dead process left in flight: at start when we are the only process;
        now and then, and only claims past their lease, among replicas."""
        shared = not self.db.is_sqlite
        due = self._recovered_at is None or (
            shared and time.monotonic() - self._recovered_at > RECOVER_EVERY_S
        )
        if not due:
            return
        now = self.clock.now()
        async with self.db.write() as conn:
            interrupted = await Campaigns(conn).recover(
                now, before=now - CLAIM_LEASE if shared else None
            )
        self._recovered_at = time.monotonic()
        if interrupted:
            log.warning("%d campaign sends interrupted: ambiguous", interrupted)

    async def send_batch(self) -> int:
        """Claim, send and record one batch (one step of `run`, for tests)."""
        rows = await self._claim()
        if not rows:
            await self._finish()
            return 0
        return await self._deliver(rows)

    async def _claim(self) -> list[LedgerRow]:
        """Mark a batch `sending` and commit, before any of it is sent."""
        async with self.db.write() as conn:
            store = Campaigns(conn)
            limit = self.paid_batch if self._paid_running else self.batch
            rows = await store.claim(self.clock.now(), limit)
            for campaign_id in {r.campaign_id for r in rows} - set(self._campaigns):
                campaign = await store.get(campaign_id)
                if campaign is not None:
                    self._campaigns[campaign_id] = campaign
        self._paid_running = any(
            (c := self._campaigns.get(r.campaign_id)) is not None and c.paid for r in rows
        )
        if rows:
            self._unfinished = True
            self.crash.hit("broadcast_claimed")
        return rows

    async def _due(self) -> bool:
        async with self.db.read() as conn:
            return await Campaigns(conn).has_due(self.clock.now())

    async def _finish(self) -> None:
        async with self.db.write() as conn:
            await Campaigns(conn).finish_done(self.clock.now())
        self._unfinished = False
        self._finished_at = time.monotonic()

    async def _deliver(self, rows: list[LedgerRow]) -> int:
        results = await asyncio.gather(*(self._send(row) for row in rows))
        self.crash.hit("broadcast_sent")
        now = self.clock.now()
        outcomes = [
            self._outcome(row, result, wait, now)
            for row, (result, wait) in zip(rows, results, strict=True)
        ]
        self.delivered += sum(1 for _, status, _, _ in outcomes if status == "sent")
        async with self.db.write() as conn:
            await Campaigns(conn).record(outcomes, now)
            for row, (result, _) in zip(rows, results, strict=True):
                if result.outcome == "blocked":
                    await outbox.mark_unreachable(conn, row.channel, row.chat_key, now)
        return len(rows)

    def _outcome(
        self, row: LedgerRow, result: SendResult, wait: float, now: datetime
    ) -> tuple[int, str, str | None, datetime | None]:
        if wait:  # not sent: this chat had a message less than a second ago
            return row.id, "pending", None, now + timedelta(seconds=wait)
        if result.outcome == "ok":
            return row.id, "sent", None, None
        if result.outcome == "blocked":
            return row.id, "blocked", result.error, None
        if result.outcome == "failed":
            return row.id, "failed", result.error, None
        if result.error == "timeout":
            return row.id, "ambiguous", "timeout", None
        if result.retry_after is not None:
            return row.id, "pending", "429", now + timedelta(seconds=result.retry_after)
        if row.attempts >= MAX_ATTEMPTS:
            return row.id, "failed", result.error, None
        return row.id, "pending", result.error, now + timedelta(seconds=2.0**row.attempts)

    async def _send(self, row: LedgerRow) -> tuple[SendResult, float]:
        channel = self.channels.get(row.channel)
        address = self.identity.unseal(row.address)
        campaign = self._campaigns.get(row.campaign_id)
        if channel is None or address is None or campaign is None:
            return SendResult("failed", error="undeliverable"), 0.0
        wait = self.per_chat.wait_for(f"{row.channel}:{row.chat_key}")
        if wait > 0:
            return SendResult("retry", error="paced"), wait
        pause = self.paused_until.get(row.channel, 0.0) - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        paid = campaign.paid and row.channel in self.paid_windows
        window = self.paid_windows[row.channel] if paid else self.windows.get(row.channel)
        if window is not None:
            await window.acquire(bulk=True)  # replies to people talking to us go first
        try:
            result = await channel.send(
                address, self.payload(campaign, row.locale, row.channel, paid=paid)
            )
        except Exception as exc:  # an adapter bug must not stop the campaign
            log.error("campaign send raised type=%s", type(exc).__name__)
            return SendResult("retry", error=type(exc).__name__[:64]), 0.0
        if result.retry_after is not None:
            self.paused_until[row.channel] = time.monotonic() + result.retry_after
        return result, 0.0

    def payload(
        self, campaign: Campaign, locale: str, channel: str, *, paid: bool = False
    ) -> Payload:
        """One message per recipient (the composer's limits keep the text within one
        message, and a photo's within its caption), as the admin's preview showed;
        rendered once per campaign, language and channel."""
        key = (campaign.id, locale, channel, paid)
        payload = self._payloads.get(key)
        if payload is None:
            payload = self.renderer.render(citizen_view(campaign), locale, channel)[0]
            if paid:
                payload = {**payload, "paid": True}
            if len(self._payloads) > 256:
                self._payloads.clear()
            self._payloads[key] = payload
        return payload


async def start_due_campaigns(db: Database, clock: Clock) -> int:
    """Start scheduled campaigns whose time has come: a one-off once, a recurring one at
    most once per check however many of its times passed while the service was down
    (coalesced). Run by a fixed-id job and at start; `started_at` is the record."""
    now = clock.now()
    started = 0
    async with db.write() as conn:
        store = Campaigns(conn)
        for campaign in await store.scheduled():
            if campaign.cron:
                due_at = schedules.next_run(
                    campaign.cron, campaign.started_at or campaign.created_at
                )
                due = due_at is not None and due_at <= now
            else:
                due = campaign.run_at is not None and campaign.run_at <= now and not campaign.runs
            if due:
                await store.start_run(campaign.id, now)
                started += 1
    return started
