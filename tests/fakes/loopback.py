"""A Starlette app served by uvicorn on a free loopback port, for the fake platform
APIs (Telegram's, Zalo's): started and stopped inside the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import uvicorn
from starlette.applications import Starlette


class LoopbackServer:
    app: Starlette

    def __init__(self) -> None:
        self.server: uvicorn.Server | None = None
        self.port = 0
        self._new = asyncio.Event()  # set when there is something new to hand out

    async def start(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # else ~40 ms per answer
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self._task = asyncio.create_task(self.server.serve(sockets=[sock]))
        while not self.server.started:
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            self._new.set()  # a long poll waiting in the fake returns now
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5)
