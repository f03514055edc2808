"""Faults around the database: a write lock held elsewhere longer than busy_timeout
(test plan F12). Nothing is lost, nobody sees "database is locked", the bot lives on."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from tests.fakes.botapi import FakeBotAPI
from tests.fakes.updates import Citizen
from tests.harness import Harness, make_settings


async def take_write_lock(conn: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE between the service's own short write transactions."""
    for _ in range(500):
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError:
            await asyncio.sleep(0.01)  # let the service finish its transaction
    raise AssertionError("could not take the write lock")


async def test_locked_database_delays_but_loses_nothing(api: FakeBotAPI, tmp_path: Path) -> None:
    # SQLite's own lock is the fault under test (also when the suite runs on PostgreSQL).
    bot = Harness(api, make_settings(tmp_path, api, sqlite_busy_timeout_ms=100, database_url=None))
    await bot.start()
    try:
        who = Citizen(9001)
        blocker = sqlite3.connect(tmp_path / "tipbot.db", isolation_level=None, timeout=0)
        await take_write_lock(blocker)
        try:
            api.push(who.text("/start"))
            await asyncio.sleep(2.5)  # several failed attempts to store the update
            assert api.sent(who.user_id) == []
            assert bot.app is not None
            assert all(not t.done() for t in bot.app.tasks)  # every worker still running
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        await bot.settle()
        replies = api.sent(who.user_id)
        assert len(replies) == 1 and "Bạn muốn làm gì?" in replies[0].text
        assert "locked" not in replies[0].text
    finally:
        await bot.stop()


async def test_webhook_answers_503_when_the_update_cannot_be_stored(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    import httpx

    secret = "hook-secret"
    bot = Harness(
        api,
        make_settings(
            tmp_path,
            api,
            sqlite_busy_timeout_ms=100,
            database_url=None,  # SQLite's lock is the fault, whatever the suite runs on
            telegram_mode="webhook",
            telegram_webhook_url="https://example.invalid/telegram/webhook",
            telegram_webhook_secret=secret,
        ),
    )
    await bot.start(serve_http=True)
    assert bot.app is not None and bot.app.web_url
    url = bot.app.web_url + "telegram/webhook"
    update = {"update_id": 42, **Citizen(9002).text("/start")}
    headers = {"x-telegram-bot-api-secret-token": secret}
    try:
        blocker = sqlite3.connect(tmp_path / "tipbot.db", isolation_level=None, timeout=0)
        await take_write_lock(blocker)
        try:
            async with httpx.AsyncClient() as client:
                refused = await client.post(url, json=update, headers=headers)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert refused.status_code == 503  # Telegram will deliver it again
        async with httpx.AsyncClient() as client:
            accepted = await client.post(url, json=update, headers=headers)
        assert accepted.status_code == 200
        await bot.settle()
        assert len(api.sent(9002)) == 1
    finally:
        await bot.stop()
