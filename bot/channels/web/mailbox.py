"""Per-session mailboxes: what the outbox delivers to a web chat waits here, in memory,
until the page's long poll takes it. Officer cards (HTML for Telegram) become plain
text; pins and charts become text lines; files become links to the file endpoint."""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any

from bot.channels.base import Payload

MAILBOX = 100
MAX_BOXES = 50_000  # the least recently used mailbox goes first beyond this


@dataclass
class Mailbox:
    messages: deque[tuple[int, Payload]] = field(default_factory=lambda: deque(maxlen=MAILBOX))
    # Numbered from the clock, not from 1: after a restart, an open page (which asks
    # for what comes after the last number it saw) still gets the new messages.
    seq: int = field(default_factory=lambda: int(time.time() * 1000))
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def acknowledge(self, upto: int) -> None:
        """The page has what it asked past: sensitive messages (receipt, review) it
        has received are not kept for a later reload to replay."""
        if any(seq <= upto and msg.get("once") for seq, msg in self.messages):
            kept = [
                (seq, msg) for seq, msg in self.messages if not (seq <= upto and msg.get("once"))
            ]
            self.messages = deque(kept, maxlen=MAILBOX)


class Mailboxes:
    """Every session's mailbox, created on first use; the least recently used go first
    once there are MAX_BOXES (a flood of new sessions cannot grow memory for ever)."""

    def __init__(self, limit: int = MAX_BOXES) -> None:
        self.boxes: OrderedDict[str, Mailbox] = OrderedDict()
        self.limit = limit
        self.closing = False
        # Shared between replicas, messages are numbered by their row in the database
        # (the same number on every replica): a new mailbox then starts at 0.
        self.numbered_elsewhere = False

    def __len__(self) -> int:
        return len(self.boxes)

    def get(self, session: str) -> Mailbox:
        box = self.boxes.get(session)
        if box is None:
            while len(self.boxes) >= self.limit:
                _, gone = self.boxes.popitem(last=False)
                gone.changed.set()  # a poll waiting on it returns (empty) at once
            box = self.boxes[session] = Mailbox(seq=0) if self.numbered_elsewhere else Mailbox()
        else:
            self.boxes.move_to_end(session)
        return box

    def deliver(self, session: str, payload: Payload) -> bool:
        """Put one outbox payload in a session's mailbox; False for payloads that mean
        nothing on a web page (button answers, leaving a group)."""
        message = to_message(payload)
        if message is None:
            return False
        self.put(session, message)
        return True

    def put(self, session: str, message: dict[str, Any], seq: int | None = None) -> None:
        """Add a page-ready message, numbered next (or as given, when numbered by the
        shared table; never below what the page has seen)."""
        box = self.get(session)
        box.seq = max(box.seq + 1, seq or 0)
        box.messages.append((box.seq, message))
        box.changed.set()

    def close(self) -> None:
        """Answer every waiting long poll now: a stopping server waits for open
        requests, and a poll would otherwise hold it for up to 20 s."""
        self.closing = True
        for box in self.boxes.values():
            box.changed.set()


def to_message(payload: Payload) -> dict[str, Any] | None:
    """An outbox payload as the page shows it."""
    kind = payload.get("t")
    file = None
    if kind == "file":  # our own upload (the renderer notes other channels' files)
        file = {"kind": payload["kind"], "url": f"/chat/api/file/{payload['ref']}"}
        text = payload.get("caption") or ""
        payload = {"t": "msg", "text": text, "buttons": payload.get("buttons")}
    elif kind in ("pin", "chart"):
        payload = {"t": "msg", "text": _as_text(payload), "buttons": payload.get("buttons")}
    elif kind != "msg":
        return None  # button answers and group exits mean nothing here
    elif payload.get("html"):
        payload = {**payload, "text": _plain(payload["text"])}
    # Each button keeps its number among all of them (what typing that number presses,
    # see the router), also when one is left out: no contact sharing here.
    numbered = iter(range(1, 1000))
    buttons = [
        [
            {"label": b["label"], "data": b["data"], "request": b.get("request"), "n": n}
            for b, n in ((b, next(numbered)) for b in row)
            if b.get("request") != "contact"
        ]
        for row in payload.get("buttons") or []
    ]
    message: dict[str, Any] = {"text": payload["text"], "buttons": [r for r in buttons if r]}
    if payload.get("once"):
        message["once"] = True
    if payload.get("chart"):  # a digest chart the web channel serves to this session
        file = {"kind": "photo", "url": payload["chart"]}
    if file:
        message["file"] = file
    return message


_TAG = re.compile(r"</?(b|i|u|s|code|pre)>")


def _plain(text: str) -> str:
    """Officer cards are HTML for Telegram; the web page shows text (textContent)."""
    return unescape(_TAG.sub("", text))


def _as_text(payload: Payload) -> str:
    """Pins and charts as text lines (a chart file is not served to the page)."""
    if payload["t"] == "pin":
        lat, lon = payload["lat"], payload["lon"]
        return f"📍 {lat:.5f}, {lon:.5f} https://www.openstreetmap.org/?mlat={lat}&mlon={lon}"
    return f"📊 {payload.get('caption') or ''} ({Path(payload['path']).name})"
