"""Section B of the test plan: bad input gets a clear answer or is ignored by design;
nothing already given is lost and nothing crashes."""

from __future__ import annotations

from handlers.core.callbacks import Action, Callback
from storage import inbox
from storage.schema import tips
from tests.fakes.updates import (
    Citizen,
    added_to_group,
    channel_post,
    group_message,
    reaction,
)
from tests.harness import VAULT, Harness
from tests.journeys import stored_tips, walk_to


async def description_of_only_tip(bot: Harness) -> str:
    assert bot.app is not None
    async with bot.app.db.read() as conn:
        result = await conn.execute(tips.select())
        rows = result.all()
    assert len(rows) == 1
    return VAULT.open(rows[0].description, f"tips.description:{rows[0].id}")


async def file_tip_with_text(bot: Harness, who: Citizen, text: str) -> list:
    await walk_to(bot, who, "describe")
    replies = await bot.say(who, who.text(text))
    await bot.press(who, "Xong")
    await bot.press(who, "Ẩn danh")
    review = (await bot.say(who, who.text("/start")))[-1]
    await bot.press(who, "Gửi tin báo")
    return [replies, review]


async def test_text_longer_than_4096_is_stored_exactly(bot: Harness) -> None:
    long_text = ("Đoạn văn dài. " * 800)[:10_000]
    who = Citizen(3001)
    _, review = await file_tip_with_text(bot, who, long_text)
    assert len(review.text) <= 4096  # the review shows an excerpt
    assert await description_of_only_tip(bot) == long_text


async def test_html_and_markdown_metacharacters_are_literal(bot: Harness) -> None:
    nasty = '<b>x</code><a href="tg://user?id=1"><script>&amp;&#0; _*[]()~`>#+-=|{}.!'
    who = Citizen(3002)
    _, review = await file_tip_with_text(bot, who, nasty)
    assert nasty in review.text  # plain text messages: no parse mode to break
    assert "parse_mode" not in review.params
    assert await description_of_only_tip(bot) == nasty


async def test_invisible_bidi_emoji_and_nul(bot: Harness) -> None:
    text = "ảnh\u202egpj.exe \u200b\u2066 👨‍👩‍👧‍👦 🇻🇳 👍🏽 \x00\x1b[2J\r end"
    who = Citizen(3003)
    await file_tip_with_text(bot, who, text)
    stored = await description_of_only_tip(bot)
    assert stored == text.replace("\x00", "\ufffd")  # NUL cannot live in PostgreSQL text


async def test_invisible_characters_do_not_hide_a_command(bot: Harness) -> None:
    who = Citizen(3004)
    replies = await bot.say(who, who.text("/can\u200bcel"))
    assert "Không rõ lệnh" in replies[0].text


async def test_unexpected_update_types(bot: Harness) -> None:
    who = Citizen(3005)
    await walk_to(bot, who, "when")
    replies = await bot.say(who, who.edited("sửa lại"))
    assert "đã sửa" in replies[0].text and "Bước 4/6" in replies[1].text
    replies = await bot.say(who, who.dice())
    assert "không được hỗ trợ" in replies[0].text
    calls = await bot.send(reaction(who))
    calls += await bot.send(channel_post("tin tức"))
    calls += await bot.send(who.blocked("member"))
    assert calls == []
    replies = await bot.press(who, "Hôm nay")  # the draft survived all of that
    assert "Bước 5/6" in replies[-1].text


async def test_group_messages_never_create_tips_and_bot_leaves_groups(bot: Harness) -> None:
    who = Citizen(3006)
    calls = await bot.send(group_message(-4001, who, "/start"))
    calls += await bot.send(group_message(-4001, who, "ma túy ở ngõ 5"))
    assert calls == []
    calls = await bot.send(added_to_group(-4002, who))
    assert [c.method for c in calls] == ["leaveChat"] and calls[0].chat_id == -4002
    assert await stored_tips(bot) == []


