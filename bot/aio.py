"""Small asyncio helpers shared by the long-running workers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


def cancelling() -> bool:
    """True while the current task is being cancelled.

    A worker that catches Exception to survive a database outage must re-raise when the
    error came from cleanup during cancellation, or shutdown waits for it for ever.
    """
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def woken(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set or `seconds` pass; True if it was set.

    Not `asyncio.wait_for(event.wait(), timeout)`: on Python 3.11 that swallows a
    cancellation arriving in the same loop turn as the event (CPython gh-86296), and a
    worker looping on it then never stops. `asyncio.timeout` cancels nothing but us.
    """
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


class Worker:
    """One background loop, written once for every worker (dispatcher, delivery,
    alerts, broadcasts).

    `step` does a pass of work and returns how long to rest before the next pass
    (None: `idle`; 0: go on at once). Between passes the loop sleeps until `wake()` is
    called or the rest is over. A pass that fails (a database outage, say) is logged
    and retried after `retry` seconds: nothing is lost, the work is still in the
    database. Cancellation always ends the loop, even from inside a failing pass.
    """

    def __init__(
        self,
        name: str,
        step: Callable[[], Awaitable[float | None]],
        *,
        idle: float = 1.0,
        retry: float = 1.0,
    ) -> None:
        self.name = name
        self.step = step
        self.idle = idle
        self.retry = retry
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            # Clear before looking, so a wake-up that arrives while we work is not lost.
            self._wake.clear()
            try:
                rest = await self.step()
            except Exception:
                if cancelling():
                    raise
                log.exception("%s pass failed; retrying", self.name)
                rest = self.retry
            if rest is None:
                rest = self.idle
            if rest > 0:
                await woken(self._wake, rest)
