"""The officer desk over HTTP: actions through the officer flow, the inbox's filters,
search and pages, the live view, attachments, and who may reach which route."""

from __future__ import annotations

import asyncio
import csv
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

import bot.desk.pages
from storage.stores import Stores
from tests.desk_world import ACCOUNTS, BA_DINH, add_tip, desk_world, form_of, signed_in
from tests.harness import SUITE_ON_POSTGRES, Harness, make_settings
from tests.journeys import photo_with_location


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Harness]:
    bot = Harness(None, make_settings(tmp_path, None))
    await bot.start(serve_http=True)
    await desk_world(bot)
    yield bot
    await bot.stop()


async def thread_kinds(bot: Harness, tip_id: str) -> list[str]:
    assert bot.app is not None
    async with bot.app.db.read() as conn:
        return [e.kind for e in await Stores(conn).desk.thread(tip_id)]


async def test_desk_actions_go_through_the_officer_flow(desk: Harness) -> None:
    """Claim, status, note and a question from the tip page: each is done by the same
    flow as in a chat (audited, authorised), shown back on the page, taken once when
    the form is sent twice, and refused without the form's token."""
    tip_id = await add_tip(desk, "K7M4-QX9B")
    minh = await signed_in(desk, "minh")
    try:
        page = (await minh.get("/staff/tips/K7M4-QX9B")).text
        claim = form_of(page, "claim")
        done = await minh.post("/staff/tips/K7M4-QX9B/act", data=claim, follow_redirects=True)
        assert done.status_code == 200
        assert "Bạn đã nhận xử lý tin báo K7M4-QX9B" in done.text  # the flow's own answer
        assert 'value="claim"' not in done.text  # no button for what is already so
        again = await minh.post("/staff/tips/K7M4-QX9B/act", data=claim)  # a double submit
        assert again.status_code == 303
        assert (await thread_kinds(desk, tip_id)).count("claim") == 1

        status = form_of(done.text, "setstatus")
        moved = await minh.post(
            "/staff/tips/K7M4-QX9B/act", data={**status, "value": "in_progress"},
            follow_redirects=True,
        )  # fmt: skip
        assert '<option value="in_progress">' not in moved.text  # the current one is not offered
        note = form_of(moved.text, "note")
        noted = await minh.post(
            "/staff/tips/K7M4-QX9B/act", data={**note, "text": "Đã cử tổ tuần tra <b>tối nay</b>"},
            follow_redirects=True,
        )  # fmt: skip
        assert "Đã cử tổ tuần tra &lt;b&gt;tối nay&lt;/b&gt;" in noted.text  # in the timeline
        ask = form_of(noted.text, "ask")
        asked = await minh.post(
            "/staff/tips/K7M4-QX9B/act", data={**ask, "text": "Xe biển số gì?"},
            follow_redirects=True,
        )  # fmt: skip
        assert "Xe biển số gì?" in asked.text
        assert "Câu hỏi đã được lưu vào tin báo K7M4-QX9B" in asked.text  # no live link
        assert await thread_kinds(desk, tip_id) == ["claim", "status", "note", "question"]
        # Giving it back: only the claimer may; it is open for others again.
        unclaim = form_of(asked.text, "unclaim")
        back = await minh.post("/staff/tips/K7M4-QX9B/act", data=unclaim, follow_redirects=True)
        assert "Đã trả lại tin báo K7M4-QX9B" in back.text
        assert 'value="claim"' in back.text and 'value="unclaim"' not in back.text
        assert (await thread_kinds(desk, tip_id))[-1] == "unclaim"

        forged = await minh.post(
            "/staff/tips/K7M4-QX9B/act", data={**note, "csrf": "0" * 64, "rid": "x" * 24}
        )
        assert forged.status_code == 403
        assert len(await thread_kinds(desk, tip_id)) == 5
    finally:
        await minh.aclose()
    # Another unit's officer, with a valid token of her own (from a tip she sees): the
    # action is a 404, like the page, and changes nothing.
    await add_tip(desk, "BADN-H22Q", ward=BA_DINH)
    hoa = await signed_in(desk, "hoa")
    try:
        own = form_of((await hoa.get("/staff/tips/BADN-H22Q")).text, "note")
        refused = await hoa.post("/staff/tips/K7M4-QX9B/act", data={**own, "text": "x"})
        assert refused.status_code == 404
        assert refused.text == (await hoa.get("/staff/tips/ZZZZ-ZZZZ")).text
        assert len(await thread_kinds(desk, tip_id)) == 5
    finally:
        await hoa.aclose()


