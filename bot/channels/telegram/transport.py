"""The Bot API client's transport: PTB's `BaseRequest` over one aiohttp session.

PTB ships `HTTPXRequest`. Sending is where this service spends its CPU when it is busy
(a paid broadcast at 1,000 msg/s; replies at a few hundred a second), and httpx's cost
per request was the largest single part of it: measured here, aiohttp takes 0.43× the
CPU per message sent one at a time and 0.16× at 64 in flight (httpcore re-scans its
whole pool for every waiting request; our earlier workaround was several small httpx
pools). PTB keeps everything else — building requests, parsing answers, mapping
Telegram's errors (RetryAfter, Forbidden, …) — so only the bytes on the wire move here.
Decision 0019 has the measurements and what was traded.
"""

from __future__ import annotations

from typing import Any

import aiohttp

# PTB's marker for "not given by the caller" (private, but its own requests test for it).
from telegram._utils.defaultvalue import DefaultValue
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_USER_AGENT = BaseRequest.USER_AGENT


class AiohttpRequest(BaseRequest):
    """Up to `connections` kept-alive connections; timeouts as PTB's defaults (5 s to
    connect and to write, `read_timeout` to read; an upload gets 20 s to write)."""

    def __init__(
        self,
        connections: int = 16,
        *,
        read_timeout: float | None = 15.0,
        connect_timeout: float = 5.0,
        write_timeout: float = 5.0,
        media_write_timeout: float = 20.0,
    ) -> None:
        self._connections = connections
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._write_timeout = write_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[Any, Any, bool], aiohttp.ClientTimeout] = {}

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                # TCP_NODELAY is aiohttp's default: no 40 ms Nagle wait on a small body.
                connector=aiohttp.TCPConnector(limit=self._connections, limit_per_host=0),
                headers={"User-Agent": _USER_AGENT},
                # The Bot API sets no cookies we would want to send back.
                cookie_jar=aiohttp.DummyCookieJar(),
            )

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _timeout(self, read: Any, connect: Any, files: bool) -> aiohttp.ClientTimeout:
        key = (read, connect, files)
        timeout = self._timeouts.get(key)
        if timeout is None:
            read_s = self._read_timeout if isinstance(read, DefaultValue) else read
            connect_s = self._connect_timeout if isinstance(connect, DefaultValue) else connect
            # aiohttp has no write timeout: a call as a whole gets the three added up, so
            # a peer that stops reading our body cannot hold a sender for ever.
            write_s = self._media_write_timeout if files else self._write_timeout
            timeout = aiohttp.ClientTimeout(
                total=None if read_s is None else connect_s + write_s + read_s,
                sock_connect=connect_s,
                sock_read=read_s,
            )
            self._timeouts[key] = timeout
        return timeout

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        data: Any = None
        if request_data is not None:
            if files:
                form = aiohttp.FormData()
                for name, value in request_data.json_parameters.items():
                    form.add_field(name, value)
                for name, (filename, content, mimetype) in files.items():
                    form.add_field(name, content, filename=filename, content_type=mimetype)
                data = form
            else:
                data = request_data.json_parameters  # form-encoded, as PTB's HTTPXRequest
        try:
            async with self._session.request(
                method,
                url,
                data=data,
                timeout=self._timeout(read_timeout, connect_timeout, bool(files)),
            ) as answer:
                return answer.status, await answer.read()
        except TimeoutError as exc:  # aiohttp's timeouts are TimeoutError subclasses
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc
