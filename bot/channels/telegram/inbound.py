"""Telegram → the durable inbox: long polling (each batch stored before the next
getUpdates call confirms it) or the webhook (200 only after the insert)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from telegram import Bot

from bot.aio import cancelling
from bot.channels.telegram.parse import NAME
from bot.channels.webhook import checked_body

if TYPE_CHECKING:
    from bot.dispatch.dispatcher import Pipeline

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]


class _Retry(Exception):
    def __init__(self, reason: str, after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after = after


class _Fatal(Exception):
    pass


class Inbound:
    def __init__(self, bot: Bot, poll_client: httpx.AsyncClient, poll_timeout: int) -> None:
        self.bot = bot
        self._poll_client = poll_client
        self.poll_timeout = poll_timeout

    async def poll(self, pipeline: Pipeline) -> None:
        """Long-poll getUpdates; store each batch before the next call confirms it."""
        await self.bot.delete_webhook(drop_pending_updates=False)
        offset: int | None = None
        backoff = 1.0
        while True:
            params: dict[str, Any] = {
                "timeout": self.poll_timeout,
                "allowed_updates": ALLOWED_UPDATES,
            }
            if offset is not None:
                params["offset"] = offset
            try:
                updates = await self._get_updates(params)
            except _Fatal:
                raise
            except _Retry as exc:
                delay = exc.after if exc.after is not None else backoff
                log.warning("getUpdates failed (%s); retrying in %.0fs", exc.reason, delay)
                await asyncio.sleep(delay)
                backoff = min(backoff * 2, 30.0) if exc.after is None else backoff
                continue
            backoff = 1.0
            if not updates:
                continue
            try:
                await pipeline.ingest(NAME, [(str(u["update_id"]), u) for u in updates])
            except Exception as exc:
                if cancelling():
                    raise
                # Not stored, so not confirmed: the offset stays and Telegram hands the
                # same updates out again on the next call.
                log.warning("could not store updates (%s); fetching them again", type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            offset = max(int(u["update_id"]) for u in updates) + 1

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Call getUpdates and return the raw update dicts.

        This one call bypasses PTB: Bot.get_updates parses the updates into objects
        before we could store them, and we want the exact JSON in the inbox.
        """
        try:
            response = await self._poll_client.post(
                f"{self.bot.base_url}/getUpdates", json=params, timeout=self.poll_timeout + 10
            )
        except httpx.HTTPError as exc:
            raise _Retry(type(exc).__name__) from None
        try:
            body = response.json()
        except ValueError:
            raise _Retry(f"http-{response.status_code}") from None
        if response.status_code == 409:
            log.critical("another instance is polling this bot token (409); stopping")
            raise _Fatal("conflict")
        if response.status_code in (401, 404):
            log.critical("the Telegram bot token was rejected; stopping")
            raise _Fatal("invalid-token")
        if response.status_code == 429:
            after = (body.get("parameters") or {}).get("retry_after", 5)
            raise _Retry("429", float(after))
        if response.status_code != 200 or not body.get("ok"):
            raise _Retry(f"http-{response.status_code}")
        result = body.get("result")
        if not isinstance(result, list):
            return []
        return [u for u in result if isinstance(u, dict) and isinstance(u.get("update_id"), int)]

    async def set_webhook(self, url: str, secret: str) -> None:
        await self.bot.set_webhook(
            url, secret_token=secret, allowed_updates=ALLOWED_UPDATES, max_connections=40
        )

    def webhook_endpoint(self, pipeline: Pipeline, secret: str, max_body: int) -> Any:
        """A Starlette endpoint that answers 200 only once the update is in the inbox."""
        expected = secret.encode()

        async def endpoint(request: Request) -> Response:
            data = await checked_body(
                request, "x-telegram-bot-api-secret-token", expected, max_body
            )
            if isinstance(data, Response):
                return data
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                return PlainTextResponse("not an update", status_code=400)
            try:
                await pipeline.ingest(NAME, [(str(data["update_id"]), data)])
            except Exception as exc:
                # Not stored: answer 5xx so that Telegram delivers it again later.
                log.warning("could not store an update (%s)", type(exc).__name__)
                return PlainTextResponse("try again", status_code=503)
            return Response(status_code=200)

        return endpoint
