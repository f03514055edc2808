"""A loopback fake of the Telegram Bot API.

It serves getUpdates from a queue, records every call, answers the methods the bot is
expected to use, and can be scripted to fail (429 with retry_after, 403, 5xx, a slow
answer that times the client out). Any other method is recorded as unexpected and
fails the test at teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.loopback import LoopbackServer

TOKEN = "123456789:AAH-fakeTOKENfakeTOKENfakeTOKEN12345"
BOT_ID = 123456789
JSON_PARAMS = {"reply_markup", "allowed_updates", "link_preview_options", "reply_parameters"}
EXPECTED = {
    "getMe",
    "getUpdates",
    "deleteWebhook",
    "setWebhook",
    "sendMessage",
    "answerCallbackQuery",
    "leaveChat",
    # Officer alerts: map pins, attachments re-sent by file_id, digest charts.
    "sendLocation",
    "sendPhoto",
    "sendVideo",
    "sendVoice",
    "sendAudio",
    "sendDocument",
    "sendVideoNote",
    "sendAnimation",
}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))

    def buttons(self) -> list[dict[str, Any]]:
        markup = self.params.get("reply_markup") or {}
        rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
        return [b for row in rows for b in row]


@dataclass
class Failure:
    status: int
    description: str = "error"
    retry_after: int | None = None
    delay: float = 0.0  # sleep before answering (to time the client out)
    deliver: bool = False  # record the message as delivered anyway
    chat_id: int | None = None  # only for calls to this chat (None: the next call)


class FakeBotAPI(LoopbackServer):
    def __init__(self, token: str = TOKEN) -> None:
        super().__init__()
        self.token = token
        self.pending: list[dict[str, Any]] = []
        self.calls: list[Call] = []
        self.unexpected: list[Call] = []
        self.failures: dict[str, deque[Failure]] = defaultdict(deque)
        self.confirm_on_fetch = False  # worst case: an update is gone once fetched
        self.next_update_id = 10_000
        self.next_message_id = 1
        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"]),
            ]
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    # ---- feeding updates --------------------------------------------------------------
    def push(self, update: dict[str, Any]) -> dict[str, Any]:
        if "update_id" not in update:
            update = {"update_id": self.next_update_id, **update}
            self.next_update_id += 1
        self.pending.append(update)
        self._new.set()
        return update

    def fail(self, method: str, *failures: Failure) -> None:
        self.failures[method].extend(failures)

    # ---- queries ----------------------------------------------------------------------
    def sent(self, chat_id: int | None = None, method: str = "sendMessage") -> list[Call]:
        return [
            c
            for c in self.calls
            if c.method == method and (chat_id is None or c.chat_id == chat_id)
        ]

    # ---- the API ------------------------------------------------------------------------
    async def _endpoint(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return JSONResponse(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status_code=404
            )
        method = request.path_params["method"]
        params = await self._params(request)
        if method == "getUpdates":
            return await self._get_updates(params)
        call = Call(method, params)
        queue = self.failures.get(method)
        failure = None
        if queue:
            failure = next((f for f in queue if f.chat_id in (None, call.chat_id)), None)
        if failure is not None and queue is not None:
            queue.remove(failure)
            if failure.deliver:
                self.calls.append(call)
            if failure.delay:
                await asyncio.sleep(failure.delay)
            body: dict[str, Any] = {
                "ok": False,
                "error_code": failure.status,
                "description": failure.description,
            }
            if failure.retry_after is not None:
                body["parameters"] = {"retry_after": failure.retry_after}
            return JSONResponse(body, status_code=failure.status)
        self.calls.append(call)
        if method not in EXPECTED:
            self.unexpected.append(call)
            return JSONResponse(
                {"ok": False, "error_code": 400, "description": "Bad Request: unexpected method"},
                status_code=400,
            )
        return JSONResponse({"ok": True, "result": self._result(method, params)})

    async def _params(self, request: Request) -> dict[str, Any]:
        if request.headers.get("content-type", "").startswith("application/json"):
            data = await request.json()
            return dict(data) if isinstance(data, dict) else {}
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form()  # uploads (digest charts): keep their size only
            fields: dict[str, Any] = {}
            for key, value in form.multi_items():
                if isinstance(value, str):
                    fields[key] = json.loads(value) if key in JSON_PARAMS else value
                else:
                    data = await value.read()
                    fields[key] = {"upload": value.filename, "size": len(data), "data": data}
            return fields
        body = (await request.body()).decode()
        params: dict[str, Any] = {}
        for key, value in parse_qsl(body, keep_blank_values=True):
            params[key] = json.loads(value) if key in JSON_PARAMS else value
        return params

    async def _get_updates(self, params: dict[str, Any]) -> Response:
        offset = params.get("offset")
        if offset is not None:
            self.pending = [u for u in self.pending if u["update_id"] >= int(offset)]
        if not self.pending:
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(float(params.get("timeout", 0)), 0.5)):
                    await self._new.wait()
        batch = list(self.pending[:100])
        if self.confirm_on_fetch:
            self.pending = self.pending[len(batch) :]
        return JSONResponse({"ok": True, "result": batch})

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Tipbot",
                "username": "tip_test_bot",
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        if method.startswith("send"):
            self.next_message_id += 1
            chat_id = int(params["chat_id"])
            message = {
                "message_id": self.next_message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Tipbot"},
                "text": params.get("text", ""),
            }
            # An uploaded file gets a file_id, as Telegram answers (a sent file_id: same).
            for field in ("photo", "document"):
                sent = params.get(field)
                if sent is None:
                    continue
                file_id = f"up-{self.next_message_id}" if isinstance(sent, dict) else str(sent)
                file = {"file_id": file_id, "file_unique_id": file_id, "file_size": 1}
                if field == "photo":
                    message["photo"] = [{**file, "width": 64, "height": 48}]
                else:
                    message["document"] = file
            return message
        return True
