"""What the page sent (stored in the inbox as we received it) → a channel-neutral event.
The session id is the chat address; the person appears only as its pseudonym."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.channels.base import Ignored
from bot.identity import Identity
from handlers.core.commands import parse_command
from handlers.core.events import Event, EventKind, Location, Media

NAME = "web"


def parse(identity: Identity, payload: dict[str, Any]) -> Event | Ignored:
    session = str(payload.get("session", ""))
    if not session:
        return Ignored("no-session")
    lang = payload.get("lang") if payload.get("lang") in ("vi", "en") else None
    base = Event(EventKind.TEXT, NAME, identity.pseudonym(NAME, session), session, lang)
    kind = payload.get("kind")
    if kind == "open":  # a page (re)loaded in a language: the conversation follows it
        return replace(base, kind=EventKind.COMMAND, command="start", language_chosen=True)
    if kind == "choice":
        return replace(
            base, kind=EventKind.CHOICE, choice=str(payload.get("data", "")), callback_id="web"
        )
    if kind == "location":
        return replace(
            base,
            kind=EventKind.LOCATION,
            location=Location(float(payload["lat"]), float(payload["lon"])),
        )
    if kind == "media":
        media = payload["media"]
        return replace(
            base,
            kind=EventKind.MEDIA,
            text=payload.get("text"),
            media=Media(
                kind=media["kind"],
                file_ref=media["ref"],
                size=media["size"],
                mime_type=media["mime"],
            ),
        )
    text = str(payload.get("text", ""))
    command = parse_command(text)
    if command is not None:
        return replace(base, kind=EventKind.COMMAND, command=command[0], args=command[1])
    return replace(base, kind=EventKind.TEXT, text=text)
