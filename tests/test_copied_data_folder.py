"""Anonymity against someone holding a copy of the data folder (issue 10).

Tips are filed from Telegram and the web chat, anonymous and with contact details; an
officer asks, a tipster answers, an officer writes a note. Then:
- a hot copy of the database and its WAL, taken while the service runs, holds no tip
  text, note, relayed message or phone number (`strings` would find none);
- once the follow-up window has passed, an insider who also has the key dumps every
  table, opens every sealed value, and reads every file under DATA_DIR: no chat id,
  user id, user name, web session id or pseudonym of an anonymous tipster appears, and
  no row ties a tip to one.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.schema import metadata
from storage.vault import is_sealed
from tests.fakes.botapi import FakeBotAPI
from tests.fakes.updates import Citizen
from tests.fakes.webclient import WebCitizen
from tests.harness import SUITE_ON_POSTGRES, VAULT, start_with_web
from tests.journeys import act, walk_to_review
from tests.officer_world import command, file_tip, standard_world

TELEGRAM_TEXT = "Ong Quach Thi Bimat ban ma tuy o nha so 77 ngo Hoang Kim"
CONTACT_TEXT = "Nguoi co so dien thoai de lai: co dam bac lon o quan Sao Mai"
WEB_TEXT = "Tin bao qua trang web: xe tai cho hang cam luc 2 gio sang"
QUESTION = "Ban co nho bien so xe khong, Cuthbert?"
ANSWER = "Bien so 29A-99999, xe mau xanh la Zebulon"
NOTE = "Ghi chu noi bo: doi chieu voi vu an Fitzgerald"
PHONE_DIGITS = "912345678"


def dump(bot_data: Path, rows: dict[str, list[dict[str, object]]]) -> str:
    """Everything an insider with the key can read: every table's rows with every
    sealed value opened, and every file under the data folder."""
    parts = []
    for table, table_rows in rows.items():
        for row in table_rows:
            for column, value in row.items():
                if is_sealed(value):
                    parts.append(open_any(str(value), table, column, row))
                parts.append(f"{table}.{column}={value!r}")
    for path in bot_data.rglob("*"):
        if path.is_file():
            parts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


def open_any(value: str, table: str, column: str, row: dict[str, object]) -> str:
    """Open a sealed value the way the service would (its associated data names the
    row); fail loudly if it does not open: nothing sealed may be unreadable to us."""
    keys = {
        "tips": f"tips.{column}:{row.get('id')}",
        "tip_events": f"tip_events.body:{row.get('tip_id')}",
        "conversations": f"conversations.draft:{row.get('channel')}:{row.get('user_key')}",
        "outbox": f"outbox.payload:{row.get('channel')}:{row.get('chat_key')}",
        "inbox": f"inbox.payload:{row.get('channel')}:{row.get('update_key')}",
    }
    return VAULT.open(value, keys[table])


@pytest.mark.skipif(
    SUITE_ON_POSTGRES, reason="reads the SQLite file in DATA_DIR (PostgreSQL keeps no data there)"
)
async def test_a_copied_data_folder_names_no_anonymous_tipster(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    bot, base = await start_with_web(api, tmp_path)
    try:
        assert bot.app is not None
        world = await standard_world(bot)
        minh = world["minh"]
        anon = Citizen(881234567890, first_name="Thaddeus", username="thaddeus_quiet")
        named = Citizen(881234567891, first_name="Philomena", username="philo_open")
        code = await file_tip(bot, anon, text=TELEGRAM_TEXT)
        await file_tip(bot, named, text=CONTACT_TEXT, contact=True)

        web = WebCitizen(base)
        try:
            await walk_to_review(bot, web)
            await web.say(WEB_TEXT)
            await act(bot, web)
            await web.choose(web.button("Xong")["data"])
            await act(bot, web)
            await web.choose(web.button("Ẩn danh")["data"])
            await act(bot, web)
            await web.choose(web.button("Gửi tin báo")["data"])
            done = (await act(bot, web))[-1]["text"]
            session = web.client.cookies.get("tipbot_session")
        finally:
            await web.close()
        assert session and re.search(r"[2-9A-Z]{4}-[2-9A-Z]{4}", done)

        # The relay while the tip is young: a question, an answer, and a note.
        await command(bot, minh, f"/claim {code}")
        await command(bot, minh, f"/ask {code} {QUESTION}")
        question = bot.api.sent(anon.user_id)[-1]
        await bot.press(anon, "Trả lời")
        await bot.say(anon, anon.text(ANSWER))
        await command(bot, minh, f"/note {code} {NOTE}")
        assert QUESTION in question.text

        # A hot copy while the service runs: no text, no number (sealed before insert).
        hot = b"".join(p.read_bytes() for p in tmp_path.glob("tipbot.db*"))
        assert code.encode() in hot  # the scan sees clear data where there is some
        for secret in (TELEGRAM_TEXT, CONTACT_TEXT, WEB_TEXT, QUESTION, ANSWER, NOTE):
            assert secret.encode() not in hot, secret
        assert PHONE_DIGITS.encode() not in hot

        # The follow-up window passes; the links and idle conversations are deleted.
        bot.clock.advance(timedelta(days=31))
        assert await bot.app.pipeline.forget_links() > 0
        await bot.app.db.checkpoint()
        async with bot.app.db.read() as conn:
            rows = {
                table.name: [r._asdict() for r in await conn.execute(select(table))]
                for table in metadata.sorted_tables
            }
        everything = dump(tmp_path, rows)
        # The insider can read the tip (that is what the key is for)…
        assert TELEGRAM_TEXT in everything and WEB_TEXT in everything
        assert PHONE_DIGITS in everything  # the number Philomena chose to leave
        # …but not who sent the anonymous ones.
        identity = bot.app.identity
        for who in (anon,):
            for needle in (
                str(who.user_id),
                who.first_name,
                who.username or "",
                identity.pseudonym("telegram", who.user_id),
            ):
                assert needle not in everything, needle
        for needle in (session, session[:16], identity.pseudonym("web", session)):
            assert needle not in everything, needle
        assert rows["followups"] == []
    finally:
        await bot.stop()
