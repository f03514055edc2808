"""Crash safety: the bot process is SIGKILLed at named points and restarted.

The fake Bot API here forgets an update as soon as it has been fetched once (the worst
case: the platform believes it was delivered), so only our durable inbox can save it.
After the restart the tip must exist exactly once and the citizen must get the receipt.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from storage.db import Database
from storage.tips import TipRepository
from tests.fakes.botapi import TOKEN, FakeBotAPI
from tests.fakes.updates import Citizen
from tests.harness import Harness, make_settings, process_env
from tests.test_intake_flow import walk_to

pytestmark = pytest.mark.slow


def bot_env(api: FakeBotAPI, data_dir: Path, crash_at: str | None) -> dict[str, str]:
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
    if crash_at:
        env["TIPBOT_CRASH_AT"] = crash_at
    return env


async def start_bot(
    api: FakeBotAPI, data_dir: Path, crash_at: str | None = None
) -> asyncio.subprocess.Process:
    """Start `tipbot run` and return once it is polling."""
    polling = len(api.sent(method="deleteWebhook"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        cwd=data_dir,
        env=bot_env(api, data_dir, crash_at),
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
    db = Database(f"sqlite+aiosqlite:///{data_dir / 'tipbot.db'}")
    try:
        async with db.read() as conn:
            return await TipRepository(conn).recent()
    finally:
        await db.dispose()


async def integrity_ok(data_dir: Path) -> bool:
    db = Database(f"sqlite+aiosqlite:///{data_dir / 'tipbot.db'}")
    try:
        async with db.read() as conn:
            return (await conn.exec_driver_sql("PRAGMA integrity_check")).scalar() == "ok"
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    "crash_at", ["after_inbox_insert", "mid_txn", "after_commit", "after_send"]
)
async def test_sigkill_then_restart_files_the_tip_once(
    api: FakeBotAPI, tmp_path: Path, crash_at: str
) -> None:
    # Walk to the review in-process, then hand the same database to a real process.
    who = Citizen(7001)
    harness = Harness(api, make_settings(tmp_path, api))
    await harness.start()
    await walk_to(harness, who, "review")
    confirm = who.press(harness.button(who, "Gửi tin báo")["callback_data"])
    confirm_id = confirm["callback_query"]["id"]
    await harness.stop()

    api.confirm_on_fetch = True
    proc = await start_bot(api, tmp_path, crash_at)
    api.push(confirm)
    assert await asyncio.wait_for(proc.wait(), 30) == -signal.SIGKILL
    assert api.pending == []  # the platform considers the update delivered

    proc = await start_bot(api, tmp_path)
    try:
        await wait_for(lambda: any("Mã tin báo" in c.text for c in api.sent(who.user_id)))
        await asyncio.sleep(0.5)  # give a duplicate the chance to show up
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    receipts = [c for c in api.sent(who.user_id) if "Mã tin báo" in c.text]
    tips = await tips_in(tmp_path)
    assert len(tips) == 1
    assert tips[0].code in receipts[0].text
    # Killed after sending but before recording it, the batch in flight (the answer to
    # the button press and the receipt) goes out once more: the price of never losing a
    # reply. Everywhere else: nothing twice.
    copies = 2 if crash_at == "after_send" else 1
    assert len(receipts) == copies
    assert len(set(c.text for c in receipts)) == 1  # the same code and receipt
    answers = api.sent(method="answerCallbackQuery")
    answers = [c for c in answers if c.params["callback_query_id"] == confirm_id]
    assert len(answers) == copies
    assert await integrity_ok(tmp_path)
