"""Telegram transport: polling or webhook into the durable inbox; outbox → Bot API.

We do not use PTB's Updater or Application: the Updater confirms updates (advances the
offset) before any handler runs, so a crash in between loses a tip. Here getUpdates
results are written to the inbox *before* the next getUpdates call confirms them, and
the webhook answers 200 only after the insert. PTB supplies the Bot API client, the
types (`Update.de_json`) and the error classes.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import socket
import warnings
from collections import OrderedDict
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import BaseRequest, HTTPXRequest

from bot.aio import cancelling
from bot.channels.base import Ignored, Payload, SendResult
from bot.identity import Identity
from bot.uploads import EXTENSIONS, sniff
from handlers.core.commands import parse_command
from handlers.core.events import Contact, Event, EventKind, Location, Media

if TYPE_CHECKING:
    from bot.dispatch.dispatcher import Pipeline

log = logging.getLogger(__name__)

NAME = "telegram"
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]
# Requests are written as headers then body; without TCP_NODELAY, Nagle's algorithm
# holds the body until the peer's delayed ACK (~40 ms on every call).
_NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


def _retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the type becomes timedelta: both work
        warnings.simplefilter("ignore")
        value: Any = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


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
    ) -> None:
        self.identity = identity
        self.max_download_bytes = max_download_mb * 1024 * 1024
        self.poll_timeout = poll_timeout
        self.allowed_groups = allowed_groups
        kwargs: dict[str, Any] = {}
        if base_url:
            kwargs["base_url"] = base_url
        if file_url:
            kwargs["base_file_url"] = file_url
        self.bot = Bot(
            token,
            request=request
            or HTTPXRequest(connection_pool_size=16, read_timeout=15, socket_options=_NODELAY),
            **kwargs,
        )
        self._poll_client = httpx.AsyncClient(
            transport=poll_transport or httpx.AsyncHTTPTransport(socket_options=_NODELAY)
        )
        self.username: str | None = None
        # Files we uploaded, by our file name: Telegram's file_id lets the next chat
        # (a second officer, every subscriber of a campaign) get it without re-uploading.
        self._uploaded: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._uploading: dict[str, asyncio.Lock] = {}

    async def start(self) -> None:
        await self.bot.initialize()
        self.username = self.bot.username

    async def stop(self) -> None:
        await self._poll_client.aclose()
        await self.bot.shutdown()

    async def _send_upload(self, chat_id: int, payload: Payload) -> None:
        """Send a file we hold (a web upload's stripped copy): uploaded the first time,
        by the file_id Telegram gave it after that. Named generically: the citizen's
        own file name could say who they are."""
        path = Path(payload["path"])
        extra: dict[str, Any] = {"protect_content": bool(payload.get("protect"))}
        if payload.get("caption"):
            extra["caption"] = payload["caption"]
        if payload.get("buttons"):
            extra["reply_markup"] = _markup(payload)
        # One upload per file even when several chats are sent it at once: the others
        # wait for its file_id.
        lock = self._uploading.setdefault(path.name, asyncio.Lock())
        async with lock:
            known = self._uploaded.get(path.name)
            if known is None:
                await self._upload(chat_id, path, payload["kind"], extra)
                return
        await getattr(self.bot, known[0])(chat_id, known[1], **extra)

    async def _upload(self, chat_id: int, path: Path, kind: str, extra: dict[str, Any]) -> None:
        data = await asyncio.to_thread(path.read_bytes)
        sniffed = sniff(data[:64])
        if kind == "photo" and len(data) <= PHOTO_UPLOAD_MAX:
            message = await self.bot.send_photo(chat_id, data, **extra)
            sender, file_id = "send_photo", message.photo[-1].file_id if message.photo else None
        else:
            name = "tep-dinh-kem" + EXTENSIONS.get(sniffed.mime if sniffed else "", "")
            message = await self.bot.send_document(chat_id, data, filename=name, **extra)
            document = message.document
            sender, file_id = "send_document", document.file_id if document else None
        if file_id is not None:
            self._uploaded[path.name] = (sender, file_id)
            while len(self._uploaded) > _UPLOADED_KEEP:
                gone, _ = self._uploaded.popitem(last=False)
                self._uploading.pop(gone, None)

    # ---- inbound ------------------------------------------------------------------
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
            given = request.headers.get("x-telegram-bot-api-secret-token", "").encode()
            if not hmac.compare_digest(given, expected):
                return PlainTextResponse("forbidden", status_code=403)
            if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
                return PlainTextResponse("expected application/json", status_code=415)
            declared = request.headers.get("content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > max_body):
                return PlainTextResponse("too large", status_code=413)
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > max_body:
                    return PlainTextResponse("too large", status_code=413)
            try:
                data = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                return PlainTextResponse("bad json", status_code=400)
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

    # ---- parsing ------------------------------------------------------------------
    def parse(self, payload: dict[str, Any]) -> Event | Ignored:
        update = Update.de_json(payload, self.bot)
        if update.my_chat_member is not None:
            return self._membership(update)
        if update.callback_query is not None:
            query = update.callback_query
            chat = query.message.chat if query.message is not None else None
            if chat is None or query.from_user.is_bot:
                return Ignored("callback-without-chat")
            in_group = chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)
            if chat.type != ChatType.PRIVATE and not in_group:
                return Ignored("callback-in-channel")
            user = query.from_user
            # Authorisation is by the presser (from_user), never by the chat pressed in.
            return Event(
                EventKind.CHOICE,
                NAME,
                self.identity.pseudonym(NAME, user.id),
                str(chat.id),
                user.language_code,
                choice=query.data or "",
                callback_id=query.id,
                in_group=in_group,
                chat_key=self.identity.pseudonym(NAME, chat.id) if in_group else None,
            )
        edited = update.edited_message is not None
        message = update.message or update.edited_message
        if message is None:
            return Ignored("unsupported-update")
        if message.chat.type != ChatType.PRIVATE:
            return Ignored("not-a-private-chat")
        sender = message.from_user
        if sender is None or sender.is_bot or message.sender_chat is not None:
            return Ignored("no-human-sender")
        base = Event(
            EventKind.EDITED,
            NAME,
            self.identity.pseudonym(NAME, sender.id),
            str(message.chat.id),
            sender.language_code,
            forwarded=message.forward_origin is not None,
        )
        if edited:
            return base
        return self._message_event(message, sender.id, base)

    def _membership(self, update: Update) -> Event | Ignored:
        change = update.my_chat_member
        assert change is not None
        chat = change.chat
        status = change.new_chat_member.status
        if chat.type == ChatType.PRIVATE:
            kind = (
                EventKind.BLOCKED
                if status in (ChatMemberStatus.BANNED, "kicked")
                else EventKind.UNBLOCKED
            )
            return Event(kind, NAME, self.identity.pseudonym(NAME, chat.id), str(chat.id))
        joined = status in (ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR)
        if not joined or chat.id in self.allowed_groups:
            return Ignored("group-membership")
        adder = change.from_user
        if adder is None or adder.is_bot or chat.type == ChatType.CHANNEL:
            return Ignored(
                "added-to-group",
                chat_key=self.identity.pseudonym(NAME, chat.id),
                leave_address=str(chat.id),
            )
        # Only an admin may add the bot to a group (to receive a unit's alerts there);
        # the flows check who added it and leave otherwise.
        return Event(
            EventKind.JOINED,
            NAME,
            self.identity.pseudonym(NAME, adder.id),
            str(chat.id),
            adder.language_code,
            text=chat.title,
            in_group=True,
            chat_key=self.identity.pseudonym(NAME, chat.id),
        )

    def _message_event(self, message: Message, user_id: int, base: Event) -> Event:
        if message.text is not None:
            command = parse_command(message.text, self.username)
            if command is not None:
                name, args = command
                return replace(base, kind=EventKind.COMMAND, command=name, args=args)
            return replace(base, kind=EventKind.TEXT, text=message.text)
        if message.venue is not None:
            venue = message.venue
            return replace(
                base,
                kind=EventKind.LOCATION,
                location=Location(
                    venue.location.latitude,
                    venue.location.longitude,
                    f"{venue.title}, {venue.address}",
                ),
            )
        if message.location is not None:
            return replace(
                base,
                kind=EventKind.LOCATION,
                location=Location(message.location.latitude, message.location.longitude),
            )
        if message.contact is not None:
            contact = message.contact
            return replace(
                base,
                kind=EventKind.CONTACT,
                contact=Contact(contact.phone_number, is_own=contact.user_id == user_id),
            )
        media = self._media(message)
        if media is not None:
            return replace(base, kind=EventKind.MEDIA, media=media, text=message.caption)
        return replace(base, kind=EventKind.UNSUPPORTED)

    def _media(self, message: Message) -> Media | None:
        found: Any = None
        kind = ""
        if message.photo:
            found, kind = message.photo[-1], "photo"  # the largest size
        else:
            for kind in ("video", "voice", "audio", "document", "video_note", "animation"):
                found = getattr(message, kind)
                if found is not None:
                    break
        if found is None:
            return None
        size = getattr(found, "file_size", None)
        return Media(
            kind=kind,
            file_ref=found.file_id,
            file_unique_id=found.file_unique_id,
            size=size,
            mime_type=getattr(found, "mime_type", None),
            file_name=getattr(found, "file_name", None),
            group=message.media_group_id,
            too_large=bool(size and size > self.max_download_bytes),
        )

    # ---- outbound -----------------------------------------------------------------
    async def send(self, address: str, payload: Payload) -> SendResult:
        kind = payload.get("t")
        try:
            if kind == "answer":
                await self.bot.answer_callback_query(payload["id"], text=payload.get("text"))
            elif kind == "leave":
                await self.bot.leave_chat(int(address))
            elif kind == "msg":
                await self.bot.send_message(
                    int(address),
                    payload["text"],
                    reply_markup=_markup(payload),
                    parse_mode=ParseMode.HTML if payload.get("html") else None,
                    protect_content=bool(payload.get("protect")),
                )
            elif kind == "pin":
                await self.bot.send_location(
                    int(address),
                    latitude=payload["lat"],
                    longitude=payload["lon"],
                    protect_content=bool(payload.get("protect")),
                )
            elif kind == "file":
                # Re-sent by file_id, never forwarded: a forward would show the citizen.
                send = _FILE_SENDERS.get(payload["kind"], "send_document")
                extra: dict[str, Any] = {}
                if payload.get("caption"):
                    extra["caption"] = payload["caption"]
                if payload.get("buttons"):
                    extra["reply_markup"] = _markup(payload)
                await getattr(self.bot, send)(
                    int(address),
                    payload["ref"],
                    protect_content=bool(payload.get("protect")),
                    **extra,
                )
            elif kind == "upload":
                await self._send_upload(int(address), payload)
            elif kind == "chart":
                path = Path(payload["path"])
                data = await asyncio.to_thread(path.read_bytes)
                if payload.get("document"):  # an export: the file, then delete our copy
                    await self.bot.send_document(
                        int(address),
                        data,
                        filename=path.name,
                        caption=payload.get("caption"),
                        protect_content=True,
                    )
                    await asyncio.to_thread(path.unlink, True)
                else:
                    await self.bot.send_photo(
                        int(address), data, caption=payload.get("caption"), protect_content=True
                    )
            else:
                return SendResult("failed", error="unknown-payload")
        except RetryAfter as exc:
            return SendResult("retry", retry_after=_retry_after_seconds(exc), error="429")
        except Forbidden:
            return SendResult("blocked", error="403")
        except BadRequest as exc:
            if kind == "answer":  # the button press is too old to answer: nothing to do
                return SendResult("ok")
            return SendResult("failed", error=f"400:{_error_class(exc)}")
        except TimedOut:
            return SendResult("retry", error="timeout")
        except InvalidToken:
            return SendResult("retry", error="invalid-token")
        except (NetworkError, TelegramError) as exc:
            return SendResult("retry", error=type(exc).__name__[:64])
        return SendResult("ok")


# Photos above this are sent as documents (Telegram's limit for uploaded photos).
PHOTO_UPLOAD_MAX = 10 * 1024 * 1024
_UPLOADED_KEEP = 2000

_FILE_SENDERS = {
    "photo": "send_photo",
    "video": "send_video",
    "voice": "send_voice",
    "audio": "send_audio",
    "document": "send_document",
    "video_note": "send_video_note",
    "animation": "send_animation",
}


class _Retry(Exception):
    def __init__(self, reason: str, after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after = after


class _Fatal(Exception):
    pass


def _error_class(exc: TelegramError) -> str:
    """A short, content-free label for an API error (logs must not echo message text)."""
    words = "".join(ch if ch.isalnum() else " " for ch in exc.message.lower()).split()
    return "-".join(words[:4])[:40]


def _markup(payload: Payload) -> Any:
    rows = payload.get("buttons") or []
    if not rows:
        return ReplyKeyboardRemove()
    if payload.get("kb") == "reply":
        return ReplyKeyboardMarkup(
            [
                [
                    KeyboardButton(
                        b["label"],
                        request_location=b.get("request") == "location",
                        request_contact=b.get("request") == "contact",
                    )
                    for b in row
                ]
                for row in rows
            ],
            resize_keyboard=True,
            one_time_keyboard=True,
        )
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b["label"], callback_data=b["data"]) for b in row] for row in rows]
    )
