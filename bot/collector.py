"""Python's cyclic garbage collector, set for a service that handles updates in batches.

With the default thresholds (700, 10, 10) a batch of 200 updates lives long enough for
its rows, events and replies to survive two young collections, so they are promoted to
the oldest generation and die there; every few thousand updates that triggers a full
collection, which walks every object of the process (SQLAlchemy, PTB, the gazetteer,
the catalogs): 24 full collections of 70-100 ms each in 24,000 updates, a fifth of the
event loop's time, and each one a pause every reply waits behind. With a young
generation of 10,000 objects a batch dies young (decision 0018, fourth part).
Reference counting still frees almost everything at once; only cycles wait longer.
"""

from __future__ import annotations

import gc

THRESHOLDS = (10_000, 20, 20)


class CollectorTuning:
    """Set the thresholds while a service runs; put back what was there when the last
    one stops (tests start and stop many services in one process, some side by side)."""

    _running = 0
    _before: tuple[int, int, int] | None = None

    def __init__(self, thresholds: tuple[int, int, int] = THRESHOLDS) -> None:
        self.thresholds = thresholds
        self._applied = False

    def apply(self) -> None:
        if self._applied:
            return
        self._applied = True
        cls = type(self)
        if cls._running == 0:
            cls._before = gc.get_threshold()
            gc.set_threshold(*self.thresholds)
        cls._running += 1

    def restore(self) -> None:
        if not self._applied:
            return
        self._applied = False
        cls = type(self)
        cls._running -= 1
        if cls._running == 0 and cls._before is not None:
            gc.set_threshold(*cls._before)
            cls._before = None
