"""Crash safety: the bot process is SIGKILLed at named points and restarted.

The fake Bot API here forgets an update as soon as it has been fetched once (the worst
case: the platform believes it was delivered), so only our durable inbox can save it.
After the restart the tip must exist exactly once and the citizen must get the receipt.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from tests.fakes.botapi import FakeBotAPI
from tests.fakes.updates import Citizen
from tests.harness import SUITE_ON_POSTGRES, Harness, make_settings
from tests.journeys import walk_to
from tests.processes import integrity_ok, start_bot, tips_in, wait_for

pytestmark = pytest.mark.slow


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
    # (On PostgreSQL a chat's messages are handed out one at a time, so the batch in
    # flight was the answer alone, and the receipt followed it only after the restart.)
    copies = 2 if crash_at == "after_send" else 1
    assert len(receipts) == (1 if SUITE_ON_POSTGRES else copies)
    assert len(set(c.text for c in receipts)) == 1  # the same code and receipt
    answers = api.sent(method="answerCallbackQuery")
    answers = [c for c in answers if c.params["callback_query_id"] == confirm_id]
    assert len(answers) == copies
    assert await integrity_ok(tmp_path)
