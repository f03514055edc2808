"""Channel-neutral outbox payloads → Bot API calls, with the platform's errors mapped to
outcomes the sender understands (ok · retry · blocked · failed)."""

from __future__ import annotations

import asyncio
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, ReplyKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import RequestData

# Not re-exported by PTB, but RequestData is built from these (its own Bot does so).
from telegram.request._requestparameter import RequestParameter

from bot.channels.base import FileRefs, MemoryFileRefs, Payload, SendResult
from bot.uploads import EXTENSIONS, sniff


def _retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the type becomes timedelta: both work
        warnings.simplefilter("ignore")
        value: Any = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Sender:
    def __init__(self, bot: Bot, refs: FileRefs | None = None) -> None:
        self.bot = bot
        # Files we uploaded, by our file name: Telegram's file_id lets the next chat
        # (a second officer, every subscriber of a campaign) get it without re-uploading.
        self.refs: FileRefs = refs or MemoryFileRefs()
        self._uploading: dict[str, asyncio.Lock] = {}

    async def send(self, address: str, payload: Payload) -> SendResult:
        kind = payload.get("t")
        try:
            if kind == "answer":
                await self._post(
                    "answerCallbackQuery",
                    {"callback_query_id": payload["id"], "text": payload.get("text")},
                )
            elif kind == "leave":
                await self.bot.leave_chat(int(address))
            elif kind == "msg":
                await self._post(
                    "sendMessage",
                    {
                        "chat_id": int(address),
                        "text": payload["text"],
                        "reply_markup": _markup(payload),
                        "parse_mode": ParseMode.HTML.value if payload.get("html") else None,
                        "protect_content": bool(payload.get("protect")),
                        "allow_paid_broadcast": True if payload.get("paid") else None,
                    },
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
                    extra["reply_markup"] = _plain_markup(payload)
                if payload.get("paid"):
                    extra["allow_paid_broadcast"] = True
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

    async def _post(self, method: str, params: dict[str, Any]) -> Any:
        """A Bot API call from plain values through PTB's request object: PTB's errors
        (RetryAfter, Forbidden, …) without building its objects for the call or parsing
        the answer into a Message we would not read (issue 15: a third of a reply's
        CPU). Used for the hot calls: messages and button answers."""
        data = RequestData(
            [RequestParameter.from_input(k, v) for k, v in params.items() if v is not None]
        )
        return await self.bot.request.post(f"{self.bot.base_url}/{method}", request_data=data)

    async def _send_upload(self, chat_id: int, payload: Payload) -> None:
        """Send a file we hold (a web upload's stripped copy): uploaded the first time,
        by the file_id Telegram gave it after that. Named generically: the citizen's
        own file name could say who they are."""
        path = Path(payload["path"])
        extra: dict[str, Any] = {"protect_content": bool(payload.get("protect"))}
        if payload.get("caption"):
            extra["caption"] = payload["caption"]
        if payload.get("buttons"):
            extra["reply_markup"] = _plain_markup(payload)
        if payload.get("paid"):
            extra["allow_paid_broadcast"] = True
        # One upload per file even when several chats are sent it at once: the others
        # wait for its file_id.
        lock = self._uploading.setdefault(path.name, asyncio.Lock())
        async with lock:
            known = await self.refs.get(path.name)
            if known is None:
                await self._upload(chat_id, path, payload["kind"], extra)
                return
        method, _, file_id = known.partition(" ")
        if method not in ("send_photo", "send_document"):
            await self._upload(chat_id, path, payload["kind"], extra)
            return
        await getattr(self.bot, method)(chat_id, file_id, **extra)

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
            await self.refs.put(path.name, f"{sender} {file_id}")
        if len(self._uploading) > _UPLOADING_KEEP:
            self._uploading = {k: v for k, v in self._uploading.items() if v.locked()}


# Photos above this are sent as documents (Telegram's limit for uploaded photos).
PHOTO_UPLOAD_MAX = 10 * 1024 * 1024
_UPLOADING_KEEP = 2000

_FILE_SENDERS = {
    "photo": "send_photo",
    "video": "send_video",
    "voice": "send_voice",
    "audio": "send_audio",
    "document": "send_document",
    "video_note": "send_video_note",
    "animation": "send_animation",
}


def _error_class(exc: TelegramError) -> str:
    """A short, content-free label for an API error (logs must not echo message text)."""
    words = "".join(ch if ch.isalnum() else " " for ch in exc.message.lower()).split()
    return "-".join(words[:4])[:40]


def _markup(payload: Payload) -> dict[str, Any]:
    """The Bot API's reply_markup as plain JSON values."""
    rows = payload.get("buttons") or []
    if not rows:
        return {"remove_keyboard": True}
    if payload.get("kb") == "reply":
        return {
            "keyboard": [
                [
                    {"text": b["label"]}
                    | ({"request_location": True} if b.get("request") == "location" else {})
                    | ({"request_contact": True} if b.get("request") == "contact" else {})
                    for b in row
                ]
                for row in rows
            ],
            "resize_keyboard": True,
            "one_time_keyboard": True,
        }
    return {
        "inline_keyboard": [
            [{"text": b["label"], "callback_data": b["data"]} for b in row] for row in rows
        ]
    }


def _plain_markup(payload: Payload) -> InlineKeyboardMarkup | ReplyKeyboardMarkup:
    """The same markup for PTB's typed methods (files), which want markup objects."""
    if payload.get("kb") == "reply":
        return ReplyKeyboardMarkup.de_json(_markup(payload), None)
    return InlineKeyboardMarkup.de_json(_markup(payload), None)
