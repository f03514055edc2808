"""End to end in a real browser: Debian's headless Chromium driven by Playwright files a
complete tip with a photo, and the code on screen is the stored tip's code."""

from __future__ import annotations

import os
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from storage.stores import Stores
from tests.harness import Harness, make_settings
from tests.journeys import photo_with_location, stored_tips

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = Path(os.environ.get("TIPBOT_TEST_OUTPUT", ROOT / "test-output"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")


async def officer_invite(bot: Harness) -> str:
    """A city-level unit and a one-time code for an officer of it."""
    assert bot.app is not None
    now = bot.clock.now()
    async with bot.app.db.write() as conn:
        office = Stores(conn)
        unit = await office.units.add_unit(
            "Công an thành phố", parent_id=None, city_level=True, wards=[], categories=[], now=now
        )
        return await office.staff.create_invite(
            role="officer", unit_id=unit, name="Trực ban", staff_id=None, created_by=None,
            now=now, ttl=timedelta(days=1),
        )  # fmt: skip


async def test_file_a_tip_with_a_photo_in_chromium(tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    bot = Harness(None, make_settings(tmp_path, None, web_pow_bits=8))
    await bot.start(serve_http=True)
    assert bot.app is not None and bot.app.chat_url
    photo = tmp_path / "anh-hien-truong.jpg"
    photo.write_bytes(photo_with_location())
    invite = await officer_invite(bot)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                ],
            )
            # The officer on duty works in the web chat too (their own browser session).
            desk = await browser.new_page(viewport={"width": 360, "height": 780}, locale="vi-VN")
            await desk.goto(bot.app.chat_url)
            await expect(desk.locator("#log")).to_contain_text("Bạn muốn làm gì?", timeout=20_000)
            await desk.locator("#text").fill(f"/join {invite}")
            await desk.locator("#text").press("Enter")
            await expect(desk.locator("#log")).to_contain_text("Chào mừng", timeout=20_000)

            page = await browser.new_page(viewport={"width": 360, "height": 780}, locale="vi-VN")
            await page.goto(bot.app.chat_url)
            log = page.locator("#log")

            async def press(name: str) -> None:
                await page.get_by_role("button", name=name, exact=True).last.click()

            async def type_and_send(text: str) -> None:
                await page.locator("#text").fill(text)
                await page.locator("#text").press("Enter")

            await expect(log).to_contain_text("Bạn muốn làm gì?", timeout=20_000)
            # Buttons show the number that can be typed instead (#7); the accessible
            # name stays the label itself.
            first = page.get_by_role("button", name="📝 Gửi tin báo", exact=True).last
            await expect(first.locator(".number")).to_have_text("1")
            await press("📝 Gửi tin báo")
            await expect(log).to_contain_text("Bước 1/6")
            await press("Tệ nạn xã hội")
            await press("Cờ bạc, cá độ")
            await expect(log).to_contain_text("Bước 2/6")
            await press("Không")
            await expect(log).to_contain_text("Bước 3/6")
            await type_and_send("hoan kiem")
            await press("Phường Hoàn Kiếm")
            await expect(log).to_contain_text("Bước 4/6")
            await press("Hôm nay")
            await expect(log).to_contain_text("Bước 5/6")
            await type_and_send("Sòng bạc <b>trái phép</b> trong nhà kho số 3.")
            await expect(log).to_contain_text("0 tệp")
            # A file the server refuses is shown as not sent, on its own bubble (#8).
            fake = tmp_path / "fake.jpg"
            fake.write_bytes(b"MZ\x90\x00" + b"\x00" * 200)
            await page.locator("#file").set_input_files(str(fake))
            refused = page.locator(".msg.failed")
            await expect(refused).to_contain_text("Không tải được tệp", timeout=20_000)
            await expect(refused).to_have_attribute("role", "alert")
            await page.locator("#file").set_input_files(str(photo))
            await expect(log).to_contain_text("1 tệp")
            await press("✅ Xong, tiếp tục")
            await press("🔒 Ẩn danh")
            await expect(log).to_contain_text("Kiểm tra lại tin báo")
            stale = page.get_by_role("button", name="Không", exact=True).first
            await expect(stale).to_be_disabled()  # answered questions cannot be re-pressed
            await expect(log).to_contain_text("Sòng bạc <b>trái phép</b>")  # text, not HTML
            await press("📨 Gửi tin báo")
            await expect(log).to_contain_text("Mã tin báo", timeout=20_000)
            shown = await log.inner_text()
            await page.wait_for_timeout(500)  # let the last scroll settle before the picture
            await page.screenshot(path=str(OUTPUT / "web-chat-final.png"))

            # The alert reaches the officer's page with the photo itself, loaded through
            # the authorised file endpoint (the metadata-stripped copy).
            picture = desk.locator("img.attachment").first
            await expect(picture).to_be_visible(timeout=20_000)
            await expect(picture).to_have_js_property("naturalWidth", 64)
            await desk.wait_for_timeout(300)
            await desk.screenshot(path=str(OUTPUT / "web-officer-alert.png"))
            # A newer message with buttons (the officer's list) does not grey out the
            # alert's buttons: an officer can still act on an older alert (issue 11, #10).
            await desk.locator("#text").fill("/tips")
            await desk.locator("#text").press("Enter")
            await expect(desk.locator("#log")).to_contain_text("Mở", timeout=20_000)
            claim = desk.get_by_role("button", name="Nhận xử lý").first
            await expect(claim).to_be_enabled()
            await expect(claim.locator(".number")).to_have_count(0)  # not a question
            await browser.close()
        tips = await stored_tips(bot)
    finally:
        await bot.stop()
    code = re.search(r"Mã tin báo: ([0-9A-Z]{4}-[0-9A-Z]{4})", shown)
    assert code is not None
    assert [t.code for t in tips] == [code.group(1)]
    assert tips[0].attachments == 1 and tips[0].channel == "web"
