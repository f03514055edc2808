"""Several replicas of the service on one PostgreSQL (issue 14, first part): every
replica takes webhooks and dispatches and delivers; a person's updates are processed
once and in order whichever replica takes them; one replica leads (polling, alerts,
broadcasts, the scheduler) and another takes over when it goes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PG_URL, _pg_database
from tests.fakes.botapi import FakeBotAPI
from tests.fakes.updates import Citizen
from tests.harness import Harness, make_settings
from tests.officer_world import typed_tip

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="TIPBOT_TEST_POSTGRES_URL is not set"),
]
SECRET = "replica-webhook-secret"


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from _pg_database()


def replica(api: FakeBotAPI, data_dir: Path, pg_url: str, name: str, **more: Any) -> Harness:
    return Harness(api, make_settings(
        data_dir, api, database_url=pg_url, replica_id=name, telegram_mode="webhook",
        telegram_webhook_url="https://tipline.example.vn/telegram/webhook",
        telegram_webhook_secret=SECRET, **more,
    ))  # fmt: skip


async def test_two_replicas_take_updates_in_turn_and_keep_each_persons_order(
    api: FakeBotAPI, tmp_path: Path, pg_url: str
) -> None:
    a, b = replica(api, tmp_path, pg_url, "a"), replica(api, tmp_path, pg_url, "b")
    await a.start(serve_http=True)
    await b.start(serve_http=True)
    try:
        assert a.app is not None and b.app is not None
        urls = [h.app.web_url + "telegram/webhook" for h in (a, b)]  # type: ignore[union-attr,operator]
        people = [Citizen(8000 + i) for i in range(12)]
        scripts = {who.user_id: typed_tip(who) for who in people}
        next_id = 500_000
        headers = {"x-telegram-bot-api-secret-token": SECRET}
        async with httpx.AsyncClient(timeout=30) as client:

            async def post(update: dict[str, Any], turn: int) -> None:
                answer = await client.post(urls[turn % 2], json=update, headers=headers)
                assert answer.status_code == 200

            # Step by step for everyone at once: a person's next update goes to the
            # other replica, and only after the previous one was answered (as a person
            # answers what they see); different people interleave freely.
            for step in range(max(len(s) for s in scripts.values())):
                batch = []
                for who in people:
                    script = scripts[who.user_id]
                    if step < len(script):
                        next_id += 1
                        batch.append(
                            post({"update_id": next_id, **script[step]}, step + who.user_id)
                        )
                await asyncio.gather(*batch)
                for who in people:
                    await wait_for_replies(api, who, step + 1)
        receipts = {
            who.user_id: [c.text for c in api.sent(who.user_id) if "Mã tin báo" in c.text]
            for who in people
        }
        assert all(len(r) == 1 for r in receipts.values()), receipts  # once each
        async with a.app.db.read() as conn:
            from storage.tips import TipRepository

            tips = await TipRepository(conn).recent(100)
        assert len(tips) == len(people)
        leaders = [h.app.leading for h in (a, b)]  # type: ignore[union-attr]
        assert sorted(leaders) == [False, True]
    finally:
        await a.stop()
        await b.stop()


async def wait_for_replies(api: FakeBotAPI, who: Citizen, steps: int, wait: float = 30) -> None:
    """Until the person got an answer to each of their first `steps` updates."""
    deadline = time.monotonic() + wait
    while len([c for c in api.sent(who.user_id) if c.text]) < steps:
        assert time.monotonic() < deadline, f"no answer to step {steps} for {who.user_id}"
        await asyncio.sleep(0.02)


async def test_when_the_leader_goes_another_replica_leads_within_ten_seconds(
    api: FakeBotAPI, tmp_path: Path, pg_url: str
) -> None:
    a, b = replica(api, tmp_path, pg_url, "a"), replica(api, tmp_path, pg_url, "b")
    await a.start()
    await b.start()
    try:
        assert a.app is not None and b.app is not None
        deadline = time.monotonic() + 10
        while not (a.app.leading or b.app.leading):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        leader, follower = (a, b) if a.app.leading else (b, a)
        assert follower.app is not None and not follower.app.leading
        health = await follower.app.health()
        assert health["leader"] is False and health["replica"] in ("a", "b")
        assert getattr(follower.app, "scheduler", None) is None  # jobs run on the leader only
        gone = time.monotonic()
        await leader.stop()
        while not follower.app.leading:
            assert time.monotonic() - gone < 10, "no new leader within 10 s"
            await asyncio.sleep(0.05)
        took = time.monotonic() - gone
        assert follower.app.scheduler.running
        print(f"failover took {took:.2f}s")
    finally:
        for h in (a, b):
            if h.app is not None:
                await h.stop()


async def test_a_digest_due_while_the_leader_is_gone_is_sent_once_by_the_next(
    api: FakeBotAPI, tmp_path: Path, pg_url: str
) -> None:
    """The leader dies before 07:00; the daily digest falls due during the outage; the
    replica that takes over sends it within 10 s of the death, once, and not again
    when the old leader comes back (the sent period is in the database)."""
    from datetime import UTC, datetime

    from bot.app import App, Overrides
    from handlers.domain.vntime import VIETNAM
    from tests.officer_world import standard_world

    polling = {"database_url": pg_url, "digest_hour": 7}
    a = Harness(api, make_settings(tmp_path / "a", api, replica_id="a", **polling))
    b = Harness(api, make_settings(tmp_path / "b", api, replica_id="b", **polling))
    before = datetime(2026, 11, 26, 6, 0, tzinfo=VIETNAM)
    for h in (a, b):
        h.clock.advance(before - datetime.now(UTC))
    await a.start()  # alone, so it leads: it polls, and the world is built through it
    try:
        minh = (await standard_world(a))["minh"]
        b.app = App(b.settings, Overrides(clock=b.clock))
        await b.app.start()  # a follower: it neither polls nor runs the scheduler
        assert a.app is not None and a.app.leading and not b.app.leading

        def daily(day: str) -> list[Any]:
            return [c for c in api.sent(minh.user_id) if f"Báo cáo ngày {day}" in c.text]

        assert daily("25/11/2026") == []  # not due yet at 06:00
        # 07:00 comes while the leader is gone (the follower's clock is already past).
        b.clock.advance(datetime(2026, 11, 26, 7, 0, 30, tzinfo=VIETNAM) - b.clock.now())
        await a.stop()
        gone = time.monotonic()
        while not daily("25/11/2026"):
            assert time.monotonic() - gone < 10, "no digest within 10 s of the leader's death"
            await asyncio.sleep(0.05)
        print(f"digest sent {time.monotonic() - gone:.2f}s after the leader went")
        assert b.app.leading

        a.clock.advance(b.clock.now() - a.clock.now())
        a.app = App(a.settings, Overrides(clock=a.clock))
        await a.app.start()  # back, as a follower
        assert await b.app.digester.send_digests() == 0  # the scheduled run finds it sent
        await asyncio.sleep(1.0)
        assert len(daily("25/11/2026")) == 1
    finally:
        for h in (a, b):
            if h.app is not None:
                await h.stop()


async def test_a_web_chat_whose_requests_alternate_between_replicas_files_a_tip(
    tmp_path: Path, pg_url: str
) -> None:
    """No sticky sessions: each request of one page goes to the other replica; the
    replies reach it wherever it polls (through the database), numbered alike."""
    from tests.fakes.webclient import WebCitizen

    def web_replica(name: str) -> Harness:
        return Harness(None, make_settings(
            tmp_path, None, database_url=pg_url, replica_id=name, web_pow_bits=4,
            web_messages_per_minute=1000,
        ))  # fmt: skip

    a, b = web_replica("a"), web_replica("b")
    await a.start(serve_http=True)
    await b.start(serve_http=True)
    who = None
    try:
        bases = [h.app.web_url.rstrip("/") for h in (a, b)]  # type: ignore[union-attr]
        who = WebCitizen(bases[0])
        await who.open()
        who.client.base_url = bases[1]  # type: ignore[assignment]
        await who.open()  # this replica has not seen the challenge solved: again
        turn = 0

        async def next_replica() -> None:
            nonlocal turn
            turn += 1
            who.client.base_url = bases[turn % 2]  # type: ignore[union-attr,assignment]

        async def answer(expect: str) -> list[dict[str, Any]]:
            """Poll the other replica until the reply saying `expect` is there."""
            await next_replica()
            deadline = time.monotonic() + 20
            got: list[dict[str, Any]] = []

            def says(m: dict[str, Any]) -> str:
                return m["text"] + " ".join(b["label"] for r in m.get("buttons", []) for b in r)

            while not any(expect in says(m) for m in got):
                got += await who.fetch()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, f"no {expect!r} on the other replica"
            return got

        await answer("Bạn muốn làm gì")
        steps = [
            ("Gửi tin báo", "Bước 1/6"), ("Tệ nạn", "Cụ thể"), ("Cờ bạc", "Bước 2/6"),
            ("Không", "Bước 3/6"), ("hoan kiem", "Phường Hoàn Kiếm"),
            ("Phường Hoàn Kiếm", "Bước 4/6"), ("Hôm nay", "Bước 5/6"),
            ("Sòng bạc trong nhà kho số 3", "0 tệp"), ("Xong, tiếp tục", "Bước 6/6"),
            ("Ẩn danh", "Kiểm tra lại"), ("Gửi tin báo", "Mã tin báo"),
        ]  # fmt: skip
        for action, expect in steps:
            await next_replica()
            if action in ("hoan kiem", "Sòng bạc trong nhà kho số 3"):
                (await who.say(action)).raise_for_status()
            else:
                (await who.choose(who.button(action)["data"])).raise_for_status()
            got = await answer(expect)
        assert any("Mã tin báo" in m["text"] for m in got)
        seqs = [m["seq"] for m in who.messages]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)  # one numbering
    finally:
        if who is not None:
            await who.close()
        await a.stop()
        await b.stop()


async def test_replicas_share_one_send_budget(pg_url: str) -> None:
    """Two replicas' windows on one database send 90 messages at 30 a second between
    them: no one-second stretch ever holds more than 30, and they keep close to it."""
    from bot.delivery.pacing import SharedWindow
    from storage.db import Database
    from storage.migrate import upgrade_async
    from tests.harness import VAULT

    await upgrade_async(pg_url)
    dbs = [Database(pg_url, vault=VAULT) for _ in range(2)]
    try:
        windows = [SharedWindow(db, "telegram", 30) for db in dbs]
        times: list[float] = []

        async def send(window: SharedWindow) -> None:
            await window.acquire()
            times.append(time.monotonic())

        started = time.monotonic()
        await asyncio.gather(*(send(windows[i % 2]) for i in range(90)))
        took = time.monotonic() - started
        times.sort()
        busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
        assert busiest <= 30, busiest
        assert took < 90 / 30 + 1.5, took  # close to the rate, not far below it
    finally:
        for db in dbs:
            await db.dispose()


async def test_replicas_share_a_paid_rate_taking_the_budget_in_chunks(pg_url: str) -> None:
    """At a paid broadcast's rate a transaction per send would be the bottleneck, so
    bulk sends take a few units at once; two replicas together still never exceed
    the rate in any one-second stretch."""
    from bot.delivery.pacing import SharedWindow
    from storage.db import Database
    from storage.migrate import upgrade_async
    from tests.harness import VAULT

    await upgrade_async(pg_url)
    dbs = [Database(pg_url, vault=VAULT) for _ in range(2)]
    try:
        windows = [SharedWindow(db, "paid-test", 400) for db in dbs]
        assert windows[0].chunk > 1
        times: list[float] = []

        async def send(window: SharedWindow) -> None:
            await window.acquire(bulk=True)
            times.append(time.monotonic())

        await asyncio.gather(*(send(windows[i % 2]) for i in range(900)))
        times.sort()
        busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
        assert busiest <= 400, busiest
    finally:
        for db in dbs:
            await db.dispose()


async def test_three_replicas_send_one_campaign_together_within_the_bot_limits(
    api: FakeBotAPI, tmp_path: Path, pg_url: str
) -> None:
    """Every replica sends campaigns (the ledger's claims skip each other's): each
    recipient gets it once, and the three together keep to 30 msg/s and 1 msg/s a chat
    as the platform counts them on arrival."""
    from datetime import UTC, datetime

    from storage.campaigns import Campaigns
    from storage.subscriptions import Subscriptions

    limits = {"telegram_rate_per_second": 30, "telegram_chat_interval_s": 1.0}
    replicas = [replica(api, tmp_path, pg_url, name, **limits) for name in ("a", "b", "c")]
    for harness in replicas:
        await harness.start()
    try:
        first = replicas[0].app
        assert first is not None
        now = datetime.now(UTC)
        recipients = [6_100_000 + n for n in range(180)]
        async with first.db.write() as conn:
            for user in recipients:
                await Subscriptions(conn).subscribe(
                    channel="telegram", user_key=first.identity.pseudonym("telegram", user),
                    address=first.identity.seal(str(user)), locale="vi", wards=[], topics=[],
                    consent_text="sub.consent@vi", now=now,
                )  # fmt: skip
            store = Campaigns(conn)
            campaign = await store.create(
                created_by="admin", text="Cảnh giác lừa đảo qua điện thoại.",
                photo_channel=None, photo_ref=None, report_button=False, now=now,
            )  # fmt: skip
            assert await store.start_run(campaign, now) == len(recipients)
        deadline = time.monotonic() + 60
        while True:
            async with first.db.read() as conn:
                counts = await Campaigns(conn).progress(campaign)
            if counts["pending"] == 0 and counts["sending"] == 0:
                break
            assert time.monotonic() < deadline, counts
            await asyncio.sleep(0.2)
        assert counts["sent"] == len(recipients), counts
        sends = [c for c in api.calls if c.method == "sendMessage" and "lừa đảo" in c.text]
        per_chat = {user: 0 for user in recipients}
        for call in sends:
            per_chat[call.chat_id] += 1  # type: ignore[index]
        assert set(per_chat.values()) == {1}  # everyone, once
        arrivals = sorted(c.at for c in sends)
        busiest = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
        assert busiest <= 30, busiest
        shares = [h.app.broadcaster.delivered for h in replicas]  # type: ignore[union-attr]
        assert sum(shares) == len(recipients) and all(shares), shares  # all three sent
    finally:
        for harness in replicas:
            await harness.stop()


async def test_a_waiting_reply_goes_before_another_replicas_broadcast(pg_url: str) -> None:
    """Replica A sends a campaign flat out; a reply on replica B waits at most about a
    slot, not behind A's queue (its mark on the shared budget holds A's bulk back)."""
    from bot.delivery.pacing import SharedWindow
    from storage.db import Database
    from storage.migrate import upgrade_async
    from tests.harness import VAULT

    await upgrade_async(pg_url)
    dbs = [Database(pg_url, vault=VAULT) for _ in range(2)]
    try:
        a, b = (SharedWindow(db, "prio-test", 20) for db in dbs)
        campaign = [asyncio.create_task(a.acquire(bulk=True)) for _ in range(80)]
        await asyncio.sleep(1.2)  # A has the budget full
        asked = time.monotonic()
        await b.acquire()
        waited = time.monotonic() - asked
        left = sum(1 for task in campaign if not task.done())
        for task in campaign:
            task.cancel()
        await asyncio.gather(*campaign, return_exceptions=True)
        assert left > 40  # the campaign was far from done …
        assert waited < 1.0, waited  # … and the reply did not wait for it
    finally:
        for db in dbs:
            await db.dispose()


async def test_a_file_one_replica_uploaded_is_sent_by_reference_from_another(
    api: FakeBotAPI, tmp_path: Path, pg_url: str
) -> None:
    """Telegram's file_id of a file we uploaded is kept in the database (sealed): the
    second replica sends the reference instead of uploading the photo again."""
    from sqlalchemy import select

    from bot.channels.telegram import TelegramChannel
    from bot.clock import Clock
    from bot.delivery.filerefs import DatabaseFileRefs
    from bot.identity import Identity
    from storage.db import Database
    from storage.migrate import upgrade_async
    from storage.schema import sent_files
    from tests.fakes.botapi import TOKEN
    from tests.harness import SECRET, VAULT
    from tests.journeys import jpeg_with_exif

    await upgrade_async(pg_url)
    dbs = [Database(pg_url, vault=VAULT) for _ in range(2)]
    channels = [
        TelegramChannel(
            token=TOKEN,
            identity=Identity(SECRET.encode()),
            base_url=api.base_url,
            file_refs=DatabaseFileRefs(db, "telegram", Clock()),
        )
        for db in dbs
    ]
    try:
        for channel in channels:
            await channel.start()
        photo = tmp_path / "up-7f3a.jpg"
        photo.write_bytes(jpeg_with_exif())
        payload = {"t": "upload", "path": str(photo), "kind": "photo", "caption": "Ảnh"}
        assert (await channels[0].send("7001", payload)).outcome == "ok"
        assert (await channels[1].send("7002", payload)).outcome == "ok"
        sent = [c.params["photo"] for c in api.sent(None, "sendPhoto")]
        assert [isinstance(p, dict) for p in sent] == [True, False]  # uploaded once
        assert isinstance(sent[1], str) and sent[1].startswith("up-")
        async with dbs[0].read() as conn:
            (row,) = (await conn.execute(select(sent_files))).all()
        assert sent[1] not in row.ref  # sealed
    finally:
        for channel in channels:
            await channel.stop()
        for db in dbs:
            await db.dispose()


async def test_replicas_starting_together_migrate_once(pg_url: str) -> None:
    """Found trying the README's commands: two replicas started at once ran the same
    migration together and one failed on the other's tables. They now take turns."""
    from storage.migrate import upgrade_async

    await asyncio.gather(*(upgrade_async(pg_url) for _ in range(3)))


