"""Webhook mode: an update is acknowledged (200) only once it is in the inbox; abuse of
the endpoint gets 4xx and enqueues nothing (test plan B16, AC9)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from storage import inbox
from tests.fakes.botapi import FakeBotAPI
from tests.fakes.updates import Citizen
from tests.harness import Harness, make_settings

SECRET = "s3cret-token_ABC"


@pytest.fixture
async def hooked(api: FakeBotAPI, tmp_path: Path) -> AsyncIterator[Harness]:
    settings = make_settings(
        tmp_path,
        api,
        telegram_mode="webhook",
        telegram_webhook_url="https://example.invalid/telegram/webhook",
        telegram_webhook_secret=SECRET,
        webhook_max_body_bytes=4096,
    )
    harness = Harness(api, settings)
    await harness.start(serve_http=True)
    yield harness
    await harness.stop()


async def inbox_total(bot: Harness) -> int:
    assert bot.app is not None
    async with bot.app.db.read() as conn:
        return sum((await inbox.counts(conn)).values())


async def test_webhook_registered_with_secret(hooked: Harness) -> None:
    calls = [c for c in hooked.api.calls if c.method == "setWebhook"]
    assert calls and calls[0].params["secret_token"] == SECRET
    assert "getUpdates" not in {c.method for c in hooked.api.calls}


async def test_webhook_bad_requests_enqueue_nothing(hooked: Harness) -> None:
    assert hooked.app is not None and hooked.app.web_url
    url = hooked.app.web_url + "telegram/webhook"
    body = json.dumps({"update_id": 1, **Citizen(1).text("/start")}).encode()
    ok_headers = {"x-telegram-bot-api-secret-token": SECRET, "content-type": "application/json"}
    async with httpx.AsyncClient() as client:
        cases = [
            ({"content-type": "application/json"}, body, 403),
            ({**ok_headers, "x-telegram-bot-api-secret-token": SECRET[:-1] + "D"}, body, 403),
            ({**ok_headers, "content-type": "text/plain"}, body, 415),
            (ok_headers, b"{not json", 400),
            (ok_headers, b"\xff\xfe\xfa", 400),
            (ok_headers, b"[1, 2]", 400),
            (ok_headers, json.dumps({"update_id": "1"}).encode(), 400),
            (ok_headers, b"{" + b" " * 10_000 + b"}", 413),
            (ok_headers, b'{"update_id": 7, "message": {"text": "\\udfff"}}', 400),
            (ok_headers, b'{"update_id": 8, "x": ' + b"[" * 900 + b"]" * 900 + b"}", 400),
        ]
        for headers, content, status in cases:
            response = await client.post(url, headers=headers, content=content)
            assert response.status_code == status, (headers, content[:20])
        assert await inbox_total(hooked) == 0
        # A chunked body with no length header is cut off at the limit as well.

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b" " * 1000

        response = await client.post(url, headers=ok_headers, content=chunks())
        assert response.status_code == 413
        assert await inbox_total(hooked) == 0


async def test_webhook_update_runs_the_flow_and_dedups(hooked: Harness) -> None:
    assert hooked.app is not None and hooked.app.web_url
    lan = Citizen(5001)
    update = {"update_id": 777, **lan.text("/start")}
    headers = {"x-telegram-bot-api-secret-token": SECRET}
    async with httpx.AsyncClient() as client:
        for _ in range(2):  # Telegram retrying after a slow answer
            response = await client.post(
                hooked.app.web_url + "telegram/webhook", json=update, headers=headers
            )
            assert response.status_code == 200
    await hooked.settle()
    assert await inbox_total(hooked) == 1
    assert len(hooked.api.sent(lan.user_id)) == 1
