"""Kill `tipbot run` three times during a 5,000-recipient broadcast: afterwards every
recipient is in exactly one terminal state, nobody got the message twice, and nobody
was skipped (a send the kill interrupted is counted as ambiguous, never repeated)."""

from __future__ import annotations

import asyncio
import random
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.identity import Identity
from storage.campaigns import Campaigns
from storage.db import Database
from storage.migrate import upgrade_async
from storage.schema import campaign_deliveries
from storage.subscriptions import Subscriptions
from tests.fakes.botapi import FakeBotAPI
from tests.harness import SECRET, VAULT, database_url_for
from tests.processes import start_bot, wait_for

pytestmark = pytest.mark.slow
RECIPIENTS = 5000
FIRST = 7_000_000
# Unpaced, the sender finishes all 5,000 in about two seconds, before a kill could land
# mid-broadcast; at this rate it takes ≈ 17 s, and each kill comes after 400-1,400.
RATE = "300"


async def seed(url: str) -> None:
    await upgrade_async(url)
    db = Database(url, vault=VAULT)
    identity = Identity(SECRET.encode())
    now = datetime.now(UTC)
    try:
        async with db.write() as conn:
            store = Campaigns(conn)
            subs = Subscriptions(conn)
            for n in range(RECIPIENTS):
                user = FIRST + n
                await subs.subscribe(
                    channel="telegram",
                    user_key=identity.pseudonym("telegram", user),
                    address=identity.seal(str(user)),
                    locale="vi",
                    wards=[],
                    topics=[],
                    consent_text="sub.consent@vi",
                    now=now,
                )
            campaign = await store.create(
                created_by="test",
                text="Phòng chống ma túy",
                photo_channel=None,
                photo_ref=None,
                report_button=False,
                now=now,
            )
            assert await store.start_run(campaign, now) == RECIPIENTS
    finally:
        await db.dispose()


async def test_kill_three_times_during_a_5000_recipient_broadcast(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    url = database_url_for(tmp_path)
    await seed(url)

    def delivered() -> int:
        return sum(1 for c in api.calls if c.method == "sendMessage" and c.text.startswith("📢"))

    rng = random.Random(5)
    for _ in range(3):
        proc = await start_bot(api, tmp_path, TELEGRAM_RATE_PER_SECOND=RATE)
        target = delivered() + rng.randrange(400, 1400)
        await wait_for(lambda t=target: delivered() >= t, timeout=120)  # type: ignore[misc]
        proc.send_signal(signal.SIGKILL)
        assert await proc.wait() == -signal.SIGKILL
    assert delivered() < RECIPIENTS - 500, "the kills must land mid-broadcast"

    proc = await start_bot(api, tmp_path)
    db = Database(url, vault=VAULT)
    try:
        for _ in range(2400):
            async with db.read() as conn:
                counts = await Campaigns(conn).progress(1)
            if counts["pending"] == 0 and counts["sending"] == 0:
                break
            await asyncio.sleep(0.05)
        async with db.read() as conn:
            ledger = (
                await conn.execute(
                    select(campaign_deliveries.c.chat_key, campaign_deliveries.c.status)
                )
            ).all()
    finally:
        await db.dispose()
        proc.send_signal(signal.SIGTERM)
        await proc.wait()

    identity = Identity(SECRET.encode())
    key_of = {identity.pseudonym("telegram", FIRST + n): FIRST + n for n in range(RECIPIENTS)}
    got: dict[int, int] = {}
    for call in api.calls:
        if call.method == "sendMessage" and call.text.startswith("📢"):
            got[call.chat_id or 0] = got.get(call.chat_id or 0, 0) + 1  # type: ignore[index]

    assert len(ledger) == RECIPIENTS and len({k for k, _ in ledger}) == RECIPIENTS
    assert all(status in ("sent", "ambiguous") for _, status in ledger), counts
    assert max(got.values()) == 1  # nobody twice
    sent = {key_of[k] for k, s in ledger if s == "sent"}
    ambiguous = {key_of[k] for k, s in ledger if s == "ambiguous"}
    assert sent <= set(got)  # every "sent" really arrived
    assert set(got) <= sent | ambiguous  # nothing arrived unrecorded
    assert len(ambiguous) <= 3 * 2 * 15  # at most two batches in flight per kill
    arrived = len(ambiguous & set(got))
    print(f"sent={len(sent)} ambiguous={len(ambiguous)} (of which arrived {arrived})")
