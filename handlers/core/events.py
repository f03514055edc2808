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

from storage.models import Recipient


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
    JOINED = "joined"  # the bot was added to a group (in_group; user_key is who added it)


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
    # No file name: a phone's names ("Nguyen_Van_Lan_CCCD.jpg") can say who sent it.
    group: str | None = None  # album (media group) id
    too_large: bool = False
    # The channel whose store holds the file when it is not the event's own: "web" for
    # files we downloaded into our upload store (Zalo's pictures), which can go anywhere.
    store: str | None = None


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
    # Set for what happens in a group chat: a button pressed on a unit's alert, or the
    # bot being added. `user_key` is then the presser (authorisation is always by the
    # person, never by the chat) and `address`/`chat_key` are the group's.
    in_group: bool = False
    chat_key: str | None = None
    forwarded: bool = False  # a forwarded message: never an instruction from its sender
    # The language was chosen, not guessed (a web page opened with ?lang=en): it
    # switches the conversation's language, where a client's hint only sets the first.
    language_chosen: bool = False
    # What an UNSUPPORTED event was, when the channel knows ("sticker", "hidden": a
    # message the platform withheld from bots, "photo_failed": a picture we could not
    # fetch); `text` may then carry a public address to offer instead.
    unsupported: str | None = None


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
    # Officer cards: sent as HTML (parameters escaped, never the templates) and with
    # protect_content, so they cannot be forwarded or saved from Telegram.
    html: bool = False
    protect: bool = False
    # Shown once: the receipt, the review (description, phone number). A web page gets
    # it from its mailbox once and keeps its own copy; a reload does not replay it.
    once: bool = False

    @classmethod
    def of(
        cls,
        *parts: Msg,
        choices: list[list[Choice]] | None = None,
        keyboard: Literal["inline", "reply"] = "inline",
        html: bool = False,
        protect: bool = False,
        once: bool = False,
    ) -> Reply:
        rows = tuple(tuple(r) for r in (choices or []))
        return cls(tuple(parts), rows, keyboard, html, protect, once)

    def flat_choices(self) -> list[Choice]:
        return [c for row in self.choices for c in row]


@dataclass(frozen=True, slots=True)
class Toast:
    """The short answer to a button press (Telegram: answerCallbackQuery)."""

    callback_id: str
    text: Msg | None = None


@dataclass(frozen=True, slots=True)
class Pin:
    """A map pin (Telegram: sendLocation)."""

    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class File:
    """A file re-sent by its platform reference: a tip's attachment (never forwarded,
    which would show who sent it, and protected) or a campaign's photo with its text
    and buttons as the caption."""

    kind: str
    channel: str  # the channel the reference belongs to
    file_ref: str
    caption: Reply | None = None  # at most CAPTION_UNITS once rendered
    protect: bool = True


@dataclass(frozen=True, slots=True)
class Chart:
    """A file we made: a digest chart (sent as a photo) or an export (a document)."""

    path: str
    caption: Msg
    document: bool = False


@dataclass(frozen=True, slots=True)
class Leave:
    """Leave the group chat the event came from."""


Item: TypeAlias = "Reply | Pin | File | Chart"


@dataclass(frozen=True, slots=True)
class Deliver:
    """Items for someone other than the sender: a tipster, an officer, a unit's group."""

    to: Recipient
    items: tuple[Item, ...]

    @classmethod
    def of(cls, to: Recipient, *items: Item) -> Deliver:
        return cls(to, items)


Outgoing: TypeAlias = "Reply | Toast | Pin | File | Chart | Deliver | Leave"
