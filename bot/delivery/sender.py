"""Outbox senders: pace per channel and per chat, retry what may succeed later.

- 429: wait exactly `retry_after` for that chat (other chats go on).
- 5xx, network errors, timeouts: exponential backoff with jitter. A timed-out reply may
  already have arrived; a duplicate reply is better than a lost one.
- 403: the chat blocked us; mark it unreachable, drop its queue, never retry.
- Other 4xx: permanent; give up and keep only the error class.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.aio import Worker
from bot.channels.base import Channel, SendResult
from bot.clock import Clock
from bot.crash import CrashPoints
from bot.delivery.pacing import ChatPacer, SharedWindow, SlidingWindow, window_for
from bot.identity import Identity
from storage import outbox
from storage.db import Database
from storage.models import OutboxRow

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)


@dataclass
class DeliveryStats:
    sent: int = 0
    retried: int = 0
    blocked: int = 0
    failed: int = 0
    rate_limited: int = 0


class OutboxSender:
    """The outbox worker: claims due messages and sends each chat's in order."""

    def __init__(
        self,
        *,
        db: Database,
        channels: dict[str, Channel],
        identity: Identity,
        clock: Clock,
        rates: dict[str, float],
        chat_interval: dict[str, float],
        group_interval: dict[str, float] | None = None,
        max_attempts: int = 12,
        concurrency: int = 8,
        batch: int = 256,
        crash: CrashPoints | None = None,
        lease: timedelta = LEASE,
    ) -> None:
        self.db = db
        self.channels = channels
        self.identity = identity
        self.clock = clock
        self.windows: dict[str, SlidingWindow | SharedWindow] = {
            name: window_for(db, name, rates.get(name, 0)) for name in channels
        }
        self.pacers = {name: ChatPacer(chat_interval.get(name, 0)) for name in channels}
        self.group_pacers = {
            name: ChatPacer((group_interval or {}).get(name, 0), burst=1) for name in channels
        }
        self.max_attempts = max_attempts
        self.batch = batch
        self.lease = lease
        self.crash = crash or CrashPoints(None)
        self.stats = DeliveryStats()
        self._sem = asyncio.Semaphore(concurrency)
        self._handed: list[OutboxRow] = []
        self.worker = Worker("delivery", self._drain)

    def wake(self) -> None:
        self.worker.wake()

    def hand(self, rows: list[OutboxRow]) -> None:
        """Replies committed already leased to us (SQLite: the pipeline wrote them so,
        its chats having nothing earlier waiting): sent on the next pass without a
        claim. A stop before then leaves them leased; SQLite's start releases leases."""
        self._handed += rows
        self.worker.wake()

    def _take_handed(self, rows: list[OutboxRow]) -> list[OutboxRow]:
        if not self._handed:
            return rows
        handed, self._handed = self._handed, []
        return rows + handed  # no chat is in both: a handed row's chat had none waiting

    async def run(self) -> None:
        """Deliver until cancelled; on start this resumes whatever was left unsent."""
        await self.worker.run()

    async def _drain(self) -> float:
        """Send all that is due; rest until the next retry falls due (at most 1 s)."""
        rows = self._take_handed([])
        if not rows:
            async with self.db.write() as conn:
                rows = await outbox.claim(conn, self.clock.now(), self.batch, self.lease)
        while rows:
            rows = self._take_handed(await self.deliver(rows))
        async with self.db.read() as conn:
            due = await outbox.next_due(conn)
        if due is None:
            return 1.0
        return min(1.0, max(0.0, (due - self.clock.now()).total_seconds()))

    async def deliver(self, rows: list[OutboxRow]) -> list[OutboxRow]:
        """Send claimed messages, each chat's in order; record the outcomes and, in the
        same transaction, claim the next batch (one write per batch, not two: SQLite
        has one writer, and at a steady load the writes queue for it)."""
        by_chat: dict[tuple[str, str], list[OutboxRow]] = {}
        for row in rows:
            by_chat.setdefault((row.channel, row.chat_key), []).append(row)
        gone: list[int] = []  # what has gone out, as it goes (for a hand-back at stop)
        try:
            outcomes = await asyncio.gather(
                *(self._send_chat(chat, gone) for chat in by_chat.values())
            )
            self.crash.hit("after_send")
            now = self.clock.now()
            done: list[int] = []
            async with self.db.write() as conn:
                for sent, stopped, unsent in outcomes:
                    done += sent
                    if stopped is not None:
                        row, result, paced = stopped
                        if paced:
                            await outbox.reschedule(
                                conn,
                                row.id,
                                now + timedelta(seconds=paced),
                                None,
                                count_attempt=False,
                            )
                        else:
                            await self._record_failure(conn, row, result, now)
                        await outbox.release(conn, unsent, now)
                await outbox.delivered(conn, done)
                following = await outbox.claim(conn, now, self.batch, self.lease)
        except asyncio.CancelledError:
            await self._hand_back(rows, gone)
            raise
        self.stats.sent += len(done)
        return following

    async def _hand_back(self, rows: list[OutboxRow], gone: list[int]) -> None:
        """Stopping with a batch in hand: record what went out and give the rest back.

        Otherwise the batch stays leased to a process that is gone, and on PostgreSQL
        (where a starting replica cannot tell a dead run's lease from a live one's)
        those chats hear nothing until the lease runs out; what went out would be sent
        again after it. A kill -9 still leaves that to the lease, by design.
        """
        went = set(gone)
        try:
            async with self.db.write() as conn:
                await outbox.hand_back(
                    conn, gone, [row.id for row in rows if row.id not in went], self.clock.now()
                )
        except Exception as exc:  # the lease still runs out; stopping must not hang on it
            log.warning("could not hand back a batch at stop: %s", type(exc).__name__)

    async def _send_chat(
        self, rows: list[OutboxRow], gone: list[int]
    ) -> tuple[list[int], tuple[OutboxRow, SendResult, float] | None, list[int]]:
        """Send one chat's messages in order; stop at the first that does not go out."""
        sent: list[int] = []
        for index, row in enumerate(rows):
            result, paced = await self._send(row)
            if result.outcome != "ok":
                return sent, (row, result, paced), [r.id for r in rows[index + 1 :]]
            sent.append(row.id)
            gone.append(row.id)
        return sent, None, []

    async def _send(self, row: OutboxRow) -> tuple[SendResult, float]:
        channel = self.channels.get(row.channel)
        address = self.identity.unseal(row.address)
        if channel is None or address is None or row.payload is None:
            return SendResult("failed", error="undeliverable"), 0.0
        counts_as_message = row.payload.get("t") in ("msg", "pin", "file", "chart")
        if counts_as_message:
            # Groups have a stricter platform limit (20 a minute) than private chats.
            pacer = (
                self.group_pacers[row.channel]
                if row.payload.get("group")
                else self.pacers[row.channel]
            )
            wait = pacer.wait_for(row.chat_key)
            if wait > 0:
                return SendResult("retry", error="paced"), wait
            await self.windows[row.channel].acquire()
        async with self._sem:
            try:
                return await channel.send(address, row.payload), 0.0
            except Exception as exc:  # an adapter bug must not stop delivery for others
                log.error("send raised type=%s", type(exc).__name__)
                return SendResult("retry", error=type(exc).__name__[:64]), 0.0

    async def _record_failure(
        self, conn: Any, row: OutboxRow, result: SendResult, now: datetime
    ) -> None:
        if result.outcome == "blocked":
            self.stats.blocked += 1
            await outbox.mark_unreachable(conn, row.channel, row.chat_key, now)
            return
        if result.outcome == "failed" or row.attempts + 1 >= self.max_attempts:
            self.stats.failed += 1
            log.warning("giving up on outbox row=%s error=%s", row.id, result.error)
            await outbox.give_up(conn, row.id, "failed", result.error or "failed")
            return
        if result.retry_after is not None:
            self.stats.rate_limited += 1
            delay = result.retry_after
        else:
            delay = min(300.0, 2.0**row.attempts) * (0.5 + random.random())
        self.stats.retried += 1
        await outbox.reschedule(
            conn, row.id, now + timedelta(seconds=delay), result.error[:64] or None
        )
