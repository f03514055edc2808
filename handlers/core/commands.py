"""Recognise "/command args" in typed text, the same way on every channel."""

from __future__ import annotations

import unicodedata

_INVISIBLE = {"Cf", "Cc"}


def parse_command(text: str, own_name: str | None = None) -> tuple[str, str] | None:
    """Return (command, args) for "/cmd[@bot] args", or None if it is not a command.

    Invisible characters never hide a command: "/ad\\u200bmin" does not become
    "/admin". A command addressed to another bot, or with any such character, comes
    back with an empty name, which every flow answers as an unknown command.
    """
    if not text.startswith("/"):
        return None
    head, _, args = text.partition(" ")
    name = unicodedata.normalize("NFKC", head[1:])
    name, _, target = name.partition("@")
    if target and own_name and target.lower() != own_name.lower():
        return ("", args)
    if (
        any(unicodedata.category(ch) in _INVISIBLE for ch in name)
        or not name.isascii()
        or not name.replace("_", "").isalnum()
    ):
        return ("", args)
    return (name.lower(), args.strip())
