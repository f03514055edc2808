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

    def __init__(self, rate: float, period: float = 1.0) -> None:
        self.rate = int(rate) if rate >= 1 else (1 if rate > 0 else 0)
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


class SharedWindow:
    """The same limit as `SlidingWindow`, counted in the database, so that replicas
    together stay within one bot's rate (PostgreSQL; decision 0016). Each send takes a
    unit of the current quarter-second slot if that slot (at most a quarter of the
    rate) and the last second (at most the rate, less 2 %) allow it; otherwise it
    waits for the next slot."""

    def __init__(self, db: Database, channel: str, rate: float) -> None:
        self.db = db
        self.channel = channel
        self.rate = int(rate) if rate >= 1 else (1 if rate > 0 else 0)
        self.per_second = max(1, int(self.rate * 0.98))
        self.per_slot = max(1, math.ceil(self.rate / ratebudget.SLOTS_PER_SECOND))
        # Across replicas a broadcast cannot see another replica's waiting replies:
        # it leaves a tenth of every second to them instead.
        self.bulk_per_second = max(1, self.per_second - max(1, self.rate // 10))

    async def acquire(self, *, bulk: bool = False) -> None:
        if self.rate == 0:
            return
        cap = self.bulk_per_second if bulk else self.per_second
        while True:
            async with self.db.write() as conn:
                taken, now = await ratebudget.take(
                    conn, self.channel, per_second=cap, per_slot=self.per_slot
                )
            if taken:
                return
            slot = int(now * ratebudget.SLOTS_PER_SECOND)
            await asyncio.sleep(max(0.005, (slot + 1) / ratebudget.SLOTS_PER_SECOND - now))


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