async def test_stale_and_forged_callbacks(bot: Harness) -> None:
    who = Citizen(3007)
    await walk_to(bot, who, "urgent")
    old_category_button = bot.button(who, "Có, đang xảy ra")["callback_data"]
    forged = [
        "x" * 64,
        "1|zzzzzz|u|yes",
        "2|abcdef|u|yes",
        "1|abcdef|u|" + "y" * 80,
        "1|-|m|report'; DROP TABLE tips;--",
        "",
        "1|-|zz|",
        "🙂",
        Callback(Action.STEP, "ward.70", "-").encode(),
    ]
    for data in forged:
        calls = await bot.send(who.press(data))
        answers = [c for c in calls if c.method == "answerCallbackQuery"]
        texts = [c.text for c in calls if c.method == "sendMessage"]
        assert len(answers) == 1, data  # the spinner always stops
        assert "không còn dùng được" in texts[0] and "Bước 2/6" in texts[1], data
    await bot.press(who, "Không")
    calls = await bot.send(who.press(old_category_button))  # a button of a past step
    assert "không còn dùng được" in calls[-2].text and "Bước 3/6" in calls[-1].text
    await bot.say(who, who.text("/cancel"))
    await walk_to(bot, who, "urgent")
    calls = await bot.send(who.press(old_category_button))  # same step, older draft
    assert "không còn dùng được" in calls[-2].text


async def test_duplicate_update_id_is_processed_once(bot: Harness) -> None:
    who = Citizen(3008)
    await walk_to(bot, who, "review")
    confirm = who.press(bot.button(who, "Gửi tin báo")["callback_data"])
    confirm["update_id"] = 99_999
    bot.api.push(confirm)
    await bot.settle()
    bot.api.push(dict(confirm))  # Telegram re-sends the same update
    await bot.settle()
    assert len(await stored_tips(bot)) == 1
    done = [c for c in bot.api.sent(who.user_id) if "Mã tin báo" in c.text]
    assert len(done) == 1


async def test_smaller_update_id_after_a_large_one_is_not_dropped(bot: Harness) -> None:
    who = Citizen(3009)
    first = who.text("/start")
    first["update_id"] = 5_000_000
    await bot.send(first)
    later = who.text("/emergency")
    later["update_id"] = 7  # ids can restart randomly after a week of silence
    replies = await bot.say(who, later)
    assert "115" in replies[0].text


async def test_second_start_mid_flow_keeps_the_draft(bot: Harness) -> None:
    who = Citizen(3010)
    await walk_to(bot, who, "describe")
    await bot.say(who, who.text("Chi tiết quan trọng"))
    replies = await bot.say(who, who.text("/start"))
    assert "chưa gửi xong" in replies[0].text and "Đã ghi" in replies[1].text


async def test_command_for_another_bot_and_sql_like_arguments(bot: Harness) -> None:
    who = Citizen(3011)
    replies = await bot.say(who, who.text("/broadcast@OtherBot hi"))
    assert "Không rõ lệnh" in replies[0].text
    replies = await bot.say(who, who.text("/status 1 OR 1=1"))
    assert "Nhập mã tin báo" in replies[0].text
    replies = await bot.say(who, who.text("../../etc/passwd"))
    assert "8 ký tự" in replies[0].text
    replies = await bot.say(who, who.text("/start " + "j" * 256))
    assert "Bạn muốn làm gì?" in replies[-1].text


async def test_flood_gets_one_warning_then_silence(bot: Harness) -> None:
    assert bot.app is not None
    bot.app.pipeline.limits = type(bot.app.pipeline.limits)(flood_burst=3)
    who = Citizen(3012)
    for _ in range(10):
        bot.api.push(who.text("spam"))
    await bot.settle()
    texts = [c.text for c in bot.api.sent(who.user_id)]
    assert len([t for t in texts if "nhanh quá" in t]) == 1
    assert len(texts) == 3 + 1  # three answered, one warning, the rest dropped
    async with bot.app.db.read() as conn:
        assert (await inbox.counts(conn)) == {"done": 10}


async def test_tips_per_hour_limit_keeps_the_draft(bot: Harness) -> None:
    assert bot.app is not None
    bot.app.pipeline.limits = type(bot.app.pipeline.limits)(tips_per_hour=1, flood_burst=1000)
    who = Citizen(3013)
    await walk_to(bot, who, "review")
    await bot.press(who, "Gửi tin báo")
    await walk_to(bot, who, "review")
    replies = await bot.press(who, "Gửi tin báo")
    assert "1 tin báo trong một giờ" in replies[0].text and "Kiểm tra lại" in replies[1].text
    assert len(await stored_tips(bot)) == 1
    bot.clock.advance(__import__("datetime").timedelta(minutes=61))
    replies = await bot.press(who, "Gửi tin báo")
    assert "Mã tin báo" in replies[-1].text
