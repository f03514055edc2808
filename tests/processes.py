"""`tipbot run` as its own process, for the tests that SIGKILL it and restart it."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from storage.db import Database
from storage.tips import TipRepository
from tests.fakes.botapi import TOKEN, FakeBotAPI
from tests.harness import SUITE_ON_POSTGRES, VAULT, database_url_for, process_env


def bot_env(
    api: FakeBotAPI, data_dir: Path, crash_at: str | None, **overrides: str
) -> dict[str, str]:
    env = process_env(
        data_dir,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=api.base_url,
        TELEGRAM_POLL_TIMEOUT_S="1",
        TELEGRAM_RATE_PER_SECOND="0",
        TELEGRAM_CHAT_INTERVAL_S="0",
        WEB_PORT="0",
        FLOOD_BURST="1000",
    )
    env.update(overrides)
    if crash_at:
        env["TIPBOT_CRASH_AT"] = crash_at
    return env


async def start_bot(
    api: FakeBotAPI, data_dir: Path, crash_at: str | None = None, **env: str
) -> asyncio.subprocess.Process:
    """Start `tipbot run` (settings in `env` override the test defaults) and return once
    it is polling."""
    polling = len(api.sent(method="deleteWebhook"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        cwd=data_dir,
        env=bot_env(api, data_dir, crash_at, **env),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=(data_dir / "bot.log").open("ab"),
    )
    await wait_for(lambda: len(api.sent(method="deleteWebhook")) > polling)
    # A long poll of the previous process may still be parked in the fake; let it lapse
    # so it cannot swallow the next update.
    await asyncio.sleep(0.6)
    return proc


async def wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def tips_in(data_dir: Path) -> list:
    db = Database(database_url_for(data_dir), vault=VAULT)
    try:
        async with db.read() as conn:
            return await TipRepository(conn).recent()
    finally:
        await db.dispose()


async def integrity_ok(data_dir: Path) -> bool:
    if SUITE_ON_POSTGRES:
        return True  # a SQLite check; PostgreSQL keeps its own files whole
    db = Database(database_url_for(data_dir), vault=VAULT)
    try:
        async with db.read() as conn:
            return (await conn.exec_driver_sql("PRAGMA integrity_check")).scalar() == "ok"
    finally:
        await db.dispose()
