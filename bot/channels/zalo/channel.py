"""The Zalo channel: long polling or a webhook into the durable inbox; outbox → Zalo.

What Zalo's `getUpdates` guarantees (decision 0015): it takes only `timeout`, returns
ONE update (not a list) and has no offset: an update is handed out once and is gone
from Zalo's side when the answer leaves. So polling stores each update in the inbox
before it asks for the next one, and a crash between receiving an answer and the
insert loses that one update — which is why Zalo (and we) recommend the webhook for
production: it answers 200 only after the insert, so Zalo's retry covers a crash.

An update carries no update id: it is identified by its `message.message_id`, and the
inbox's unique key makes a duplicate post or a retried delivery harmless.

A picture a citizen sends arrives as a URL. It is fetched when the update arrives (a
size cap, a timeout, the type judged by content), kept in the same encrypted upload
store as the web chat's files with the same metadata removal, and the stored update
notes the upload; the dispatcher never waits on the network."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from bot.aio import cancelling
from bot.channels.base import Ignored, Payload, SendResult
from bot.channels.webhook import checked_body
from bot.channels.zalo.client import ZaloClient, ZaloUnreachable
from bot.channels.zalo.parse import NAME, UPLOAD_KEY, parse, unwrap, update_key
from bot.channels.zalo.send import Sender
from bot.identity import Identity
from bot.uploads import UploadStore, sniff
from handlers.core.events import Event

if TYPE_CHECKING:
    from bot.dispatch.dispatcher import Pipeline

log = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 15.0


class ZaloChannel:
    name = NAME

    def __init__(
        self,
        *,
        token: str,
        identity: Identity,
        uploads: UploadStore,
        base_url: str,
        poll_timeout: int = 30,
        max_download_mb: int = 10,
        public_url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.client = ZaloClient(token, base_url, transport)
        self.identity = identity
        self.uploads = uploads
        self.poll_timeout = poll_timeout
        self.max_download = max_download_mb * 1024 * 1024
        self.public_url = public_url.rstrip("/") if public_url else None
        self.sender = Sender(self.client, self.public_url)

    async def start(self) -> None:
        """Check the token once (a wrong one is said plainly, without the token)."""
        try:
            me = await self.client.get_me()
        except ZaloUnreachable as exc:
            log.warning("Zalo getMe failed (%s); will keep trying", exc.reason)
            return
        if not me.ok:
            log.warning("Zalo refused getMe (%s); check ZALO_BOT_TOKEN", me.error_code)

    async def stop(self) -> None:
        await self.client.close()

    def parse(self, payload: dict[str, Any]) -> Event | Ignored:
        return parse(self.identity, payload, self.public_url)

    def order_key(self, payload: dict[str, Any]) -> str | None:
        sender = (payload.get("message") or {}).get("from") or {}
        user = sender.get("id") if isinstance(sender, dict) else None
        return self.identity.pseudonym(NAME, user) if isinstance(user, str | int) else None

    async def send(self, address: str, payload: Payload) -> SendResult:
        return await self.sender.send(address, payload)

    # ---- receiving -----------------------------------------------------------------
    async def _prepared(self, update: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """The update with its picture fetched, and its inbox key; None if it has none."""
        key = update_key(update)
        if key is None:
            return None
        # Never kept, even sealed: the name a person shows on Zalo (often their own).
        sender = update["message"].get("from")
        if isinstance(sender, dict) and "display_name" in sender:
            message = {**update["message"], "from": {k: v for k, v in sender.items()
                                                      if k != "display_name"}}  # fmt: skip
            update = {**update, "message": message}
        if update.get("event_name") == "message.image.received":
            update = {**update, UPLOAD_KEY: await self._fetch(update["message"])}
        return key, update

    async def _fetch(self, message: dict[str, Any]) -> dict[str, Any]:
        url = message.get("photo_url") or message.get("photo") or message.get("url")
        if not isinstance(url, str):
            return {"failed": "no-url"}
        data = await self.client.download(url, self.max_download, FETCH_TIMEOUT_S)
        if not data:
            return {"failed": "not-fetched"}
        sniffed = sniff(data[:32])
        if sniffed is None or sniffed.kind != "photo":
            return {"failed": "not-a-picture"}
        ref = await asyncio.to_thread(self.uploads.save, data, sniffed)
        return {"ref": ref, "kind": sniffed.kind, "size": len(data), "mime": sniffed.mime}

    async def poll(self, pipeline: Pipeline) -> None:
        """Long-poll getUpdates; each update is stored before the next call."""
        try:
            await self.client.delete_webhook()  # getUpdates does not work beside a webhook
        except ZaloUnreachable as exc:
            log.warning("Zalo deleteWebhook failed (%s)", exc.reason)
        backoff = 1.0
        while True:
            try:
                answer = await self.client.get_updates(self.poll_timeout)
            except ZaloUnreachable as exc:
                log.warning("Zalo getUpdates failed (%s); retrying in %.0fs", exc.reason, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if not answer.ok:
                if answer.error_code == 408:  # nothing arrived within the timeout
                    backoff = 1.0
                    continue
                if answer.error_code == 401:
                    log.critical("Zalo rejected the bot token (401); stopping")
                    raise RuntimeError("zalo-invalid-token")
                delay = 30.0 if answer.error_code == 429 else backoff
                log.warning(
                    "Zalo getUpdates: error %s; retrying in %.0fs", answer.error_code, delay
                )
                await asyncio.sleep(delay)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 1.0
            update = unwrap(answer.result) if answer.result else None
            if update is None:
                continue  # an empty result: treated like 408
            prepared = await self._prepared(update)
            if prepared is None:
                log.warning("a Zalo update without a message id was dropped")
                continue
            for attempt in range(5):
                try:
                    await pipeline.ingest(NAME, [prepared])
                    break
                except Exception as exc:
                    if cancelling():
                        raise
                    # Zalo will not hand it out again: keep trying to store it.
                    log.warning("could not store a Zalo update (%s)", type(exc).__name__)
                    await asyncio.sleep(0.5 * (attempt + 1))

    async def set_webhook(self, url: str, secret: str) -> None:
        answer = await self.client.set_webhook(url, secret)
        if not answer.ok:
            log.warning("Zalo setWebhook refused (%s %s)", answer.error_code, answer.description)

    def webhook_endpoint(self, pipeline: Pipeline, secret: str, max_body: int) -> Any:
        """Answers 200 only once the update is in the inbox; 403 on a wrong secret."""
        expected = secret.encode()

        async def endpoint(request: Request) -> Response:
            data = await checked_body(request, "x-bot-api-secret-token", expected, max_body)
            if isinstance(data, Response):
                return data
            update = unwrap(data)
            prepared = await self._prepared(update) if update is not None else None
            if prepared is None:
                return PlainTextResponse("not an update", status_code=400)
            try:
                await pipeline.ingest(NAME, [prepared])
            except Exception as exc:
                log.warning("could not store a Zalo update (%s)", type(exc).__name__)
                return PlainTextResponse("try again", status_code=503)
            return Response(status_code=200)

        return endpoint
