"""A small async client for Zalo's Bot API (the seven methods we use), on httpx.

Not `python-zalo-bot`: it is a trimmed copy of python-telegram-bot with an old host and
webhook helpers that call `asyncio.run()` inside a running loop (decision 0015).

Every answer is read as JSON whatever the HTTP status: Zalo may say `ok: false` with
HTTP 200, or answer with the error code as the status. The token is in the URL path
only, and never in a log line or an exception message."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

SEND_TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class ZaloAnswer:
    ok: bool
    result: Any = None
    error_code: int | None = None
    description: str = ""
    http_status: int = 200


class ZaloUnreachable(Exception):
    """No answer we could read (network error, timeout, not JSON)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ZaloClient:
    def __init__(
        self, token: str, base_url: str, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/bot{token}"
        self.http = httpx.AsyncClient(transport=transport or httpx.AsyncHTTPTransport())

    async def close(self) -> None:
        await self.http.aclose()

    async def call(self, method: str, params: dict[str, Any], seconds: float) -> ZaloAnswer:
        try:
            response = await self.http.post(f"{self._url}/{method}", json=params, timeout=seconds)
        except httpx.HTTPError as exc:
            raise ZaloUnreachable(type(exc).__name__) from None
        try:
            body = response.json()
        except ValueError:
            raise ZaloUnreachable(f"http-{response.status_code}") from None
        if not isinstance(body, dict):
            raise ZaloUnreachable("not-an-object")
        ok = body.get("ok") is True and response.status_code < 400
        code = body.get("error_code")
        return ZaloAnswer(
            ok=ok,
            result=body.get("result"),
            error_code=int(code)
            if isinstance(code, int)
            else (None if ok else response.status_code),
            description=str(body.get("description", ""))[:200],
            http_status=response.status_code,
        )

    async def get_me(self) -> ZaloAnswer:
        return await self.call("getMe", {}, SEND_TIMEOUT_S)

    async def get_updates(self, wait_s: int) -> ZaloAnswer:
        # `timeout` is documented as a string of seconds.
        return await self.call("getUpdates", {"timeout": str(wait_s)}, wait_s + 10)

    async def set_webhook(self, url: str, secret: str) -> ZaloAnswer:
        return await self.call("setWebhook", {"url": url, "secret_token": secret}, SEND_TIMEOUT_S)

    async def delete_webhook(self) -> ZaloAnswer:
        return await self.call("deleteWebhook", {}, SEND_TIMEOUT_S)

    async def send_message(self, chat_id: str, text: str) -> ZaloAnswer:
        return await self.call("sendMessage", {"chat_id": chat_id, "text": text}, SEND_TIMEOUT_S)

    async def send_photo(self, chat_id: str, photo: str, caption: str | None) -> ZaloAnswer:
        params = {"chat_id": chat_id, "photo": photo}
        if caption:
            params["caption"] = caption
        return await self.call("sendPhoto", params, SEND_TIMEOUT_S)

    async def download(self, url: str, cap: int, seconds: float) -> bytes | None:
        """A picture a citizen sent (its URL came in the update): at most `cap` bytes,
        within `seconds`; None when it cannot be had (too large, error, slow)."""
        if not url.startswith(("https://", "http://")):
            return None
        try:
            async with (
                asyncio.timeout(seconds),
                self.http.stream("GET", url, timeout=seconds) as response,
            ):
                if response.status_code != 200:
                    return None
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > cap:
                        return None
                return bytes(data)
        except (httpx.HTTPError, TimeoutError):
            return None
