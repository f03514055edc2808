"""The garbage collector's thresholds while the service runs (bot/collector.py): a
batch's objects must die in the young generation, not be promoted and swept by full
collections that pause every reply (decision 0018, fourth part)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.collector import THRESHOLDS, CollectorTuning
from tests.fakes.botapi import FakeBotAPI
from tests.harness import Harness, make_settings

DEFAULT = (700, 10, 10)


@pytest.fixture
def default_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(*DEFAULT)
    yield
    gc.set_threshold(*before)


async def test_a_running_service_keeps_a_large_young_generation(
    api: FakeBotAPI, tmp_path: Path, default_thresholds: None
) -> None:
    harness = Harness(api, make_settings(tmp_path, api))
    await harness.start()
    try:
        assert gc.get_threshold() == THRESHOLDS
        assert THRESHOLDS[0] >= 10 * DEFAULT[0]
    finally:
        await harness.stop()
    assert gc.get_threshold() == DEFAULT  # what the process had, back


def test_thresholds_come_back_when_the_last_of_several_stops(default_thresholds: None) -> None:
    first, second = CollectorTuning(), CollectorTuning()
    first.apply()
    second.apply()
    first.apply()  # twice is once
    first.restore()
    assert gc.get_threshold() == THRESHOLDS  # the second still runs
    second.restore()
    assert gc.get_threshold() == DEFAULT
    second.restore()  # stopping twice changes nothing
    assert gc.get_threshold() == DEFAULT
