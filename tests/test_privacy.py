"""Privacy checks (test plan P1–P3): logs, the database file and what officers could
later see hold no tipster identifiers, no tip text in logs, no token, no receipt."""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import logs
from handlers.core.router import Router
from storage import inbox
from storage.migrate import upgrade
from storage.schema import attachments, tips
from tests.fakes.botapi import TOKEN
from tests.fakes.updates import Citizen
from tests.harness import SUITE_ON_POSTGRES, VAULT, Harness
from tests.journeys import walk_to

SECRET_TEXT = "Ông Nguyễn Văn Bí Mật bán ma túy ở số 9 ngõ Hẻo"


def identifiers(who: Citizen) -> list[str]:
    return [
        str(who.user_id),
        who.first_name,
        who.username or "",
        "912345678",
        TOKEN,
        TOKEN.split(":")[1],
        SECRET_TEXT,
    ]


async def file_identified_tip(bot: Harness, who: Citizen) -> str:
    await walk_to(bot, who, "describe")
    await bot.say(who, who.text(SECRET_TEXT))
    await bot.press(who, "Xong")
    await bot.say(who, who.contact())
    done = (await bot.press(who, "Gửi tin báo"))[-1].text
    receipt = re.search(r"Mã bí mật: ([\d ]+)", done)
    assert receipt
    return receipt.group(1).strip()