def codes_on(page: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/staff/tips/([0-9A-Z-]+)', page)


async def test_the_inbox_filters_searches_and_pages_within_what_the_account_sees(
    desk: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = datetime.now(UTC) - timedelta(days=10)
    await add_tip(desk, "AAAA-2222", description="Sòng bạc trong nhà kho", category="gambling")
    await add_tip(desk, "AAAA-3333", urgent=True, description="Đang đánh nhau")
    await add_tip(desk, "AAAA-4444", category="theft_robbery", group="criminal",
                  description="Trộm xe máy", created_at=old)  # fmt: skip
    await add_tip(desk, "BBBB-5555", ward=BA_DINH, description="Sòng bạc Ba Đình")
    minh = await signed_in(desk, "minh")
    try:
        everything = codes_on((await minh.get("/staff?status=")).text)
        assert everything[0] == "AAAA-3333"  # urgent first
        assert sorted(everything) == ["AAAA-2222", "AAAA-3333", "AAAA-4444"]  # not Ba Đình's

        async def shown(query: str) -> list[str]:
            return sorted(codes_on((await minh.get(f"/staff?{query}")).text))

        assert await shown("group=criminal") == ["AAAA-4444"]
        assert await shown("category=gambling") == ["AAAA-2222"]
        assert await shown("urgent=1") == ["AAAA-3333"]
        assert await shown("period=7") == ["AAAA-2222", "AAAA-3333"]
        assert await shown("ward=hoan+kiem") == ["AAAA-2222", "AAAA-3333", "AAAA-4444"]
        assert await shown("ward=ba+dinh") == []
        assert await shown("ward=nowhere+at+all") == []
        # The words are sealed in the database; the search still finds them, without
        # diacritics too, and never reaches beyond the account's tips.
        assert await shown("q=song+bac") == ["AAAA-2222"]
        assert await shown("q=aaaa4444") == ["AAAA-4444"]
        assert await shown("status=resolved") == []
        monkeypatch.setattr(bot.desk.pages, "PAGE_SIZE", 2)
        first = (await minh.get("/staff?status=")).text
        second = (await minh.get("/staff?status=&page=2")).text
        assert len(codes_on(first)) == 2 and len(codes_on(second)) == 1
        assert "page=2" in first and "Trang 1/2" in first
        assert set(codes_on(first) + codes_on(second)) == set(everything)
    finally:
        await minh.aclose()


async def test_an_open_desk_learns_of_a_new_tip_at_once(desk: Harness) -> None:
    """/staff/live answers as soon as something the account sees changes (and not for
    another unit's tips), with the count of unclaimed tips for the title."""
    await add_tip(desk, "AAAA-2222")
    minh = await signed_in(desk, "minh")
    try:
        page = (await minh.get("/staff")).text
        version = re.search(r'data-version="([^"]+)"', page)
        assert version
        waiting = asyncio.create_task(minh.get("/staff/live", params={"v": version.group(1)}))
        await asyncio.sleep(1.5)
        await add_tip(desk, "BBBB-5555", ward=BA_DINH)  # another unit's: no wake-up
        await asyncio.sleep(1.5)
        assert not waiting.done()
        await add_tip(desk, "AAAA-3333")
        answer = await asyncio.wait_for(waiting, 10)
        assert answer.json()["waiting"] == 2 and answer.json()["v"] != version.group(1)
        assert "AAAA-3333" in (await minh.get("/staff")).text
    finally:
        await minh.aclose()
    anonymous = httpx.AsyncClient(base_url=desk.app.web_url.rstrip("/"))  # type: ignore[union-attr]
    try:
        assert (await anonymous.get("/staff/live")).status_code == 401
    finally:
        await anonymous.aclose()


async def test_a_tip_page_shows_its_photo_place_and_similar_tips(desk: Harness) -> None:
    """The photo inline through an authorised route (the metadata-free copy), the place
    as coordinates with links (no tile server configured), and the other tips of the
    same ward and field within a week."""
    photo = photo_with_location()
    await add_tip(desk, "AAAA-2222", photo=photo, location=(21.028511, 105.852200))
    await add_tip(desk, "AAAA-3333", description="Lại thấy mua bán ở ngõ 5")
    await add_tip(desk, "AAAA-4444", category="fraud", group="criminal")
    minh = await signed_in(desk, "minh")
    hoa = await signed_in(desk, "hoa")
    try:
        page = (await minh.get("/staff/tips/AAAA-2222")).text
        assert '<img class="attachment" src="/staff/tips/AAAA-2222/files/1"' in page
        assert "21.028511, 105.852200" in page and 'href="geo:21.028511,105.852200"' in page
        assert "<svg" not in page  # no tile server: no map picture, nothing fetched
        similar = page[page.index("Tin tương tự") :]
        assert "AAAA-3333" in similar and "AAAA-4444" not in similar
        served = await minh.get("/staff/tips/AAAA-2222/files/1")
        assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
        assert served.content[:2] == b"\xff\xd8" and b"Exif" not in served.content
        assert served.content != photo  # the staff copy, never the original
        for who in (hoa, minh):
            missing = await who.get("/staff/tips/AAAA-2222/files/2")
            assert missing.status_code == 404
        assert (await hoa.get("/staff/tips/AAAA-2222/files/1")).status_code == 404
    finally:
        await minh.aclose()
        await hoa.aclose()


async def test_with_a_tile_server_the_place_is_a_map_allowed_by_the_csp(tmp_path: Path) -> None:
    bot = Harness(None, make_settings(
        tmp_path, None, map_tile_url="https://tiles.example.vn/osm/{z}/{x}/{y}.png"
    ))  # fmt: skip
    await bot.start(serve_http=True)
    try:
        await desk_world(bot)
        await add_tip(bot, "AAAA-2222", location=(21.028511, 105.852200))
        minh = await signed_in(bot, "minh")
        try:
            page = await minh.get("/staff/tips/AAAA-2222")
        finally:
            await minh.aclose()
        assert 'href="https://tiles.example.vn/osm/16/52037/28850.png"' in page.text
        assert (
            "img-src 'self' data: https://tiles.example.vn;"
            in page.headers["content-security-policy"]
        )
        assert "21.028511, 105.852200" in page.text  # the readable fallback stays
    finally:
        await bot.stop()


# Every desk route for every kind of account: the expected status codes.
ROUTES = ("/staff", "/staff/live?v=x", "/staff/tips/AAAA-2222", "/staff/tips/AAAA-2222/files/1")
MATRIX = {
    "minh": (200, 200, 200, 200),  # officer of the tip's unit
    "tuan": (200, 200, 200, 200),  # its supervisor
    "city": (200, 200, 200, 200),  # city level sees every tip
    "hoa": (200, 200, 404, 404),  # officer of another unit
    "chief": (200, 200, 404, 404),  # an admin in no unit reads no tip
    "gone": (303, 401, 303, 404),  # disabled after signing in
    None: (303, 401, 303, 404),  # no session
}


async def test_access_control_matrix_for_every_desk_route(desk: Harness) -> None:
    await add_tip(desk, "AAAA-2222", photo=photo_with_location(), contact="+84912345678")
    assert desk.app is not None
    results: dict[str | None, tuple[int, ...]] = {}
    for name in [*ACCOUNTS, None]:
        client = (
            await signed_in(desk, name)
            if name
            else httpx.AsyncClient(base_url=desk.app.web_url.rstrip("/"))  # type: ignore[union-attr]
        )
        try:
            if name == "gone":
                async with desk.app.db.write() as conn:
                    await Stores(conn).staff.deactivate("gone")
            got = []
            for route in ROUTES:
                response = await client.get(route, params={"v": "x"} if "live" in route else None)
                got.append(response.status_code)
                if response.status_code == 200 and route == ROUTES[2]:
                    # Contact details only for the handling unit (not the city level).
                    assert ("+84912345678" in response.text) == (name in ("minh", "tuan"))
            results[name] = tuple(got)
        finally:
            await client.aclose()
    assert results == MATRIX


async def test_figures_count_what_the_account_may_see_and_export_counts_only(
    desk: Harness,
) -> None:
    """Unit 1's supervisor counts Hoàn Kiếm's tips, the city level all of them, an
    officer of Ba Đình only hers; the CSV holds the same counts and no code or text."""
    now = datetime.now(UTC) - timedelta(hours=2)
    await add_tip(desk, "AAAA-2222", created_at=now)
    await add_tip(desk, "AAAA-3333", category="gambling", created_at=now)
    await add_tip(desk, "AAAA-4444", category="fraud", group="criminal", created_at=now)
    await add_tip(desk, "BBBB-5555", ward=BA_DINH, description="Sòng bạc", created_at=now)
    await add_tip(desk, "CCCC-6666", created_at=now - timedelta(days=40))  # outside 30 days
    seen = {}
    for name in ("tuan", "city", "hoa", "chief"):
        client = await signed_in(desk, name)
        try:
            page = await client.get("/staff/figures?period=30")
            csv_file = await client.get("/staff/figures.csv?period=30")
            chart = await client.get("/staff/figures.png?period=30")
        finally:
            await client.aclose()
        assert page.status_code == 200 and csv_file.status_code == 200
        rows = list(csv.reader(csv_file.text.lstrip("\ufeff").splitlines()[1:]))
        seen[name] = {row[1]: int(row[3]) for row in rows if int(row[3])}
        assert not re.search(r"[0-9A-Z]{4}-[0-9A-Z]{4}", csv_file.text)  # no tip codes
        assert "ma túy ở ngõ" not in csv_file.text and "Sòng bạc" not in csv_file.text
        if seen[name]:
            assert chart.status_code == 200 and chart.content[:4] == b"\x89PNG"
    assert seen["tuan"] == {
        "social_evils": 2, "drugs": 1, "gambling": 1, "criminal": 1, "fraud": 1,
        "70": 3, "new": 3, "web": 3,
    }  # fmt: skip
    assert seen["city"]["web"] == 4 and seen["city"]["70"] == 3 and seen["city"]["4"] == 1
    assert seen["hoa"] == {"social_evils": 1, "drugs": 1, "4": 1, "new": 1, "web": 1}
    assert seen["chief"] == {}  # an admin in no unit counts nothing


async def test_a_second_factor_signs_in_once_per_code_and_admins_can_be_made_to_have_one(
    tmp_path: Path,
) -> None:
    """TOTP (pyotp): with a second factor the password alone is refused, a right code
    signs in, the same code cannot sign in again; with STAFF_REQUIRE_2FA an admin
    without one is turned away. The secret is sealed in the database."""
    import pyotp

    from bot.channels.web.limits import Backoff
    from tests.desk_world import PASSWORD
    from tests.harness import tipbot

    bot = Harness(None, make_settings(tmp_path, None, staff_require_2fa=True))
    await bot.start(serve_http=True)
    try:
        await desk_world(bot)
        assert bot.app is not None and bot.app.web_url
        made = await asyncio.to_thread(tipbot, "staff", "totp", "minh", cwd=tmp_path)
        assert made.returncode == 0, made.stderr
        secret = re.search(r"secret: ([A-Z2-7]+)", made.stdout)
        assert secret and "otpauth://totp/tipbot:minh" in made.stdout

        async def attempt(name: str, code: str | None) -> httpx.Response:
            # Each failure slows the next try of that name down (tested elsewhere);
            # here every try is judged at once.
            bot.app.staff.backoff = Backoff()  # type: ignore[union-attr]
            async with httpx.AsyncClient(base_url=bot.app.web_url.rstrip("/")) as client:  # type: ignore[union-attr]
                page = await client.get("/staff/login")
                csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
                assert csrf
                form = {"csrf": csrf.group(1), "username": name, "password": PASSWORD}
                if code is not None:
                    form["code"] = code
                return await client.post("/staff/login", data=form)

        code = pyotp.TOTP(secret.group(1)).now()
        assert (await attempt("minh", None)).status_code == 401  # the password alone
        wrong = "000000" if code != "000000" else "111111"
        assert (await attempt("minh", wrong)).status_code == 401
        assert (await attempt("minh", code)).status_code == 303
        assert (await attempt("minh", code)).status_code == 401  # a code signs in once
        assert (await attempt("hoa", None)).status_code == 303  # officers: optional
        refused = await attempt("chief", None)  # an admin without one, when required
        assert refused.status_code == 401 and "tipbot staff totp" in refused.text
        reset = await asyncio.to_thread(tipbot, "staff", "totp", "minh", "--reset", cwd=tmp_path)
        assert reset.returncode == 0, reset.stderr
        assert (await attempt("minh", None)).status_code == 303
    finally:
        await bot.stop()
    # Read only once the service is stopped: opening the file in this process while it
    # runs would drop SQLite's locks (POSIX locks are per process), not what we test.
    if not SUITE_ON_POSTGRES:  # (on PostgreSQL the data is not in the folder)
        assert secret.group(1).encode() not in (tmp_path / "tipbot.db").read_bytes()


def scene(seed: int, size: tuple[int, int] = (320, 240), quality: int = 90) -> bytes:
    """A picture with structure (random blocks), as JPEG."""
    import io
    import random

    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    picture = Image.new("RGB", (320, 240), "white")
    draw = ImageDraw.Draw(picture)
    for _ in range(30):
        x, y = rng.randrange(0, 300), rng.randrange(0, 220)
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.rectangle((x, y, x + rng.randrange(10, 120), y + rng.randrange(10, 90)), fill=colour)
    out = io.BytesIO()
    picture.resize(size).save(out, "JPEG", quality=quality)
    return out.getvalue()


async def test_the_same_picture_sent_again_is_shown_as_a_likely_duplicate(desk: Harness) -> None:
    """Perceptual hashes (imagehash): the same scene re-encoded smaller is listed beside
    the tip; a different scene is not; another unit's tips are never compared."""
    await add_tip(desk, "AAAA-2222", photo=scene(1))
    await add_tip(desk, "AAAA-3333", photo=scene(1, size=(240, 180), quality=55),
                  category="fraud", group="criminal")  # fmt: skip
    await add_tip(desk, "AAAA-4444", photo=scene(2))
    await add_tip(desk, "BBBB-5555", photo=scene(1), ward=BA_DINH)
    minh = await signed_in(desk, "minh")
    try:
        page = (await minh.get("/staff/tips/AAAA-2222")).text
    finally:
        await minh.aclose()
    alike = page[page.index('class="alike"') :]
    assert "AAAA-3333" in alike  # another field, but the same picture
    assert "AAAA-4444" not in alike and "BBBB-5555" not in alike


async def test_the_admin_desk_lists_and_acts_through_the_admin_flows(desk: Harness) -> None:
    """Units, staff, campaigns and the audit log for an admin only (anyone else: 404);
    disabling an account and requesting an invite go through the admin flows, so the
    two-person rule still holds: the code comes only after a second admin approves."""
    from bot.desk.signin import hash_password
    from tests.desk_world import PASSWORD

    assert desk.app is not None
    async with desk.app.db.write() as conn:
        await Stores(conn).staff.upsert(
            "chief2", hash_password(PASSWORD), "admin", datetime.now(UTC)
        )
    minh = await signed_in(desk, "minh")
    chief = await signed_in(desk, "chief")
    chief2 = await signed_in(desk, "chief2")
    try:
        assert (await minh.get("/staff")).status_code == 200  # audited as desk.list
        assert (await minh.get("/staff/admin")).status_code == 404
        assert (await minh.post("/staff/admin/act", data={"command": "x"})).status_code == 404
        units = (await chief.get("/staff/admin?tab=units")).text
        assert "Công an phường Hoàn Kiếm" in units and "Phường Hoàn Kiếm" in units
        assert "minh (cán bộ)" in units and "tuan (chỉ huy)" in units
        staff_page = (await chief.get("/staff/admin?tab=staff")).text
        disable = form_of(staff_page, "removestaff gone", field="command")
        done = await chief.post(
            "/staff/admin/act", data={**disable, "command": "removestaff gone"},
            follow_redirects=True,
        )  # fmt: skip
        assert "Đã khóa tài khoản gone" in done.text  # the admin flow's own answer
        async with desk.app.db.read() as conn:
            listed = {n: a for n, _, a, _ in await Stores(conn).staff.staff_list()}
        assert listed["gone"] is False and listed["minh"] is True

        invite = form_of(done.text, "invite", field="command")
        asked = await chief.post(
            "/staff/admin/act",
            data={**invite, "role": "officer", "unit": "1", "name": "Lan"},
            follow_redirects=True,
        )
        number = re.search(r"#(\d+)", asked.text[asked.text.index('class="notices"') :])
        assert number, asked.text
        chief_id = await staff_id_of(desk, "chief")
        assert not any("/join" in n for n in desk.app.desk.notices(chief_id, 0))
        decide = form_of((await chief2.get("/staff/admin?tab=staff")).text, "decide", "command")
        await chief2.post(
            "/staff/admin/act", data={**decide, "number": number.group(1), "verdict": "approve"}
        )
        await desk.settle()
        assert any("/join" in n for n in desk.app.desk.notices(chief_id, 0))  # the code, now

        campaigns = (await chief.get("/staff/admin?tab=campaigns")).text
        assert "Chưa có chiến dịch nào" in campaigns
        audit = (await chief.get("/staff/admin?tab=audit&who=minh")).text
        rows = re.findall(r'data-label="Ai">([^<]*)<', audit)
        assert rows and set(rows) == {"minh"}
        denied = (await chief.get("/staff/admin?tab=audit&outcome=denied")).text
        outcomes = re.findall(r'data-label="Kết quả">([^<]*)<', denied)
        assert outcomes and set(outcomes) == {"denied"}
        assert re.findall(r'data-label="Ai">([^<]*)<', denied).count("minh") == 2  # page, act
    finally:
        for client in (minh, chief, chief2):
            await client.aclose()


async def staff_id_of(bot: Harness, name: str) -> str:
    assert bot.app is not None
    async with bot.app.db.read() as conn:
        found = await Stores(conn).staff.staff_id(name)
    assert found
    return found


async def test_an_invite_code_makes_a_web_account_once(desk: Harness) -> None:
    """Web invites: /staff/join turns a live invite into a new desk account (the name
    and password chosen there) in the invite's unit, signed in at once; a used code,
    a wrong one and a taken name all get one answer, and a taken name uses nothing."""
    assert desk.app is not None and desk.app.web_url
    await add_tip(desk, "AAAA-2222")
    async with desk.app.db.write() as conn:
        code = await Stores(conn).staff.create_invite(
            role="officer", unit_id=1, name="Lan", staff_id=None, created_by=None,
            now=datetime.now(UTC), ttl=timedelta(days=1),
        )  # fmt: skip

    async def join(
        code: str, username: str, password: str = "một mật khẩu đủ dài"
    ) -> httpx.Response:
        async with httpx.AsyncClient(base_url=desk.app.web_url.rstrip("/")) as client:  # type: ignore[union-attr]
            page = await client.get("/staff/join")
            csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
            assert csrf
            form = {"csrf": csrf.group(1), "code": code, "username": username, "password": password}
            answer = await client.post("/staff/join", data=form)
            if answer.status_code == 303:
                inbox = await client.get("/staff")
                assert "AAAA-2222" in inbox.text  # in the invite's unit, signed in
            return answer

    taken = await join(code, "minh")
    assert taken.status_code == 400 and "tên đã có người dùng" in taken.text
    assert (await join(code, "lan.hk", "short")).status_code == 400
    assert (await join(code, "lan.hk")).status_code == 303
    again = await join(code, "lan.hk2")
    assert again.status_code == 400 and again.text.count("Không dùng được mã này") == 1
    assert (await join("WRONG-CODE", "lan.hk3")).text.count("Không dùng được mã này") == 1
    async with desk.app.db.read() as conn:
        accounts = {n: (r, u) for n, r, _, u in await Stores(conn).staff.staff_list()}
    assert accounts["lan.hk"] == ("officer", ["1:officer"]) and "lan.hk2" not in accounts
