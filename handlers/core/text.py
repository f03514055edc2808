"""Text helpers: normalisation for storage, folding for matching, UTF-16 aware cutting."""

from __future__ import annotations

import re
import unicodedata

_FORMAT_CHARS = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u061c]")
_NON_WORD = re.compile(r"[^\w\s]", re.UNICODE)
_SPACES = re.compile(r"\s+")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_for_storage(text: str) -> str:
    """Keep the citizen's words as written (NFC); only NUL and lone surrogates (text no
    database stores and no platform sends back) become U+FFFD.

    PostgreSQL text cannot hold NUL, and both backends must store the same thing.
    """
    text = _LONE_SURROGATE.sub("\ufffd", text)
    return unicodedata.normalize("NFC", text).replace("\x00", "\ufffd")


def is_blank(text: str | None) -> bool:
    """True for None, empty, whitespace, control and invisible-format-only text."""
    if not text:
        return True
    visible = _FORMAT_CHARS.sub("", text)
    return all(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in visible)


def fold(text: str) -> str:
    """Fold for matching: strip diacritics and invisible characters, lower-case.

    "Phường Hoàn Kiếm" and "phuong hoan kiem" fold to the same string.
    """
    text = _FORMAT_CHARS.sub("", unicodedata.normalize("NFKC", text))
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    stripped = _NON_WORD.sub(" ", stripped.lower())
    return _SPACES.sub(" ", stripped).strip()


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def cut(text: str, max_units: int, ellipsis: str = "…") -> str:
    """Shorten to at most max_units UTF-16 units without splitting a character."""
    if utf16_len(text) <= max_units:
        return text
    budget = max_units - utf16_len(ellipsis)
    out: list[str] = []
    used = 0
    for ch in text:
        size = 2 if ord(ch) > 0xFFFF else 1
        if used + size > budget:
            break
        out.append(ch)
        used += size
    # Do not leave a dangling joiner or combining mark from a cut grapheme.
    while out and (out[-1] == "\u200d" or unicodedata.combining(out[-1])):
        out.pop()
    return "".join(out) + ellipsis


def split_units(text: str, max_units: int) -> list[str]:
    """Split text into chunks of at most max_units UTF-16 units, preferring line breaks."""
    chunks: list[str] = []
    rest = text
    while utf16_len(rest) > max_units:
        head = cut(rest, max_units, ellipsis="")
        newline = head.rfind("\n")
        if newline > len(head) // 2:
            head = head[: newline + 1]
        chunks.append(head)
        rest = rest[len(head) :]
    if rest or not chunks:
        chunks.append(rest)
    return chunks


def split_html(text: str, max_units: int) -> list[str]:
    """Split escaped HTML like `split_units`, but never inside an entity (`&amp;`) or a
    tag, and preferring line breaks, then spaces. Tags must not span a split point
    (officer cards keep their markup in the short header)."""
    chunks: list[str] = []
    rest = text
    while utf16_len(rest) > max_units:
        head = cut(rest, max_units, ellipsis="")
        amp, semi = head.rfind("&"), head.rfind(";")
        if amp > semi:  # cut through an entity: end before it
            head = head[:amp]
        lt, gt = head.rfind("<"), head.rfind(">")
        if lt > gt:  # cut through a tag
            head = head[:lt]
        for sep in ("\n", " "):
            at = head.rfind(sep)
            if at > len(head) // 2:
                head = head[: at + 1]
                break
        if not head:
            head = cut(rest, max_units, ellipsis="")
        chunks.append(head)
        rest = rest[len(head) :]
    if rest or not chunks:
        chunks.append(rest)
    return chunks


_CONTROLS = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u061c]")


def for_staff(text: str) -> str:
    """Citizen text as staff see it: every line set off with a bar, so it cannot pass
    for a line the system wrote (a fake "contact left by choice", say), and invisible
    or direction-changing characters shown by name (`⟦U+202E⟧`), so a file name or a
    phone number cannot be disguised. The stored text is untouched (it is evidence)."""
    if not text:
        return ""
    shown = _CONTROLS.sub(lambda m: f"⟦U+{ord(m.group()):04X}⟧", text)
    return "\n".join(f"┃ {line}" for line in shown.splitlines() or [""])
