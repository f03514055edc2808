"""Zalo, end to end against a loopback fake of its Bot API: the same flows by numbered
text, photos fetched into our store, the 2,000-character limit, what Zalo cannot
carry, the webhook's defences and duplicates, and staff on Zalo."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from storage.stores import Stores
from tests.fakes.zaloapi import ZALO_TOKEN, FakeZaloAPI, ZaloUser
from tests.harness import Harness, make_settings
from tests.journeys import photo_with_location, stored_tips

CODE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}")
SECRET = "zalo-webhook-secret-1234"


def zalo_settings(tmp_path: Path, fake: FakeZaloAPI, **extra: Any) -> Any:
    return make_settings(
        tmp_path, None, zalo_bot_token=ZALO_TOKEN, zalo_api_base_url=fake.base_url,
        zalo_poll_timeout_s=1, zalo_rate_per_second=0, zalo_chat_interval_s=0, **extra,
    )  # fmt: skip


@pytest.fixture
async def zalo(tmp_path: Path) -> AsyncIterator[tuple[Harness, FakeZaloAPI]]:
    fake = FakeZaloAPI()
    await fake.start()
    bot = Harness(None, zalo_settings(tmp_path, fake, public_url="https://tipline.example.vn"))
    await bot.start()
    try:
        yield bot, fake
    finally:
        await bot.stop()
        await fake.stop()
        assert not fake.unexpected, fake.unexpected


async def say(bot: Harness, fake: FakeZaloAPI, user: ZaloUser, update: dict[str, Any]) -> str:
    """Send one update through getUpdates; return everything the bot answered."""
    before = len(fake.sent(user.id))
    fake.push(update)
    # Every update is answered: wait for the first answer (fetched, stored, processed
    # and sent — on a busy machine that takes a while), then for anything after it.
    deadline = time.monotonic() + 30
    while len(fake.sent(user.id)) == before:
        assert time.monotonic() < deadline, "no answer"
        await asyncio.sleep(0.01)
    await bot.settle()
    return "\n".join(fake.sent(user.id)[before:])


def number_of(text: str, label: str) -> str:
    """The number shown before a choice ("3. Ma túy")."""
    found = re.search(rf"^(\d+)\. [^\n]*{re.escape(label)}", text, re.MULTILINE)
    assert found, f"{label!r} not offered in:\n{text}"
    return found.group(1)


async def test_a_tip_filed_on_zalo_by_numbers_in_vietnamese(
    zalo: tuple[Harness, FakeZaloAPI],
) -> None:
    bot, fake = zalo
    user = ZaloUser()
    welcome = await say(bot, fake, user, user.text("Xin chào"))
    # Zalo's terms: the bot says it is automated and what it keeps.
    assert "tự động" in welcome and "1. " in welcome
    shown = await say(bot, fake, user, user.text(number_of(welcome, "Gửi tin báo")))
    for label in ("Tệ nạn xã hội", "Ma túy", "Không"):
        shown = await say(bot, fake, user, user.text(number_of(shown, label)))
    assert "Gửi vị trí" not in shown  # Zalo shares no location: neither asked nor offered
    assert "Gõ tên phường/xã" in shown
    shown = await say(bot, fake, user, user.text("hoan kiemm"))
    shown = await say(bot, fake, user, user.text(number_of(shown, "Phường Hoàn Kiếm")))
    shown = await say(bot, fake, user, user.text(number_of(shown, "Hôm nay")))
    await say(bot, fake, user, user.text("Có người bán ma túy ở đầu ngõ 12 mỗi tối."))
    picture = fake.image_url("p1.jpg", photo_with_location())
    got = await say(bot, fake, user, user.image(picture, caption="ảnh chụp lúc 9 giờ"))
    assert "1 tệp" in got
    shown = await say(bot, fake, user, user.text(number_of(got, "Xong, tiếp tục")))
    assert "Chia sẻ số điện thoại" not in shown  # no contact sharing on Zalo either
    review = await say(bot, fake, user, user.text(number_of(shown, "Ẩn danh")))
    assert "Kiểm tra lại tin báo" in review
    done = await say(bot, fake, user, user.text(number_of(review, "Gửi tin báo")))
    code = CODE.search(done)
    assert code and re.search(r"\d{4} \d{4} \d{4} \d{4}", done)
    tips = await stored_tips(bot)
    assert [(t.code, t.channel, t.attachments) for t in tips] == [(code.group(0), "zalo", 1)]
    assert bot.app is not None
    async with bot.app.db.read() as conn:
        files = await Stores(conn).desk.evidence(code.group(0))
    assert files and files[0].channel == "web"  # held in our store, like a web upload
    assert bot.app.web.store.has_staff_copy(files[0].file_ref)  # metadata removed


async def test_a_tip_filed_on_zalo_by_words_in_english_without_accents(
    zalo: tuple[Harness, FakeZaloAPI],
) -> None:
    bot, fake = zalo
    user = ZaloUser()
    await say(bot, fake, user, user.text("hello"))
    await say(bot, fake, user, user.text("/language"))
    assert "Switched to English" in await say(bot, fake, user, user.text("english"))
    for words in ("report a tip", "social evils", "drugs", "no", "hoan kiem"):
        shown = await say(bot, fake, user, user.text(words))
    assert "Phường Hoàn Kiếm" in shown
    await say(bot, fake, user, user.text("phuong hoan kiem"))
    await say(bot, fake, user, user.text("today"))
    await say(bot, fake, user, user.text("People sell drugs at the corner every night."))
    await say(bot, fake, user, user.text("done, continue"))
    review = await say(bot, fake, user, user.text("stay anonymous"))
    assert "Please check your report" in review
    done = await say(bot, fake, user, user.text("send the report"))
    assert CODE.search(done)


async def test_stickers_hidden_messages_and_pictures_that_cannot_be_had(
    zalo: tuple[Harness, FakeZaloAPI],
) -> None:
    bot, fake = zalo
    user = ZaloUser()
    sticker = await say(bot, fake, user, user.sticker())
    assert "nhãn dán" in sticker and "Bạn muốn làm gì" in sticker  # a kind word, then the menu
    hidden = await say(bot, fake, user, user.unsupported())
    assert "https://tipline.example.vn/chat" in hidden and "113" in hidden
    gone = await say(bot, fake, user, user.image(f"{fake.base_url}/img/missing.jpg"))
    assert "Không nhận được ảnh" in gone
    fake_jpeg = fake.image_url("x.jpg", b"MZ\x90\x00" + b"\x00" * 100)
    assert "Không nhận được ảnh" in await say(bot, fake, user, user.image(fake_jpeg))


async def test_zalo_webhook_checks_its_secret_and_takes_each_event_once(tmp_path: Path) -> None:
    fake = FakeZaloAPI()
    await fake.start()
    settings = zalo_settings(
        tmp_path, fake, zalo_mode="webhook", zalo_webhook_secret=SECRET,
        zalo_webhook_url="https://tipline.example.vn/zalo/webhook",
    )  # fmt: skip
    bot = Harness(None, settings)
    await bot.start(serve_http=True)
    try:
        assert bot.app is not None and bot.app.web_url
        assert fake.webhook == "https://tipline.example.vn/zalo/webhook"
        user = ZaloUser()
        update = user.text("Xin chào")
        url = bot.app.web_url.rstrip("/") + "/zalo/webhook"
        headers = {"X-Bot-Api-Secret-Token": SECRET}
        async with httpx.AsyncClient() as client:
            wrong = await client.post(url, json=update, headers={"X-Bot-Api-Secret-Token": "x"})
            assert wrong.status_code == 403
            assert (await client.post(url, content=b"{", headers=headers)).status_code == 415
            bad = await client.post(
                url, content=b"{", headers={**headers, "content-type": "application/json"}
            )
            assert bad.status_code == 400
            nothing = await client.post(url, json={"ok": True, "result": {}}, headers=headers)
            assert nothing.status_code == 400
            wrapped = {"ok": True, "result": update}
            for body in (wrapped, update, wrapped):  # the docs' shape, a bare body, a retry
                assert (await client.post(url, json=body, headers=headers)).status_code == 200
        await bot.settle()
        assert len(fake.sent(user.id)) == 1  # one welcome: the same event taken once
        assert "getUpdates" not in {c.method for c in fake.calls}
    finally:
        await bot.stop()
        await fake.stop()
    assert not fake.unexpected


async def test_an_officer_on_zalo_joins_gets_alerts_as_text_and_claims(
    zalo: tuple[Harness, FakeZaloAPI],
) -> None:
    from datetime import timedelta

    bot, fake = zalo
    assert bot.app is not None
    now = bot.clock.now()
    async with bot.app.db.write() as conn:
        stores = Stores(conn)
        unit = await stores.units.add_unit(
            "Công an thành phố", parent_id=None, city_level=True, wards=[], categories=[], now=now
        )
        invite = await stores.staff.create_invite(
            role="officer", unit_id=unit, name="Trực ban", staff_id=None, created_by=None,
            now=now, ttl=timedelta(days=1),
        )  # fmt: skip
    officer, citizen = ZaloUser(), ZaloUser()
    assert "Chào mừng" in await say(bot, fake, officer, officer.text(f"/join {invite}"))
    shown = await say(bot, fake, citizen, citizen.text("/report"))
    for label in ("Tệ nạn xã hội", "Ma túy", "Không"):
        shown = await say(bot, fake, citizen, citizen.text(number_of(shown, label)))
    shown = await say(bot, fake, citizen, citizen.text(number_of(shown, "Không rõ")))
    shown = await say(bot, fake, citizen, citizen.text(number_of(shown, "Hôm nay")))
    # A long description: the officer's alert is over Zalo's 2,000 characters and must
    # arrive whole, in parts Zalo accepts (the fake refuses anything longer).
    line = "Nhóm người lạ tụ tập mua bán ở đầu ngõ, đi xe máy không biển số.\n"
    shown = await say(bot, fake, citizen, citizen.text("Mua bán ma túy <b>ở chợ</b>\n" + line * 45))
    shown = await say(bot, fake, citizen, citizen.text(number_of(shown, "Xong, tiếp tục")))
    review = await say(bot, fake, citizen, citizen.text(number_of(shown, "Ẩn danh")))
    done = await say(bot, fake, citizen, citizen.text(number_of(review, "Gửi tin báo")))
    code = CODE.search(done)
    assert code
    deadline = time.monotonic() + 15
    while not any(code.group(0) in t for t in fake.sent(officer.id)):
        assert time.monotonic() < deadline, "no alert on Zalo"
        await asyncio.sleep(0.05)
    await bot.settle()
    alert = "".join(fake.sent(officer.id)[1:])
    assert "<b>" not in alert.replace("<b>ở chợ</b>", "")  # our markup gone, their text kept
    assert "<b>ở chợ</b>" in alert and alert.count("không biển số") == 45
    assert len(fake.sent(officer.id)) >= 3  # welcome, then the alert in two parts or more
    claimed = await say(bot, fake, officer, officer.text(f"/claim {code.group(0)}"))
    assert "Bạn đã nhận xử lý" in claimed
    assert str(officer.id) not in str(await stored_tips(bot))


async def test_zalo_subscribers_get_a_broadcast_once_through_a_429(
    api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Campaigns on Zalo: citizens subscribe by typing, an admin (on Telegram here)
    broadcasts, Zalo answers one send with 429 "Quota exceeded": every subscriber gets
    the message exactly once, and the ledger says so."""
    import bot.channels.zalo.send
    from storage.campaigns import Campaigns
    from tests.journeys import broadcast
    from tests.officer_world import standard_world

    monkeypatch.setattr(bot.channels.zalo.send, "QUOTA_WAIT_S", 0.5)
    fake = FakeZaloAPI()
    await fake.start()
    harness = Harness(api, make_settings(
        tmp_path, api, zalo_bot_token=ZALO_TOKEN, zalo_api_base_url=fake.base_url,
        zalo_poll_timeout_s=1, zalo_rate_per_second=0, zalo_chat_interval_s=0,
    ))  # fmt: skip
    await harness.start()
    try:
        world = await standard_world(harness)
        people = [ZaloUser() for _ in range(3)]
        for who in people:
            shown = await say(harness, fake, who, who.text("/subscribe"))
            shown = await say(harness, fake, who, who.text(number_of(shown, "Tôi đồng ý")))
            shown = await say(harness, fake, who, who.text("phong chong ma tuy"))
            shown = await say(harness, fake, who, who.text("hoan kiem"))
            done = await say(harness, fake, who, who.text(number_of(shown, "Phường Hoàn Kiếm")))
            assert "Đã đăng ký" in done
        await broadcast(
            harness, world["admin"], "Phòng chống ma túy học đường.", "Tất cả người đăng ký"
        )
        fake.fail_next("sendMessage", 429, "Quota exceeded")
        await harness.press(world["admin"], "Gửi ngay")
        assert harness.app is not None
        for _ in range(400):
            async with harness.app.db.read() as conn:
                counts = await Campaigns(conn).progress(1)
            if counts["pending"] == 0 and counts["sending"] == 0:
                break
            await asyncio.sleep(0.05)
        assert counts["targeted"] == 3 and counts["sent"] == 3, counts
        got = [
            sum(t.count("Phòng chống ma túy học đường") for t in fake.sent(w.id)) for w in people
        ]
        assert got == [1, 1, 1]
        assert [c.method for c in fake.refused] == ["sendMessage"]  # the 429 happened
    finally:
        await harness.stop()
        await fake.stop()
    assert not fake.unexpected


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["polling", "webhook"])
@pytest.mark.parametrize("crash_at", ["after_inbox_insert", "mid_txn"])
async def test_sigkill_between_receipt_and_processing_files_the_tip_once(
    tmp_path: Path, mode: str, crash_at: str
) -> None:
    """The real process is killed with SIGKILL right after storing the citizen's "send"
    (or in the middle of processing it), then started again: the tip exists once and
    the citizen gets the receipt. In webhook mode Zalo would post again (no 200 came):
    that retry is stored once."""
    import signal
    import sys

    from tests.harness import free_port, process_env
    from tests.processes import integrity_ok, tips_in, wait_for

    fake = FakeZaloAPI()
    await fake.start()
    user = ZaloUser()
    harness = Harness(None, zalo_settings(tmp_path, fake))
    await harness.start()
    shown = await say(harness, fake, user, user.text("/report"))
    for label in ("Tệ nạn xã hội", "Ma túy", "Không"):
        shown = await say(harness, fake, user, user.text(number_of(shown, label)))
    shown = await say(harness, fake, user, user.text(number_of(shown, "Không rõ")))
    shown = await say(harness, fake, user, user.text(number_of(shown, "Hôm nay")))
    shown = await say(harness, fake, user, user.text("Có người bán ma túy ở ngõ 5."))
    shown = await say(harness, fake, user, user.text(number_of(shown, "Xong, tiếp tục")))
    review = await say(harness, fake, user, user.text(number_of(shown, "Ẩn danh")))
    confirm = user.text(number_of(review, "Gửi tin báo"))
    await harness.stop()

    port = free_port()
    env = process_env(
        tmp_path, ZALO_BOT_TOKEN=ZALO_TOKEN, ZALO_API_BASE_URL=fake.base_url,
        ZALO_POLL_TIMEOUT_S="1", ZALO_RATE_PER_SECOND="0", ZALO_CHAT_INTERVAL_S="0",
        ZALO_MODE=mode, WEB_PORT=str(port), FLOOD_BURST="1000",
    )  # fmt: skip
    if mode == "webhook":
        env.update(ZALO_WEBHOOK_URL="https://tipline.example.vn/zalo/webhook",
                   ZALO_WEBHOOK_SECRET=SECRET)  # fmt: skip
    url = f"http://127.0.0.1:{port}/zalo/webhook"

    async def start(crash: str | None) -> asyncio.subprocess.Process:
        marker = len(fake.calls)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", cwd=tmp_path,
            env={**env, **({"TIPBOT_CRASH_AT": crash} if crash else {})},
            stdout=asyncio.subprocess.DEVNULL, stderr=(tmp_path / "bot.log").open("ab"),
        )  # fmt: skip
        ready = "deleteWebhook" if mode == "polling" else "setWebhook"
        await wait_for(lambda: any(c.method == ready for c in fake.calls[marker:]))
        await asyncio.sleep(0.3)
        return proc

    async def deliver() -> int | None:
        if mode == "polling":
            fake.push(confirm)
            return None
        async with httpx.AsyncClient() as client:
            try:
                answer = await client.post(
                    url, json={"ok": True, "result": confirm},
                    headers={"X-Bot-Api-Secret-Token": SECRET},
                )  # fmt: skip
            except httpx.HTTPError:
                return None  # the process died before answering
            return answer.status_code

    try:
        proc = await start(crash_at)
        first = await deliver()
        assert await asyncio.wait_for(proc.wait(), 30) == -signal.SIGKILL
        assert first != 200 or crash_at == "mid_txn"  # 200 only after the insert
        proc = await start(None)
        if mode == "webhook":
            assert await deliver() == 200  # Zalo's retry: stored once, by its message id
        try:
            await wait_for(lambda: any("Mã tin báo" in t for t in fake.sent(user.id)))
            await asyncio.sleep(0.5)  # give a duplicate the chance to show up
        finally:
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 30) == 0
        tips = await tips_in(tmp_path)
        receipts = [t for t in fake.sent(user.id) if "Mã tin báo" in t]
        assert len(tips) == 1 and len(receipts) == 1 and tips[0].code in receipts[0]
        assert await integrity_ok(tmp_path)
    finally:
        await fake.stop()
    assert not fake.unexpected


