"""Staff sign-in on the web: Argon2 password set by the CLI, pages closed without it."""

from __future__ import annotations

import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from storage.schema import staff
from tests.harness import Harness, make_settings, run_tipbot, tipbot

PASSWORD = "correct horse battery staple"


def cli(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return tipbot(*args, cwd=tmp_path, stdin=stdin)


@pytest.fixture
async def portal(tmp_path: Path) -> AsyncIterator[tuple[Harness, httpx.AsyncClient]]:
    made = cli(tmp_path, "staff", "add", "can_bo_an", "--role", "officer", stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    harness = Harness(None, make_settings(tmp_path, None))
    await harness.start(serve_http=True)
    assert harness.app is not None and harness.app.web_url
    client = httpx.AsyncClient(base_url=harness.app.web_url.rstrip("/"), timeout=30)
    yield harness, client
    await client.aclose()
    await harness.stop()


async def sign_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    page = await client.get("/staff/login")
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert csrf
    return await client.post(
        "/staff/login", data={"csrf": csrf.group(1), "username": username, "password": password}
    )


async def test_password_is_stored_only_as_argon2(portal: tuple[Harness, httpx.AsyncClient]) -> None:
    bot, _ = portal
    assert bot.app is not None
    async with bot.app.db.read() as conn:
        row = (await conn.execute(staff.select())).one()
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash


async def test_staff_pages_need_a_login_and_logout_ends_it(
    portal: tuple[Harness, httpx.AsyncClient],
) -> None:
    _, client = portal
    closed = await client.get("/staff")
    assert closed.status_code == 303 and closed.headers["location"] == "/staff/login"
    wrong = await sign_in(client, "can_bo_an", "not the password")
    unknown = await sign_in(client, "nobody", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert "Sai tên đăng nhập hoặc mật khẩu" in wrong.text
    ok = await sign_in(client, "can_bo_an", PASSWORD)
    assert ok.status_code == 303
    home = await client.get("/staff")
    assert home.status_code == 200 and "can_bo_an (officer)" in home.text
    await client.post("/staff/logout")
    assert (await client.get("/staff")).status_code == 303


async def test_login_needs_its_csrf_token(portal: tuple[Harness, httpx.AsyncClient]) -> None:
    _, client = portal
    await client.get("/staff/login")
    forged = await client.post(
        "/staff/login", data={"csrf": "0" * 64, "username": "can_bo_an", "password": PASSWORD}
    )
    assert forged.status_code == 403


async def test_deactivation_takes_effect_at_once(
    portal: tuple[Harness, httpx.AsyncClient], tmp_path: Path
) -> None:
    _, client = portal
    assert (await sign_in(client, "can_bo_an", PASSWORD)).status_code == 303
    assert (await client.get("/staff")).status_code == 200
    disabled = await run_tipbot("staff", "disable", "can_bo_an", cwd=tmp_path)
    assert disabled.returncode == 0
    assert (await client.get("/staff")).status_code == 303


def test_short_passwords_are_refused(tmp_path: Path) -> None:
    result = cli(tmp_path, "staff", "add", "x", stdin="short\n")
    assert result.returncode == 2 and "12 characters" in result.stderr
