"""The officer workflow through the real pipeline: routing, alerts, every action and its
effect on the citizen's side, the anonymous relay both ways, batching, web officers."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx

from handlers.core.text import utf16_len
from storage.stores import Stores
from tests.fakes.botapi import FakeBotAPI
from tests.fakes.updates import Citizen, added_to_group, group_press
from tests.fakes.webclient import WebCitizen
from tests.harness import Harness, make_settings, start_with_web
from tests.officer_world import (
    CODE,
    alerts_settled,
    command,
    file_tip,
    invite_code,
    standard_world,
    texts,
    typed_tip,
)


async def audit(bot: Harness) -> list[dict]:
    assert bot.app is not None
    async with bot.app.db.read() as conn:
        return await Stores(conn).audit.entries(limit=500)


async def wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


async def alerts_to(bot: Harness, who: Citizen, code: str) -> list:
    assert bot.api is not None
    await wait_for(lambda: any(code in c.text for c in bot.api.sent(who.user_id)))
    await bot.settle()
    return [c for c in bot.api.sent(who.user_id) if code in c.text]


async def test_tip_is_routed_alerted_claimed_and_relayed_both_ways(bot: Harness) -> None:
    world = await standard_world(bot)
    minh, hoa, tuan = world["minh"], world["hoa"], world["tuan"]
    lan = Citizen(1001, first_name="Lan", username="lan_hn")
    code = await file_tip(bot, lan, text="Buôn bán ma túy <tối nay> & sáng mai ở ngõ 12.")

    # The unit covering the ward is alerted; another ward's unit is not.
    alert = (await alerts_to(bot, minh, code))[0]
    assert "Tin báo mới" in alert.text and "Phường Hoàn Kiếm" in alert.text
    assert "<b>Đơn vị:</b> Công an phường Hoàn Kiếm ·" in alert.text  # where it was routed
    assert "máy tách biệt" not in alert.text  # no files, no warning
    assert "&lt;tối nay&gt; &amp; sáng mai" in alert.text  # escaped, sent as HTML
    assert alert.params["parse_mode"] == "HTML"
    assert str(alert.params["protect_content"]).lower() == "true"
    for secret in ("1001", "Lan", "lan_hn"):
        assert secret not in alert.text
    assert not [c for c in bot.api.sent(hoa.user_id) if code in c.text]  # type: ignore[union-attr]

    # Claim: the officer is told, the citizen gets a generic update.
    lan_mark = len(bot.api.sent(lan.user_id))  # type: ignore[union-attr]
    replies = await bot.press(minh, "Nhận xử lý")
    assert "Bạn đã nhận xử lý" in texts(replies)
    update = bot.api.sent(lan.user_id)[lan_mark:]  # type: ignore[union-attr]
    assert len(update) == 1 and code in update[0].text and "Đang xác minh" in update[0].text
    assert "Minh" not in update[0].text

    # Ask the tipster (button, then typed question): relayed, signed only generically.
    await bot.press(minh, "Hỏi người báo tin")
    await bot.say(minh, minh.text("Nhóm người đó thường đi xe gì?"))
    question = bot.api.sent(lan.user_id)[-1]  # type: ignore[union-attr]
    assert "Cán bộ tiếp nhận hỏi" in question.text and "đi xe gì" in question.text
    assert "Minh" not in question.text and "minh_cs" not in question.text

    # The citizen answers; it lands with the claiming officer.
    await bot.press(lan, "Trả lời")
    replies = await bot.say(lan, lan.text("Xe máy màu đỏ, biển 29."))
    assert "Đã gửi câu trả lời" in texts(replies)
    answer = bot.api.sent(minh.user_id)[-1]  # type: ignore[union-attr]
    assert "trả lời" in answer.text and "Xe máy màu đỏ" in answer.text
    assert "1001" not in answer.text and "Lan" not in answer.text

    # An internal note never reaches the citizen.
    lan_mark = len(bot.api.sent(lan.user_id))  # type: ignore[union-attr]
    assert "Đã lưu ghi chú" in await command(bot, minh, f"/note {code} Đã xác minh camera ngõ 12")
    assert len(bot.api.sent(lan.user_id)) == lan_mark  # type: ignore[union-attr]

    # Status by buttons: the citizen is told, in their words.
    await bot.say(minh, minh.text(f"/tip {code}"))
    await bot.press(minh, "Trạng thái")
    await bot.press(minh, "Đã xử lý")
    assert "Đã xử lý" in bot.api.sent(lan.user_id)[-1].text  # type: ignore[union-attr]

    # The thread holds question, answer and note, in order.
    thread = await command(bot, minh, f"/thread {code}")
    assert thread.index("đi xe gì") < thread.index("Xe máy màu đỏ") < thread.index("camera")

    entries = await audit(bot)
    actions = {e["action"] for e in entries if e["outcome"] == "ok"}
    assert {"claim", "ask", "note", "status.resolved", "thread", "join"} <= actions
    # The audit says who did what to which tip, never what was written.
    assert not any("camera" in (e["target"] or "") for e in entries)
    assert tuan  # supervisors exist in this world; escalation tests use them


async def test_lists_search_and_transfer(bot: Harness) -> None:
    world = await standard_world(bot)
    minh, hoa = world["minh"], world["hoa"]
    code = await file_tip(bot, Citizen(1002))
    assert code in await command(bot, minh, "/tips")
    assert code in await command(bot, minh, "/find hoan kiem")
    assert code in await command(bot, minh, "/find drugs")
    assert code in await command(bot, minh, f"/find {code}")
    assert "Không tìm thấy" in await command(bot, minh, "/find 2001-01-01")
    assert "chưa nhận" in await command(bot, minh, "/mine")
    await command(bot, minh, f"/claim {code}")
    assert code in await command(bot, minh, "/mine")

    # Transfer to unit 2: Hoa is alerted and can act; Minh no longer sees it.
    await bot.say(minh, minh.text(f"/transfer {code}"))
    await bot.press(minh, "Ba Đình")
    await alerts_to(bot, hoa, code)
    assert "Không tìm thấy" in await command(bot, minh, f"/tip {code}")
    assert "Bạn đã nhận xử lý" in await command(bot, hoa, f"/claim {code}")


async def test_tip_without_ward_goes_to_the_city_unit_with_pin_and_photo(
    bot: Harness,
) -> None:
    admin = Citizen(9001, first_name="Admin")
    from tests.officer_world import SECOND_ADMIN, bootstrap_admin, invite

    await bootstrap_admin(bot, admin)
    await bootstrap_admin(bot, SECOND_ADMIN)  # invites that see tips need a second admin
    await command(bot, admin, "/newunit Công an phường Hoàn Kiếm")
    await command(bot, admin, "/unitwards 1 Hoàn Kiếm")
    await command(bot, admin, "/newunit --city Công an thành phố")
    city_officer = Citizen(9401, first_name="Trang")
    await invite(bot, admin, "officer", 2, city_officer)

    an = Citizen(1003)
    updates = typed_tip(an, ward=None, send=False)
    for update in updates[:-2]:  # up to the description
        await bot.say(an, update)
    await bot.say(an, an.photo(caption="Ảnh chụp"))
    await bot.say(an, an.document("bien-ban.pdf", mime="application/pdf"))
    await bot.say(an, an.text("Xong, tiếp tục"))
    await bot.say(an, an.text("Ẩn danh"))
    replies = await bot.say(an, an.text("Gửi tin báo"))
    code = CODE.search(replies[-1].text).group(0)  # type: ignore[union-attr]

    [alert] = await alerts_to(bot, city_officer, code)
    assert "chỉ mở trên máy tách biệt" in alert.text  # a document came with it (AB3)
    documents = bot.api.sent(city_officer.user_id, "sendDocument")  # type: ignore[union-attr]
    assert documents and documents[0].params["document"] == "doc-bien-ban.pdf"
    pins = bot.api.sent(city_officer.user_id, "sendLocation")  # type: ignore[union-attr]
    photos = bot.api.sent(city_officer.user_id, "sendPhoto")  # type: ignore[union-attr]
    assert pins and float(pins[0].params["latitude"]) == 21.0285
    assert photos and photos[0].params["photo"] == "photo-1003-0"  # re-sent by file_id
    assert str(photos[0].params["protect_content"]).lower() == "true"
    assert not [c for c in bot.api.calls if c.method == "forwardMessage"]  # type: ignore[union-attr]


async def test_long_description_is_escaped_then_split_to_fit(bot: Harness) -> None:
    world = await standard_world(bot)
    minh = world["minh"]
    long = ("Kẻ gian <b>đập</b> & phá " * 150).strip()  # ≈3,700 chars → >4,096 escaped
    code = await file_tip(bot, Citizen(1004), text=long)
    parts = await alerts_to(bot, minh, code)
    alert_parts = [
        c
        for c in bot.api.sent(minh.user_id)  # type: ignore[union-attr]
        if c.params.get("parse_mode") == "HTML" and "đập" in c.text
    ]
    assert parts and len(alert_parts) >= 2
    assert all(utf16_len(c.text) <= 4096 for c in alert_parts)
    joined = "".join(c.text for c in alert_parts)
    assert "<b>đập</b>" not in joined and joined.count("&lt;b&gt;đập&lt;/b&gt;") == 150
    for part in alert_parts:  # no entity cut in half
        assert not part.text.rstrip().endswith(("&", "&l", "&lt", "&am", "&amp"))


async def test_contact_details_only_for_the_handling_unit(bot: Harness) -> None:
    world = await standard_world(bot)
    minh, admin = world["minh"], world["admin"]
    lan = Citizen(1005, phone="+84912345678")
    code = await file_tip(bot, lan, contact=True)
    alert = (await alerts_to(bot, minh, code))[0]
    assert "0912345678" in alert.text or "+84912345678" in alert.text
    # The city-level unit can read the tip, but is not the handling unit.
    city = Citizen(9501, first_name="Khoa")
    from tests.officer_world import invite

    await invite(bot, admin, "officer", 3, city)
    view = await command(bot, city, f"/tip {code}")
    assert code in view and "912345678" not in view


async def test_burst_of_100_tips_is_batched_for_the_unit_group(api: FakeBotAPI, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bot = Harness(api, make_settings(tmp_path, api, alerts_per_minute_per_destination=20))
    await bot.start()
    try:
        world = await standard_world(bot)
        admin = world["admin"]
        group_id = -100777
        # The admin adds the bot to the unit's group and binds it to unit 1.
        await bot.send(added_to_group(group_id, admin))
        assert not api.sent(method="leaveChat")
        await bot.press(admin, "Công an phường Hoàn Kiếm")
        assert "#1" in api.sent(admin.user_id)[-1].text

        citizens = [Citizen(20_000 + i) for i in range(100)]
        sequences = [typed_tip(c) for c in citizens]
        for step in range(len(sequences[0])):  # everyone, interleaved: a burst
            for sequence in sequences:
                api.push(sequence[step])
        await bot.settle(timeout=120)
        codes = set()
        for c in citizens:
            match = CODE.search(api.sent(c.user_id)[-1].text)
            assert match
            codes.add(match.group(0))
        assert len(codes) == 100

        def seen() -> set[str]:
            return {m for c in api.sent(group_id) for m in CODE.findall(c.text)}

        await wait_for(lambda: seen() >= codes, timeout=30)
        group_messages = [
            c for c in api.calls if c.chat_id == group_id and c.method.startswith("send")
        ]
        assert len(group_messages) <= 20, len(group_messages)  # well within one minute
        assert any("tin báo mới tại Phường Hoàn Kiếm" in c.text for c in group_messages)
        assert all(utf16_len(c.text) <= 4096 for c in group_messages)

        # A non-officer pressing a button in the group gets "not allowed", nothing changes.
        stranger = Citizen(30_001)
        some = sorted(codes)[0]
        calls = await bot.send(group_press(group_id, stranger, f"1|-|oc|{some}"))
        answers = [c for c in calls if c.method == "answerCallbackQuery"]
        assert answers and "không có quyền" in answers[0].params.get("text", "")
        assert not [c for c in calls if c.method == "sendMessage"]
        # An officer pressing it is authorised as themselves; the answer is private.
        minh = world["minh"]
        calls = await bot.send(group_press(group_id, minh, f"1|-|oc|{some}"))
        assert any("Bạn đã nhận xử lý" in c.text for c in calls if c.chat_id == minh.user_id)
        assert not [c for c in calls if c.chat_id == group_id and c.method == "sendMessage"]
    finally:
        await bot.stop()


async def test_group_added_by_a_non_admin_is_left(bot: Harness) -> None:
    await standard_world(bot)
    calls = await bot.send(added_to_group(-100555, Citizen(1006)))
    assert [c for c in calls if c.method == "leaveChat"]


async def test_officer_on_the_web_chat_gets_alerts_and_acts(api: FakeBotAPI, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bot, base = await start_with_web(api, tmp_path)
    web = WebCitizen(base)
    try:
        world = await standard_world(bot)
        admin = world["admin"]
        invite = await invite_code(bot, admin, "officer", 1, "Web")
        await web.open()
        await web.fetch()
        await web.say(f"/join {invite}")
        await bot.settle()
        assert any("Chào mừng" in m["text"] for m in await web.fetch())

        code = await file_tip(bot, Citizen(1007), text="Đánh bạc ở quán nước <số 5>.")
        alert = None
        for _ in range(100):
            for message in await web.fetch():
                if code in message["text"]:
                    alert = message
            if alert:
                break
            await asyncio.sleep(0.1)
        assert alert is not None
        assert "<số 5>" in alert["text"] and "<b>" not in alert["text"]  # plain on the web
        claim = next(b for row in alert["buttons"] for b in row if "Nhận" in b["label"])
        await web.choose(claim["data"])
        await bot.settle()
        assert any("Bạn đã nhận xử lý" in m["text"] for m in await web.fetch())
    finally:
        await web.close()
        await bot.stop()


def test_callback_data_of_officer_buttons_fits_64_bytes() -> None:
    from handlers.core.callbacks import Action, Callback

    raw = Callback(Action.STATUS_SET, "ABCD-EFGH.in_progress").encode()
    assert len(raw.encode()) <= 64
    assert json.dumps(raw)


async def web_tip_with_files(
    bot: Harness, citizen: WebCitizen, *files: tuple[str, bytes, str]
) -> None:
    """A web citizen files the standard gambling tip (Phường Hoàn Kiếm) with files;
    returns once its alerts are sent."""
    from tests.journeys import walk_to_review

    await walk_to_review(bot, citizen)
    for name, data, mime in files:
        assert (await citizen.upload(name, data, mime)).status_code == 202
    await bot.settle()
    for label in ("Xong", "Ẩn danh", "Gửi tin báo"):
        await citizen.fetch()
        await citizen.choose(citizen.button(label)["data"])
        await bot.settle()
    await alerts_settled(bot)


async def _web_officer(bot: Harness, admin: Citizen, unit: int, name: str, base: str) -> WebCitizen:
    code = await invite_code(bot, admin, "officer", unit, name)
    who = WebCitizen(base)
    await who.open()
    await who.fetch()
    await who.say(f"/join {code}")
    await bot.settle()
    assert any("Chào mừng" in m["text"] for m in await who.fetch())
    return who


async def test_web_officer_opens_a_web_tips_photo_and_nobody_else_can(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    from tests.journeys import GPS, jpeg_with_exif, tiny_pdf

    bot, base = await start_with_web(api, tmp_path)
    clients: list[WebCitizen] = []
    try:
        world = await standard_world(bot)
        officer = await _web_officer(bot, world["admin"], 1, "WebHK", base)  # Hoàn Kiếm
        outsider = await _web_officer(bot, world["admin"], 2, "WebBD", base)  # Ba Đình
        citizen, stranger = WebCitizen(base), WebCitizen(base)
        clients += [officer, outsider, citizen, stranger]
        await web_tip_with_files(  # a gambling tip in Phường Hoàn Kiếm
            bot,
            citizen,
            ("IMG_0001.jpg", jpeg_with_exif(), "image/jpeg"),
            ("Nguyen_Van_A.pdf", tiny_pdf(), "application/pdf"),
        )

        files: list[dict] = []
        for _ in range(100):
            files += [m["file"] for m in await officer.fetch() if m.get("file")]
            if len(files) == 2:
                break
            await asyncio.sleep(0.1)
        file, document = sorted(files, key=lambda f: f["kind"] != "photo")
        assert file["kind"] == "photo" and document["kind"] == "document"
        opened = await officer.client.get(file["url"])
        assert opened.status_code == 200
        assert opened.headers["content-type"] == "image/jpeg"
        assert opened.headers["content-disposition"] == "inline"
        downloaded = await officer.client.get(document["url"])  # never rendered inline
        assert (
            downloaded.headers["content-disposition"] == 'attachment; filename="tep-dinh-kem.pdf"'
        )
        assert downloaded.content.startswith(b"%PDF-")
        assert opened.content.startswith(b"\xff\xd8") and GPS not in opened.content
        assert "sandbox" in opened.headers["content-security-policy"]

        # Another unit's officer, the tipster's own chat, a chat that is nobody, and
        # no session at all: the same "not found" as a reference that does not exist.
        await stranger.open()
        async with httpx.AsyncClient(base_url=base) as anonymous:
            for client in (outsider.client, citizen.client, stranger.client, anonymous):
                assert (await client.get(file["url"])).status_code == 404
        missing = "/chat/api/file/" + "0" * 32
        assert (await officer.client.get(missing)).status_code == 404
        assert (await officer.client.get("/chat/api/file/..%2Fsecret")).status_code == 404

        async with bot.app.db.read() as conn:
            audit = await Stores(conn).audit.entries()
        opens = [(a["outcome"], a["target"]) for a in audit if a["action"] == "file.open"]
        assert opens.count(("denied", None)) == 4 and len([o for o in opens if o[0] == "ok"]) == 2
    finally:
        for client in clients:
            await client.close()
        await bot.stop()


async def test_telegram_officers_get_a_web_tips_photo_uploaded_once(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    """Citizens mostly use the web chat; officers often Telegram: the photo crosses."""
    from tests.journeys import GPS, jpeg_with_exif

    bot, base = await start_with_web(api, tmp_path)
    citizen = WebCitizen(base)
    try:
        world = await standard_world(bot)  # unit 1: Minh (officer) and Tuan (supervisor)
        await web_tip_with_files(
            bot, citizen, ("Nguyen_Van_A_nha_rieng.jpg", jpeg_with_exif(), "image/jpeg")
        )
    finally:
        await citizen.close()
        await bot.stop()

    photos = [
        c for who in (world["minh"], world["tuan"]) for c in api.sent(who.user_id, "sendPhoto")
    ]
    assert len(photos) == 2
    uploaded = [c.params["photo"] for c in photos if isinstance(c.params["photo"], dict)]
    assert len(uploaded) == 1  # uploaded once; the second officer gets Telegram's file_id
    assert uploaded[0]["data"].startswith(b"\xff\xd8") and GPS not in uploaded[0]["data"]
    assert "Nguyen" not in str(uploaded[0]["upload"])  # the citizen's file name stays home
    reused = [c.params["photo"] for c in photos if isinstance(c.params["photo"], str)]
    assert len(reused) == 1 and reused[0].startswith("up-")
    assert all(str(c.params["protect_content"]).lower() == "true" for c in photos)
    assert not [c for c in api.calls if "chỉ xem được trên" in c.text]  # no "elsewhere" note


async def test_a_tipster_follows_up_from_another_device(bot: Harness) -> None:
    """Issue 11, item 4 and the follow-up view: from any chat, code and receipt show
    the status history and the officer's question; the tipster answers and adds
    information there, and both reach the officer, with no identity either way."""
    world = await standard_world(bot)
    minh = world["minh"]
    tipster, other_phone = Citizen(1201), Citizen(1299)
    done = None
    for update in typed_tip(tipster):
        done = await bot.say(tipster, update)
    assert done
    code = CODE.search(done[-1].text).group(0)  # type: ignore[union-attr]
    receipt = re.search(r"Mã bí mật: ([\d ]+)", done[-1].text).group(1)  # type: ignore[union-attr]
    await alerts_settled(bot)
    await command(bot, minh, f"/claim {code}")
    await command(bot, minh, f"/ask {code} Xe mang biển số gì?")
    seen = await command(bot, other_phone, f"/status {code} {receipt}")
    assert "Xe mang biển số gì?" in seen and "Đang xác minh" in seen  # question + history
    await bot.press(other_phone, "Trả lời")
    await bot.say(other_phone, other_phone.text("29A-12345"))
    assert any("29A-12345" in c.text for c in bot.api.sent(minh.user_id))  # type: ignore[union-attr]
    await command(bot, other_phone, f"/status {code} {receipt}")
    await bot.press(other_phone, "Bổ sung thông tin")
    added = await command(bot, other_phone, "Tối nay họ lại đến lúc 9 giờ.")
    assert "Đã bổ sung" in added
    to_minh = [c.text for c in bot.api.sent(minh.user_id)]  # type: ignore[union-attr]
    assert any("Tối nay họ lại đến" in t and "bổ sung" in t for t in to_minh)
    assert not any(str(other_phone.user_id) in t or str(tipster.user_id) in t for t in to_minh)


async def test_no_button_for_what_is_already_so_and_staff_text_gets_the_staff_menu(
    bot: Harness,
) -> None:
    """Issue 12, officers in chats: once claimed, a card offers no "claim"; the status
    menu leaves out the status the tip has; an officer typing outside a prompt gets
    the staff commands, not the citizen welcome."""
    world = await standard_world(bot)
    minh = world["minh"]
    code = await file_tip(bot, Citizen(1301))
    before = await bot.say(minh, minh.text(f"/tip {code}"))
    assert any("Nhận xử lý" in b["text"] for c in before for b in c.buttons() or [])
    await command(bot, minh, f"/claim {code}")
    after = await bot.say(minh, minh.text(f"/tip {code}"))
    labels = [b["text"] for c in after for b in c.buttons() or []]
    assert labels and not any("Nhận xử lý" in label for label in labels)
    menu = await bot.press(minh, "Trạng thái")
    statuses = [b["text"] for c in menu for b in c.buttons() or []]
    assert "Đang xử lý" in statuses and "Đang xác minh" not in statuses  # it is verifying
    typed = await command(bot, minh, "xin chào")
    assert "/tips" in typed and "Gửi tin báo" not in typed
    # Giving a tip back: only its claimer; then it can be claimed again.
    assert "chỉ trả lại được" in await command(bot, world["tuan"], f"/unclaim {code}")
    assert "Đã trả lại" in await command(bot, minh, f"/unclaim {code}")
    assert "Bạn đã nhận xử lý" in await command(bot, world["tuan"], f"/claim {code}")
    citizen = Citizen(1302)
    welcome = await bot.say(citizen, citizen.text("xin chào"))
    assert any("Gửi tin báo" in b["text"] for c in welcome for b in c.buttons() or [])


async def test_tips_filed_before_any_unit_reach_the_unit_created_later(bot: Harness) -> None:
    """Issue 12: "unrouted tips never vanish". A tip filed while no unit exists is
    routed, and its officers alerted, once a unit covering its ward is created."""
    tipster = Citizen(1401)
    code = await file_tip(bot, tipster)
    world = await standard_world(bot)  # units and officers arrive after the tip
    minh = world["minh"]
    assert bot.app is not None
    await bot.app.escalator.escalate()
    await alerts_settled(bot)
    await wait_for(lambda: any(code in c.text for c in bot.api.sent(minh.user_id)))  # type: ignore[union-attr]
    listed = await command(bot, minh, "/tips")
    assert code in listed
    entries = await audit(bot)
    assert any(e["action"] == "route.late" for e in entries)
