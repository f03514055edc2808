"""Telegram updates → channel-neutral events. Pseudonyms replace every platform id;
authorisation is by the person who pressed a button, never by the chat."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from telegram import Bot, Message, Update
from telegram.constants import ChatMemberStatus, ChatType

from bot.channels.base import Ignored
from bot.identity import Identity
from handlers.core.commands import parse_command
from handlers.core.events import Contact, Event, EventKind, Location, Media

NAME = "telegram"


class UpdateParser:
    def __init__(
        self,
        bot: Bot,
        identity: Identity,
        *,
        max_download_bytes: int,
        allowed_groups: frozenset[int] = frozenset(),
    ) -> None:
        self.bot = bot
        self.identity = identity
        self.max_download_bytes = max_download_bytes
        self.allowed_groups = allowed_groups
        self.username: str | None = None  # our bot's, once known: "/cmd@us" is ours

    def parse(self, payload: dict[str, Any]) -> Event | Ignored:
        return self.fast(payload) or self.parse_with_ptb(payload)

    def fast(self, payload: dict[str, Any]) -> Event | None:
        """The two updates most of intake is made of — a private text message and a
        button press in a private chat — read straight from the JSON (PTB's objects
        cost a sixth of an update's CPU: issue 15). None for anything else, or anything
        unusual about them: PTB reads it (`parse_with_ptb`, which this must agree with;
        tests/test_units.py checks that they do)."""
        query = payload.get("callback_query")
        if query is not None:
            user = query.get("from") or {}
            chat = (query.get("message") or {}).get("chat") or {}
            if chat.get("type") != "private" or user.get("is_bot", True) or "id" not in chat:
                return None
            return Event(
                EventKind.CHOICE,
                NAME,
                self.identity.pseudonym(NAME, int(user["id"])),
                str(chat["id"]),
                user.get("language_code"),
                choice=query.get("data") or "",
                callback_id=str(query["id"]),
            )
        message = payload.get("message")
        if message is None or not isinstance(message.get("text"), str):
            return None
        sender = message.get("from") or {}
        chat = message.get("chat") or {}
        if (
            chat.get("type") != "private"
            or "id" not in chat
            or "id" not in sender
            or sender.get("is_bot", True)
            or "sender_chat" in message
        ):
            return None
        base = Event(
            EventKind.TEXT,
            NAME,
            self.identity.pseudonym(NAME, int(sender["id"])),
            str(chat["id"]),
            sender.get("language_code"),
            forwarded="forward_origin" in message,
            text=message["text"],
        )
        command = parse_command(message["text"], self.username)
        if command is not None:
            name, args = command
            return replace(base, kind=EventKind.COMMAND, command=name, args=args, text=None)
        return base

    def parse_with_ptb(self, payload: dict[str, Any]) -> Event | Ignored:
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
            group=message.media_group_id,
            too_large=bool(size and size > self.max_download_bytes),
        )
