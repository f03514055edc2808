"""Checking a tip with code + receipt, draft expiry, and restarting mid-flow."""

from __future__ import annotations

import re
from datetime import timedelta

from storage.schema import tips
from tests.fakes.updates import Citizen
from tests.harness import Harness
from tests.journeys import walk_to


async def file_tip(bot: Harness, who: Citizen) -> tuple[str, str]:
    await walk_to(bot, who, "review")
    done = (await bot.press(who, "Gửi tin báo"))[-1].text
    code = re.search(r"Mã tin báo: (\S+)", done)
    receipt = re.search(r"Mã bí mật: ([\d ]+)", done)
    assert code and receipt
    return code.group(1), receipt.group(1).strip()


async def test_receipt_is_16_digits_and_stored_only_as_a_slow_hash(bot: Harness) -> None:
    who = Citizen(4001)
    code, receipt = await file_tip(bot, who)
    digits = receipt.replace(" ", "")
    assert len(digits) == 16 and digits.isdigit()
    assert bot.app is not None
    async with bot.app.db.read() as conn:
        row = (await conn.execute(tips.select())).one()
    assert row.code == code
    assert row.receipt_hash.startswith("$argon2id$") and digits not in row.receipt_hash


async def test_check_status_from_another_chat_with_code_and_receipt(bot: Harness) -> None:
    code, receipt = await file_tip(bot, Citizen(4002))
    other = Citizen(4003, language_code="en")
    await bot.say(other, other.text("/start"))
    await bot.press(other, "Check a tip")
    replies = await bot.say(other, other.text(code.lower().replace("-", " ")))
    assert "16-digit" in replies[0].text
    replies = await bot.say(other, other.text(receipt))
    assert code in replies[0].text and "Received" in replies[0].text
    assert "No replies" in replies[0].text
    replies = await bot.say(other, other.text(f"/status {code} {receipt}"))
    assert code in replies[0].text


async def test_wrong_receipt_and_unknown_code_get_the_same_answer(bot: Harness) -> None:
    code, receipt = await file_tip(bot, Citizen(4004))
    prober = Citizen(4005)
    wrong = ("1" if receipt[0] != "1" else "2") + receipt[1:]
    a = await bot.say(prober, prober.text(f"/status {code} {wrong}"))
    b = await bot.say(prober, prober.text(f"/status ZZZZ-ZZZZ {receipt}"))
    assert a[0].text == b[0].text and "Không tìm thấy" in a[0].text


async def test_status_checks_are_rate_limited(bot: Harness) -> None:
    code, receipt = await file_tip(bot, Citizen(4006))
    prober = Citizen(4007)
    for n in range(10):
        await bot.say(prober, prober.text(f"/status {code} {n:016d}"))
    replies = await bot.say(prober, prober.text(f"/status {code} {receipt}"))
    assert "quá nhiều lần" in replies[0].text  # even the right receipt waits an hour
    bot.clock.advance(timedelta(minutes=61))
    replies = await bot.say(prober, prober.text(f"/status {code} {receipt}"))
    assert code in replies[0].text


async def test_draft_expires_with_a_message(bot: Harness) -> None:
    who = Citizen(4008)
    await walk_to(bot, who, "describe")
    assert bot.app is not None
    bot.clock.advance(timedelta(hours=23))
    assert await bot.app.pipeline.expire_drafts() == 0
    bot.clock.advance(timedelta(hours=2))
    assert await bot.app.pipeline.expire_drafts() == 1
    await bot.settle()
    assert "quá hạn" in bot.api.sent(who.user_id)[-1].text
    replies = await bot.say(who, who.text("tiếp tục"))
    assert "Bạn muốn làm gì?" in replies[-1].text  # the draft is gone; welcome again


async def test_expired_draft_caught_on_next_message_before_the_sweep(bot: Harness) -> None:
    who = Citizen(4009)
    await walk_to(bot, who, "when")
    bot.clock.advance(timedelta(hours=25))
    replies = await bot.say(who, who.text("hôm qua"))
    assert "quá hạn" in replies[0].text


async def test_restart_mid_flow_continues_at_the_same_step(bot: Harness) -> None:
    who = Citizen(4010)
    await walk_to(bot, who, "describe")
    await bot.say(who, who.text("Phần đầu của mô tả."))
    await bot.restart()
    replies = await bot.say(who, who.text("Phần sau."))
    assert "Đã ghi" in replies[0].text
    await bot.press(who, "Xong")
    replies = await bot.press(who, "Ẩn danh")
    assert "Phần đầu của mô tả.\n\nPhần sau." in replies[-1].text
