"""Channel-neutral inbound events and outbound replies.

A channel adapter turns a platform update into an `Event`; a flow step turns an event
into replies. Replies carry catalog keys, not text: the pipeline renders them in the
citizen's locale, and the adapter renders choices natively (inline buttons on Telegram
and web, numbered text on Zalo).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, TypeAlias


class EventKind(StrEnum):
    TEXT = "text"
    COMMAND = "command"
    CHOICE = "choice"
    LOCATION = "location"
    CONTACT = "contact"
    MEDIA = "media"
    EDITED = "edited"  # an edit of an earlier message
    UNSUPPORTED = "unsupported"  # sticker, poll, dice, …: answered with a hint
    BLOCKED = "blocked"  # the person blocked the bot
    UNBLOCKED = "unblocked"


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float
    label: str | None = None  # venue title/address when shared as a venue


@dataclass(frozen=True, slots=True)
class Contact:
    phone: str
    is_own: bool  # the adapter checks the shared contact belongs to the sender


@dataclass(frozen=True, slots=True)
class Media:
    kind: str  # photo · video · voice · audio · document · video_note · animation
    file_ref: str  # platform file id (Telegram file_id) or stored upload id
    file_unique_id: str | None = None
    size: int | None = None
    mime_type: str | None = None
    file_name: str | None = None
    group: str | None = None  # album (media group) id
    too_large: bool = False


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    channel: str
    user_key: str  # pseudonymous: HMAC of the platform user id, never the id itself
    address: str  # where replies go (a chat id); sealed before it is stored
    language: str | None = None  # the client's language hint, if any
    text: str | None = None  # message text or media caption
    command: str | None = None
    args: str = ""
    choice: str | None = None  # raw callback data; parse with handlers.callbacks
    callback_id: str | None = None
    location: Location | None = None
    contact: Contact | None = None
    media: Media | None = None


Params: TypeAlias = "dict[str, str | int | Msg]"


@dataclass(frozen=True, slots=True)
class Msg:
    """A catalog key plus named parameters (which may themselves be messages)."""

    key: str
    params: dict[str, str | int | Msg] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Choice:
    label: Msg
    data: str  # callback data (typed; see handlers.callbacks)
    request: Literal["location", "contact"] | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """One outgoing message: text parts joined by blank lines, and optional choices."""

    parts: tuple[Msg, ...]
    choices: tuple[tuple[Choice, ...], ...] = ()
    # "reply": a keyboard under the text box (needed for location/contact requests).
    keyboard: Literal["inline", "reply"] = "inline"

    @classmethod
    def of(
        cls,
        *parts: Msg,
        choices: list[list[Choice]] | None = None,
        keyboard: Literal["inline", "reply"] = "inline",
    ) -> Reply:
        return cls(tuple(parts), tuple(tuple(r) for r in (choices or [])), keyboard)

    def flat_choices(self) -> list[Choice]:
        return [c for row in self.choices for c in row]


@dataclass(frozen=True, slots=True)
class Toast:
    """The short answer to a button press (Telegram: answerCallbackQuery)."""

    callback_id: str
    text: Msg | None = None


Outgoing: TypeAlias = Reply | Toast
