"""The citizen's report flow end to end: raw updates in, Bot API calls out, rows stored."""

from __future__ import annotations

from storage.tips import TipRepository
from tests.fakes.updates import Citizen
from tests.harness import Harness


async def stored_tips(bot: Harness) -> list:
    assert bot.app is not None
    async with bot.app.db.read() as conn:
        return await TipRepository(conn).recent()


async def test_happy_path_vietnamese(bot: Harness) -> None:
    lan = Citizen(1001)
    replies = await bot.say(lan, lan.text("/start"))
    assert len(replies) == 1
    assert "113" in replies[0].text and "ẩn danh" in replies[0].text
    await bot.press(lan, "Gửi tin báo")
    await bot.press(lan, "Tệ nạn xã hội")
    await bot.press(lan, "Ma túy")
    replies = await bot.press(lan, "Không")
    assert "Bước 3/6" in replies[-1].text
    replies = await bot.say(lan, lan.text("hoan kiem"))
    assert any(b["text"] == "Phường Hoàn Kiếm" for b in replies[-1].buttons())
    replies = await bot.press(lan, "Phường Hoàn Kiếm")
    assert "Bước 4/6" in replies[-1].text
    await bot.press(lan, "Hôm nay")
    await bot.say(lan, lan.text("Có nhóm người mua bán ma túy ở đầu ngõ 12 mỗi tối."))
    await bot.press(lan, "Xong")
    replies = await bot.press(lan, "Ẩn danh")
    review = replies[-1].text
    assert "Ma túy" in review and "Phường Hoàn Kiếm" in review and "Ẩn danh" in review
    replies = await bot.press(lan, "Gửi tin báo")
    done = replies[-1].text
    assert "Mã tin báo" in done
    tips = await stored_tips(bot)
    assert len(tips) == 1
    assert tips[0].code in done
    assert tips[0].category == "drugs" and tips[0].category_group == "social_evils"
    assert tips[0].ward_code == 70
