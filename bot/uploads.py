"""Files uploaded through the web chat: type by content, metadata removed for staff,
failing closed.

The original is kept untouched (and encrypted) as evidence. The copy shown to staff
keeps nothing but what is understood to be safe:
- pictures are decoded and re-encoded by Pillow (within its decompression-bomb
  limits), so no EXIF, XMP, comment, fill byte or trailing data can survive;
- PDFs lose their document information and XMP metadata (pikepdf/qpdf);
- MP4/MOV/M4A have their metadata boxes blanked in place;
- anything else (HEIC, WebM, Ogg, MP3, WAV, a file that does not decode) gets no
  staff copy at all: staff are told a file is kept as evidence, and `tipbot evidence`
  writes it out on the host.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
import warnings
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
        if brand in _HEIF_BRANDS:  # HEIC/HEIF/AVIF photos: ISO boxes, not a video
            return Sniffed("photo", "image/heic")
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


_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif"}
# Pillow refuses (rather than warns about) anything larger: a decompression bomb.
MAX_PIXELS = 40_000_000


def reencode_image(data: bytes) -> bytes | None:
    """The picture's pixels and nothing else: decoded and written afresh (JPEG for
    photos, PNG where there is transparency or a palette). None if it does not decode
    cleanly or is too large."""
    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_PIXELS:
                    return None
                image.seek(0)  # an animation: its first frame
                upright = ImageOps.exif_transpose(image)
                out = io.BytesIO()
                if upright.mode in ("RGBA", "LA", "P", "PA") or image.format == "PNG":
                    upright.convert(
                        "RGBA" if "A" in upright.mode or upright.mode == "P" else "RGB"
                    ).save(out, "PNG")
                else:
                    upright.convert("RGB").save(out, "JPEG", quality=90)
                return out.getvalue()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning, EOFError):  # fmt: skip
        return None


def clean_pdf(data: bytes) -> bytes | None:
    """A PDF without its document information (author, creator, dates) and XMP
    metadata; None if qpdf cannot read it."""
    import pikepdf

    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            if "/Info" in pdf.trailer:
                del pdf.trailer["/Info"]
            if "/Metadata" in pdf.Root:
                del pdf.Root["/Metadata"]
            for page in pdf.pages:
                if "/Metadata" in page.obj:
                    del page.obj["/Metadata"]
            out = io.BytesIO()
            pdf.save(out, fix_metadata_version=False, deterministic_id=True)
            return out.getvalue()
    except (pikepdf.PdfError, ValueError, OSError):
        return None


def staff_copy(data: bytes, sniffed: Sniffed) -> bytes | None:
    """What staff may see of an upload, or None when it cannot be made safe."""
    if sniffed.kind == "photo" and sniffed.mime != "image/heic":
        return reencode_image(data)
    if sniffed.mime == "application/pdf":
        return clean_pdf(data)
    if sniffed.mime in ("video/mp4", "video/quicktime", "audio/mp4"):
        return strip_iso_media(data)
    return None


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


# File name extensions for the types we accept (files we write or upload are named
# generically, never with the citizen's own file name).
EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/heic": ".heic",
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
        for folder in (self.originals.parent, self.originals, self.clean):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        upload_id = secrets.token_hex(16)
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, data, upload_id.encode())
        _write_private(self.originals / upload_id, _SEALED + nonce + sealed)
        cleaned = staff_copy(data, sniffed)
        if cleaned is not None:
            _write_private(self.clean / upload_id, cleaned)
        return upload_id

    def reseal_originals(self, new: UploadStore) -> int:
        """Re-encrypt every original under `new`'s key (key rotation)."""
        count = 0
        for upload_id in self.stored_ids(older_than=float("inf")):
            data = self.read_original(upload_id)
            if data is None:
                continue  # already under the new key, or not ours
            nonce = secrets.token_bytes(12)
            sealed = new._aead.encrypt(nonce, data, upload_id.encode())
            _write_private(self.originals / upload_id, _SEALED + nonce + sealed)
            count += 1
        return count

    def stored_ids(self, *, older_than: float) -> list[str]:
        """Upload ids whose original was written before `older_than` (epoch seconds)."""
        if not self.originals.is_dir():
            return []
        return [
            path.name
            for path in self.originals.iterdir()
            if _UPLOAD_ID.fullmatch(path.name) and path.stat().st_mtime < older_than
        ]

    def delete(self, upload_id: str) -> None:
        """Forget an upload: the original and the staff copy."""
        if self.clean_path(upload_id) is None:
            return
        for folder in (self.originals, self.clean):
            (folder / upload_id).unlink(missing_ok=True)

    def has_staff_copy(self, upload_id: str) -> bool:
        path = self.clean_path(upload_id)
        return path is not None and path.is_file()

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


def _write_private(path: Path, data: bytes) -> None:
    """Write a file only the service's user can read, whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
