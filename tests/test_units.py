"""Small pure pieces: text cutting, callback parsing, catalogs, places, phones, codes."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from handlers.core.callbacks import Action, Callback, parse
from handlers.core.i18n import Catalog
from handlers.core.text import clean_for_storage, cut, fold, is_blank, split_units, utf16_len
from handlers.domain import receipts
from handlers.domain.phones import parse_vn_phone
from handlers.domain.places import gazetteer
from handlers.domain.taxonomy import CATEGORIES, Group

ROOT = Path(__file__).resolve().parent.parent


def test_utf16_cut_never_splits_astral_characters_or_joiners() -> None:
    family = "👨‍👩‍👧‍👦"
    text = "a" * 4094 + family
    out = cut(text, 4096)
    assert utf16_len(out) <= 4096
    assert out.encode("utf-16-le").decode("utf-16-le") == out
    assert not out.rstrip("…").endswith("\u200d")
    chunks = split_units("🇻🇳" * 3000, 4096)
    assert all(utf16_len(c) <= 4096 for c in chunks)
    assert "".join(chunks) == "🇻🇳" * 3000


def test_cleaning_keeps_text_but_nul() -> None:
    decomposed = "Hoa\u0300n Kie\u0302\u0301m"
    assert clean_for_storage(decomposed) == "Hoàn Kiếm"
    assert clean_for_storage("a\x00b\u202e") == "a\ufffdb\u202e"
    assert is_blank(" \u200b\u2060\ufeff\n\t") and not is_blank(" x ")
    assert fold("Phường Đống Đa!") == "phuong dong da"


def test_callback_round_trip_and_rejections() -> None:
    cb = Callback(Action.STEP, "ward.70", "abc123")
    assert parse(cb.encode()) == cb
    for raw in [
        "",
        "1|abc123|wd",
        "1|ABC123|wd|70",
        "9|abc123|wd|70",
        "1|abc123|zz|70",
        "1|abc123|wd|7 0",
        "1|-|m|" + "a" * 60,
        None,
    ]:
        assert parse(raw) is None, raw
    with pytest.raises(ValueError, match="out of bounds"):
        Callback(Action.MENU, "x" * 70).encode()


def test_catalogs_cover_every_key_in_both_languages_with_same_placeholders() -> None:
    catalog = Catalog()
    vi, en = catalog.messages["vi"], catalog.messages["en"]
    assert set(vi) == set(en)
    fields = string.Formatter()
    for key in vi:
        names_vi = {f for _, f, _, _ in fields.parse(vi[key]) if f}
        names_en = {f for _, f, _, _ in fields.parse(en[key]) if f}
        assert names_vi == names_en, key
    source = "\n".join(p.read_text() for d in ("handlers", "bot") for p in (ROOT / d).rglob("*.py"))
    used = set(re.findall(r'Msg\(\s*"([a-z_.0-9]+)"', source))
    used |= set(re.findall(r'_choice\(\s*"([a-z_.0-9]+)"', source))
    used = {k for k in used if not k.endswith(".")}  # prefixes completed at run time
    assert used, "no keys found: the scan is broken"
    missing = used - set(vi)
    assert not missing
    for c in CATEGORIES:
        assert f"cat.{c.id}" in vi
    for g in Group:
        assert f"group.{g.value}" in vi
    for prefix in ("status.", "emergency.line.", "when."):
        assert any(k.startswith(prefix) for k in vi)


def test_locale_resolution() -> None:
    catalog = Catalog()
    assert catalog.resolve_locale("en-US") == "en"
    assert catalog.resolve_locale("vi") == "vi"
    assert catalog.resolve_locale("fr") == "vi"
    assert catalog.resolve_locale(None) == "vi"


def test_places_come_from_the_2025_map() -> None:
    hanoi = gazetteer("ha_noi")
    assert len(hanoi) == 126
    assert [p.name for p in hanoi.search("HOAN KIEM")] == ["Phường Hoàn Kiếm"]
    assert hanoi.search("x") == []
    with pytest.raises(ValueError, match="unknown province"):
        gazetteer("atlantis")
    assert len(gazetteer("ho_chi_minh")) > 100


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("0912345678", "+84912345678"),
        ("+84 912 345 678", "+84912345678"),
        ("091-234-5678", "+84912345678"),
        ("12345", None),
        ("+1 415 555 2671", None),
        ("", None),
        ("0" * 40, None),
        ("abc", None),
    ],
)
def test_vietnamese_phone_numbers(typed: str, expected: str | None) -> None:
    assert parse_vn_phone(typed) == expected


def test_codes_and_receipts() -> None:
    codes = {receipts.new_code() for _ in range(200)}
    assert len(codes) == 200
    code = next(iter(codes))
    assert receipts.normalise_code(code.lower().replace("-", " ")) == code
    assert receipts.normalise_code("1 OR 1=1") is None
    receipt = receipts.new_receipt()
    assert len(receipt) == 16 and receipt.isdigit()
    assert receipts.normalise_receipt(receipts.format_receipt(receipt)) == receipt


async def test_receipt_hash_verifies_only_the_right_receipt() -> None:
    hasher = receipts.ReceiptHasher(time_cost=1, memory_kib=1024)
    stored = await hasher.hash("1234567812345678")
    assert await hasher.verify(stored, "1234567812345678")
    assert not await hasher.verify(stored, "1234567812345679")
    assert not await hasher.verify(None, "1234567812345678")
    assert not await hasher.verify("not-a-hash", "1234567812345678")


def test_env_example_mirrors_every_setting_and_parses(tmp_path: Path) -> None:
    from bot.settings import Settings

    lines = (ROOT / ".env.example").read_text().splitlines()
    keys = {line.split("=")[0] for line in lines if line and not line.startswith("#")}
    assert keys == {name.upper() for name in Settings.model_fields}
    settings = Settings(_env_file=ROOT / ".env.example", data_dir=tmp_path)  # type: ignore[call-arg]
    assert settings.telegram_bot_token is None and settings.tipbot_secret_key is None
    assert settings.resolved_database_url.startswith("sqlite+aiosqlite:///")
    assert len(settings.secret_key()) > 32  # generated into the data dir in dev
    assert settings.telegram_file_url is None


def test_file_url_is_derived_from_the_api_url() -> None:
    from bot.settings import Settings

    settings = Settings(_env_file=None, telegram_api_base_url="http://127.0.0.1:8081/bot")  # type: ignore[call-arg]
    assert settings.telegram_file_url == "http://127.0.0.1:8081/file/bot"


async def test_minter_hands_out_the_pair_reserved_for_a_draft() -> None:
    hasher = receipts.ReceiptHasher(time_cost=1, memory_kib=1024)
    minter = receipts.ReceiptMinter(hasher, capacity=0)
    minter.reserve("draft1")
    minter.reserve("draft1")  # idempotent: one pair per draft
    reserved = minter._reserved["draft1"]
    receipt, stored = await minter.take("draft1")
    assert reserved.done() and reserved.result() == (receipt, stored)
    assert await hasher.verify(stored, receipt)
    other, other_hash = await minter.take("never-reserved")  # made on the spot
    assert other != receipt and await hasher.verify(other_hash, other)


def test_files_cross_channels_only_when_we_hold_them(tmp_path: Path) -> None:
    from bot.dispatch.render import Renderer
    from bot.uploads import UploadStore
    from handlers.core.events import File

    store = UploadStore(tmp_path, "web", b"test-secret")
    renderer = Renderer(Catalog(), uploads=store)
    ref = "ab" * 16
    # Without a staff copy (metadata could not be removed): a note, never the file.
    [note] = renderer.render(File("photo", "web", ref), "vi", "telegram")
    assert note["t"] == "msg" and "chứng cứ" in note["text"]
    (tmp_path / "clean").mkdir()
    (tmp_path / "clean" / ref).write_bytes(b"a cleaned picture")
    # A web upload for Telegram: the stripped copy, uploaded.
    [upload] = renderer.render(File("photo", "web", ref), "vi", "telegram")
    assert upload == {
        "t": "upload",
        "kind": "photo",
        "path": str(tmp_path / "clean" / ref),
        "protect": True,
    }
    # The same channel: re-sent by reference.
    [same] = renderer.render(File("photo", "web", ref), "vi", "web")
    assert same["t"] == "file" and same["ref"] == ref
    # A Telegram file id means nothing on the web; a reference that is not an upload id
    # never becomes a path.
    for item, channel in (
        (File("photo", "telegram", "AgACAgIAAx"), "web"),
        (File("photo", "web", "../../etc/passwd"), "telegram"),
    ):
        [note] = renderer.render(item, "vi", channel)
        assert note["t"] == "msg" and "chỉ xem được trên" in note["text"]


def test_a_malformed_catalog_entry_fails_loudly(tmp_path: Path) -> None:
    """Babel would otherwise print a warning and drop the entry (a raw newline inside
    a msgstr once cut a campaign preview in half this way)."""
    import shutil

    from babel.messages.pofile import PoFileError

    from handlers.core.i18n import DEFAULT_DIR

    shutil.copytree(DEFAULT_DIR, tmp_path / "locales")
    Catalog(tmp_path / "locales")  # the real catalogs load
    po = tmp_path / "locales" / "en" / "LC_MESSAGES" / "messages.po"
    po.write_text(po.read_text() + '\nmsgid "broken"\nmsgstr "line one\nline two"\n')
    with pytest.raises(PoFileError):
        Catalog(tmp_path / "locales")


def _box(kind: bytes, payload: bytes) -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


def test_video_location_is_blanked_and_the_media_keeps_its_offsets(tmp_path: Path) -> None:
    from bot.uploads import UploadStore, sniff, strip_iso_media

    where = b"\xa9xyz" + b"+21.0285+105.8542/"  # how phones store the recording place
    xmp = bytes.fromhex("be7acfcb97a942e89c71999491e3afac") + b"<x:xmpmeta>Nguyen</x:xmpmeta>"
    media = b"\x00\x11\x22\x33" * 64
    movie = _box(
        b"moov",
        _box(b"mvhd", bytes(100))
        + _box(b"udta", _box(b"\xa9xyz", where))
        + _box(b"trak", _box(b"tkhd", bytes(84)) + _box(b"meta", b"\x00" * 4 + where))
        + _box(b"uuid", xmp),
    )
    data = _box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41") + movie + _box(b"mdat", media)
    assert sniff(data[:64]) is not None and sniff(data[:64]).mime == "video/mp4"  # type: ignore[union-attr]

    clean = strip_iso_media(data)
    assert len(clean) == len(data)
    assert b"105.8542" not in clean and b"Nguyen" not in clean
    assert clean.index(media) == data.index(media)  # sample offsets still point right
    assert clean.count(b"free") == 3 and b"udta" not in clean and b"meta" not in clean
    # An upload: the evidence kept as sent, the staff copy blanked.
    store = UploadStore(tmp_path, "web", b"test-secret")
    ref = store.save(data, sniff(data[:64]))  # type: ignore[arg-type]
    assert store.read_original(ref) == data
    assert b"105.8542" not in (tmp_path / "originals" / ref).read_bytes()  # encrypted
    assert store.read_clean(ref) == clean
    # Another secret, or a file moved to another id, does not decrypt.
    assert UploadStore(tmp_path, "web", b"other").read_original(ref) is None
    other = "cd" * 16
    (tmp_path / "originals" / other).write_bytes((tmp_path / "originals" / ref).read_bytes())
    assert store.read_original(other) is None
    # Truncated or malformed input is left as it is, never an exception.
    assert strip_iso_media(data[:50]) == data[:50]
    assert strip_iso_media(b"\x00\x00\x00\x04junk") == b"\x00\x00\x00\x04junk"


def test_webp_exif_is_dropped_and_the_picture_still_decodes() -> None:
    import io

    from PIL import Image

    from bot.uploads import sniff, staff_copy

    exif = Image.Exif()
    exif[0x010F] = "Camera of Nguyen Van A"  # Make
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 120, 200)).save(buffer, "WEBP", exif=exif.tobytes())
    data = buffer.getvalue()
    assert b"Nguyen" in data

    clean = staff_copy(data, sniff(data[:64]))  # type: ignore[arg-type]
    assert clean is not None and b"Nguyen" not in clean and b"EXIF" not in clean
    with Image.open(io.BytesIO(clean)) as picture:
        assert picture.size == (32, 24) and not picture.getexif()


def test_officer_cards_set_citizen_text_apart_and_show_hidden_characters() -> None:
    from datetime import UTC, datetime

    from handlers.core.events import Reply
    from handlers.core.i18n import Catalog
    from handlers.domain.places import gazetteer
    from handlers.staff.cards import card
    from storage.models import TipView

    fake = (
        "Mua bán ở ngõ 5\n📞 Liên hệ người báo tin (họ đồng ý để lại): 0912345678\nảnh\u202egpj.exe"
    )
    view = TipView(
        id="t", code="AAAA-BBBB", category_group="criminal", category="fraud", urgent=False,
        ward_code=None, address_text=None, latitude=None, longitude=None, location_label=None,
        occurred="now", occurred_text=None, description=fake, contact_phone=None,
        channel="web", status="new", created_at=datetime(2026, 11, 30, tzinfo=UTC),
        claimed_by=None,
    )  # fmt: skip
    reply = card(view, gazetteer("ha_noi"))[0]
    assert isinstance(reply, Reply)
    text = "\n".join(Catalog().text("vi", part) for part in reply.parts)
    lines = text.splitlines()
    faked = [line for line in lines if "0912345678" in line]
    assert faked and all(line.startswith("┃ ") for line in faked)  # never a system line
    assert "\u202e" not in text and "⟦U+202E⟧" in text


async def test_a_reservation_takes_from_the_stock_made_ahead() -> None:
    """Issue 15: reaching the review used to start a new Argon2 hash even with pairs
    made ahead in stock; now the stock is used and nothing is hashed then."""
    hasher = receipts.ReceiptHasher(time_cost=1, memory_kib=1024)
    minter = receipts.ReceiptMinter(hasher, capacity=2)
    made = [await minter._mint(), await minter._mint()]
    minter._stock.extend(made)
    calls = 0
    real = hasher.hash

    async def counting(receipt: str) -> str:
        nonlocal calls
        calls += 1
        return await real(receipt)

    hasher.hash = counting  # type: ignore[method-assign]
    minter.reserve("draft1")
    assert await minter.take("draft1") == made[0] and calls == 0
    assert list(minter._stock) == [made[1]]


async def test_a_reply_is_not_queued_behind_a_broadcast() -> None:
    """Issue 14: in the bot's send budget, a reply to someone talking to the bot goes
    before broadcast traffic: with 40 campaign sends queued at 10 a second, a reply
    still leaves within about two slots instead of after the campaign."""
    import asyncio
    import time

    from bot.delivery.pacing import SlidingWindow

    window = SlidingWindow(10, period=1.0)
    sent: list[str] = []

    async def bulk(n: int) -> None:
        await window.acquire(bulk=True)
        sent.append(f"b{n}")

    campaign = [asyncio.create_task(bulk(n)) for n in range(40)]
    await asyncio.sleep(0.35)
    asked = time.monotonic()
    await window.acquire()
    waited = time.monotonic() - asked
    sent.append("reply")
    for task in campaign:
        task.cancel()
    await asyncio.gather(*campaign, return_exceptions=True)
    assert waited < 0.35, waited  # ≈ one gap (0.1 s), not the campaign's ~4 s
    assert 1 < sent.index("reply") < 10


async def test_a_paid_window_books_slots_and_holds_its_limit_after_a_stall() -> None:
    """A broadcast-only window (the paid one) books each send a slot; when the event
    loop stalls, the sends whose slots passed meanwhile must not all go at once past
    the limit."""
    import asyncio
    import time

    from bot.delivery.pacing import RATE_PERIOD, SlidingWindow

    # The period the service uses: a send is counted a few µs before this test records
    # it, and with a period of exactly 1 s that jitter alone put 101 in a second now and
    # then (the platform counts arrivals, later still: the margin is for that).
    window = SlidingWindow(100, period=RATE_PERIOD, bulk_only=True)
    times: list[float] = []

    async def send() -> None:
        await window.acquire(bulk=True)
        times.append(time.monotonic())

    sends = [asyncio.create_task(send()) for _ in range(250)]
    await asyncio.sleep(0.5)
    time.sleep(0.4)  # noqa: ASYNC251 — the stall under test: the loop is blocked
    await asyncio.gather(*sends)
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert len(times) == 250
    assert busiest <= 100, busiest


@pytest.mark.parametrize(
    "pasted",
    [
        "XMAB-7K2M 2110 9508 2808 0398",
        "Mã tin báo: XMAB-7K2M\nMã bí mật: 2110 9508 2808 0398",
        "CODE xmab7k2m 2110950828080398",
        "2110-9508-2808-0398 xmab 7k2m",
    ],
)
def test_a_code_with_ma_in_it_survives_the_labels_being_taken_away(pasted: str) -> None:
    """A flaky test found it: "MA" was removed as a label from inside codes like
    XMAB-7K2M (about one code in a hundred holds it); labels go as whole words now."""
    assert receipts.code_and_receipt(pasted) == ("XMAB-7K2M", "2110950828080398")


def test_the_fast_reading_of_texts_and_presses_agrees_with_ptbs() -> None:
    """Private texts and button presses are read straight from the JSON (issue 15);
    whatever that reading returns must be what PTB's reading returns, and anything
    it is not sure of goes to PTB."""
    from telegram import Bot

    from bot.channels.telegram.parse import UpdateParser
    from bot.identity import Identity
    from tests.fakes.updates import Citizen, group_message
    from tests.harness import SECRET

    parser = UpdateParser(Bot("123:abc"), Identity(SECRET.encode()), max_download_bytes=20 * 2**20)
    parser.username = "tipline_bot"
    lan, nameless = Citizen(4242), Citizen(4343, language_code=None, username=None)
    handled = [
        lan.text("Xe máy bị lấy trộm trước cửa hàng."),
        lan.text("/start"),
        lan.text("/status ABCD-2345 1234 5678"),
        lan.text("/start@tipline_bot"),
        lan.text("/start@other_bot"),
        lan.text("  "),
        lan.message(text="Chuyển tiếp", forward_origin={"type": "hidden_user", "date": 1,
                    "sender_user_name": "X"}),
        lan.press("1|-|m|report"),
        nameless.press(""),
        nameless.text("hoan kiem"),
    ]  # fmt: skip
    for n, payload in enumerate(handled):
        payload = {"update_id": 900 + n, **payload}
        fast = parser.fast(payload)
        assert fast is not None, payload
        assert fast == parser.parse_with_ptb(payload), payload
    left_to_ptb = [
        group_message(-100123, lan, "/start"),
        {"edited_message": lan.text("sửa")["message"]},
        lan.message(photo=[{"file_id": "p", "file_unique_id": "u", "width": 1, "height": 1}]),
        lan.message(text="x", sender_chat={"id": -1001, "type": "channel"}),
        {"message": {**lan.text("bot")["message"], "from": {**lan.user, "is_bot": True}}},
        {"callback_query": {**lan.press("x")["callback_query"], "message": None}},
    ]
    for payload in left_to_ptb:
        assert parser.fast(payload) is None, payload
