"""Smaller exposures (issue 10, finding 10): who sees /healthz figures, staff sign-in
throttled per (user, address) with back-off instead of a lock anyone could trigger,
and files the service writes readable by its own user only."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import httpx

from bot.channels.web.limits import Backoff
from bot.http import build_web_app
from tests.harness import tipbot


async def _health() -> dict[str, Any]:
    return {"ok": True, "inbox": {"pending": 3}, "outbox": {"pending": 7}}


async def test_healthz_figures_only_for_the_host_or_a_token() -> None:
    app = build_web_app(health=_health, routes=[], health_token="monitor-token-" + "q7" * 10)
    outside = httpx.ASGITransport(app=app, client=("203.0.113.9", 5000))
    async with httpx.AsyncClient(transport=outside, base_url="http://tip.example") as client:
        assert (await client.get("/healthz")).json() == {"ok": True}
        wrong = await client.get("/healthz", headers={"Authorization": "Bearer nope"})
        assert wrong.json() == {"ok": True}
        good = await client.get(
            "/healthz", headers={"Authorization": "Bearer monitor-token-" + "q7" * 10}
        )
        assert good.json()["outbox"] == {"pending": 7}
    local = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=local, base_url="http://127.0.0.1") as client:
        assert (await client.get("/healthz")).json()["inbox"] == {"pending": 3}


def test_sign_in_failures_back_off_per_user_and_address() -> None:
    backoff = Backoff(free=3)
    for _ in range(3):
        assert backoff.wait("addr-1:minh") == 0
        backoff.failed("addr-1:minh")
    assert backoff.wait("addr-1:minh") == 0  # three free tries
    backoff.failed("addr-1:minh")
    assert backoff.wait("addr-1:minh") > 1  # then waits that double
    assert backoff.wait("addr-2:minh") == 0  # Minh from his own desk is not locked out
    backoff.succeeded("addr-1:minh")
    assert backoff.wait("addr-1:minh") == 0


def test_what_the_service_writes_is_its_users_only(tmp_path: Path) -> None:
    done = tipbot("migrate", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for path in tmp_path.glob("tipbot.db*"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
