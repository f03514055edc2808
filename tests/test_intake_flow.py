"""The citizen's report flow end to end: raw updates in, Bot API calls out, rows stored."""

from __future__ import annotations

from tests.fakes.updates import Citizen
from tests.harness import Harness
from tests.journeys import stored_tips, walk_to


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


async def test_english_client_gets_english(bot: Harness) -> None:
    tom = Citizen(1002, first_name="Tom", language_code="en-GB")
    replies = await bot.say(tom, tom.text("hello"))
    assert "tip line" in replies[0].text and "113" in replies[0].text
    await walk_to(bot, tom, "review")
    replies = await bot.press(tom, "Send the report")
    assert "Tip code" in replies[-1].text and "Receipt" in replies[-1].text


async def test_language_switch_mid_flow_keeps_the_step(bot: Harness) -> None:
    lan = Citizen(1003)
    await walk_to(bot, lan, "when")
    replies = await bot.say(lan, lan.text("/language"))
    assert [b["text"] for b in replies[-1].buttons()] == ["Tiếng Việt", "English"]
    replies = await bot.press(lan, "English")
    assert replies[0].text == "Switched to English."
    assert "Step 4/6" in replies[-1].text


async def test_urgent_fire_gets_114_at_once_and_is_marked_urgent(bot: Harness) -> None:
    an = Citizen(1004)
    await bot.say(an, an.text("/start"))
    await bot.press(an, "Gửi tin báo")
    await bot.press(an, "Khác")
    await bot.press(an, "cháy")
    replies = await bot.press(an, "Có, đang xảy ra")
    assert "114" in replies[0].text and "113" not in replies[0].text
    assert "Bước 3/6" in replies[-1].text
    await bot.say(an, an.venue())
    await bot.press(an, "Đang xảy ra")
    await bot.say(an, an.text("Khói bốc lên từ kho sơn."))
    await bot.press(an, "Xong")
    await bot.press(an, "Ẩn danh")
    await bot.press(an, "Gửi tin báo")
    tips = await stored_tips(bot)
    assert tips[0].urgent and tips[0].category == "fire_risk"


async def test_child_abuse_urgent_names_111(bot: Harness) -> None:
    mai = Citizen(1005)
    await walk_to(bot, mai, "category")
    await bot.press(mai, "trẻ em")
    replies = await bot.press(mai, "Có, đang xảy ra")
    assert "111" in replies[0].text


async def test_every_step_reasks_on_wrong_input(bot: Harness) -> None:
    hoa = Citizen(1006)
    await walk_to(bot, hoa, "group")
    replies = await bot.say(hoa, hoa.text("xyz"))
    assert "chọn một" in replies[0].text and "Bước 1/6" in replies[1].text
    await bot.press(hoa, "Tội phạm")
    replies = await bot.say(hoa, hoa.location())
    assert "chọn một" in replies[0].text
    await bot.press(hoa, "Trộm cắp")
    replies = await bot.say(hoa, hoa.text("có lẽ"))
    assert "Bước 2/6" in replies[-1].text
    await bot.press(hoa, "Không")
    replies = await bot.say(hoa, hoa.text("   \u200b "))
    assert "Bước 3/6" in replies[-1].text  # blank text: hint and the same question
    await bot.say(hoa, hoa.location())
    replies = await bot.say(hoa, hoa.sticker())
    assert "không được hỗ trợ" in replies[0].text and "Bước 4/6" in replies[1].text
    await bot.press(hoa, "Trước đó")
    replies = await bot.say(hoa, hoa.text(""))
    assert "trống" in replies[0].text
    await bot.say(hoa, hoa.text("Có người lạ cạy khóa."))
    await bot.press(hoa, "Xong")
    replies = await bot.say(hoa, hoa.text("not a phone"))
    assert "không hợp lệ" in replies[0].text and "Bước 6/6" in replies[1].text
    replies = await bot.say(hoa, hoa.text("0912 345 678"))
    assert "+84912345678" in replies[-1].text
    replies = await bot.say(hoa, hoa.text("blah"))
    assert "chọn một" in replies[0].text


async def test_typed_answers_match_buttons_by_label_or_number(bot: Harness) -> None:
    ly = Citizen(1007)
    await walk_to(bot, ly, "group")
    replies = await bot.say(ly, ly.text("2"))  # the second group: criminal offences
    assert "Tội phạm hình sự" in replies[-1].text
    replies = await bot.say(ly, ly.text("trom cap, cuop giat"))  # label without accents
    assert "Bước 2/6" in replies[-1].text


async def test_ward_search_without_diacritics_and_address_fallback(bot: Harness) -> None:
    kim = Citizen(1008)
    await walk_to(bot, kim, "where")
    replies = await bot.say(kim, kim.text("ba dinh"))
    assert "Phường Ba Đình" in [b["text"] for b in replies[-1].buttons()]
    replies = await bot.press(kim, "Không phải")
    assert "Bước 4/6" in replies[-1].text
    await bot.press(kim, "Hôm nay")
    await bot.say(kim, kim.text("x"))
    await bot.press(kim, "Xong")
    replies = await bot.press(kim, "Ẩn danh")
    assert "ba dinh" in replies[-1].text
    replies = await bot.press(kim, "Địa điểm")
    replies = await bot.say(kim, kim.text("số 5 ngõ Tạm, không tên phường"))
    assert "Không tìm thấy phường/xã" in replies[0].text
    assert "Kiểm tra lại" in replies[-1].text  # editing returns to the review
    replies = await bot.press(kim, "Địa điểm")
    await bot.press(kim, "Không rõ")
    await bot.press(kim, "Gửi tin báo")
    tips = await stored_tips(bot)
    assert tips[0].ward_code is None


