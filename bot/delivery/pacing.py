"""Pacing outbound traffic to the platforms' limits: one sliding window per channel
(shared by replies and broadcasts) and a token bucket per chat."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass, field

from storage import ratebudget
from storage.db import Database

RATE_PERIOD = 1.02  # seconds per rate window: see SlidingWindow


class SlidingWindow:
    """At most `rate` sends in any window of `period` seconds, spaced evenly.

    The platform counts requests as they *arrive*; we count them as they leave. Spacing
    sends by period/rate (instead of bursting the whole allowance at once) and a period
    a little over one second keep arrival jitter from ever pushing a window over the
    limit, at the cost of the margin (2 % by default)."""

    def __init__(self, rate: float, period: float = 1.0, *, bulk_only: bool = False) -> None:
        self.rate = int(rate) if rate >= 1 else (1 if rate > 0 else 0)
        # A window only broadcasts use (the paid one) has no replies to let first: each
        # send just books the next slot and sleeps until it — one timer per send, where
        # a queue of waiters costs an event-loop turn per send (~650/s at most here).
        self.bulk_only = bulk_only
        self.period = period
        self.gap = period / self.rate if self.rate else 0.0
        self.sent: deque[float] = deque()
        self.next_slot = 0.0
        self.replies_waiting = 0
        self.no_reply_waiting = asyncio.Event()
        self.no_reply_waiting.set()

    async def acquire(self, *, bulk: bool = False) -> None:
        """Wait for a slot. Replies to people who are talking to the bot go first: a
        `bulk` send (a broadcast) waits while any reply waits for a slot."""
        if self.rate == 0:
            return
        if self.bulk_only:
            await asyncio.sleep(self._book())
            await self._within_window()
            return
        if bulk:
            await self._slot(bulk=True)
            return
        self.replies_waiting += 1
        self.no_reply_waiting.clear()
        try:
            await self._slot()
        finally:
            self.replies_waiting -= 1
            if not self.replies_waiting:
                self.no_reply_waiting.set()

    def _book(self) -> float:
        """The next free slot, taken now: seconds to wait for it. Slots a gap apart
        hold the limit in any window by themselves."""
        now = time.monotonic()
        at = max(self.next_slot, now)
        self.next_slot = at + self.gap
        return at - now

    async def _within_window(self) -> None:
        """The count still holds when booked sends fire late together (after a pause
        of the event loop, their timers are all due at once)."""
        while True:
            now = time.monotonic()
            while self.sent and now - self.sent[0] >= self.period:
                self.sent.popleft()
            if len(self.sent) < self.rate:
                self.sent.append(now)
                return
            await asyncio.sleep(self.sent[0] + self.period - now)

    async def _slot(self, *, bulk: bool = False) -> None:
        while True:
            if bulk and not self.no_reply_waiting.is_set():
                await self.no_reply_waiting.wait()  # a reply is waiting: it goes first
                continue
            now = time.monotonic()
            while self.sent and now - self.sent[0] >= self.period:
                self.sent.popleft()
            start = self.next_slot
            if len(self.sent) >= self.rate:
                start = max(start, self.sent[0] + self.period)
            if now >= start:
                self.sent.append(now)
                # Slots advance by exactly one gap, so a late wake-up does not push every
                # later send back (catching up at most one gap; the window still holds).
                self.next_slot = max(self.next_slot + self.gap, now)
                return
            await asyncio.sleep(start - now)


def paid_rate(paid: float, free: float) -> float:
    """The paid broadcast window's rate: the paid limit less the free rate that replies
    keep using beside it, and 15 % margin. At 1,000/s a pause of the event loop (ours,
    or a busy server's) stamps dozens of sends as arriving together, and the platform
    counts arrivals; each 429 pauses the whole campaign for its `retry_after`.
    Measured (`bench/broadcast.py --paid`, 20,000 recipients, aiohttp transport, on a
    noisy day): 3 % margin drew 54–184 × 429; 8 % drew 0, 0, 38 and 114; 15 % drew
    none in three runs at ≈ 800 msg/s — and took no longer than 8 % did with its pauses."""
    return max(1.0, (paid - free) * 0.85)


def window_for(
    db: Database, channel: str, rate: float, *, bulk_only: bool = False
) -> SlidingWindow | SharedWindow:
    """One process (SQLite): a window in memory. Replicas on PostgreSQL: one budget for
    all of them, in the database (decision 0016)."""
    if db.is_sqlite:
        return SlidingWindow(rate, RATE_PERIOD, bulk_only=bulk_only)
    return SharedWindow(db, channel, rate)


class SharedWindow:
    """The same limit as `SlidingWindow`, counted in the database, so that replicas
    together stay within one bot's rate (PostgreSQL; storage/ratebudget.py). Sends of
    one kind (replies, bulk) ask the database one at a time per replica: a batch's
    sends all polling it would make a transaction storm for every free unit."""

    def __init__(self, db: Database, channel: str, rate: float) -> None:
        self.db = db
        self.channel = channel
        self.rate = int(rate) if rate >= 1 else (1 if rate > 0 else 0)
        # 2 % under the rate, as the window in memory; the count's cover of 1.01 s
        # (this slot and the hundred before it) adds 1 %.
        self.per_second = max(1, int(self.rate * 0.98))
        self.per_slot = max(1, math.ceil(self.rate / ratebudget.SLOTS_PER_SECOND))
        # Bulk sends one per `spread` slots at most (30/s: one per 30 ms), evenly.
        self.spread = max(1, ratebudget.SLOTS_PER_SECOND // max(1, self.per_second))
        # At high rates (paid broadcasts, 1,000/s) one transaction per send would be
        # the bottleneck: bulk sends take a slot's units at once, valid only within
        # that slot (unused ones lapse: the budget errs low).
        self.chunk = max(1, self.per_slot // 2)
        self._held = 0
        self._held_slot = -1
        self._lines = {True: asyncio.Lock(), False: asyncio.Lock()}
        self._offset = 0.0  # database clock − our clock

    async def acquire(self, *, bulk: bool = False) -> None:
        if self.rate == 0:
            return
        async with self._lines[bulk]:
            if not bulk or self.chunk == 1:
                await self._take(1, bulk=bulk)
                return
            while True:
                if self._held and self._held_slot == self._slot_now():
                    self._held -= 1
                    return
                self._held = 0
                self._held_slot, self._held = await self._take(self.chunk, bulk=True)

    async def _take(self, want: int, *, bulk: bool) -> tuple[int, int]:
        while True:
            async with self.db.write() as conn:
                taken, now, retry_at = await ratebudget.take(
                    conn,
                    self.channel,
                    per_second=self.per_second,
                    per_slot=self.per_slot,
                    want=want,
                    bulk=bulk,
                    spread=self.spread,
                )
            if taken:
                self._offset = now - time.time()
                return int(now * ratebudget.SLOTS_PER_SECOND), taken
            await asyncio.sleep(max(0.002, retry_at - now))

    def _slot_now(self) -> int:
        """The current slot by the database's clock (as last measured against ours)."""
        return int((time.time() + self._offset) * ratebudget.SLOTS_PER_SECOND)


@dataclass
class ChatPacer:
    """Token bucket per chat: a short burst, then one message per `interval`."""

    interval: float
    burst: int = 3
    buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def wait_for(self, chat_key: str) -> float:
        """Return 0 and take a token, or the seconds until one is available."""
        if self.interval <= 0:
            return 0.0
        now = time.monotonic()
        tokens, at = self.buckets.get(chat_key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) / self.interval)
        if tokens >= 1.0:
            self.buckets[chat_key] = (tokens - 1.0, now)
            if len(self.buckets) > 50_000:
                self._forget_idle(now)
            return 0.0
        self.buckets[chat_key] = (tokens, now)
        return (1.0 - tokens) * self.interval

    def _forget_idle(self, now: float) -> None:
        idle = self.burst * self.interval
        self.buckets = {k: v for k, v in self.buckets.items() if now - v[1] < idle}
