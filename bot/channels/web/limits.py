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
    secure_cookie: bool = False  # True behind HTTPS; needed (SameSite=None) for embedding


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
