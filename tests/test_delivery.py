"""Outbox delivery against a misbehaving Bot API: 429, 5xx, timeouts, 403 (F7–F11)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from storage import outbox
from tests.fakes.botapi import Failure, FakeBotAPI
from tests.fakes.updates import Citizen
from tests.harness import Harness, make_settings


async def outbox_counts(bot: Harness) -> dict[str, int]:
    assert bot.app is not None
    async with bot.app.db.read() as conn:
        return await outbox.counts(conn)


async def test_429_waits_retry_after_then_delivers(bot: Harness) -> None:
    who = Citizen(6001)
    bot.api.fail("sendMessage", Failure(429, "Too Many Requests: retry after 5", retry_after=5))
    await bot.send(who.text("/start"))
    assert bot.api.sent(who.user_id) == []
    assert await outbox_counts(bot) == {"pending": 1}
    bot.clock.advance(timedelta(seconds=4))
    await bot.settle()
    assert bot.api.sent(who.user_id) == []  # not before retry_after
    bot.clock.advance(timedelta(seconds=2))
    assert bot.app is not None
    bot.app.delivery.wake()
    await bot.settle()
    assert len(bot.api.sent(who.user_id)) == 1
    assert await outbox_counts(bot) == {}  # delivered rows are erased


async def test_other_chats_are_not_stalled_by_one_chats_429(bot: Harness) -> None:
    slow, fast = Citizen(6002), Citizen(6003)
    bot.api.fail("sendMessage", Failure(429, "Too Many Requests", retry_after=30))
    await bot.send(slow.text("/start"))
    replies = await bot.say(fast, fast.text("/start"))
    assert len(replies) == 1


async def test_5xx_and_timeouts_back_off_and_retry(api: FakeBotAPI, tmp_path: Path) -> None:
    bot = Harness(api, make_settings(tmp_path, api))
    await bot.start()
    try:
        assert bot.app is not None
        channel = bot.app.telegram
        assert channel is not None
        who = Citizen(6004)
        api.fail("sendMessage", Failure(502, "Bad Gateway"), Failure(500, "Internal"))
        await bot.send(who.text("/start"))
        for _ in range(2):
            bot.clock.advance(timedelta(seconds=10))
            bot.app.delivery.wake()
            await bot.settle()
        assert len(api.sent(who.user_id)) == 1
        assert bot.app.delivery.stats.retried == 2
    finally:
        await bot.stop()


async def test_timeout_after_delivery_is_retried_duplicate_counted(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    bot = Harness(api, make_settings(tmp_path, api))
    await bot.start()
    try:
        assert bot.app is not None and bot.app.telegram is not None
        who = Citizen(6005)
        # The API records the message, then answers too late for the client.
        api.fail("sendMessage", Failure(500, "slow", delay=16, deliver=True))
        api.push(who.text("/start"))
        for _ in range(250):
            if bot.app.delivery.stats.retried:
                break
            await asyncio.sleep(0.1)
        assert bot.app.delivery.stats.retried == 1
        bot.clock.advance(timedelta(seconds=10))
        bot.app.delivery.wake()
        await bot.settle(timeout=30)
        # Better twice than never for a reply: the citizen may see it twice.
        assert len(api.sent(who.user_id)) == 2
    finally:
        await bot.stop()


async def test_403_marks_unreachable_and_a_new_message_restores(bot: Harness) -> None:
    who = Citizen(6006)
    bot.api.fail("sendMessage", Failure(403, "Forbidden: bot was blocked by the user"))
    await bot.send(who.text("/start"))
    assert await outbox_counts(bot) == {"blocked": 1}
    assert bot.app is not None
    async with bot.app.db.read() as conn:
        assert await outbox.unreachable(conn, "telegram", [_key(bot, who)]) == {_key(bot, who)}
    await bot.send(who.blocked("member"))  # they unblocked the bot
    async with bot.app.db.read() as conn:
        assert await outbox.unreachable(conn, "telegram", [_key(bot, who)]) == set()
    replies = await bot.say(who, who.text("/start"))
    assert len(replies) == 1


async def test_blocking_the_bot_drops_queued_messages(bot: Harness) -> None:
    who = Citizen(6007)
    bot.api.fail("sendMessage", Failure(429, "Too Many Requests", retry_after=60))
    await bot.send(who.text("/start"))
    await bot.send(who.blocked("kicked"))
    assert await outbox_counts(bot) == {"blocked": 1}


async def test_400_is_not_retried(bot: Harness) -> None:
    who = Citizen(6008)
    bot.api.fail("sendMessage", Failure(400, "Bad Request: chat not found"))
    await bot.send(who.text("/start"))
    assert await outbox_counts(bot) == {"failed": 1}


@pytest.fixture
async def paced(api: FakeBotAPI, tmp_path: Path) -> AsyncIterator[Harness]:
    harness = Harness(
        api, make_settings(tmp_path, api, telegram_chat_interval_s=1.0, telegram_rate_per_second=30)
    )
    await harness.start()
    yield harness
    await harness.stop()


async def test_one_chat_is_paced_after_a_short_burst(paced: Harness) -> None:
    who = Citizen(6009)
    for _ in range(6):
        paced.api.push(who.text("/emergency"))  # two messages each
    for _ in range(300):  # paced messages wait in the outbox: poll for all twelve
        if len(paced.api.sent(who.user_id)) == 12:
            break
        await asyncio.sleep(0.1)
    sends = paced.api.sent(who.user_id)
    assert len(sends) == 12
    gaps = [b.at - a.at for a, b in itertools.pairwise(sends[3:])]
    assert min(gaps) > 0.8  # after the burst of three: about one per second


def _key(bot: Harness, who: Citizen) -> str:
    assert bot.app is not None
    return bot.app.identity.pseudonym("telegram", who.user_id)
