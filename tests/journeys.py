"""Journeys the end-to-end tests share: a citizen walked through the report flow
(Telegram updates or the web chat's API), the tips stored, and test photos that carry
a location the way phone cameras write it."""

from __future__ import annotations

import asyncio
import io
import struct

from storage.campaigns import Campaigns
from storage.tips import TipRepository
from tests.fakes.updates import Citizen
from tests.fakes.webclient import WebCitizen
from tests.harness import Harness


async def stored_tips(bot: Harness) -> list:
    assert bot.app is not None
    async with bot.app.db.read() as conn:
        return await TipRepository(conn).recent()


async def walk_to(bot: Harness, who: Citizen, step: str) -> None:
    """Drive a citizen from /start up to (not through) the named step."""
    en = bool(who.language_code and who.language_code.startswith("en"))
    await bot.say(who, who.text("/start"))
    await bot.press(who, "Gửi tin báo" if not en else "Report a tip")
    if step == "group":
        return
    await bot.press(who, "Tội phạm" if not en else "Criminal")
    if step == "category":
        return
    await bot.press(who, "Trộm cắp" if not en else "Theft")
    if step == "urgent":
        return
    await bot.press(who, "Không" if not en else "No")
    if step == "where":
        return
    await bot.say(who, who.location())
    if step == "when":
        return
    await bot.press(who, "Hôm nay" if not en else "Today")
    if step == "describe":
        return
    await bot.say(who, who.text("Mất xe máy trước cửa nhà."))
    await bot.press(who, "Xong" if not en else "Done")
    if step == "contact":
        return
    await bot.press(who, "Ẩn danh" if not en else "anonymous")
    assert step == "review"


GPS = b"GPS-48.8584N-2.2945E-device-Pixel"


def jpeg_with_exif() -> bytes:
    """A real, decodable JPEG with an EXIF segment carrying a GPS position."""
    return photo_with_location()


def photo_with_location() -> bytes:
    """A real, decodable JPEG (drawn with Pillow, which matplotlib brings) carrying an
    EXIF segment with a GPS position, as a phone camera would."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(buffer, "JPEG")
    data = buffer.getvalue()
    exif = b"Exif\x00\x00" + GPS
    app1 = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    return data[:2] + app1 + data[2:]


async def act(bot: Harness, who: WebCitizen, response: object = None) -> list[dict]:
    await bot.settle()
    return await who.fetch()


async def walk_to_review(bot: Harness, who: WebCitizen) -> None:
    await who.open()
    await act(bot, who)
    for label in ("Gửi tin báo", "Tệ nạn", "Cờ bạc", "Không"):
        (await who.choose(who.button(label)["data"])).raise_for_status()
        await act(bot, who)
    await who.say("hoan kiem")
    await act(bot, who)
    await who.choose(who.button("Phường Hoàn Kiếm")["data"])
    await act(bot, who)
    await who.choose(who.button("Hôm nay")["data"])
    await act(bot, who)
    await who.say("<script>alert(1)</script> sòng bạc")
    await act(bot, who)


def tiny_pdf() -> bytes:
    """A real one-page PDF (a broken one would get no staff copy: fail closed)."""
    import pikepdf

    pdf = pikepdf.new()
    pdf.add_blank_page()
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


async def broadcast(
    bot: Harness, admin: Citizen, text: str, audience: str, wards: tuple[str, ...] = ()
) -> str:
    """Compose, pick the audience (topic, then wards or the whole city) and return the
    preview text (not yet sent)."""
    await bot.say(admin, admin.text("/broadcast"))
    await bot.say(admin, admin.text(text))
    replies = await bot.press(admin, audience)
    assert "Gửi ở địa bàn nào?" in replies[-1].text
    for ward in wards:
        await bot.say(admin, admin.text(ward.removeprefix("Phường ")))
        replies = await bot.press(admin, ward)
        assert ward in replies[-1].text
    replies = await bot.press(admin, "Xong" if wards else "Cả thành phố")
    return "\n".join(r.text for r in replies)


async def settle_broadcast(bot: Harness) -> None:
    assert bot.app is not None
    for _ in range(400):
        async with bot.app.db.read() as conn:
            counts = await Campaigns(conn).progress(1)
        if counts["pending"] == 0 and counts["sending"] == 0:
            await bot.settle()
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"broadcast did not finish: {counts}")
