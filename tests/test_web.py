"""The web chat channel through its HTTP API: the same flows, and a public endpoint's
defences (CSRF, challenge, limits, upload checks, bad input)."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bot.channels.web.mailbox import Mailboxes
from bot.channels.web.sessions import Sessions
from storage.schema import attachments, audit_log
from tests.fakes.webclient import WebCitizen, solve
from tests.harness import Harness, make_settings, run_tipbot
from tests.journeys import GPS, act, jpeg_with_exif, stored_tips, walk_to_review


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[tuple[Harness, str]]:
    harness = Harness(
        None, make_settings(tmp_path, None, web_pow_bits=4, web_messages_per_minute=1000)
    )
    await harness.start(serve_http=True)
    assert harness.app is not None and harness.app.web_url
    yield harness, harness.app.web_url.rstrip("/")
    await harness.stop()


async def test_full_report_with_photo_through_the_web(
    web: tuple[Harness, str], tmp_path: Path
) -> None:
    bot, base = web
    who = WebCitizen(base)
    try:
        await walk_to_review(bot, who)
        response = await who.upload("IMG_0001.jpg", jpeg_with_exif(), "image/jpeg")
        assert response.status_code == 202
        new = await act(bot, who)
        assert "1 tệp" in new[-1]["text"]
        await who.choose(who.button("Xong")["data"])
        new = await act(bot, who)
        labels = [b["label"] for row in new[-1]["buttons"] for b in row]
        # No "share my phone" button on the web; a way back and out, as at every step.
        assert labels == ["🔒 Ẩn danh", "⬅️ Quay lại", "❌ Hủy tin báo"]
        await who.choose(who.button("Ẩn danh")["data"])
        review = (await act(bot, who))[-1]["text"]
        assert "<script>alert(1)</script> sòng bạc" in review  # shown as text
        await who.choose(who.button("Gửi tin báo")["data"])
        done = (await act(bot, who))[-1]["text"]
    finally:
        await who.close()
    tips = await stored_tips(bot)
    assert len(tips) == 1 and tips[0].code in done and tips[0].channel == "web"
    assert tips[0].attachments == 1
    assert bot.app is not None
    async with bot.app.db.read() as conn:
        row = (await conn.execute(attachments.select())).one()
    assert row.kind == "photo" and row.mime_type == "image/jpeg"
    original = bot.app.web.store.read_original(row.file_ref)
    assert original is not None and GPS in original  # evidence kept as sent…
    at_rest = (tmp_path / "uploads" / "originals" / row.file_ref).read_bytes()
    assert GPS not in at_rest and b"JFIF" not in at_rest  # …and encrypted at rest
    clean = (tmp_path / "uploads" / "clean" / row.file_ref).read_bytes()
    assert GPS not in clean and clean.startswith(b"\xff\xd8") and clean.endswith(b"\xff\xd9")

    # The operator writes the evidence out for a case file (audited).
    code = tips[0].code
    case = tmp_path / "case"
    done_cli = await run_tipbot("evidence", code.lower(), "--out", str(case), cwd=tmp_path)
    assert done_cli.returncode == 0, done_cli.stderr
    assert (case / f"{code}-1.jpg").read_bytes() == jpeg_with_exif()  # as sent, EXIF and all
    missing = await run_tipbot("evidence", "ZZZZ-ZZZZ", "--out", str(case), cwd=tmp_path)
    assert missing.returncode == 2
    audit = await run_tipbot("audit", cwd=tmp_path)
    assert audit.stdout.count("cli.evidence") == 2 and code in audit.stdout


async def test_page_is_self_contained_and_bilingual(web: tuple[Harness, str]) -> None:
    _, base = web
    who = WebCitizen(base)
    try:
        page = await who.client.get("/chat")
        assert page.status_code == 200
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp
        assert 'lang="vi"' in page.text and "Gửi tin báo cho Công an" in page.text
        assert "https://" not in page.text and "http://" not in page.text
        # Emergency numbers call on a tap (issue 11, item 9), in a header that stays put.
        for number in ("113", "114", "115", "111"):
            assert f'<a href="tel:{number}">{number}</a>' in page.text
        css = (await who.client.get("/chat/app.css")).text
        assert "header { position: sticky; top: 0" in css
        english = await who.client.get("/chat?lang=en")
        assert 'lang="en"' in english.text and "Report to the police" in english.text
        script = await who.client.get("/chat/app.js")
        assert "innerHTML" not in script.text and "textContent" in script.text
        embed = await who.client.get("/embed.js")
        assert "/chat" in embed.text and "iframe" in embed.text
    finally:
        await who.close()


async def test_requests_without_session_csrf_or_challenge_are_refused(
    web: tuple[Harness, str],
) -> None:
    _bot, base = web
    who = WebCitizen(base)
    try:
        assert (await who.say("hi")).status_code == 403  # no session cookie
        await who.open(solve_challenge=False)
        assert (await who.say("hi")).status_code == 428  # challenge first
        poll = await who.client.get("/chat/api/messages", params={"after": 0})
        assert poll.status_code == 428  # no mailbox, no waiting, before the work is done
        fetched = await who.client.get("/chat/api/file/" + "0" * 32)
        assert fetched.status_code == 404
        wrong = await who.post("pow", {"nonce": "x", "sig": "y", "answer": "1"})
        assert wrong.status_code == 403
        await who.open()
        who_csrf, who.csrf = who.csrf, "forged"
        assert (await who.say("hi")).status_code == 403
        who.csrf = who_csrf
        assert (await who.say("hi")).status_code == 202
    finally:
        await who.close()


async def test_bad_bodies_get_4xx_and_nothing_is_stored(web: tuple[Harness, str]) -> None:
    bot, base = web
    who = WebCitizen(base)
    try:
        await who.open()
        headers = {"X-CSRF-Token": who.csrf, "Content-Type": "application/json"}
        cases = [
            (b"\xff\xfe{", 400),
            (b"[1,2]", 400),
            (b"{" + b" " * 20_000 + b"}", 413),
            (b'{"id": "short", "text": "x"}', 400),
            (b'{"id": "abcdefgh12", "text": 5}', 400),
            (b'{"id": "abcdefgh12", "location": {"lat": 91, "lon": 0}}', 400),
            # A lone surrogate and a recursion bomb: a clear 400, never a 500 (issue 10).
            (b'{"id": "abcdefgh12", "text": "x\\ud800y"}', 400),
            (b'{"id": "abcdefgh12", "text": "x", "n": ' + b"[" * 3000 + b"]" * 3000 + b"}", 400),
            (b'{"id": "abcdefgh12", "n": ' + b"[" * 200 + b"]" * 200 + b"}", 400),
        ]
        for body, status in cases:
            response = await who.client.post("/chat/api/send", content=body, headers=headers)
            assert response.status_code == status, body[:30]
        response = await who.client.post(
            "/chat/api/send",
            content=b"{}",
            headers={"X-CSRF-Token": who.csrf, "Content-Type": "text/plain"},
        )
        assert response.status_code == 415
        upload_headers = {"X-CSRF-Token": who.csrf}
        exe = b"MZ\x90\x00" + b"\x00" * 100
        response = await who.client.post(
            "/chat/api/upload",
            headers=upload_headers,
            data={"id": uuid.uuid4().hex},
            files={"file": ("photo.jpg", exe, "image/jpeg")},
        )
        assert response.status_code == 415  # judged by content, not by name
        response = await who.client.post(
            "/chat/api/upload",
            headers=upload_headers,
            data={"id": uuid.uuid4().hex},
            files={"file": ("empty.jpg", b"", "image/jpeg")},
        )
        assert response.status_code == 400
        await bot.settle()
        assert await stored_tips(bot) == []
    finally:
        await who.close()


async def test_forged_choice_and_replayed_request(web: tuple[Harness, str]) -> None:
    bot, base = web
    who = WebCitizen(base)
    try:
        await who.open()
        await act(bot, who)
        new = await who.post("send", {"id": "forged-0001", "choice": "1|abcdef|ok|"})
        assert new.status_code == 202
        replies = await act(bot, who)
        assert "không còn dùng được" in replies[0]["text"]
        data = who.button("Gửi tin báo")["data"]
        for _ in range(3):  # a flaky network replays the same request
            await who.post("send", {"id": "same-request-1", "choice": data})
        replies = await act(bot, who)
        assert len(replies) == 1 and "Bước 1/6" in replies[0]["text"]
    finally:
        await who.close()


async def test_message_rate_limit_per_session(tmp_path: Path) -> None:
    bot = Harness(None, make_settings(tmp_path, None, web_pow_bits=0, web_messages_per_minute=3))
    await bot.start(serve_http=True)
    assert bot.app is not None and bot.app.web_url
    who = WebCitizen(bot.app.web_url.rstrip("/"))
    try:
        await who.open()
        codes = [(await who.say(f"m{i}")).status_code for i in range(5)]
        assert codes == [202, 202, 202, 429, 429]
    finally:
        await who.close()
        await bot.stop()


async def test_conversation_survives_a_restart(web: tuple[Harness, str]) -> None:
    bot, base = web
    who = WebCitizen(base)
    try:
        await who.open()
        await act(bot, who)
        await who.choose(who.button("Gửi tin báo")["data"])
        await act(bot, who)
        await who.choose(who.button("Tội phạm")["data"])
        await act(bot, who)
        await bot.stop()
        await bot.start(serve_http=True)
        assert bot.app is not None and bot.app.web_url
        who.client.base_url = bot.app.web_url.rstrip("/")  # type: ignore[assignment]
        who.after = 0
        await who.open()  # the page reloads: the session cookie is still there
        replies = await act(bot, who)
        assert "chưa gửi xong" in replies[0]["text"] and "Cụ thể là việc gì" in replies[1]["text"]
    finally:
        await who.close()


async def test_session_and_upload_limits(tmp_path: Path) -> None:
    bot = Harness(
        None,
        make_settings(
            tmp_path,
            None,
            web_pow_bits=0,
            web_sessions_per_hour=2,
            web_uploads_per_hour=1,
            web_max_upload_mb=1,
        ),
    )
    await bot.start(serve_http=True)
    assert bot.app is not None and bot.app.web_url
    base = bot.app.web_url.rstrip("/")
    people = [WebCitizen(base) for _ in range(3)]
    try:
        await people[0].open()
        await people[1].open()
        third = await people[2].client.post("/chat/api/open")
        assert third.status_code == 429  # new sessions from one address are limited
        who = people[0]
        headers = {"X-CSRF-Token": who.csrf}
        big = b"\xff\xd8\xff" + b"\x00" * (2 * 1024 * 1024)
        response = await who.client.post(
            "/chat/api/upload",
            headers=headers,
            data={"id": uuid.uuid4().hex},
            files={"file": ("big.jpg", big, "image/jpeg")},
        )
        assert response.status_code == 413
        ok = await who.client.post(
            "/chat/api/upload",
            headers=headers,
            data={"id": uuid.uuid4().hex},
            files={"file": ("a.jpg", jpeg_with_exif(), "image/jpeg")},
        )
        again = await who.client.post(
            "/chat/api/upload",
            headers=headers,
            data={"id": uuid.uuid4().hex},
            files={"file": ("b.jpg", jpeg_with_exif(), "image/jpeg")},
        )
        assert (ok.status_code, again.status_code) == (202, 429)
    finally:
        for person in people:
            await person.close()
        await bot.stop()


async def test_only_server_issued_sessions_are_accepted_and_they_expire(
    web: tuple[Harness, str],
) -> None:
    bot, base = web
    assert bot.app is not None
    channel = bot.app.web
    made_up = "A" * 43  # the old format, or anything a client invents
    async with httpx.AsyncClient(base_url=base, cookies={"tipbot_session": made_up}) as client:
        opened = await client.post("/chat/api/open")
        issued = opened.cookies.get("tipbot_session")
        assert issued and issued != made_up  # a fresh, signed id replaces it
        csrf = {"X-CSRF-Token": opened.json()["csrf"]}
    async with httpx.AsyncClient(base_url=base, cookies={"tipbot_session": made_up}) as client:
        sent = await client.post("/chat/api/send", json={"id": "abcdefgh12", "text": "x"},
                                 headers=csrf)  # fmt: skip
        assert sent.status_code == 403
    sessions = channel.sessions
    old_body = f"{'B' * 32}.{int(time.time()) - 8 * 86400:x}"
    expired = f"{old_body}.{sessions.sign(old_body)}"
    assert not sessions.issued_here(expired)  # signed here, but older than 7 days
    assert sessions.issued_here(issued)
    forged = issued[:-2] + ("AA" if not issued.endswith("AA") else "BB")
    assert not sessions.issued_here(forged)
    assert not Sessions(b"another key" * 3, pow_bits=4).issued_here(issued)


async def test_receipt_and_review_are_not_replayed_after_a_reload(
    web: tuple[Harness, str],
) -> None:
    bot, base = web
    who = WebCitizen(base)
    try:
        await walk_to_review(bot, who)
        await who.choose(who.button("Xong")["data"])
        await act(bot, who)
        await who.choose(who.button("Ẩn danh")["data"])
        review = (await act(bot, who))[-1]
        assert "sòng bạc" in review["text"] and review.get("once")
        await who.choose(who.button("Gửi tin báo")["data"])
        done = (await act(bot, who))[-1]
        assert "Mã bí mật" in done["text"]
        await who.say("/start")
        await act(bot, who)  # the page's next poll acknowledges what it already has
        replay = await who.fetch_after(0)  # a reload, or someone else with the cookie
        texts = "\n".join(m["text"] for m in replay)
        assert "Mã bí mật" not in texts and "sòng bạc" not in texts
        assert any("Bước" in m["text"] for m in replay)  # ordinary messages stay
    finally:
        await who.close()


def test_mailboxes_are_capped_least_recently_used_first() -> None:
    boxes = Mailboxes(limit=3)
    for session in ("a", "b", "c"):
        boxes.deliver(session, {"t": "msg", "text": session})
    boxes.get("a")  # used again: b is now the oldest
    boxes.deliver("d", {"t": "msg", "text": "d"})
    assert list(boxes.boxes) == ["c", "a", "d"] and len(boxes) == 3


def test_sessions_that_solved_the_challenge_are_remembered_within_a_bound() -> None:
    """Issue 10, finding 7: the set of verified sessions was never pruned."""
    sessions = Sessions(b"k" * 32, pow_bits=4, keep=3)
    for session in ("s1", "s2", "s3", "s4", "s5"):
        sessions.mark_verified(session)
        sessions.page_lang(session, "vi")
    assert list(sessions.verified) == ["s3", "s4", "s5"]  # the oldest are forgotten
    assert list(sessions.langs) == ["s3", "s4", "s5"]
    assert not sessions.is_verified("s1") and sessions.is_verified("s5")


def test_a_challenge_is_answered_only_for_the_session_it_was_given_to() -> None:
    sessions = Sessions(b"k" * 32, pow_bits=4)
    mine, theirs = sessions.new(), sessions.new()
    challenge = sessions.challenge(mine)
    answer = solve(challenge["nonce"], challenge["bits"])
    assert sessions.solved(mine, challenge["nonce"], challenge["sig"], answer)
    assert not sessions.solved(theirs, challenge["nonce"], challenge["sig"], answer)
    assert not sessions.solved(mine, challenge["nonce"], "0" * 64, answer)
    nonce = challenge["nonce"]
    wrong = next(  # a number whose hash does not start with four zero bits
        str(n) for n in range(100) if hashlib.sha256(f"{nonce}:{n}".encode()).digest()[0] >= 16
    )
    assert not sessions.solved(mine, challenge["nonce"], challenge["sig"], wrong)


async def test_file_requests_cannot_be_used_to_flood_the_audit_log(
    web: tuple[Harness, str],
) -> None:
    bot, base = web
    assert bot.app is not None
    who = WebCitizen(base)
    try:
        await who.open()
        missing = "/chat/api/file/" + "0" * 32
        statuses = [(await who.client.get(missing)).status_code for _ in range(70)]
        assert statuses[:60] == [404] * 60 and set(statuses[60:]) == {429}
        async with bot.app.db.read() as conn:
            rows = (await conn.execute(select(func.count()).select_from(audit_log))).scalar()
        assert rows == 60  # the rest were refused before touching the database
    finally:
        await who.close()


async def test_an_open_page_keeps_getting_replies_across_a_restart(
    web: tuple[Harness, str],
) -> None:
    """Issue 11, item 1: the page is not reloaded; it keeps asking for what comes
    after the last message number it saw, which must still work on the new server."""
    bot, base = web
    who = WebCitizen(base)
    try:
        await who.open()
        await act(bot, who)
        for _ in range(6):  # a conversation well under way: the page has seen a dozen
            await who.say("/language")
            await act(bot, who)
        await who.choose(who.button("Tiếng Việt")["data"])
        await act(bot, who)
        await who.say("/report")
        await act(bot, who)
        last_seen = who.after
        await bot.stop()
        await bot.start(serve_http=True)
        assert bot.app is not None and bot.app.web_url
        who.client.base_url = bot.app.web_url.rstrip("/")  # type: ignore[assignment]
        assert (await who.choose(who.button("Tội phạm")["data"])).status_code == 428
        await who.open()  # what the page does on 428: solve the challenge, then resend
        await who.choose(who.button("Tội phạm")["data"])
        assert who.after == last_seen  # the page's cursor is the one it had
        replies = await act(bot, who)
        assert replies and "Cụ thể là việc gì" in replies[-1]["text"]
    finally:
        await who.close()


async def test_behind_https_sessions_are_host_only_cookies(tmp_path: Path) -> None:
    harness = Harness(None, make_settings(tmp_path, None, web_pow_bits=4, web_secure_cookie=True))
    await harness.start(serve_http=True)
    try:
        assert harness.app is not None and harness.app.web_url
        async with httpx.AsyncClient(base_url=harness.app.web_url) as client:
            opened = await client.post("/chat/api/open")
        cookie = opened.headers["set-cookie"]
        assert cookie.startswith("__Host-tipbot_session=")
        assert "Path=/;" in cookie and "Secure" in cookie and "Domain" not in cookie
    finally:
        await harness.stop()


async def test_joining_the_staff_happens_under_a_fresh_session_id(
    web: tuple[Harness, str],
) -> None:
    """Issue 10, finding 4: an officer's /join must not bind their account to a session
    id that someone else knew or planted."""
    from datetime import timedelta

    from storage.schema import staff_links
    from storage.stores import Stores

    bot, base = web
    assert bot.app is not None
    async with bot.app.db.write() as conn:
        code = await Stores(conn).staff.create_invite(
            role="admin", unit_id=None, name="webadmin", staff_id=None, created_by=None,
            now=bot.clock.now(), ttl=timedelta(days=1),
        )  # fmt: skip
    who = WebCitizen(base)
    try:
        await who.open()
        await act(bot, who)
        planted = who.client.cookies.get("tipbot_session")
        assert (await who.say(f"/join {code}")).status_code == 202
        fresh = who.client.cookies.get("tipbot_session")
        assert fresh and fresh != planted
        replies = await act(bot, who)
        assert any("quản trị" in m["text"] for m in replies)  # the page goes on
        async with bot.app.db.read() as conn:
            [link] = (await conn.execute(select(staff_links.c.user_key))).scalars().all()
        identity = bot.app.identity
        assert link == identity.pseudonym("web", fresh) != identity.pseudonym("web", planted)
    finally:
        await who.close()


async def test_the_page_language_is_the_conversation_language(
    web: tuple[Harness, str],
) -> None:
    """Issue 11, item 2: /chat?lang=en answers in English, even for a session that
    started in Vietnamese (and back)."""
    bot, base = web
    who = WebCitizen(base)
    try:
        await who.open()
        first = await act(bot, who)
        assert "Bạn muốn làm gì" in first[-1]["text"]
        await who.client.post("/chat/api/open?lang=en")  # the English page, same session
        english = await act(bot, who)
        assert "What would you like to do" in english[-1]["text"]
        await who.say("/start")
        assert "What would you like to do" in (await act(bot, who))[-1]["text"]
        await who.client.post("/chat/api/open?lang=vi")
        assert "Bạn muốn làm gì" in (await act(bot, who))[-1]["text"]
    finally:
        await who.close()


async def test_an_english_page_in_a_vietnamese_browser_answers_in_english(
    web: tuple[Harness, str],
) -> None:
    _bot, base = web
    async with httpx.AsyncClient(base_url=base, headers={"Accept-Language": "vi-VN"}) as client:
        who = WebCitizen(base)
        await who.client.aclose()
        who.client = client
        opened = await client.post("/chat/api/open?lang=en")  # what the ?lang=en page does
        who.csrf = opened.json()["csrf"]
        challenge = opened.json()["challenge"]
        answer = solve(challenge["nonce"], challenge["bits"])
        await who.post("pow", {"nonce": challenge["nonce"], "sig": challenge["sig"],
                               "answer": answer})  # fmt: skip
        await _bot.settle()
        first = await who.fetch()
        assert "What would you like to do" in first[-1]["text"]


async def test_a_digest_chart_shows_as_a_picture_for_its_session_only(
    web: tuple[Harness, str], tmp_path: Path
) -> None:
    """Issue 12: digest charts show as images in the web chat (not a file name), served
    to the session they were sent to and to nobody else."""
    from bot.channels.web.channel import COOKIE

    bot, base = web
    assert bot.app is not None
    chart = tmp_path / "daily-2026-11-30-city.png"
    chart.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    officer, other = WebCitizen(base), WebCitizen(base)
    try:
        await officer.open()
        await other.open()
        await officer.fetch()
        session = officer.client.cookies[COOKIE]
        await bot.app.web.send(session, {"t": "chart", "path": str(chart), "caption": "Ngày 30/11"})
        [message] = await officer.fetch()
        assert message["text"] == "Ngày 30/11" and "daily-2026" not in str(message)
        url = message["file"]["url"]
        assert message["file"]["kind"] == "photo" and url.startswith("/chat/api/chart/")
        shown = await officer.client.get(url)
        assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"
        assert (await other.client.get(url)).status_code == 404
        assert (await officer.client.get("/chat/api/chart/" + "0" * 32)).status_code == 404
    finally:
        await officer.close()
        await other.close()
