"""Stopping the service: every worker ends, even when stop meets a wake-up.

A hang here once cost a whole CI run (90 minutes): `asyncio.wait_for` on Python 3.11
drops a cancellation that arrives in the same loop turn as the event it waits for, and
a worker looping on it then never ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from bot.aio import woken
from tests.fakes.botapi import FakeBotAPI
from tests.fakes.webclient import WebCitizen
from tests.harness import Harness, make_settings


async def _loop_on(event: asyncio.Event) -> None:
    while True:
        await woken(event, 5.0)
        event.clear()


async def test_cancel_arriving_with_the_wake_up_is_not_lost() -> None:
    event = asyncio.Event()
    worker = asyncio.create_task(_loop_on(event))
    await asyncio.sleep(0)  # the worker is now waiting
    event.set()
    worker.cancel()  # same loop turn as the wake-up
    done, _ = await asyncio.wait([worker], timeout=2)
    assert worker in done and worker.cancelled()


async def test_woken_reports_set_and_timeout() -> None:
    event = asyncio.Event()
    assert await woken(event, 0.01) is False
    event.set()
    assert await woken(event, 5.0) is True


async def test_stop_just_as_every_worker_is_woken_ends_them_all(
    api: FakeBotAPI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Stop the real service in the same loop turn as waking its idle workers."""
    caplog.set_level(logging.ERROR, logger="bot.app")
    harness = Harness(api, make_settings(tmp_path, api))
    for _ in range(3):
        app = await harness.start()
        await asyncio.sleep(0.5)  # first passes done: the workers wait for a wake-up
        app.pipeline.wake()
        app.delivery.wake()
        app.alerter.wake()
        app.broadcaster.wake()
        async with asyncio.timeout(60):
            await harness.stop()
    stuck = [r.getMessage() for r in caplog.records if "did not" in r.getMessage()]
    assert not stuck


async def test_stop_answers_waiting_web_long_polls_at_once(tmp_path: Path) -> None:
    """A browser's long poll (up to 20 s) must not hold the stopping server."""
    harness = Harness(None, make_settings(tmp_path, None, web_pow_bits=4))
    app = await harness.start(serve_http=True)
    assert app.web_url
    who = WebCitizen(app.web_url.rstrip("/"))
    try:
        await who.open()
        await harness.settle()
        await who.fetch()  # the greeting
        poll = asyncio.create_task(who.fetch())  # nothing new: it waits
        await asyncio.sleep(0.3)
        assert not poll.done()
        started = time.monotonic()
        await harness.stop()
        stopped_in = time.monotonic() - started
        assert await poll == []  # answered (empty), not cut off
        assert stopped_in < 5, f"stop waited {stopped_in:.1f}s for a long poll"
    finally:
        await who.close()
