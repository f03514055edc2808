"""Files uploaded through the web chat: type by content, metadata stripped for staff.

The original is kept untouched as evidence; the copy shown to staff has EXIF/XMP/
comment segments removed (JPEG) or text/EXIF chunks removed (PNG), so a photo's GPS
position and device do not travel further than they must. Nothing is decoded: the
bytes are only walked, so a decompression bomb costs nothing here.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


@dataclass(frozen=True, slots=True)
class Sniffed:
    kind: str  # photo · video · audio · document
    mime: str


def sniff(head: bytes) -> Sniffed | None:
    """Identify an allowed type from its first bytes; None for anything else."""
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("photo", "image/jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("photo", "image/png")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed("photo", "image/gif")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed("photo", "image/webp")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B "):
            return Sniffed("audio", "audio/mp4")
        return Sniffed("video", "video/quicktime" if brand == b"qt  " else "video/mp4")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Sniffed("video", "video/webm")
    if head.startswith(b"OggS"):
        return Sniffed("audio", "audio/ogg")
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return Sniffed("audio", "audio/mpeg")
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return Sniffed("audio", "audio/wav")
    if head.startswith(b"%PDF-"):
        return Sniffed("document", "application/pdf")
    return None


def strip_jpeg(data: bytes) -> bytes:
    """Drop APP1–APP15 (EXIF, XMP, …) and COM segments; keep the image data."""
    out = bytearray(data[:2])
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xDA:  # start of scan: the rest is image data
            out += data[i:]
            return bytes(out)
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        segment = data[i : i + 2 + length]
        if not (0xE1 <= marker <= 0xEF or marker == 0xFE):
            out += segment
        i += 2 + length
    out += data[i:]
    return bytes(out)


_PNG_DROP = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"}


def strip_png(data: bytes) -> bytes:
    """Drop text, EXIF and time chunks."""
    out = bytearray(data[:8])
    i = 8
    while i + 8 <= len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        kind = data[i + 4 : i + 8]
        chunk = data[i : i + 12 + length]
        if kind not in _PNG_DROP:
            out += chunk
        i += 12 + length
    return bytes(out)


_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")  # 16 random bytes, hex


# ISO media (MP4, MOV, M4A) boxes that hold metadata: phones write the recording place
# (`©xyz`), device and owner there. Adobe's XMP travels in a `uuid` box.
_META_BOXES = {b"udta", b"meta"}
_XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf"}  # where metadata boxes nest


def strip_iso_media(data: bytes) -> bytes:
    """Blank metadata boxes in place: each becomes a `free` box of zeros of the same
    size. Removing them would shift the media data, which the sample tables address
    by absolute offset; a `free` box is skipped by every player."""
    out = bytearray(data)

    def walk(start: int, end: int) -> None:
        i = start
        while i + 8 <= end:
            size = int.from_bytes(out[i : i + 4], "big")
            kind = bytes(out[i + 4 : i + 8])
            header = 8
            if size == 1 and i + 16 <= end:
                size, header = int.from_bytes(out[i + 8 : i + 16], "big"), 16
            elif size == 0:
                size = end - i
            if size < header or i + size > end:
                return  # malformed: leave the rest as it is (the original is kept)
            xmp = kind == b"uuid" and bytes(out[i + header : i + header + 16]) == _XMP_UUID
            if kind in _META_BOXES or xmp:
                out[i + 4 : i + 8] = b"free"
                out[i + header : i + size] = bytes(size - header)
            elif kind in _CONTAINERS:
                walk(i + header, i + size)
            i += size

    walk(0, len(out))
    return bytes(out)


_WEBP_DROP = {b"EXIF", b"XMP "}


def strip_webp(data: bytes) -> bytes:
    """Drop the EXIF and XMP chunks and clear their flags in the VP8X header."""
    if len(data) < 12:
        return data
    chunks = bytearray()
    i = 12
    while i + 8 <= len(data):
        kind = data[i : i + 4]
        length = int.from_bytes(data[i + 4 : i + 8], "little")
        chunk = bytearray(data[i : i + 8 + length + (length & 1)])  # chunks are padded
        if kind == b"VP8X" and len(chunk) >= 9:
            chunk[8] &= ~(0x08 | 0x04) & 0xFF  # the EXIF and XMP flags
        if kind not in _WEBP_DROP:
            chunks += chunk
        i += 8 + length + (length & 1)
    return b"RIFF" + (len(chunks) + 4).to_bytes(4, "little") + b"WEBP" + bytes(chunks)


# File name extensions for the types we accept (files we write or upload are named
# generically, never with the citizen's own file name).
EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "audio/mp4": ".m4a",
    "audio/ogg": ".ogg",
    "audio/wav": ".wav",
    "audio/mpeg": ".mp3",
    "application/pdf": ".pdf",
}

_SEALED = b"TBE1"  # format tag of an encrypted original: tag, 12-byte nonce, AES-GCM


class UploadStore:
    """Keeps originals and staff copies under a directory, named by random ids.

    The original is evidence exactly as sent — GPS, device and all — so it is
    encrypted at rest (AES-256-GCM, key derived from the service secret, the upload id
    as associated data): a copy of the directory alone reveals nothing. Staff see the
    stripped copy; `tipbot evidence` decrypts an original for a case file.
    """

    def __init__(self, root: Path, channel: str, secret: bytes) -> None:
        self.originals = root / "originals"
        self.clean = root / "clean"
        self.channel = channel  # the channel whose file references these ids are
        self._aead = AESGCM(hashlib.sha256(b"tipbot/evidence\x00" + secret).digest())

    def clean_path(self, upload_id: str) -> Path | None:
        """Where the staff copy of an upload is (None for anything not an upload id,
        so a reference can never name another path)."""
        return self.clean / upload_id if _UPLOAD_ID.fullmatch(upload_id) else None

    def save(self, data: bytes, sniffed: Sniffed) -> str:
        self.originals.mkdir(parents=True, exist_ok=True)
        self.clean.mkdir(parents=True, exist_ok=True)
        upload_id = secrets.token_hex(16)
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, data, upload_id.encode())
        (self.originals / upload_id).write_bytes(_SEALED + nonce + sealed)
        if sniffed.mime == "image/jpeg":
            cleaned = strip_jpeg(data)
        elif sniffed.mime == "image/png":
            cleaned = strip_png(data)
        elif sniffed.mime == "image/webp":
            cleaned = strip_webp(data)
        elif sniffed.mime in ("video/mp4", "video/quicktime", "audio/mp4"):
            cleaned = strip_iso_media(data)
        else:
            cleaned = data  # GIF, WebM, Ogg, MP3, WAV, PDF: metadata not stripped yet
        (self.clean / upload_id).write_bytes(cleaned)
        return upload_id

    def read_original(self, upload_id: str) -> bytes | None:
        """The evidence as sent; None if there is none (or it does not decrypt with
        this secret)."""
        if self.clean_path(upload_id) is None:
            return None
        path = self.originals / upload_id
        if not path.is_file():
            return None
        blob = path.read_bytes()
        if not blob.startswith(_SEALED):
            return blob  # stored before originals were encrypted: readable as it is
        nonce, sealed = blob[4:16], blob[16:]
        try:
            return self._aead.decrypt(nonce, sealed, upload_id.encode())
        except InvalidTag:
            return None

    def read_clean(self, upload_id: str) -> bytes | None:
        """The copy staff see (metadata stripped); None if there is none."""
        path = self.clean_path(upload_id)
        return path.read_bytes() if path is not None and path.is_file() else None