@pytest.mark.slow
async def test_three_replica_processes_one_killed_mid_run_lose_and_repeat_nothing(
    api: FakeBotAPI, tmp_path: Path, pg_url: str
) -> None:
    """Three real `tipbot run` processes on one PostgreSQL take 300 people's whole
    reports through the webhook, in turn; one is SIGKILLed mid-run (the platform then
    retries on another) and started again. Every tip exists once, every receipt
    arrives once, and nobody's replies are missing."""
    import signal
    import sys

    from tests.harness import free_port, process_env

    ports = [free_port() for _ in range(3)]
    base_env = process_env(
        tmp_path, DATABASE_URL=pg_url, TELEGRAM_BOT_TOKEN=api.token,
        TELEGRAM_API_BASE_URL=api.base_url, TELEGRAM_MODE="webhook",
        TELEGRAM_WEBHOOK_URL="https://tipline.example.vn/telegram/webhook",
        TELEGRAM_WEBHOOK_SECRET=SECRET, TELEGRAM_RATE_PER_SECOND="0",
        TELEGRAM_CHAT_INTERVAL_S="0", FLOOD_BURST="1000", DELIVERY_LEASE_S="20",
    )  # fmt: skip

    async def start(n: int) -> asyncio.subprocess.Process:
        hooks = len([c for c in api.calls if c.method == "setWebhook"])
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", cwd=tmp_path,
            env={**base_env, "WEB_PORT": str(ports[n]), "REPLICA_ID": f"r{n}"},
            stdout=asyncio.subprocess.DEVNULL, stderr=(tmp_path / f"r{n}.log").open("ab"),
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while len([c for c in api.calls if c.method == "setWebhook"]) == hooks:
            assert time.monotonic() < deadline, "replica did not start"
            await asyncio.sleep(0.05)
        return proc

    procs = [await start(0)]
    procs += [await start(1), await start(2)]
    alive = [True, True, True]
    people = [Citizen(8100 + i) for i in range(300)]
    scripts = {who.user_id: typed_tip(who) for who in people}
    next_id = 700_000
    headers = {"x-telegram-bot-api-secret-token": SECRET}
    try:
        async with httpx.AsyncClient(timeout=30) as client:

            async def post(update: dict[str, Any], turn: int) -> None:
                # Like a load balancer: the chosen replica, or the next one alive.
                for k in range(3):
                    n = (turn + k) % 3
                    if not alive[n]:
                        continue
                    try:
                        answer = await client.post(
                            f"http://127.0.0.1:{ports[n]}/telegram/webhook",
                            json=update, headers=headers,
                        )  # fmt: skip
                    except httpx.HTTPError:
                        continue
                    if answer.status_code == 200:
                        return
                raise AssertionError("no replica took the update")

            steps = max(len(s) for s in scripts.values())
            for step in range(steps):
                if step == 5:
                    procs[1].send_signal(signal.SIGKILL)  # mid-run, work in hand
                    await procs[1].wait()
                    alive[1] = False
                if step == 8:
                    procs[1] = await start(1)
                    alive[1] = True
                batch = []
                for who in people:
                    if step < len(scripts[who.user_id]):
                        next_id += 1
                        update = {"update_id": next_id, **scripts[who.user_id][step]}
                        batch.append(post(update, step + who.user_id))
                await asyncio.gather(*batch)
                for who in people:
                    await wait_for_replies(api, who, step + 1, wait=60)
        receipts = {
            who.user_id: [c.text for c in api.sent(who.user_id) if "Mã tin báo" in c.text]
            for who in people
        }
        assert all(len(r) == 1 for r in receipts.values()), receipts
        from storage.db import Database
        from storage.tips import TipRepository
        from tests.harness import VAULT

        db = Database(pg_url, vault=VAULT)
        try:
            async with db.read() as conn:
                assert await TipRepository(conn).count() == len(people)
        finally:
            await db.dispose()
    finally:
        for n, proc in enumerate(procs):
            if alive[n] and proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            await proc.wait()
