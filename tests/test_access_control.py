"""Section AC of the test plan: who may see and do what, checked through the pipeline.

AC5 (broadcast) belongs to the campaigns issue; AC7 (guessing follow-up codes) and
AC9/AC10 (webhook forgery, token exposure) are covered in test_bad_input, test_webhook
and test_privacy.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from storage.schema import staff, tips, unit_members
from storage.stores import Stores
from tests.fakes.updates import Citizen, group_message
from tests.harness import Harness
from tests.officer_world import command, file_tip, standard_world

OFFICER_COMMANDS = ["/tips", "/tip ABCD-EFGH", "/claim ABCD-EFGH", "/mine", "/find drugs"]
ADMIN_COMMANDS = ["/newunit X", "/invite admin", "/staff", "/removestaff x", "/units"]


async def denied(bot: Harness) -> list[dict]:
    assert bot.app is not None
    async with bot.app.db.read() as conn:
        entries = await Stores(conn).audit.entries(limit=500)
    return [e for e in entries if e["outcome"] == "denied"]


@pytest.mark.parametrize("text", OFFICER_COMMANDS + ADMIN_COMMANDS)
async def test_ac1_non_officer_commands_look_unknown_and_are_audited(
    bot: Harness, text: str
) -> None:
    citizen = Citizen(1101)
    unknown = await command(bot, citizen, "/frobnicate")
    before = len(await denied(bot))
    assert await command(bot, citizen, text) == unknown
    assert len(await denied(bot)) == before + 1


async def test_ac1_officer_cannot_use_admin_commands(bot: Harness) -> None:
    world = await standard_world(bot)
    minh = world["minh"]
    unknown = await command(bot, minh, "/frobnicate")
    assert await command(bot, minh, "/invite admin Mallory") == unknown
    assert await command(bot, minh, "/newunit Rogue unit") == unknown


async def test_ac2_forged_officer_button_from_a_citizen_is_refused(bot: Harness) -> None:
    world = await standard_world(bot)
    code = await file_tip(bot, Citizen(1102))
    mallory = Citizen(1103)
    calls = await bot.send(mallory.press(f"1|-|oc|{code}"))
    answers = [c for c in calls if c.method == "answerCallbackQuery"]
    assert len(answers) == 1 and "không có quyền" in answers[0].params["text"]
    # Nothing changed: the real officer can still claim it.
    assert "Bạn đã nhận xử lý" in await command(bot, world["minh"], f"/claim {code}")
    assert any(e["action"] == "btn.oc" for e in await denied(bot))


async def test_ac3_other_district_sees_not_found_exactly(bot: Harness) -> None:
    world = await standard_world(bot)
    minh, hoa = world["minh"], world["hoa"]
    code = await file_tip(bot, Citizen(1104))  # Hoàn Kiếm: unit 1
    missing = await command(bot, hoa, "/tip ZZZZ-ZZZZ")
    assert await command(bot, hoa, f"/tip {code}") == missing
    assert await command(bot, hoa, f"/thread {code}") == missing
    assert await command(bot, hoa, f"/note {code} trying") == missing
    assert await command(bot, hoa, f"/setstatus {code} resolved") == missing
    assert code not in await command(bot, hoa, "/find hoan kiem")
    assert code not in await command(bot, hoa, f"/find {code}")
    calls = await bot.say(hoa, hoa.press(f"1|-|oc|{code}"))
    assert calls[-1].text == missing
    # The tip is untouched and its officer still sees it; the attempts were audited.
    assert code in await command(bot, minh, f"/tip {code}")
    assert sum(1 for e in await denied(bot) if e["target"] and code in e["target"]) >= 5


async def test_ac3_tip_ids_are_random_not_sequential(bot: Harness) -> None:
    await standard_world(bot)
    await file_tip(bot, Citizen(1105))
    await file_tip(bot, Citizen(1106))
    assert bot.app is not None
    async with bot.app.db.read() as conn:
        ids = list((await conn.execute(select(tips.c.id))).scalars())
    assert len(ids) == 2 and all(len(i) == 36 for i in ids)
    assert not any(i.isdigit() for i in ids)


async def test_ac4_removed_officer_loses_access_at_once(bot: Harness) -> None:
    world = await standard_world(bot)
    minh, admin = world["minh"], world["admin"]
    code = await file_tip(bot, Citizen(1107))
    assert code in await command(bot, minh, f"/tip {code}")
    staff_list = await command(bot, admin, "/staff")
    username = next(
        line.split()[1] for line in staff_list.splitlines() if line.startswith("• minh-")
    )
    assert "Đã khóa" in await command(bot, admin, f"/removestaff {username}")
    calls = await bot.send(minh.press(f"1|-|oc|{code}"))
    answers = [c for c in calls if c.method == "answerCallbackQuery"]
    assert answers and "không có quyền" in answers[0].params["text"]
    unknown = await command(bot, minh, "/frobnicate")
    assert await command(bot, minh, f"/tip {code}") == unknown


async def test_ac4_officer_moved_to_another_unit_loses_the_old_one(bot: Harness) -> None:
    world = await standard_world(bot)
    minh, admin = world["minh"], world["admin"]
    code = await file_tip(bot, Citizen(1108))
    assert bot.app is not None
    async with bot.app.db.write() as conn:  # as an admin tool would move him
        minh_id = (
            await conn.execute(select(staff.c.id).where(staff.c.username.like("minh-%")))
        ).scalar_one()
        await conn.execute(
            update(unit_members).where(unit_members.c.staff_id == minh_id).values(unit_id=2)
        )
    missing = await command(bot, minh, "/tip ZZZZ-ZZZZ")
    assert await command(bot, minh, f"/tip {code}") == missing
    assert admin


async def test_ac6_group_and_anonymous_admin_messages_are_never_users(bot: Harness) -> None:
    world = await standard_world(bot)
    calls = await bot.send(group_message(-100999, world["admin"], "/staff"))
    assert not [c for c in calls if c.method == "sendMessage"]
    anonymous = world["admin"].message(
        text="/staff",
        sender_chat={"id": -100999, "type": "supergroup", "title": "G"},
    )
    calls = await bot.send(anonymous)
    assert not [c for c in calls if c.method == "sendMessage"]


async def test_ac8_admin_without_a_unit_cannot_read_tips(bot: Harness) -> None:
    world = await standard_world(bot)
    admin = world["admin"]
    code = await file_tip(bot, Citizen(1109))
    missing = await command(bot, admin, "/tip ZZZZ-ZZZZ")
    assert await command(bot, admin, f"/tip {code}") == missing
    assert code not in await command(bot, admin, "/tips")
    assert code not in await command(bot, admin, f"/find {code}")


async def test_supervisor_sees_sub_units(bot: Harness) -> None:
    world = await standard_world(bot)
    admin, tuan = world["admin"], world["tuan"]
    # A sub-unit under unit 1 (where Tuan supervises) covering Phường Ba Đình's neighbour.
    await command(bot, admin, "/newunit --parent 1 Tổ công tác Cửa Nam")
    await command(bot, admin, "/unitwards 4 Cửa Nam")
    code = await file_tip(bot, Citizen(1110), ward="cua nam", ward_button="Phường Cửa Nam")
    assert code in await command(bot, tuan, f"/tip {code}")
    missing = await command(bot, world["minh"], "/tip ZZZZ-ZZZZ")
    assert await command(bot, world["minh"], f"/tip {code}") == missing
