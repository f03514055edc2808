"""Small asyncio helpers shared by the long-running workers."""

from __future__ import annotations

import asyncio


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
