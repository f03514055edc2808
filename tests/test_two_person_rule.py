"""The two-person rule (issue 10, finding 6): an admin alone cannot get tipsters'
contact numbers or an account that reads tips; a second admin — or, for an invite,
that unit's supervisor — must approve, and nobody approves their own request."""

from __future__ import annotations

from tests.fakes.updates import Citizen
from tests.harness import Harness
from tests.officer_world import APPROVAL, INVITE, command, file_tip, standard_world


async def test_an_admin_alone_gets_neither_contacts_nor_a_tip_reading_account(
    bot: Harness,
) -> None:
    world = await standard_world(bot)
    admin, admin2, minh, hoa, tuan = (world[k] for k in ("admin", "admin2", "minh", "hoa", "tuan"))
    code = await file_tip(bot, Citizen(4101), contact=True)
    assert bot.api is not None

    # The export with contact numbers is only a request…
    asked = await command(bot, admin, "/export 2026-01-01 2026-12-31 contact")
    export_id = APPROVAL.search(asked).group(1)  # type: ignore[union-attr]
    assert not bot.api.sent(admin.user_id, "sendDocument")
    # …which its author cannot approve, nor an officer, nor a supervisor (not an invite).
    for who in (admin, minh, tuan):
        assert "không thể" in await command(bot, who, f"/approve {export_id}")
    assert not bot.api.sent(admin.user_id, "sendDocument")
    # An invite for unit 1 (Hoàn Kiếm), asked by the admin, perhaps for themselves.
    asked = await command(bot, admin, "/invite officer 1 Mallory")
    invite_id = APPROVAL.search(asked).group(1)  # type: ignore[union-attr]
    assert not INVITE.search(asked)
    assert "không thể" in await command(bot, hoa, f"/approve {invite_id}")  # unit 2's officer
    # Unit 1's supervisor may approve it; the code goes to the admin who asked.
    assert "✅" in await command(bot, tuan, f"/approve {invite_id}")
    assert INVITE.search(bot.api.sent(admin.user_id)[-1].text)
    assert "Cách dùng" in await command(bot, admin2, f"/approve {invite_id}")  # once only
    # A second admin refuses the export: the requester is told, and gets no file.
    assert "từ chối" in await command(bot, admin2, f"/refuse {export_id}")
    assert "bị từ chối" in bot.api.sent(admin.user_id)[-1].text
    assert not bot.api.sent(admin.user_id, "sendDocument")
    # And the admin role itself reads no tip.
    assert "Không tìm thấy" in await command(bot, admin, f"/tip {code}") or (
        await command(bot, admin, f"/tip {code}") == await command(bot, admin, "/frobnicate")
    )
    waiting = await command(bot, admin2, "/approvals")
    assert "Không có yêu cầu" in waiting
