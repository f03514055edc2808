"""A loopback fake of Zalo's Bot API, following the shapes in
`../shared/design/zalo-bot-api.md`: getUpdates hands out ONE update (no list, no
offset) or answers 408 "Request timeout"; ids are 20-hex-digit strings, dates in
milliseconds; sendMessage refuses texts outside 1–2,000 characters; any other method
is recorded as unexpected and fails the test. Pictures citizens send are served from
`/img/<name>`. Failures (429 "Quota exceeded", …) can be queued per method."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.loopback import LoopbackServer

ZALO_TOKEN = "1459232241454765289:zalo-fake-secret-token"
EXPECTED = {"getMe", "getUpdates", "deleteWebhook", "setWebhook", "sendMessage", "sendPhoto"}


def zalo_id() -> str:
    return secrets.token_hex(10)  # 20 hex digits, as Zalo's ids


@dataclass
class ZaloCall:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))


@dataclass
class ZaloUser:
    id: str = field(default_factory=zalo_id)
    name: str = "Người dùng Zalo"

    def _update(self, event: str, **content: Any) -> dict[str, Any]:
        return {
            "event_name": event,
            "message": {
                "from": {"id": self.id, "display_name": self.name, "is_bot": False},
                "chat": {"id": self.id, "chat_type": "PRIVATE"},
                "message_id": zalo_id(),
                "date": int(time.time() * 1000),
                **content,
            },
        }

    def text(self, text: str) -> dict[str, Any]:
        return self._update("message.text.received", text=text)

    def image(self, url: str, caption: str | None = None) -> dict[str, Any]:
        extra = {"caption": caption} if caption else {}
        return self._update("message.image.received", photo_url=url, **extra)

    def sticker(self) -> dict[str, Any]:
        return self._update("message.sticker.received", sticker="abc", url="https://x/s.png")

    def unsupported(self) -> dict[str, Any]:
        return self._update("message.unsupported.received")


class FakeZaloAPI(LoopbackServer):
    def __init__(self, token: str = ZALO_TOKEN) -> None:
        super().__init__()
        self.token = token
        self.pending: deque[dict[str, Any]] = deque()
        self.calls: list[ZaloCall] = []
        self.unexpected: list[ZaloCall] = []
        self.refused: list[ZaloCall] = []
        self.failures: dict[str, deque[tuple[int, str]]] = defaultdict(deque)
        self.images: dict[str, bytes] = {}
        self.webhook: str | None = None
        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"]),
                Route("/img/{name}", self._image, methods=["GET"]),
            ]
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def image_url(self, name: str, data: bytes) -> str:
        self.images[name] = data
        return f"{self.base_url}/img/{name}"

    def push(self, update: dict[str, Any]) -> None:
        self.pending.append(update)
        self._new.set()

    def fail_next(self, method: str, code: int, description: str = "error") -> None:
        self.failures[method].append((code, description))

    def sent(self, chat_id: str) -> list[str]:
        return [
            c.text
            for c in self.calls
            if c.method == "sendMessage" and c.params.get("chat_id") == chat_id
        ]

    async def _image(self, request: Request) -> Response:
        data = self.images.get(request.path_params["name"])
        if data is None:
            return Response(status_code=404)
        return Response(data, media_type="image/jpeg")

    async def _endpoint(self, request: Request) -> Response:
        method = request.path_params["method"]
        if request.path_params["token"] != self.token:
            return JSONResponse({"ok": False, "error_code": 401, "description": "Unauthorized"})
        params: dict[str, Any] = {}
        if request.method == "POST":
            body = await request.body()
            if body:
                params = await request.json()
        params.update(request.query_params)
        call = ZaloCall(method, params)
        if method not in EXPECTED:
            self.unexpected.append(call)
            return JSONResponse(
                {"ok": False, "error_code": 400, "description": "invalid API name"}, status_code=400
            )
        if self.failures[method]:
            code, description = self.failures[method].popleft()
            self.refused.append(call)  # not delivered: not among `calls`
            # Zalo's errors may come with HTTP 200: the client must read the JSON.
            return JSONResponse({"ok": False, "error_code": code, "description": description})
        if method == "getUpdates":
            return await self._get_updates(params)
        self.calls.append(call)
        if method == "getMe":
            return JSONResponse({"ok": True, "result": {
                "id": "1459232241454765289", "account_name": "bot.TipLine",
                "account_type": "BASIC", "can_join_groups": False,
            }})  # fmt: skip
        if method == "setWebhook":
            self.webhook = str(params.get("url"))
            return JSONResponse({"ok": True, "result": {"url": self.webhook, "updated_at": 1}})
        if method == "deleteWebhook":
            self.webhook = None
            return JSONResponse({"ok": True, "result": {"url": "", "updated_at": 1}})
        if method == "sendMessage":
            text = params.get("text")
            if not isinstance(text, str) or not 1 <= len(text) <= 2000:
                self.unexpected.append(call)  # the bot must never send this
                return JSONResponse({"ok": False, "error_code": 400, "description": "text"})
        return JSONResponse(
            {"ok": True, "result": {"message_id": zalo_id(), "date": int(time.time() * 1000)}}
        )

    async def _get_updates(self, params: dict[str, Any]) -> Response:
        if self.webhook is not None:
            return JSONResponse({"ok": False, "error_code": 400, "description": "webhook set"})
        wait = min(float(params.get("timeout", 30)), 2.0)  # tests wait less than Zalo
        deadline = time.monotonic() + wait
        while not self.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                return JSONResponse(
                    {"ok": False, "error_code": 408, "description": "Request timeout"}
                )
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new.wait(), left)
        # One update, not a list; gone from our side once handed out (no offset).
        return JSONResponse({"ok": True, "result": self.pending.popleft()})
