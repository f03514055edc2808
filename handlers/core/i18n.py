"""Message catalogs (gettext .po via Babel), Vietnamese first; locale passed per call."""

from __future__ import annotations

import html
from pathlib import Path

from babel.messages.pofile import read_po

from handlers.core.events import Msg

LOCALES = ("vi", "en")
DEFAULT_DIR = Path(__file__).parent.parent / "locales"


class Catalog:
    """Looks up stable keys in per-locale catalogs and fills named placeholders."""

    def __init__(self, directory: Path = DEFAULT_DIR, fallback: str = "vi") -> None:
        self.fallback = fallback
        self.messages: dict[str, dict[str, str]] = {}
        for locale in LOCALES:
            with (directory / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
                # A malformed entry raises here instead of being skipped with a warning.
                catalog = read_po(fh, locale=locale, abort_invalid=True)
            self.messages[locale] = {str(m.id): str(m.string) for m in catalog if m.id and m.string}

    def resolve_locale(self, hint: str | None) -> str:
        """Map a client language hint (e.g. "en-US") to a supported locale."""
        if hint:
            base = hint.split("-")[0].split("_")[0].lower()
            if base in self.messages:
                return base
        return self.fallback

    def text(self, locale: str, msg: Msg, *, escape: bool = False, channel: str = "") -> str:
        """Render a message; nested Msg parameters are rendered in the same locale.

        With `escape`, parameter values are HTML-escaped (templates are trusted markup).
        With `channel`, a `key@channel` entry, where the catalog has one, says it in that
        channel's terms (Zalo cannot share a location: its questions do not ask for one);
        the flows stay channel-neutral.
        """
        table = self.messages.get(locale) or self.messages[self.fallback]
        template = (table.get(f"{msg.key}@{channel}") if channel else None) or (
            table.get(msg.key) or self.messages[self.fallback].get(msg.key)
        )
        if template is None:
            raise KeyError(f"missing catalog key: {msg.key}")
        if not msg.params:
            return template
        values = {
            name: self.text(locale, value, escape=escape, channel=channel)
            if isinstance(value, Msg)
            else (html.escape(value, quote=False) if escape and isinstance(value, str) else value)
            for name, value in msg.params.items()
        }
        return template.format_map(values)

    def labels(self, key: str) -> list[str]:
        """Return the key's text in every locale (used to match typed button labels)."""
        return [table[key] for table in self.messages.values() if key in table]
