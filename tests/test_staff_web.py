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


async def test_the_desk_lists_and_opens_only_the_tips_an_account_may_see(
    tmp_path: Path,
) -> None:
    """/staff and /staff/tips/<CODE> for every kind of account: the unit's officer and
    supervisor see the tip; another unit's officer, an admin in no unit, a disabled
    account and no session do not — and 'not yours', 'unknown' and 'malformed' are
    one and the same 404."""
    import uuid
    from datetime import UTC, datetime, timedelta

    from storage.models import NewTip
    from storage.stores import Stores

    assert (
        cli(tmp_path, "unit", "add", "Công an phường Hoàn Kiếm", "--wards", "Hoàn Kiếm").returncode
        == 0
    )
    assert (
        cli(tmp_path, "unit", "add", "Công an phường Ba Đình", "--wards", "Ba Đình").returncode == 0
    )
    accounts = {
        "minh": ("officer", "1"),
        "tuan": ("supervisor", "1"),
        "hoa": ("officer", "2"),
        "chief": ("admin", None),
        "gone": ("officer", "1"),
    }
    for name, (role, unit) in accounts.items():
        args = ["staff", "add", name, "--role", role, *(["--unit", unit] if unit else [])]
        made = cli(tmp_path, *args, stdin=PASSWORD + "\n")
        assert made.returncode == 0, made.stderr
    harness = Harness(None, make_settings(tmp_path, None))
    await harness.start(serve_http=True)
    try:
        assert harness.app is not None and harness.app.web_url
        now = datetime.now(UTC)
        tip_id = str(uuid.uuid4())
        async with harness.app.db.write() as conn:
            stores = Stores(conn)
            await stores.tips.add_tip(NewTip(
                id=tip_id, code="K7M4-QX9B", receipt_hash="h", submission_key=tip_id,
                channel="web", locale="vi", category_group="social_evils", category="drugs",
                urgent=False, province_code=1, ward_code=70, address_text=None, latitude=None,
                longitude=None, location_label=None, occurred="now", occurred_text=None,
                description="Bán ma túy <b>ở</b> ngõ 5", contact_phone="+84912345678",
                created_at=now,
            ))  # fmt: skip
            await stores.units.route_tip(tip_id, ward_code=70, category="drugs", urgent=False,
                                         now=now, claim_within=timedelta(hours=1))  # fmt: skip
        results = {}
        for name in [*accounts, None]:
            async with httpx.AsyncClient(base_url=harness.app.web_url.rstrip("/")) as client:
                if name is not None:
                    assert (await sign_in(client, name, PASSWORD)).status_code == 303
                if name == "gone":
                    assert (
                        await run_tipbot("staff", "disable", "gone", cwd=tmp_path)
                    ).returncode == 0
                inbox = await client.get("/staff")
                page = await client.get("/staff/tips/K7M4-QX9B")
                lower = await client.get("/staff/tips/k7m4qx9b")
                unknown = await client.get("/staff/tips/ZZZZ-ZZZZ")
                malformed = await client.get("/staff/tips/..%2F..%2Fetc")
                listed = "K7M4-QX9B" in inbox.text
                results[name] = (inbox.status_code, listed, page.status_code, lower.status_code)
                assert unknown.status_code in (404, 303) and malformed.status_code in (404, 303)
                if page.status_code == 404:
                    assert page.text == unknown.text  # indistinguishable
                if page.status_code == 200:
                    assert "&lt;b&gt;ở&lt;/b&gt;" in page.text  # citizen text escaped
                    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert results == {
            "minh": (200, True, 200, 200),
            "tuan": (200, True, 200, 200),
            "hoa": (200, False, 404, 404),
            "chief": (200, False, 404, 404),  # an admin alone reads no tip
            "gone": (303, False, 303, 303),  # disabled: stopped at the next request
            None: (303, False, 303, 303),
        }
    finally:
        await harness.stop()


async def test_staff_sessions_end_when_idle_at_the_latest_and_everywhere_at_once(
    portal: tuple[Harness, httpx.AsyncClient],
) -> None:
    from datetime import timedelta

    harness, client = portal
    assert (await sign_in(client, "can_bo_an", PASSWORD)).status_code == 303
    for _ in range(3):  # in use: each request moves the idle deadline on
        harness.clock.advance(timedelta(minutes=20))
        assert (await client.get("/staff")).status_code == 200
    harness.clock.advance(timedelta(minutes=31))  # left alone
    assert (await client.get("/staff")).status_code == 303
    assert (await sign_in(client, "can_bo_an", PASSWORD)).status_code == 303
    served = 0
    for _ in range(40):  # never past twelve hours, however busy
        harness.clock.advance(timedelta(minutes=20))
        if (await client.get("/staff")).status_code != 200:
            break
        served += 1
    assert served == 35  # 35 x 20 min = 11 h 40 min; the 36th request is at 12 h
    # Two devices; signing out everywhere from one ends the other.
    assert harness.app is not None and harness.app.web_url
    async with httpx.AsyncClient(base_url=harness.app.web_url.rstrip("/")) as other:
        assert (await sign_in(client, "can_bo_an", PASSWORD)).status_code == 303
        assert (await sign_in(other, "can_bo_an", PASSWORD)).status_code == 303
        assert (await other.get("/staff")).status_code == 200
        await client.post("/staff/logout-everywhere")
        assert (await other.get("/staff")).status_code == 303
