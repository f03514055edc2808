"""Statistics (chat, with a chart) and CSV exports (chat and CLI) against a known data
set; exports carry no citizen identifiers unless contact details are asked for, which
is audited."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import update

from storage.schema import tips
from storage.stores import Stores
from storage.tips import TipRepository
from tests.fakes.updates import Citizen
from tests.harness import Harness, run_tipbot
from tests.officer_world import approved, command, standard_world
from tests.seeds import DAY, seed


async def seeded(bot: Harness) -> dict:  # type: ignore[type-arg]
    world = await standard_world(bot)
    assert bot.app is not None
    async with bot.app.db.write() as conn:
        codes = await seed(Stores(conn), TipRepository(conn), DAY)
        await conn.execute(
            update(tips).where(tips.c.code == codes[0]).values(contact_phone="+84987654321")
        )
    return world


async def test_stats_in_the_campaign_report_shape_with_a_chart(bot: Harness) -> None:
    world = await seeded(bot)
    admin = world["admin"]
    text = await command(bot, admin, "/stats 2026-11-25")
    assert "Báo cáo thống kê 25/11/2026" in text
    assert "Tổng số tin báo nhận được: 7" in text
    assert "• Tệ nạn xã hội: 3 (Ma túy 2, Cờ bạc, cá độ 1)" in text
    assert "Theo kênh: telegram 7" in text
    assert bot.api is not None and bot.api.sent(admin.user_id, "sendPhoto")
    week = await command(bot, admin, "/stats 2026-11-19 2026-11-25")
    assert "19/11/2026 – 25/11/2026" in week and "nhận được: 7" in week
    assert "nhận được: 0" in await command(bot, admin, "/stats 2026-11-26")
    # Officers and citizens: an unknown command.
    minh = world["minh"]
    assert await command(bot, minh, "/stats") == await command(bot, minh, "/frobnicate")
    citizen = Citizen(4001)
    assert await command(bot, citizen, "/export 2026-11-25 2026-11-25") == await command(
        bot, citizen, "/frobnicate"
    )


async def test_chat_export_is_a_document_and_contact_requests_are_audited(
    bot: Harness,
) -> None:
    world = await seeded(bot)
    admin = world["admin"]
    assert bot.api is not None and bot.app is not None
    await bot.say(admin, admin.text("/export 2026-11-25 2026-11-25"))
    # Contact numbers only once a second admin approves (two-person rule).
    got = await approved(bot, admin, "/export 2026-11-25 2026-11-25 drugs contact")
    assert [c.method for c in got] == ["sendDocument"]
    documents = bot.api.sent(admin.user_id, "sendDocument")
    assert len(documents) == 2
    assert documents[0].params["document"]["upload"].endswith(".csv")
    assert "7 tin báo" in documents[0].params["caption"]
    assert "2 tin báo" in documents[1].params["caption"]
    assert not list((bot.settings.data_dir / "exports").glob("*.csv"))  # deleted once sent
    async with bot.app.db.read() as conn:
        actions = [e["action"] for e in await Stores(conn).audit.entries(50)]
    assert "export" in actions and "export.contact" in actions


async def test_cli_export_holds_no_identifiers_unless_asked(bot: Harness, tmp_path: Path) -> None:
    await seeded(bot)
    await bot.stop()
    out = tmp_path / "plain.csv"
    done = await run_tipbot(
        "export", "--from", "2026-11-25", "--to", "2026-11-25", "--out", str(out), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 7 and "contact_phone" not in rows[0]
    assert {r["ward"] for r in rows} >= {"Phường Hoàn Kiếm", ""}
    text = out.read_text(encoding="utf-8")
    assert "seeded" not in text and "k0" not in text  # no description, no pseudonym
    assert "+84987654321" not in text

    with_contact = tmp_path / "contact.csv"
    done = await run_tipbot(
        "export", "--from", "2026-11-25", "--to", "2026-11-25", "--category", "drugs",
        "--with-contact", "--out", str(with_contact), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(with_contact.open(encoding="utf-8")))
    assert len(rows) == 2 and {r["contact_phone"] for r in rows} == {"+84987654321", ""}
    audit = await run_tipbot("audit", cwd=tmp_path)
    assert "cli.export.contact" in audit.stdout
    bad = await run_tipbot(
        "export",
        "--from",
        "2026-11-25",
        "--to",
        "x",
        "--out",
        "y",
        cwd=tmp_path,
    )
    assert bad.returncode == 2
