"""How many tips one person may send in an hour, counted without a trace.

The count lives in memory only, under a key that cannot be turned back into the
person: an HMAC of their pseudonym with a random salt that is replaced every hour,
when the counts start again. Nothing is written down, so no table links a tip to its
sender through a rate limit (decision 0013). A restart forgets the counts; the
window is a clock hour, so a burst across the hour can reach twice the limit.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime


class TipQuota:
    def __init__(self) -> None:
        self._hour: int | None = None
        self._salt = b""
        self._counts: dict[bytes, int] = {}

    def allow(self, user_key: str, now: datetime, per_hour: int) -> bool:
        """Count one tip for this person; False once they are over the hour's limit."""
        hour = int(now.timestamp()) // 3600
        if hour != self._hour:
            self._hour, self._salt, self._counts = hour, secrets.token_bytes(32), {}
        key = hmac.new(self._salt, user_key.encode(), hashlib.sha256).digest()[:16]
        used = self._counts.get(key, 0)
        if used >= per_hour:
            return False
        self._counts[key] = used + 1
        return True
