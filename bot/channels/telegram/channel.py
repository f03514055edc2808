"""The Telegram channel: polling or webhook into the durable inbox; outbox → Bot API.

We do not use PTB's Updater or Application: the Updater confirms updates (advances the
offset) before any handler runs, so a crash in between loses a tip. Here getUpdates
results are written to the inbox *before* the next getUpdates call confirms them, and
the webhook answers 200 only after the insert. PTB supplies the Bot API client, the
types (`Update.de_json`) and the error classes. Receiving (`inbound.py`), reading
updates (`parse.py`) and sending (`send.py`) live in their own modules.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

import httpx
from telegram import Bot
from telegram.request import BaseRequest

from bot.channels.base import FileRefs, Ignored, Payload, SendResult
from bot.channels.telegram.inbound import ALLOWED_UPDATES, Inbound
from bot.channels.telegram.parse import NAME, UpdateParser
from bot.channels.telegram.send import Sender
from bot.channels.telegram.transport import AiohttpRequest
from bot.identity import Identity
from handlers.core.events import Event

if TYPE_CHECKING:
    from bot.dispatch.dispatcher import Pipeline

__all__ = ["ALLOWED_UPDATES", "NAME", "TelegramChannel"]

# Requests are written as headers then body; without TCP_NODELAY, Nagle's algorithm
# holds the body until the peer's delayed ACK (~40 ms on every call).
_NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


class TelegramChannel:
    name = NAME

    def __init__(
        self,
        *,
        token: str,
        identity: Identity,
        base_url: str | None = None,
        file_url: str | None = None,
        max_download_mb: int = 20,
        poll_timeout: int = 30,
        allowed_groups: frozenset[int] = frozenset(),
        request: BaseRequest | None = None,
        poll_transport: httpx.AsyncBaseTransport | None = None,
        connections: int = 16,
        file_refs: FileRefs | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {}
        if base_url:
            kwargs["base_url"] = base_url
        if file_url:
            kwargs["base_file_url"] = file_url
        self.bot = Bot(
            token,
            request=request or AiohttpRequest(connections, read_timeout=15),
            **kwargs,
        )
        self._poll_client = httpx.AsyncClient(
            transport=poll_transport or httpx.AsyncHTTPTransport(socket_options=_NODELAY)
        )
        self.inbound = Inbound(self.bot, self._poll_client, poll_timeout)
        self.parser = UpdateParser(
            self.bot,
            identity,
            max_download_bytes=max_download_mb * 1024 * 1024,
            allowed_groups=allowed_groups,
        )
        self.sender = Sender(self.bot, file_refs)

    async def start(self) -> None:
        await self.bot.initialize()
        self.parser.username = self.bot.username

    async def stop(self) -> None:
        await self._poll_client.aclose()
        await self.bot.shutdown()

    async def poll(self, pipeline: Pipeline) -> None:
        await self.inbound.poll(pipeline)

    async def set_webhook(self, url: str, secret: str) -> None:
        await self.inbound.set_webhook(url, secret)

    def webhook_endpoint(self, pipeline: Pipeline, secret: str, max_body: int) -> Any:
        return self.inbound.webhook_endpoint(pipeline, secret, max_body)

    def parse(self, payload: dict[str, Any]) -> Event | Ignored:
        return self.parser.parse(payload)

    def order_key(self, payload: dict[str, Any]) -> str | None:
        """The person: who pressed, wrote, or (for a private chat's membership) whose
        chat it is — as `parse` keys conversations."""
        for field in ("callback_query", "message", "edited_message"):
            part = payload.get(field)
            if isinstance(part, dict) and isinstance(part.get("from"), dict):
                user = part["from"].get("id")
                if isinstance(user, int):
                    return self.parser.identity.pseudonym(NAME, user)
        change = payload.get("my_chat_member")
        if isinstance(change, dict) and isinstance(change.get("chat"), dict):
            chat = change["chat"].get("id")
            if isinstance(chat, int):
                return self.parser.identity.pseudonym(NAME, chat)
        return None

    async def send(self, address: str, payload: Payload) -> SendResult:
        return await self.sender.send(address, payload)
