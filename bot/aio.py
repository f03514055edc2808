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
