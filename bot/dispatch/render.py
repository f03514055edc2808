"""Rendering: replies (catalog keys and parameters) become channel-neutral outbox
payloads in the recipient's locale, split to fit the platform's limits."""

from __future__ import annotations

from pathlib import Path

from bot.channels.base import Payload
from bot.uploads import UploadStore
from handlers.core.events import Chart, File, Item, Leave, Msg, Pin, Toast
from handlers.core.i18n import Catalog
from handlers.core.text import split_html, split_units

MAX_TEXT_UNITS = 4096
CAPTION_UNITS = 1024  # Telegram's limit for a photo's caption


class Renderer:
    """Turns replies (catalog keys) into channel-neutral outbox payloads in a locale."""

    def __init__(self, catalog: Catalog, uploads: UploadStore | None = None) -> None:
        self.catalog = catalog
        self.uploads = uploads  # files we hold ourselves (web uploads) can go anywhere

    def _held(self, item: File) -> Path | None:
        if self.uploads is None or item.channel != self.uploads.channel:
            return None
        return self.uploads.clean_path(item.file_ref)

    def _evidence_only(self, item: File) -> bool:
        """A file we hold but could not make safe to show (no staff copy)."""
        return self._held(item) is not None and not (
            self.uploads is not None and self.uploads.has_staff_copy(item.file_ref)
        )

    def render(self, item: Toast | Item | Leave, locale: str, channel: str = "") -> list[Payload]:
        """Payloads for one item; `channel` is where they go. A file that belongs to
        another channel cannot be re-sent there: a file we hold is uploaded, anything
        else becomes its caption alone or, without one, a short note."""
        if isinstance(item, Toast):
            text = self.catalog.text(locale, item.text) if item.text else None
            return [{"t": "answer", "id": item.callback_id, "text": text}]
        if isinstance(item, Leave):
            return [{"t": "leave"}]
        if isinstance(item, Pin):
            return [{"t": "pin", "lat": item.latitude, "lon": item.longitude, "protect": True}]
        if isinstance(item, File):
            if self._evidence_only(item):
                note = Msg("officer.file_evidence_only", {"kind": item.kind})
                return [{"t": "msg", "text": self.catalog.text(locale, note)}]
            payload: Payload = {"t": "file", "kind": item.kind, "ref": item.file_ref}
            if channel and item.channel != channel:
                path = self._held(item)
                if path is None:  # another platform's file id means nothing here
                    if item.caption is not None:  # a campaign's photo: its text alone
                        return self.render(item.caption, locale, channel)
                    note = Msg(
                        "officer.file_elsewhere", {"kind": item.kind, "channel": item.channel}
                    )
                    return [{"t": "msg", "text": self.catalog.text(locale, note)}]
                # A file we hold: uploaded (the metadata-stripped copy) where it goes.
                payload = {"t": "upload", "kind": item.kind, "path": str(path)}
            if item.protect:
                payload["protect"] = True
            if item.caption is not None:
                caption = self.render(item.caption, locale, channel)
                text = "\n\n".join(p["text"] for p in caption)
                payload["caption"] = split_units(text, CAPTION_UNITS)[0]
                if caption[-1].get("buttons"):
                    payload.update(buttons=caption[-1]["buttons"], kb=caption[-1]["kb"])
            return [payload]
        if isinstance(item, Chart):
            return [
                {
                    "t": "chart",
                    "path": item.path,
                    "caption": self.catalog.text(locale, item.caption),
                    "document": item.document,
                }
            ]
        escape = item.html
        text = "\n\n".join(
            self.catalog.text(locale, part, escape=escape, channel=channel) for part in item.parts
        )
        buttons = [
            [
                {"label": self.catalog.text(locale, c.label), "data": c.data, "request": c.request}
                for c in row
            ]
            for row in item.choices
        ]
        chunks = (split_html if item.html else split_units)(text, MAX_TEXT_UNITS)
        payloads: list[Payload] = [{"t": "msg", "text": chunk} for chunk in chunks]
        for payload in payloads:
            if item.html:
                payload["html"] = True
            if item.protect:
                payload["protect"] = True
            if item.once:
                payload["once"] = True
        if buttons:
            payloads[-1].update(buttons=buttons, kb=item.keyboard)
        return payloads