@pytest.fixture
def service_logging() -> Iterator[None]:
    """The service's own logging for one test; then pytest's again (a handler left on
    the root logger would write to this test's closed capture stream ever after)."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    names = ("httpx", "httpcore", "apscheduler", "telegram", "uvicorn", "aiosqlite",
             "sqlalchemy", "asyncpg")  # fmt: skip
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    root.handlers[:], root.level = saved
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("service_logging")
async def test_logs_hold_no_identifiers_even_when_a_handler_fails(
    bot: Harness, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    logs.configure("DEBUG")  # even at DEBUG, the chatty libraries stay at INFO
    who = Citizen(987654321987, first_name="Zephyrine", username="zephy_secret_user")
    await file_identified_tip(bot, who)

    original = Router.handle
    calls = {"n": 0}

    async def failing(self, conv, event, ctx):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        raise ValueError(f"boom with {event.text} from {event.address}")

    monkeypatch.setattr(Router, "handle", failing)
    await bot.send(who.text(SECRET_TEXT))  # fails every time: given up after five tries
    monkeypatch.setattr(Router, "handle", original)
    # Intake tries it once as it stores it (on SQLite, in the same turn to write); then
    # each of the dispatcher's passes tries the batch, then the row alone (which counts
    # the attempt).
    assert bot.app is not None
    at_intake = 1 if bot.app.db.is_sqlite else 0
    assert calls["n"] == at_intake + 2 * inbox.MAX_ATTEMPTS
    sorry = [c for c in bot.api.sent(who.user_id) if "Mã lỗi" in c.text]
    assert len(sorry) == 1  # the citizen hears about it once, with the error id
    log_text = capsys.readouterr().err
    assert "error_id=" in log_text and "batch failed" in log_text  # the capture works
    assert "SELECT" not in log_text and "INSERT" not in log_text  # no SQL echo at all
    for needle in identifiers(who):
        assert needle not in log_text, needle


@pytest.mark.skipif(
    SUITE_ON_POSTGRES, reason="reads the SQLite file in DATA_DIR (PostgreSQL keeps no data there)"
)
async def test_database_file_holds_no_ids_contacts_or_receipts(
    bot: Harness, tmp_path: Path
) -> None:
    who = Citizen(987654321988, first_name="Zephyrine", username="zephy_secret_user")
    receipt = await file_identified_tip(bot, who)
    assert bot.app is not None
    await bot.app.db.checkpoint()
    blobs = b"".join(p.read_bytes() for p in tmp_path.glob("tipbot.db*"))
    codes = re.findall(rb"[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}", blobs)
    assert codes  # the tip is stored, its code in clear (the scan works)…
    assert SECRET_TEXT.encode() not in blobs  # …its text and the contact left on
    assert b"912345678" not in blobs  # purpose are sealed (issue 10)
    for needle in (
        str(who.user_id),
        who.first_name,
        who.username or "",
        receipt.replace(" ", ""),
        receipt,
        TOKEN,
    ):
        assert needle.encode() not in blobs, needle


async def test_a_citizens_own_file_name_is_not_kept(bot: Harness, tmp_path: Path) -> None:
    """Issue 10, finding 3: a phone's file name can name its sender (a scanned ID card
    saved as Nguyen_Van_Lan_CCCD.pdf); the tip keeps the file, not its name."""
    who = Citizen(987654321977)
    await walk_to(bot, who, "describe")
    await bot.say(
        who,
        who.document(
            "Nguyen_Van_Lan_CCCD.pdf", mime="application/pdf", file_id="BQACAgIAAxkBAAIBQ2"
        ),
    )
    await bot.say(who, who.text(SECRET_TEXT))
    await bot.press(who, "Xong")
    await bot.press(who, "Ẩn danh")
    await bot.press(who, "Gửi tin báo")
    assert bot.app is not None
    async with bot.app.db.read() as conn:
        kept = (await conn.execute(select(attachments))).all()
    assert len(kept) == 1  # the file is attached (the check can see it), nameless:
    assert "file_name" not in attachments.c and "file_name" not in kept[0]._fields
    if not SUITE_ON_POSTGRES:
        await bot.app.db.checkpoint()
        for path in tmp_path.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                i = data.find(b"Nguyen_Van_Lan")
                assert i < 0, (path, data[max(0, i - 80) : i + 40])


async def test_forwarded_message_keeps_text_but_not_who_it_came_from(
    bot: Harness, tmp_path: Path
) -> None:
    who = Citizen(987654321989)
    await walk_to(bot, who, "describe")
    forwarded = who.text("Tin nhắn dọa nạt tôi nhận được")
    forwarded["message"]["forward_origin"] = {
        "type": "user",
        "date": 0,
        "sender_user": {"id": 555000111, "is_bot": False, "first_name": "Quasimodo"},
    }
    replies = await bot.say(who, forwarded)
    assert "Đã ghi" in replies[0].text
    await bot.press(who, "Xong")
    await bot.press(who, "Ẩn danh")
    await bot.press(who, "Gửi tin báo")
    assert bot.app is not None
    await bot.app.db.checkpoint()
    blobs = b"".join(p.read_bytes() for p in tmp_path.glob("tipbot.db*"))
    assert "Tin nhắn dọa nạt tôi nhận được".encode() not in blobs  # sealed at rest
    assert b"Quasimodo" not in blobs and b"555000111" not in blobs
    async with bot.app.db.read() as conn:  # …and kept: the text, not who forwarded it
        row = (await conn.execute(select(tips))).one()
    description = VAULT.open(row.description, f"tips.description:{row.id}")
    assert description == "Tin nhắn dọa nạt tôi nhận được" and "Quasimodo" not in description


@pytest.mark.skipif(SUITE_ON_POSTGRES, reason="reads the SQLite file itself")
def test_upgrading_erases_file_names_kept_before(tmp_path: Path) -> None:
    """A database from before the names were dropped (revision 0012) held them; the
    upgrade blanks and drops the column, and no copy is left in the file's free pages."""
    path = tmp_path / "tipbot.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url, "0012")
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO attachments (tip_id, position, kind, channel, file_ref, file_name,"
            " too_large) VALUES (?, ?, 'document', 'telegram', ?, ?, 0)",
            [("t1", i, f"ref-{i}", f"Nguyen_Van_Lan_CCCD_{i}.jpg") for i in range(50)],
        )
    assert b"Nguyen_Van_Lan" in path.read_bytes() + _wal(path)  # the check can see it
    upgrade(url)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM attachments").fetchone() == (50,)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert b"Nguyen_Van_Lan" not in path.read_bytes() + _wal(path)


def _wal(path: Path) -> bytes:
    wal = path.with_name(path.name + "-wal")
    return wal.read_bytes() if wal.exists() else b""
