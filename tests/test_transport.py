"""The Bot API client's transport (aiohttp under PTB): what goes on the wire, and every
way a call can fail mapped to the error PTB's callers expect (decision 0019)."""

from __future__ import annotations

import socket

import pytest
from telegram import Bot
from telegram.error import Forbidden, NetworkError, RetryAfter, TimedOut

from bot.channels.telegram.transport import AiohttpRequest
from tests.fakes.botapi import TOKEN, Failure, FakeBotAPI


def _bot(api: FakeBotAPI, **options: float) -> Bot:
    return Bot(TOKEN, base_url=api.base_url, request=AiohttpRequest(4, **options))


async def test_plain_calls_and_uploads_arrive_as_sent(api: FakeBotAPI) -> None:
    async with _bot(api) as bot:
        await bot.send_message(42, "Xin chào — tin báo đã nhận", protect_content=True)
        await bot.send_photo(42, b"\x89PNG\r\n\x1a\n" + b"x" * 5000, caption="Báo cáo ngày")
    text = api.sent(42)[0]
    assert text.text == "Xin chào — tin báo đã nhận"
    assert text.params["protect_content"] in ("true", True)
    photo = api.sent(42, "sendPhoto")[0]
    assert photo.params["caption"] == "Báo cáo ngày"
    assert photo.params["photo"]["size"] == 5008
    assert photo.params["photo"]["data"].startswith(b"\x89PNG")


async def test_platform_errors_are_ptbs_errors(api: FakeBotAPI) -> None:
    api.fail("sendMessage", Failure(429, "Too Many Requests", retry_after=3))
    api.fail("sendMessage", Failure(403, "Forbidden: bot was blocked by the user"))
    async with _bot(api) as bot:
        with pytest.raises(RetryAfter):
            await bot.send_message(42, "one")
        with pytest.raises(Forbidden):
            await bot.send_message(42, "two")


async def test_a_slow_answer_is_a_timeout(api: FakeBotAPI) -> None:
    api.fail("sendMessage", Failure(500, "slow", delay=2))
    async with _bot(api, read_timeout=0.3) as bot:
        with pytest.raises(TimedOut):
            await bot.send_message(42, "late")


async def test_nobody_listening_is_a_network_error(api: FakeBotAPI) -> None:
    async with _bot(api) as bot:  # getMe at start needs the fake; then it is gone
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed = probe.getsockname()[1]
        bot._base_url = f"http://127.0.0.1:{closed}/bot{TOKEN}"
        with pytest.raises(NetworkError) as raised:
            await bot.send_message(42, "nowhere")
        assert not isinstance(raised.value, TimedOut)
        assert "aiohttp." in str(raised.value)