async def test_review_edit_each_part_and_cancel(bot: Harness) -> None:
    son = Citizen(1009)
    await walk_to(bot, son, "review")
    replies = await bot.press(son, "✏️ Loại")
    assert "Bước 1/6" in replies[-1].text
    await bot.press(son, "Tệ nạn")
    replies = await bot.press(son, "Cờ bạc")
    assert "Kiểm tra lại" in replies[-1].text and "Cờ bạc" in replies[-1].text
    await bot.press(son, "✏️ Khẩn cấp")
    replies = await bot.press(son, "Có, đang xảy ra")
    assert "113" in replies[0].text
    assert "Khẩn cấp: Có" in replies[-1].text
    await bot.press(son, "✏️ Thời gian")
    replies = await bot.say(son, son.text("khoảng 9 giờ tối qua"))
    assert "khoảng 9 giờ tối qua" in replies[-1].text
    await bot.press(son, "✏️ Nội dung")
    replies = await bot.say(son, son.text("Sòng bạc trong nhà kho."))
    await bot.press(son, "Xong")
    replies = await bot.say(son, son.text("/start"))
    assert "Kiểm tra lại" in replies[-1].text  # /start mid-flow resumes, never discards
    assert "Sòng bạc trong nhà kho." in replies[-1].text
    assert "Mất xe máy" not in replies[-1].text
    await bot.press(son, "✏️ Liên hệ")
    replies = await bot.say(son, son.contact())
    assert "+84912345678" in replies[-1].text
    replies = await bot.press(son, "Hủy")
    assert "Đã hủy" in replies[0].text
    assert await stored_tips(bot) == []


async def test_cancel_works_at_every_step(bot: Harness) -> None:
    for n, step in enumerate(
        ["group", "category", "urgent", "where", "when", "describe", "contact", "review"]
    ):
        who = Citizen(2000 + n)
        await walk_to(bot, who, step)
        replies = await bot.say(who, who.text("/cancel"))
        assert "Đã hủy" in replies[0].text, step
        replies = await bot.say(who, who.text("/start"))
        assert "Bạn muốn làm gì?" in replies[-1].text
    assert await stored_tips(bot) == []


async def test_someone_elses_contact_is_refused(bot: Harness) -> None:
    vy = Citizen(1010)
    await walk_to(bot, vy, "contact")
    replies = await bot.say(vy, vy.contact(owner=555, phone="+84987654321"))
    assert "chính bạn" in replies[0].text and "Bước 6/6" in replies[-1].text


async def test_album_of_ten_photos_is_one_tip_with_ten_attachments(bot: Harness) -> None:
    tu = Citizen(1011)
    await walk_to(bot, tu, "describe")
    album = [
        tu.photo(i, group="album-1", caption="Biển số 29A-12345" if i == 0 else None)
        for i in range(10)
    ]
    # Split across two getUpdates batches: the bot fetches the first half alone.
    replies = []
    for part in (album[:4], album[4:]):
        for update in part:
            bot.api.push(update)
        await bot.settle()
    replies = bot.api.sent(tu.user_id)[-3:]
    describe_answers = [c for c in bot.api.sent(tu.user_id) if "Đã ghi" in c.text]
    assert len(describe_answers) == 1  # one answer per album, not one per photo
    await bot.press(tu, "Xong")
    await bot.press(tu, "Ẩn danh")
    await bot.press(tu, "Gửi tin báo")
    tips = await stored_tips(bot)
    assert len(tips) == 1 and tips[0].attachments == 10
    assert replies


async def test_large_file_is_kept_as_reference_and_citizen_told(bot: Harness) -> None:
    ha = Citizen(1012)
    await walk_to(bot, ha, "describe")
    replies = await bot.say(ha, ha.document(size=25 * 1024 * 1024))
    assert "20 MB" in replies[0].text
    replies = await bot.say(ha, ha.voice())
    assert "1 tệp" not in replies[-1].text and "2 tệp" in replies[-1].text


async def test_photo_as_first_message_starts_a_report(bot: Harness) -> None:
    quan = Citizen(1013)
    replies = await bot.say(quan, quan.photo(caption="Nhìn này"))
    assert "Đã đính kèm" in replies[0].text and "Bước 1/6" in replies[-1].text


async def test_emergency_numbers_from_the_menu(bot: Harness) -> None:
    ba = Citizen(1014)
    await bot.say(ba, ba.text("/start"))
    replies = await bot.press(ba, "khẩn cấp")
    assert all(n in replies[0].text for n in ("113", "114", "115", "111"))
