"""Zalo updates → channel-neutral events. Pseudonyms replace the Zalo ids; the display
name is never read. Photos were fetched into our upload store when they arrived
(`channel.py`): the stored update says where (`tipbot_upload`) or why not."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.channels.base import Ignored
from bot.identity import Identity
from handlers.core.commands import parse_command
from handlers.core.events import Event, EventKind, Media

NAME = "zalo"
UPLOAD_KEY = "tipbot_upload"  # our note on a stored image event: the upload, or a reason


def unwrap(body: Any) -> dict[str, Any] | None:
    """An update from a webhook body or a getUpdates result: the docs wrap it as
    `{"ok": true, "result": {…}}`; some clients report bare bodies. Both are accepted."""
    if isinstance(body, dict) and isinstance(body.get("result"), dict) and "ok" in body:
        body = body["result"]
    if isinstance(body, dict) and isinstance(body.get("message"), dict):
        return body
    return None


def update_key(update: dict[str, Any]) -> str | None:
    """What identifies an update: Zalo sends no update id, so the message's own id (a
    string); retries and duplicate posts carry the same one."""
    message_id = update["message"].get("message_id")
    if isinstance(message_id, str | int) and 0 < len(str(message_id)) <= 64:
        return str(message_id)
    return None


def parse(identity: Identity, update: dict[str, Any], public_url: str | None) -> Event | Ignored:
    message = update.get("message") or {}
    sender = message.get("from") or {}
    chat = message.get("chat") or {}
    if sender.get("is_bot"):
        return Ignored("no-human-sender")
    if str(chat.get("chat_type", "PRIVATE")).upper() != "PRIVATE":
        return Ignored("not-a-private-chat")  # groups are a beta where bots see mentions only
    user_id, chat_id = sender.get("id"), chat.get("id") or sender.get("id")
    if not isinstance(user_id, str | int) or not isinstance(chat_id, str | int):
        return Ignored("no-sender")
    base = Event(EventKind.TEXT, NAME, identity.pseudonym(NAME, user_id), str(chat_id), "vi")
    event = str(update.get("event_name", ""))
    if event == "message.text.received" or (not event and isinstance(message.get("text"), str)):
        text = str(message.get("text", ""))
        command = parse_command(text)
        if command is not None:
            return replace(base, kind=EventKind.COMMAND, command=command[0], args=command[1])
        return replace(base, text=text)
    if event == "message.image.received":
        caption = message.get("caption") if isinstance(message.get("caption"), str) else None
        upload = update.get(UPLOAD_KEY) or {}
        if not isinstance(upload, dict) or not upload.get("ref"):
            # Not fetched (too large, not a picture, the link expired): said as such.
            return replace(base, kind=EventKind.UNSUPPORTED, unsupported="photo_failed")
        return replace(
            base,
            kind=EventKind.MEDIA,
            text=caption,
            media=Media(
                kind=str(upload.get("kind", "photo")),
                file_ref=str(upload["ref"]),
                size=int(upload.get("size") or 0),
                mime_type=str(upload.get("mime") or ""),
                store="web",  # held by us, like a web upload: it can go to any channel
            ),
        )
    if event == "message.unsupported.received":
        # Zalo hides some users' messages from bots (protected accounts, e.g. children):
        # tell them how else to reach the tip line.
        return replace(base, kind=EventKind.UNSUPPORTED, unsupported="hidden", text=public_url)
    return replace(base, kind=EventKind.UNSUPPORTED, unsupported=event.split(".")[1:2][0]
                   if event.count(".") >= 2 else "other")  # fmt: skip