def test_what_zalo_cannot_carry_becomes_text_and_names_are_not_kept() -> None:
    """Numbers as the router counts them (a location button's number is skipped, not
    reused), markup dropped, a campaign photo's text kept, an alert's file pointed to
    the desk; the sender's display name is stripped before the update is stored."""
    from bot.channels.zalo.channel import ZaloChannel
    from bot.channels.zalo.send import as_text
    from bot.identity import Identity
    from bot.uploads import UploadStore
    from tests.harness import SECRET as KEY

    step = {
        "t": "msg", "text": "Bước 3/6.",
        "buttons": [[{"label": "📍 Vị trí", "data": "a", "request": "location"}],
                    [{"label": "Không rõ", "data": "b"}], [{"label": "Quay lại", "data": "c"}]],
    }  # fmt: skip
    assert as_text(step, None) == "Bước 3/6.\n\n2. Không rõ\n3. Quay lại"
    card = {"t": "msg", "text": "<b>Tin báo</b> &lt;b&gt;x&lt;/b&gt;", "html": True}
    assert as_text(card, None) == "Tin báo <b>x</b>"
    assert (
        as_text({"t": "upload", "kind": "photo", "path": "/x", "caption": "Cảnh giác"}, None)
        == "Cảnh giác"
    )
    note = as_text({"t": "file", "kind": "photo", "ref": "r"}, "https://tip.example.vn")
    assert note is not None and "https://tip.example.vn/staff" in note
    assert as_text({"t": "answer", "id": "1"}, None) is None

    channel = ZaloChannel(
        token=ZALO_TOKEN, identity=Identity(KEY.encode()),
        uploads=UploadStore(Path("/nonexistent"), "web", KEY.encode()), base_url="http://x",
    )  # fmt: skip
    update = ZaloUser(name="Nguyễn Văn Lan").text("xin chào")
    prepared = asyncio.run(channel._prepared(update))
    assert prepared is not None and "Nguyễn Văn Lan" not in str(prepared)
    assert prepared[0] == update["message"]["message_id"]  # the inbox key
