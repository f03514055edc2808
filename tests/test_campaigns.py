"""Subscriptions with consent, opt-out and erasure; broadcasts composed by an admin and
confirmed in a second step bound to them; the ledger under platform faults."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from handlers.core.callbacks import Action, Callback
from storage.campaigns import Campaigns
from storage.schema import conversations, followups, subscriptions, tips
from tests.fakes.botapi import Failure, FakeBotAPI
from tests.fakes.updates import Citizen, group_message
from tests.harness import Harness, make_settings, start_with_web
from tests.journeys import broadcast, settle_broadcast
from tests.officer_world import bootstrap_admin, command, file_tip, standard_world


async def subscribe(
    bot: Harness,
    who: Citizen,
    topic: str = "Phòng chống ma túy",
    ward: str | None = "Phường Hoàn Kiếm",
) -> None:
    await bot.say(who, who.text("/subscribe"))
    await bot.press(who, "Tôi đồng ý")
    await bot.press(who, topic)
    if ward is None:
        replies = await bot.press(who, "Cả thành phố")
    else:
        await bot.say(who, who.text(ward.removeprefix("Phường ")))
        replies = await bot.press(who, ward)
    assert "Đã đăng ký" in replies[-1].text


async def rows(bot: Harness, table) -> list:  # type: ignore[no-untyped-def]
    assert bot.app is not None
    async with bot.app.db.read() as conn:
        return list((await conn.execute(select(table))).all())


async def test_consent_is_explicit_stored_with_time_and_silence_is_not_consent(
    bot: Harness,
) -> None:
    lan, minh = Citizen(3001), Citizen(3002)
    replies = await bot.say(lan, lan.text("/subscribe"))
    assert "Bạn có đồng ý không?" in replies[-1].text and "/stop" in replies[-1].text
    await bot.press(lan, "Không, cảm ơn")
    await bot.say(minh, minh.text("/subscribe"))  # and then nothing: silence
    assert await rows(bot, subscriptions) == []

    await subscribe(bot, lan)
    (row,) = await rows(bot, subscriptions)
    assert row.topics == ["drugs"] and row.wards == [70]
    assert row.consent_text == "sub.consent@vi" and row.consent_at is not None
    assert b"3001" not in row.address and "3001" not in row.user_key


async def test_stop_and_one_tap_opt_out_and_come_back(bot: Harness) -> None:
    lan = Citizen(3003)
    await subscribe(bot, lan)
    assert "Đã dừng" in await command(bot, lan, "/stop")
    assert await rows(bot, subscriptions) == []
    assert "chưa đăng ký" in await command(bot, lan, "/stop")
    await subscribe(bot, lan)
    assert len(await rows(bot, subscriptions)) == 1


async def test_delete_my_data_erases_identifiers_but_keeps_the_tip(bot: Harness) -> None:
    await standard_world(bot)
    lan = Citizen(3004)
    code = await file_tip(bot, lan)
    await subscribe(bot, lan)
    await bot.say(lan, lan.text("/deletemydata"))
    replies = await bot.press(lan, "Xóa dữ liệu của tôi")
    assert "Đã xóa" in replies[-1].text
    assert await rows(bot, subscriptions) == []
    assert bot.app is not None
    async with bot.app.db.read() as conn:
        mine = (
            await conn.execute(
                select(func.count())
                .select_from(conversations)
                .where(conversations.c.user_key == bot.app.identity.pseudonym("telegram", 3004))
            )
        ).scalar_one()
        tip = (await conn.execute(select(tips).where(tips.c.code == code))).one()
        links = (await conn.execute(select(followups).where(followups.c.tip_id == tip.id))).all()
    assert mine == 0
    assert links == [] and tip.description  # the tip stays, no longer tied to the chat


async def test_admin_broadcast_two_steps_audience_and_citizen_side(bot: Harness) -> None:
    world = await standard_world(bot)
    admin = world["admin"]
    drugs, fraud, everything = Citizen(3101), Citizen(3102), Citizen(3103)
    await subscribe(bot, drugs)
    await subscribe(bot, fraud, "Phòng chống lừa đảo")
    await subscribe(bot, everything, "Tất cả chủ đề")

    preview = await broadcast(bot, admin, "Không thử ma túy dù chỉ một lần.", "Phòng chống ma túy")
    assert "Không thử ma túy" in preview and "Số lượng: 2" in preview  # drugs + all topics
    assert not bot.api.sent(drugs.user_id)[-1].text.startswith("📢")  # type: ignore[union-attr]

    replies = await bot.press(admin, "Gửi ngay")
    assert "tới 2 người" in replies[-1].text
    await settle_broadcast(bot)
    for who in (drugs, everything):
        message = bot.api.sent(who.user_id)[-1]  # type: ignore[union-attr]
        assert message.text == "📢 Không thử ma túy dù chỉ một lần."
        labels = [b["text"] for b in message.buttons()]
        assert any("Gửi tin báo" in label for label in labels)
        assert any("Dừng nhận tin" in label for label in labels)
    assert not any("📢" in c.text for c in bot.api.sent(fraud.user_id))  # type: ignore[union-attr]

    # One tap under the message opts out before the next broadcast.
    await bot.press(drugs, "Dừng nhận tin")
    report = await command(bot, admin, "/campaign 1")
    assert "Mục tiêu 2 · đã gửi 2" in report and "không rõ 0" in report
    assert "7 ngày trước" in report


async def test_paid_broadcast_shows_its_cost_and_is_sent_as_paid_only_when_chosen(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    """BROADCAST_PAID: the preview states the paid send's speed and its most cost in
    Stars; the paid button sends with allow_paid_broadcast, "Send now" stays free."""
    bot = Harness(api, make_settings(tmp_path, api, broadcast_paid=True))
    await bot.start()
    try:
        admin = (await standard_world(bot))["admin"]
        people = [Citizen(3150 + i) for i in range(3)]
        for who in people:
            await subscribe(bot, who, "Tất cả chủ đề")

        preview = await broadcast(bot, admin, "Cảnh giác lừa đảo.", "Tất cả người đăng ký")
        assert "3 người nhận qua Telegram" in preview and "tối đa 0.3 Stars" in preview
        replies = await bot.press(admin, "Gửi ngay, trả phí (tối đa 0.3 Stars)")
        assert "tới 3 người" in replies[-1].text
        await settle_broadcast(bot)
        for who in people:
            (paid,) = [c for c in api.sent(who.user_id) if c.text.startswith("📢")]
            assert paid.params.get("allow_paid_broadcast") in (True, "true")

        # The next campaign, sent free: no flag, and the first one's record says paid.
        await broadcast(bot, admin, "Phòng cháy chữa cháy.", "Tất cả người đăng ký")
        await bot.press(admin, "📤 Gửi ngay")
        for _ in range(200):
            free = [c for c in api.sent(people[0].user_id) if "Phòng cháy" in c.text]
            if free:
                break
            await asyncio.sleep(0.05)
        assert free and "allow_paid_broadcast" not in free[0].params
        assert bot.app is not None
        async with bot.app.db.read() as conn:
            first, second = (await Campaigns(conn).get(1)), (await Campaigns(conn).get(2))
        assert first is not None and first.paid and second is not None and not second.paid
    finally:
        await bot.stop()


async def test_paid_broadcasts_are_not_offered_unless_configured(bot: Harness) -> None:
    admin = (await standard_world(bot))["admin"]
    await subscribe(bot, Citizen(3160))
    preview = await broadcast(bot, admin, "Cảnh giác lừa đảo.", "Tất cả người đăng ký")
    assert "trả phí" not in preview and "Stars" not in preview
    assert bot.app is not None
    async with bot.app.db.read() as conn:
        draft = await Campaigns(conn).get(1)
    assert draft is not None
    # A forged paid button on a service without paid broadcasts starts nothing.
    forged = Callback(Action.CAMPAIGN_SEND, "1.paid").encode()
    replies = await bot.say(admin, admin.press(forged))
    assert replies and "Gửi ngay" not in replies[-1].text
    async with bot.app.db.read() as conn:
        still = await Campaigns(conn).get(1)
    assert still is not None and still.status == "draft" and not still.paid


async def test_only_the_composing_admin_in_a_new_private_message_can_broadcast(
    bot: Harness,
) -> None:
    world = await standard_world(bot)
    admin, minh = world["admin"], world["minh"]
    other_admin = Citizen(9002, first_name="Other")
    await bootstrap_admin(bot, other_admin)
    subscriber = Citizen(3201)
    await subscribe(bot, subscriber)
    unknown = await command(bot, subscriber, "/frobnicate")

    assert await command(bot, subscriber, "/broadcast") == unknown  # a citizen
    assert await command(bot, minh, "/broadcast") == await command(bot, minh, "/frobnicate")
    forwarded = admin.message(
        text="/broadcast",
        entities=[{"type": "bot_command", "offset": 0, "length": 10}],
        forward_origin={"type": "hidden_user", "sender_user_name": "X", "date": 1},
    )
    assert (await bot.say(admin, forwarded))[-1].text == await command(bot, admin, "/frobnicate")
    assert (await bot.say(admin, admin.edited("/broadcast")))[-1].text != ""
    assert await command(bot, admin, "/broadcast@other_bot") == await command(
        bot, admin, "/frobnicate"
    )
    calls = await bot.send(group_message(-100321, admin, "/broadcast"))
    assert not [c for c in calls if c.method == "sendMessage"]

    # The admin's draft: another admin (or a forged press) cannot send it.
    await broadcast(bot, admin, "Cảnh giác lừa đảo.", "Tất cả người đăng ký")
    send = bot.button(admin, "Gửi ngay")["callback_data"]
    calls = await bot.send(other_admin.press(send))
    answers = [c for c in calls if c.method == "answerCallbackQuery"]
    assert answers and "không có quyền" in answers[0].params["text"]
    calls = await bot.send(subscriber.press(send))
    assert not any("📢" in c.text for c in bot.api.sent(subscriber.user_id))  # type: ignore[union-attr]
    assert bot.app is not None
    async with bot.app.db.read() as conn:
        assert (await Campaigns(conn).get(1)).status == "draft"  # type: ignore[union-attr]


async def test_ledger_under_429_403_5xx_and_timeout(api: FakeBotAPI, tmp_path: Path) -> None:
    bot = Harness(api, make_settings(tmp_path, api))
    await bot.start()
    try:
        world = await standard_world(bot)
        people = [Citizen(3300 + i) for i in range(4)]
        for who in people:
            await subscribe(bot, who)
        await broadcast(bot, world["admin"], "Phòng cháy chữa cháy.", "Tất cả người đăng ký")
        api.fail(
            "sendMessage",
            Failure(429, "Too Many Requests: retry after 1", retry_after=1),
            Failure(403, "Forbidden: bot was blocked by the user"),
            Failure(502, "Bad Gateway"),
            Failure(500, "slow", delay=16, deliver=True),  # arrives, but the client times out
        )
        await bot.press(world["admin"], "Gửi ngay")
        for _ in range(800):
            async with bot.app.db.read() as conn:  # type: ignore[union-attr]
                counts = await Campaigns(conn).progress(1)
            if counts["pending"] == 0 and counts["sending"] == 0:
                break
            await asyncio.sleep(0.05)
        assert counts["targeted"] == 4
        assert counts["blocked"] == 1 and counts["ambiguous"] == 1 and counts["sent"] == 2
        assert counts["failed"] == 0
        got = [sum(1 for c in api.sent(w.user_id) if c.text.startswith("📢")) for w in people]
        assert sorted(got) == [0, 1, 1, 1]  # blocked: none; ambiguous: arrived once; no resend
    finally:
        await bot.stop()


async def test_one_off_and_recurring_schedules_across_restarts(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    bot = Harness(api, make_settings(tmp_path, api))
    await bot.start()
    world = await standard_world(bot)
    admin, subscriber = world["admin"], Citizen(3401)
    await subscribe(bot, subscriber)
    await broadcast(bot, admin, "Tin một lần.", "Tất cả người đăng ký")
    await bot.press(admin, "Lên lịch")
    at = (bot.clock.now() + timedelta(hours=2)).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert "đã lên lịch" in await command(bot, admin, at.strftime("%Y-%m-%d %H:%M"))
    await broadcast(bot, admin, "Tin hằng giờ.", "Tất cả người đăng ký")
    await bot.press(admin, "Lên lịch")
    assert "đã lên lịch" in await command(bot, admin, "0 * * * *")
    assert "Cách dùng" in await command(bot, admin, "/campaign 9")

    def received(text: str) -> int:
        return sum(1 for c in api.sent(subscriber.user_id) if c.text == f"📢 {text}")

    assert bot.app is not None
    assert await bot.app.start_campaigns() == 0  # nothing due yet
    # Down for five hours: the one-off runs once, the hourly one once (coalesced).
    await bot.stop()
    bot.clock.advance(timedelta(hours=5))
    await bot.start()
    # The second message waits a second (one per second per chat).
    await bot.until(lambda: received("Tin một lần.") and received("Tin hằng giờ."))
    await bot.settle()
    assert received("Tin một lần.") == 1 and received("Tin hằng giờ.") == 1
    await bot.stop()
    await bot.start()
    assert await bot.app.start_campaigns() == 0  # type: ignore[union-attr]
    bot.clock.advance(timedelta(hours=1))
    assert await bot.app.start_campaigns() == 1  # type: ignore[union-attr]
    await bot.until(lambda: received("Tin hằng giờ.") == 2)
    assert received("Tin một lần.") == 1 and received("Tin hằng giờ.") == 2
    await bot.stop()


async def test_blocked_subscriber_is_skipped_until_they_come_back(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    bot = Harness(api, make_settings(tmp_path, api))
    await bot.start()
    try:
        world = await standard_world(bot)
        admin, quiet, keen = world["admin"], Citizen(3501), Citizen(3502)
        for who in (quiet, keen):
            await subscribe(bot, who)

        async def send_campaign(text: str, campaign_id: int) -> dict[str, int]:
            await broadcast(bot, admin, text, "Tất cả người đăng ký")
            await bot.press(admin, "Gửi ngay")
            for _ in range(400):
                async with bot.app.db.read() as conn:  # type: ignore[union-attr]
                    counts = await Campaigns(conn).progress(campaign_id)
                if counts["pending"] == 0 and counts["sending"] == 0:
                    return counts
                await asyncio.sleep(0.05)
            raise AssertionError(counts)

        api.fail(
            "sendMessage",
            Failure(403, "Forbidden: bot was blocked by the user", chat_id=quiet.user_id),
        )
        first = await send_campaign("Một.", 1)
        assert first["targeted"] == 2 and first["blocked"] == 1
        second = await send_campaign("Hai.", 2)
        assert second["targeted"] == 1 and second["sent"] == 1  # the blocked one is skipped
        assert not any("Hai." in c.text for c in api.sent(quiet.user_id))
        await bot.say(quiet, quiet.text("/start"))  # they come back
        third = await send_campaign("Ba.", 3)
        assert third["targeted"] == 2 and third["sent"] == 2
    finally:
        await bot.stop()


async def test_audience_by_topic_and_wards_and_the_optional_report_button(
    bot: Harness,
) -> None:
    world = await standard_world(bot)
    admin = world["admin"]
    lan, minh, hoa, tuan = Citizen(3301), Citizen(3302), Citizen(3303), Citizen(3304)
    await subscribe(bot, lan)  # drugs · Hoàn Kiếm
    await subscribe(bot, minh, ward="Phường Ba Đình")  # drugs · Ba Đình
    await subscribe(bot, hoa, "Tất cả chủ đề", ward=None)  # everything, whole city
    await subscribe(bot, tuan, "Phòng chống lừa đảo")  # fraud · Hoàn Kiếm

    preview = await broadcast(
        bot, admin, "Cảnh báo ma túy ở khu phố.", "Phòng chống ma túy", ("Phường Hoàn Kiếm",)
    )
    assert "Địa bàn: Phường Hoàn Kiếm" in preview and "Số lượng: 2" in preview  # lan, hoa
    assert "Số lượng: 2.\nGửi ngay hay lên lịch?" in preview  # the whole entry
    shown = bot.api.sent(admin.user_id)[-2]  # the message as subscribers will see it
    assert shown.text == "📢 Cảnh báo ma túy ở khu phố."
    assert any("Gửi tin báo" in b["text"] for b in shown.buttons())

    # The "report a tip" button is optional: the preview shows the change.
    replies = await bot.press(admin, "Bỏ nút")
    assert not any("Gửi tin báo" in b["text"] for b in replies[-2].buttons())
    assert any("Thêm nút" in b["text"] for b in replies[-1].buttons())

    await bot.press(admin, "Gửi ngay")
    await settle_broadcast(bot)
    for who in (lan, hoa):
        message = bot.api.sent(who.user_id)[-1]
        assert message.text == "📢 Cảnh báo ma túy ở khu phố."
        labels = [b["text"] for b in message.buttons()]
        assert labels == ["🔕 Dừng nhận tin"]
    for who in (minh, tuan):  # another ward; another topic
        assert not any("📢" in c.text for c in bot.api.sent(who.user_id))


async def test_photo_broadcast_is_previewed_and_sent_as_one_captioned_photo(
    bot: Harness,
) -> None:
    world = await standard_world(bot)
    admin, lan = world["admin"], Citizen(3401)
    await subscribe(bot, lan, ward=None)
    await bot.say(admin, admin.text("/broadcast"))
    too_long = await bot.say(admin, admin.photo(caption="x" * 1001))
    assert "tối đa 1000" in too_long[0].text
    await bot.say(admin, admin.photo(caption="Kiểm tra bình chữa cháy trước Tết."))
    await bot.press(admin, "Tất cả người đăng ký")
    await bot.press(admin, "Cả thành phố")
    preview = bot.api.sent(admin.user_id, "sendPhoto")[-1]
    assert preview.params["photo"] == f"photo-{admin.user_id}-0"
    assert preview.params["caption"] == "📢 Kiểm tra bình chữa cháy trước Tết."

    await bot.press(admin, "Gửi ngay")
    await settle_broadcast(bot)
    [sent] = bot.api.sent(lan.user_id, "sendPhoto")
    assert sent.params["photo"] == f"photo-{admin.user_id}-0"  # re-sent by file_id
    assert sent.params["caption"] == "📢 Kiểm tra bình chữa cháy trước Tết."
    assert [b["text"] for b in sent.buttons()] == ["📝 Gửi tin báo", "🔕 Dừng nhận tin"]
    assert sent.params.get("protect_content") in (None, False, "false")  # may be shared
    assert not any("📢" in c.text for c in bot.api.sent(lan.user_id))  # not twice


async def test_photo_composed_in_the_web_chat_reaches_telegram_subscribers(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    """A web upload is a file we hold: uploaded to Telegram once, then by its file_id."""

    from tests.fakes.webclient import WebCitizen
    from tests.journeys import photo_with_location

    bot, base = await start_with_web(api, tmp_path)
    desk = WebCitizen(base)
    lan, minh = Citizen(3501), Citizen(3502)
    try:
        world = await standard_world(bot)
        text = await command(bot, world["admin"], "/invite admin")
        await desk.open()
        await desk.fetch()
        await desk.say(f"/join {text.split('/join ')[1].split()[0]}")
        await bot.settle()
        for who in (lan, minh):
            await subscribe(bot, who, ward=None)

        await desk.say("/broadcast")
        await bot.settle()
        poster = photo_with_location()
        await desk.upload(
            "poster.jpg", poster, "image/jpeg", caption="Phòng cháy: kiểm tra ổ điện."
        )
        await bot.settle()
        for label in ("Tất cả người đăng ký", "Cả thành phố", "Gửi ngay"):
            await desk.fetch()
            await desk.choose(desk.button(label)["data"])
            await bot.settle()
        preview = [m for m in desk.messages if m.get("file")]
        assert preview and preview[0]["text"] == "📢 Phòng cháy: kiểm tra ổ điện."
        opened = await desk.client.get(preview[0]["file"]["url"])  # a campaign photo
        assert opened.status_code == 200 and opened.headers["content-type"] == "image/jpeg"
        await settle_broadcast(bot)
    finally:
        await desk.close()
        await bot.stop()

    photos = [c for who in (lan, minh) for c in api.sent(who.user_id, "sendPhoto")]
    assert len(photos) == 2
    assert all(c.params["caption"] == "📢 Phòng cháy: kiểm tra ổ điện." for c in photos)
    assert sum(isinstance(c.params["photo"], dict) for c in photos) == 1  # one upload
    assert all("Dừng nhận tin" in str(c.params["reply_markup"]) for c in photos)
