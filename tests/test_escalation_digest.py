"""Escalation and digests: deadlines and sent periods live in the database, so they
hold across restarts and nothing goes out twice. The clock is the service's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from handlers.core.i18n import Catalog
from handlers.domain import digest
from handlers.domain.places import gazetteer
from storage.stores import Stores
from storage.tips import TipRepository
from tests.fakes.botapi import FakeBotAPI
from tests.fakes.updates import Citizen
from tests.harness import Harness, make_settings
from tests.officer_world import command, file_tip, standard_world
from tests.seeds import DAY, KNOWN, seed

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


def escalations(api: FakeBotAPI, who: Citizen, code: str) -> list:
    return [c for c in api.sent(who.user_id) if code in c.text and "Chưa ai nhận" in c.text]


async def test_unclaimed_urgent_tip_escalates_to_supervisors_then_city_across_restart(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    bot = Harness(api, make_settings(tmp_path, api))
    await bot.start()
    world = await standard_world(bot)
    tuan, admin = world["tuan"], world["admin"]
    city = Citizen(9601, first_name="Khoa")
    from tests.officer_world import invite

    await invite(bot, admin, "officer", 3, city)
    code = await file_tip(bot, Citizen(1201), urgent=True, contact=True)
    handling = [c for c in api.sent(world["minh"].user_id) if code in c.text]
    assert handling and "912345678" in handling[0].text  # the handling unit sees it
    assert bot.app is not None

    bot.clock.advance(timedelta(minutes=9))
    assert await bot.app.escalator.escalate() == 0
    await bot.settle()
    assert not escalations(api, tuan, code)

    bot.clock.advance(timedelta(minutes=2))  # 11 min: past the 10-minute deadline
    await bot.app.escalator.escalate()  # (the scheduler's job may get there first: same)
    await bot.settle()
    assert len(escalations(api, tuan, code)) == 1
    assert await bot.app.escalator.escalate() == 0  # the same step never twice

    # Restart across the next deadline: the city-level unit is alerted once, at start.
    await bot.stop()
    bot.clock.advance(timedelta(minutes=11))
    await bot.start()
    await bot.until(lambda: escalations(api, city, code))
    assert len(escalations(api, city, code)) == 1
    # Escalations show the tip, never the contact the tipster left for the handling unit.
    for escalated in escalations(api, city, code) + escalations(api, tuan, code):
        assert "912345678" not in escalated.text
    assert await bot.app.escalator.escalate() == 0
    bot.clock.advance(timedelta(hours=2))
    assert await bot.app.escalator.escalate() == 0  # two levels, then it stays put
    assert len(escalations(api, tuan, code)) == 1

    # Claiming stops escalation for good (a claimed normal tip is never escalated).
    code2 = await file_tip(bot, Citizen(1202))
    await command(bot, world["minh"], f"/claim {code2}")
    bot.clock.advance(timedelta(hours=25))
    await bot.app.escalator.escalate()
    await bot.settle()
    assert not escalations(api, tuan, code2)
    await bot.stop()


# ---- digests -------------------------------------------------------------------------
async def test_daily_digest_contents_chart_and_catch_up_once(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    bot = Harness(api, make_settings(tmp_path, api))
    await bot.start()
    world = await standard_world(bot)
    minh = world["minh"]
    city = Citizen(9602, first_name="Khoa")
    from tests.officer_world import invite

    await invite(bot, world["admin"], "officer", 3, city)
    assert bot.app is not None
    async with bot.app.db.write() as conn:
        await seed(Stores(conn), TipRepository(conn), DAY)
    await bot.stop()

    # The service was down at 07:00 on the 26th: the digest goes out at start, once.
    now = datetime(2026, 11, 26, 9, 30, tzinfo=VIETNAM)
    bot.clock.advance(now - datetime.now(UTC))
    await bot.start()

    # The catch-up runs beside the start (on PostgreSQL, once leading).
    def daily_for(who: Citizen) -> list:
        return [c for c in api.sent(who.user_id) if "Báo cáo ngày 25/11/2026" in c.text]

    await bot.until(lambda: daily_for(minh))
    daily = daily_for(minh)
    assert len(daily) == 1
    text = daily[0].text
    assert "Công an phường Hoàn Kiếm" in text
    assert "Tổng số tin báo nhận được: 4" in text  # unit 1: the four Hoàn Kiếm tips
    assert "• Tệ nạn xã hội: 3 (Ma túy 2, Cờ bạc, cá độ 1)" in text
    assert "• Tội phạm hình sự: 1 (Trộm cắp, cướp giật 1)" in text
    assert "• An ninh chính trị: 0 (-)" in text
    assert "Đang mở: 2 · Quá hạn chưa nhận: 0" in text  # drugs (claimed) + gambling
    assert "Phường Hoàn Kiếm 4" in text
    assert "nhận xử lý: 20 phút" in text  # median of 10, 30, 20 minutes
    assert "giải quyết: 1 giờ 30 phút" in text  # median of 120 and 60 minutes
    charts = api.sent(minh.user_id, "sendPhoto")
    assert charts and "Báo cáo ngày" in charts[0].params.get("caption", "")
    png = tmp_path / "digests" / "daily-2026-11-25-1.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000

    city_daily = [c for c in api.sent(city.user_id) if "ngày 25/11/2026 — Toàn thành phố" in c.text]
    assert len(city_daily) == 1 and "Tổng số tin báo nhận được: 7" in city_daily[0].text

    # Restart, and the scheduled run at the same period: nothing goes out again.
    await bot.app._catch_up_task  # every digest of the catch-up is out (not just this one)
    await bot.stop()
    await bot.start()
    await bot.app._catch_up_task  # (which would send, and record, any left)
    assert await bot.app.digester.send_digests() == 0
    await bot.settle()
    assert len([c for c in api.sent(minh.user_id) if "Báo cáo ngày 25/11" in c.text]) == 1
    await bot.stop()


def test_digest_periods_follow_vietnam_time() -> None:
    at = datetime(2026, 11, 26, 6, 59, tzinfo=VIETNAM)  # before 07:00: the 24th's digest
    assert str(digest.period_of("daily", at, 7, 0)) == "2026-11-24"
    at = datetime(2026, 11, 26, 7, 0, tzinfo=VIETNAM)
    assert str(digest.period_of("daily", at, 7, 0)) == "2026-11-25"
    monday = datetime(2026, 11, 30, 7, 0, tzinfo=VIETNAM)  # a Monday
    assert str(digest.period_of("weekly", monday, 7, 0)) == "2026-11-23"
    assert str(digest.period_of("weekly", monday - timedelta(minutes=1), 7, 0)) == "2026-11-16"


def test_digest_text_against_a_known_data_set() -> None:
    from storage.models import DigestRow

    base = datetime(2026, 11, 25, 1, tzinfo=UTC)
    rows = [
        DigestRow(
            category_group=g,
            category=c,
            ward_code=w,
            status="new",
            created_at=base,
            claimed_at=base + timedelta(minutes=m) if m is not None else None,
            resolved_at=base + timedelta(minutes=r) if r is not None else None,
        )
        for c, g, w, _, m, r in KNOWN
    ]
    stats = digest.compute(rows, open_count=5, overdue=2)
    assert stats.total == 7
    assert stats.by_group == {
        "political_security": 1,
        "criminal": 2,
        "social_evils": 3,
        "other": 1,
    }
    assert stats.by_ward[0] == (70, 4)
    assert stats.median_claim == timedelta(minutes=15)  # 5, 10, 20, 30
    assert stats.median_resolve == timedelta(minutes=90)
    text = digest.render(
        stats,
        catalog=Catalog(),
        locale="en",
        places=gazetteer("ha_noi"),
        kind="daily",
        first_day=DAY.date(),
        scope="City",
    )
    assert "Tips received: 7" in text
    assert "Social evils: 3 (Drugs 2, Gambling" in text
    assert "Open: 5 · Overdue unclaimed: 2" in text
    assert "Median time to claim: 15 min · to resolve: 1 h 30 min" in text
