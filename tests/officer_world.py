"""Builds the officer side of a test world through the real pipeline: an admin (from a
bootstrap invite, as `tipbot invite --role admin` makes), units, officers who join by
invite codes, and citizens who file tips by typing (so many can be fed at once)."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

from storage.stores import Stores
from tests.fakes.botapi import Call
from tests.fakes.updates import Citizen
from tests.harness import Harness

CODE = re.compile(r"[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}")
INVITE = re.compile(r"/join ([0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6})")


async def bootstrap_admin(bot: Harness, admin: Citizen) -> None:
    assert bot.app is not None
    async with bot.app.db.write() as conn:
        code = await Stores(conn).staff.create_invite(
            role="admin",
            unit_id=None,
            name="admin",
            staff_id=None,
            created_by=None,
            now=bot.clock.now(),
            ttl=timedelta(days=1),
        )
    replies = await bot.say(admin, admin.text(f"/join {code}"))
    assert "quản trị" in replies[-1].text


async def command(bot: Harness, who: Citizen, text: str) -> str:
    replies = await bot.say(who, who.text(text))
    assert replies, f"no answer to {text!r}"
    return replies[-1].text


SECOND_ADMIN = Citizen(9002, first_name="Admin2", username="admin_two")
APPROVAL = re.compile(r"#(\d+)")


async def approved(bot: Harness, requester: Citizen, request: str) -> list[Call]:
    """Make a request that needs a second person (two-person rule), have the second
    admin approve it, and return what then reached the requester."""
    text = await command(bot, requester, request)
    match = APPROVAL.search(text)
    assert match and "/approve" in text, text
    assert bot.api is not None
    mark = len(bot.api.calls)
    done = await command(bot, SECOND_ADMIN, f"/approve {match.group(1)}")
    assert "✅" in done, done
    return [c for c in bot.api.calls[mark:] if c.chat_id == requester.user_id]


async def invite_code(bot: Harness, admin: Citizen, role: str, unit: int, name: str) -> str:
    """A one-time code for an officer or supervisor of `unit`, approved by a second
    admin as the two-person rule requires."""
    got = await approved(bot, admin, f"/invite {role} {unit} {name}")
    match = INVITE.search("\n".join(c.text for c in got))
    assert match, [c.text for c in got]
    return match.group(1)


async def invite(bot: Harness, admin: Citizen, role: str, unit: int, who: Citizen) -> None:
    code = await invite_code(bot, admin, role, unit, who.first_name)
    joined = await command(bot, who, f"/join {code}")
    assert "Chào mừng" in joined


async def standard_world(bot: Harness) -> dict[str, Any]:
    """Unit 1 covers Phường Hoàn Kiếm, unit 2 Phường Ba Đình, unit 3 is city-level.
    Minh is an officer of unit 1, Hoa of unit 2, Tuan supervises unit 1."""
    admin = Citizen(9001, first_name="Admin", username="admin_cap")
    minh = Citizen(9101, first_name="Minh", username="minh_cs")
    hoa = Citizen(9201, first_name="Hoa", username="hoa_cs")
    tuan = Citizen(9301, first_name="Tuan", username="tuan_cs")
    await bootstrap_admin(bot, admin)
    await bootstrap_admin(bot, SECOND_ADMIN)  # the two-person rule needs a second
    assert "#1" in await command(bot, admin, "/newunit Công an phường Hoàn Kiếm")
    assert "#2" in await command(bot, admin, "/newunit Công an phường Ba Đình")
    assert "#3" in await command(bot, admin, "/newunit --city Công an thành phố Hà Nội")
    assert "Phường Hoàn Kiếm" in await command(bot, admin, "/unitwards 1 Hoàn Kiếm")
    assert "Phường Ba Đình" in await command(bot, admin, "/unitwards 2 Ba Đình")
    await invite(bot, admin, "officer", 1, minh)
    await invite(bot, admin, "officer", 2, hoa)
    await invite(bot, admin, "supervisor", 1, tuan)
    return {"admin": admin, "admin2": SECOND_ADMIN, "minh": minh, "hoa": hoa, "tuan": tuan}


def typed_tip(
    who: Citizen,
    *,
    ward: str | None = "hoan kiem",
    ward_button: str = "Phường Hoàn Kiếm",
    text: str = "Có nhóm người mua bán ma túy ở đầu ngõ 12 mỗi tối.",
    urgent: bool = False,
    contact: bool = False,
    send: bool = True,
) -> list[dict[str, Any]]:
    """The updates of a whole report, typed (labels match buttons in any order of
    arrival, so the updates of many citizens can be pushed at once)."""
    updates = [
        who.text("/start"),
        who.text("Gửi tin báo"),
        who.text("Tệ nạn xã hội"),
        who.text("Ma túy"),
        who.text("Có, đang xảy ra" if urgent else "Không"),
    ]
    if ward is None:
        updates.append(who.location())
    else:
        updates += [who.text(ward), who.text(ward_button)]
    updates += [who.text("Hôm nay"), who.text(text), who.text("Xong, tiếp tục")]
    updates.append(who.contact() if contact else who.text("Ẩn danh"))
    if send:
        updates.append(who.text("Gửi tin báo"))
    return updates


async def file_tip(bot: Harness, who: Citizen, **kwargs: Any) -> str:
    """File a tip and return its code."""
    calls: list[Call] = []
    for update in typed_tip(who, **kwargs):
        calls = await bot.say(who, update)
    match = CODE.search(calls[-1].text if calls else "")
    assert match, calls[-1].text if calls else "no reply"
    await alerts_settled(bot)
    return match.group(0)


async def alerts_settled(bot: Harness) -> None:
    """Wait until the alert worker has handled every queued alert and it is sent."""
    assert bot.app is not None
    for _ in range(400):
        async with bot.app.db.read() as conn:
            waiting = await Stores(conn).alerts.pending_alerts()
        if not waiting:
            await bot.settle()
            return
        await asyncio.sleep(0.025)
    raise AssertionError("alerts were not sent")


def texts(calls: list[Call]) -> str:
    return "\n".join(c.text for c in calls)
