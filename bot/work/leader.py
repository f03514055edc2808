"""One leader among replicas (decision 0016). The leader runs what must happen once:
the scheduler (escalation, digests, schedules, expiry, retention), platform polling
and alerts. Every replica takes webhooks, the web chat and the desk, and dispatches,
delivers and sends campaigns (the inbox, outbox and ledger claims skip what another
replica holds).

On SQLite there is one process, which leads. On PostgreSQL each replica tries the
advisory lock every second; the leader checks every few seconds that it still holds
it and, if its connection is gone, stops the whole process (a supervisor restarts it
as a follower) rather than risk two leaders."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from storage.db import Database
from storage.leader import still_leading, try_lead

log = logging.getLogger(__name__)

TRY_EVERY_S = 1.0
CHECK_EVERY_S = 3.0


class LostLeadership(RuntimeError):
    pass


class Leadership:
    def __init__(self, db: Database, replica: str) -> None:
        self.db = db
        self.replica = replica
        self.leading = asyncio.Event()

    async def hold(self, lead: Callable[[], Awaitable[None]]) -> None:
        """Wait to lead, start the leader's work, then keep the lock until cancelled."""
        async with self.db.engine.connect() as conn:
            # Polled, not waited on: a blocking pg_advisory_lock would hide a dead
            # connection, and the leader's death frees the lock within a second here.
            while True:
                if await try_lead(conn):
                    break
                await asyncio.sleep(TRY_EVERY_S)
            log.info("replica %s is the leader", self.replica)
            self.leading.set()
            await lead()
            while True:
                await asyncio.sleep(CHECK_EVERY_S)
                try:
                    held = await still_leading(conn)
                except Exception as exc:
                    raise LostLeadership(type(exc).__name__) from None
                if not held:
                    raise LostLeadership("lock gone")
