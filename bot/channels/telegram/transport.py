"""PTB's HTTPXRequest, several times over: the Bot API client for many sends at once.

httpcore's connection pool re-scans every connection for every waiting request each
time a request starts or ends, so one pool of 64 connections spends most of a core
on its own bookkeeping at a few hundred sends a second (measured with
`bench/broadcast.py --paid`: 11 s of 15 in `_assign_requests_to_connections`). Small
pools, each request to the least busy one, keep that scan short."""

from __future__ import annotations

import asyncio
from typing import Any

from telegram.request import BaseRequest, HTTPXRequest, RequestData


class PooledRequest(BaseRequest):
    def __init__(self, connections: int, *, per_pool: int = 4, **httpx_options: Any) -> None:
        pools = max(1, -(-connections // per_pool))
        size = -(-connections // pools)
        self._pools = [
            HTTPXRequest(connection_pool_size=size, **httpx_options) for _ in range(pools)
        ]
        self._busy = [0] * pools

    @property
    def read_timeout(self) -> float | None:
        return self._pools[0].read_timeout

    async def initialize(self) -> None:
        await asyncio.gather(*(pool.initialize() for pool in self._pools))

    async def shutdown(self) -> None:
        await asyncio.gather(*(pool.shutdown() for pool in self._pools))

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> tuple[int, bytes]:
        index = self._busy.index(min(self._busy))
        self._busy[index] += 1
        try:
            return await self._pools[index].do_request(url, method, request_data, *args, **kwargs)
        finally:
            self._busy[index] -= 1
