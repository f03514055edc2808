"""The web chat's limits, and the in-memory sliding-window counters that enforce them
(keys are never written anywhere)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass


@dataclass
class WebLimits:
    messages_per_minute: int = 30
    uploads_per_hour: int = 20
    sessions_per_hour_per_client: int = 20
    max_upload_mb: int = 20
    pow_bits: int = 16
    secure_cookie: bool = False
    # Who may embed the chat in a frame (CSP frame-ancestors): "*" or the portals'
    # origins, e.g. "https://congan.hanoi.gov.vn". Staff pages are never framed.
    embed_origins: str = "*"  # True behind HTTPS; needed (SameSite=None) for embedding


class Buckets:
    """Sliding-window counters in memory; keys are never written anywhere."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.hits: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        hits = self.hits.setdefault(key, deque())
        while hits and now - hits[0] > self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        if len(self.hits) > 100_000:
            self.hits = {k: v for k, v in self.hits.items() if v and now - v[-1] < self.window}
        return True


class Backoff:
    """Failed attempts per key (a user name at one client address): the first few are
    free, then each failure doubles the wait (capped). Keyed per address, so nobody
    can lock an officer out from elsewhere by failing their name on purpose."""

    def __init__(self, free: int = 3, cap: float = 900.0) -> None:
        self.free = free
        self.cap = cap
        self.failures: dict[str, tuple[int, float]] = {}

    def wait(self, key: str) -> float:
        """Seconds until this key may try again (0: now)."""
        _, until = self.failures.get(key, (0, 0.0))
        return max(0.0, until - time.monotonic())

    def failed(self, key: str) -> None:
        count = self.failures.get(key, (0, 0.0))[0] + 1
        delay = 0.0 if count <= self.free else min(self.cap, 2.0 ** (count - self.free))
        self.failures[key] = (count, time.monotonic() + delay)
        if len(self.failures) > 100_000:
            now = time.monotonic()
            self.failures = {k: v for k, v in self.failures.items() if v[1] > now}

    def succeeded(self, key: str) -> None:
        self.failures.pop(key, None)
