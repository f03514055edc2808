"""Metadata removal that fails closed (issue 10, finding 3): what staff get of an
upload is the picture's pixels, a PDF without its author, or nothing at all."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pikepdf
from PIL import Image

from bot.uploads import UploadStore, sniff
from tests.journeys import GPS, photo_with_location

SECRET = b"k" * 32


def _exif_segment() -> bytes:
    exif = b"Exif\x00\x00" + GPS
    return b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif


def _store(tmp_path: Path) -> UploadStore:
    return UploadStore(tmp_path / "uploads", "web", SECRET)


def _staff_copy(store: UploadStore, data: bytes) -> bytes | None:
    sniffed = sniff(data[:64])
    assert sniffed is not None
    ref = store.save(data, sniffed)
    assert store.read_original(ref) == data  # the evidence is always kept as sent
    return store.read_clean(ref)


def test_a_fill_byte_before_the_exif_segment_does_not_smuggle_it_through(
    tmp_path: Path,
) -> None:
    photo = photo_with_location()
    # A legal 0xFF fill byte before APP1 stopped the old segment walker.
    sneaky = photo[:2] + b"\xff" + _exif_segment() + photo[2:]
    clean = _staff_copy(_store(tmp_path), sneaky)
    assert clean is not None and GPS not in clean
    assert Image.open(io.BytesIO(clean)).size == (64, 48)


def test_data_after_the_end_of_image_is_not_kept(tmp_path: Path) -> None:
    trailer = b"Nguyen_Van_Lan CCCD 001234567890"
    clean = _staff_copy(_store(tmp_path), photo_with_location() + trailer)
    assert clean is not None and trailer not in clean and GPS not in clean


def test_a_pdf_loses_its_author_and_xmp(tmp_path: Path) -> None:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.docinfo["/Author"] = "Nguyen Van Lan"
    pdf.docinfo["/Producer"] = "Phone Scanner of Nguyen Van Lan"
    with pdf.open_metadata() as meta:
        meta["dc:creator"] = ["Nguyen Van Lan"]
    out = io.BytesIO()
    pdf.save(out)
    data = out.getvalue()
    assert b"Nguyen Van Lan" in data
    clean = _staff_copy(_store(tmp_path), data)
    assert clean is not None and b"Nguyen Van Lan" not in clean
    assert len(pikepdf.open(io.BytesIO(clean)).pages) == 1


def test_heic_and_what_cannot_be_cleaned_get_no_staff_copy(tmp_path: Path) -> None:
    store = _store(tmp_path)
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    assert sniff(heic[:64]).mime == "image/heic"  # type: ignore[union-attr]
    assert _staff_copy(store, heic) is None  # not taken for an MP4 video
    not_really = b"\xff\xd8\xff\xe0" + b"garbage that does not decode" * 10
    assert _staff_copy(store, not_really) is None
    assert _staff_copy(store, b"OggS" + b"\x00" * 100) is None


def test_a_decompression_bomb_is_refused_cheaply(tmp_path: Path) -> None:
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, "PNG")  # 400 megapixels, a few KB
    assert _staff_copy(_store(tmp_path), out.getvalue()) is None
