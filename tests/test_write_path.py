"""Intake's write path on SQLite: statements on the event loop, waits in a thread, and
an update processed in the same turn to write that stored it (issue 15)."""

from __future__ import annotations

import asyncio
import base64
import functools
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.channels.base import Ignored, SendResult
from bot.clock import Clock
from bot.delivery.sender import OutboxSender
from bot.dispatch.dispatcher import Pipeline
from bot.identity import Identity
from handlers.core.router import Router
from storage import inbox, outbox
from storage.alerts import Alerts
from storage.campaigns import Campaigns
from storage.db import ALERTS, CAMPAIGNS, Database, take_changes
from storage.migrate import upgrade_async
from storage.models import OutboxMessage
from storage.tips import TipRepository
from storage.units import Units
from storage.vault import Vault
from tests.fakes.botapi import FakeBotAPI
from tests.fakes.updates import Citizen
from tests.harness import SUITE_ON_POSTGRES, VAULT, Harness, make_settings
from tests.journeys import walk_to
from tests.seeds import NOW, make_tip


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'write.db'}"
    await upgrade_async(url)
    database = Database(url, vault=VAULT)
    yield database
    await database.dispose()


async def _thread_running_statements(conn: object) -> int:
    raw = await conn.get_raw_connection()  # type: ignore[attr-defined]
    raw.driver_connection._raw.create_function("thread_id", 0, threading.get_ident)
    result = await conn.execute(text("SELECT thread_id()"))  # type: ignore[attr-defined]
    return int(result.scalar_one())


async def test_write_statements_run_on_the_event_loop_thread(sqlite_db: Database) -> None:
    # aiosqlite would run them on its own thread: a round trip per call, four a statement.
    async with sqlite_db.write() as conn:
        assert await _thread_running_statements(conn) == threading.get_ident()
        await conn.execute(text("CREATE TABLE t (v TEXT)"))
        await conn.execute(text("INSERT INTO t VALUES ('kept')"))
    async with sqlite_db.read() as conn:
        assert (await conn.execute(text("SELECT v FROM t"))).scalar_one() == "kept"


async def test_a_failed_write_is_rolled_back_and_the_next_one_works(sqlite_db: Database) -> None:
    async with sqlite_db.write() as conn:
        await conn.execute(text("CREATE TABLE t (v TEXT UNIQUE)"))

    async def failing() -> None:
        async with sqlite_db.write() as conn:
            await conn.execute(text("INSERT INTO t VALUES ('lost')"))
            raise RuntimeError("the flow failed")

    with pytest.raises(RuntimeError):
        await failing()
    async with sqlite_db.write() as conn:
        await conn.execute(text("INSERT INTO t VALUES ('next')"))
    async with sqlite_db.read() as conn:
        assert (await conn.execute(text("SELECT v FROM t"))).scalars().all() == ["next"]


async def test_commits_go_to_the_thread_when_the_disk_is_slow(sqlite_db: Database) -> None:
    committed_on: list[int] = []

    async def commit_once() -> object:
        async with sqlite_db.write() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            raw._raw.set_trace_callback(
                lambda sql: committed_on.append(threading.get_ident()) if sql == "COMMIT" else None
            )
            await conn.execute(text("CREATE TABLE IF NOT EXISTS t (v TEXT)"))
        return raw

    raw = await commit_once()
    assert committed_on == [threading.get_ident()]  # a fast fsync: inline
    raw.commit_seconds = 0.01  # as if each fsync had taken 10 ms
    await commit_once()
    assert committed_on[-1] != threading.get_ident()  # the loop does not wait on the disk


async def test_another_process_holding_the_lock_is_waited_for_without_stalling_the_loop(
    sqlite_db: Database, tmp_path: Path
) -> None:
    # The CLI (another process) writes now and then: BEGIN must wait for it, in the
    # thread, while the event loop goes on answering.
    async with sqlite_db.write() as conn:  # the service is running: its connection is open
        await conn.execute(text("SELECT 1"))
    other = sqlite3.connect(tmp_path / "write.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def ticking() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def write() -> None:
        async with sqlite_db.write() as conn:
            await conn.execute(text("CREATE TABLE waited (v TEXT)"))

    ticker = asyncio.create_task(ticking())
    writer = asyncio.create_task(write())
    await asyncio.sleep(0.3)
    assert not writer.done()  # waiting for the other process, not failed
    assert ticks >= 10  # and the loop was free meanwhile
    other.execute("COMMIT")
    await asyncio.wait_for(writer, 5)
    ticker.cancel()
    other.close()
    async with sqlite_db.read() as conn:
        await conn.execute(text("SELECT count(*) FROM waited"))


def test_nonces_are_never_handed_out_twice_across_a_fork() -> None:
    # The vault reads nonces from the OS in bulk; a forked child must not reuse the
    # parent's remaining buffer (AES-GCM with a repeated nonce leaks both plaintexts).
    vault = Vault(b"k" * 32)
    vault.seal("fill the buffer", "t")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: seal once and report the nonce
        os.close(read_end)
        os.write(write_end, _nonce(vault.seal("child", "t")))
        os._exit(0)
    os.close(write_end)
    parent = _nonce(vault.seal("parent", "t"))
    child = os.read(read_end, 12)
    os.waitpid(pid, 0)
    os.close(read_end)
    assert len(child) == 12 and child != parent
    seen = {_nonce(vault.seal("x", "t")) for _ in range(3000)}
    assert len(seen) == 3000


def _nonce(sealed: str) -> bytes:
    body = sealed.split(".", 2)[2]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))[:12]


@pytest.mark.skipif(SUITE_ON_POSTGRES, reason="one turn to write exists on SQLite only")
async def test_an_update_is_processed_in_the_turn_that_stored_it(
    api: FakeBotAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The dispatcher does nothing here: the reply can only come from intake's own turn.
    async def idle(self: Pipeline) -> int:
        return 0

    monkeypatch.setattr(Pipeline, "process_pending", idle)
    harness = Harness(api, make_settings(tmp_path, api))
    await harness.start()
    try:
        who = Citizen(4242)
        replies = await harness.say(who, who.text("/start"))
        assert replies, "no answer: the update waited for the dispatcher"
        assert harness.app is not None
        async with harness.app.db.read() as conn:
            assert (await inbox.counts(conn)).get("pending", 0) == 0
    finally:
        await harness.stop()


async def test_a_commit_wakes_only_the_workers_with_new_work(bot: Harness) -> None:
    # A reply wakes delivery alone; a filed tip (alerts queued) wakes the alerter too.
    assert bot.app is not None
    woken: list[str] = []
    for name in ("delivery", "alerter", "broadcaster"):
        worker = getattr(bot.app, name)
        original = worker.wake
        monkey = functools.partial(_counting, woken, name, original)
        worker.wake = monkey
    async with bot.app.db.write() as conn:  # a unit for the tip to be routed to
        await Units(conn).add_unit(
            "Thành phố", parent_id=None, city_level=True, wards=[], categories=[], now=NOW
        )
    who = Citizen(4343)
    await bot.say(who, who.text("/start"))
    assert "delivery" in woken
    assert "alerter" not in woken and "broadcaster" not in woken
    await walk_to(bot, who, "review")
    woken.clear()
    await bot.press(who, "Gửi tin báo")
    assert "alerter" in woken and "broadcaster" not in woken


async def test_a_tip_filed_in_the_replay_after_a_failed_batch_still_wakes_the_alerter(
    bot: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A broken event fails its batch; the rows are replayed one by one, and the tip
    # filed in that replay must wake the alerter like any other.
    assert bot.app is not None
    async with bot.app.db.write() as conn:
        await Units(conn).add_unit(
            "Thành phố", parent_id=None, city_level=True, wards=[], categories=[], now=NOW
        )
    who, breaker = Citizen(4344), Citizen(4345)
    await walk_to(bot, who, "review")
    original = Router.handle

    async def failing(self: Router, conv: Any, event: Any, ctx: Any) -> Any:
        if event.text == "boom":
            raise ValueError("a broken handler")
        return await original(self, conv, event, ctx)

    monkeypatch.setattr(Router, "handle", failing)
    woken: list[str] = []
    worker = bot.app.alerter
    monkeypatch.setattr(worker, "wake", functools.partial(_counting, woken, "alerter", worker.wake))
    bot.api.push(breaker.text("boom"))  # both in one getUpdates answer: one batch
    bot.api.push(who.press(bot.button(who, "Gửi tin báo")["callback_data"]))
    await bot.settle()
    assert "batch failed" in caplog.text  # the replay happened
    assert any("Mã tin báo" in c.text for c in bot.api.sent(who.user_id))
    assert "alerter" in woken


def _counting(woken: list[str], name: str, original: Callable[[], None]) -> None:
    woken.append(name)
    original()


async def test_transactions_say_what_they_queued_for_the_workers(db_url: str) -> None:
    await upgrade_async(db_url)
    database = Database(db_url, vault=VAULT)
    try:
        async with database.write() as conn:
            take_changes(conn)
            unit = await Units(conn).add_unit(
                "Hoàn Kiếm", parent_id=None, city_level=True, wards=[], categories=[], now=NOW
            )
            assert take_changes(conn) == set()
            tip = make_tip(1)
            await TipRepository(conn).add_tip(tip)
            assert take_changes(conn) == set()
            await Alerts(conn).queue_alert(tip.id, unit, "new", NOW)
            assert take_changes(conn) == {ALERTS}
            campaign = await Campaigns(conn).create(
                created_by="admin",
                text="Cảnh giác lừa đảo",
                photo_channel=None,
                photo_ref=None,
                report_button=False,
                now=NOW,
            )
            assert take_changes(conn) == set()
            await Campaigns(conn).start_run(campaign, NOW)
            assert take_changes(conn) == {CAMPAIGNS}
    finally:
        await database.dispose()


class _Recording:
    """A channel that takes every message (the network edge, in memory)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def parse(self, payload: dict[str, Any]) -> Ignored:
        return Ignored("not used here")

    def order_key(self, payload: dict[str, Any]) -> str | None:
        return None

    async def send(self, address: str, payload: dict[str, Any]) -> SendResult:
        self.sent.append(address)
        return SendResult("ok")


def _sender(db: Database, channel: _Recording, identity: Identity, clock: Clock) -> OutboxSender:
    """A sender on one in-memory channel, unpaced."""
    return OutboxSender(
        db=db, channels={"t": channel}, identity=identity, clock=clock, rates={}, chat_interval={}
    )


async def test_recording_a_batch_claims_the_next_in_the_same_transaction(
    sqlite_db: Database,
) -> None:
    # One write per batch while replies keep coming: the transaction that records what
    # was sent also leases what arrived meanwhile.
    identity, clock, channel = Identity(b"s" * 32), Clock(), _Recording()
    sender = _sender(sqlite_db, channel, identity, clock)

    def message(chat: str) -> OutboxMessage:
        return OutboxMessage(
            channel="t", chat_key=chat, address=identity.seal(chat), payload={"t": "msg"}
        )

    async with sqlite_db.write() as conn:
        await outbox.enqueue(conn, [message("first")], clock.now())
        rows = await outbox.claim(conn, clock.now(), 10, timedelta(seconds=60))
        await outbox.enqueue(conn, [message("meanwhile")], clock.now())
    following = await sender.deliver(rows)
    assert channel.sent == ["first"]
    assert [row.chat_key for row in following] == ["meanwhile"]
    async with sqlite_db.read() as conn:
        assert await outbox.counts(conn) == {"sending": 1}  # leased, not handed out twice
    assert await sender.deliver(following) == []
    assert channel.sent == ["first", "meanwhile"]


class _Stalling(_Recording):
    """Takes the first message; the next one hangs until the sender is stopped."""

    def __init__(self) -> None:
        super().__init__()
        self.stalled = asyncio.Event()

    async def send(self, address: str, payload: dict[str, Any]) -> SendResult:
        if self.sent:
            self.stalled.set()
            await asyncio.Event().wait()
        return await super().send(address, payload)


async def test_a_sender_stopped_mid_batch_hands_back_what_it_holds(db_url: str) -> None:
    # Found by CI on PostgreSQL: a stop with a batch in hand left it leased to a process
    # that was gone, and the chat heard nothing until the lease ran out (60 s). Nothing
    # at start can release it there: another replica's leases look just the same.
    await upgrade_async(db_url)
    database = Database(db_url, vault=VAULT)
    identity, clock, channel = Identity(b"s" * 32), Clock(), _Stalling()
    sender = _sender(database, channel, identity, clock)
    try:
        async with database.write() as conn:
            await outbox.enqueue(
                conn,
                [
                    OutboxMessage(
                        channel="t", chat_key="a", address=identity.seal(name), payload={"t": "msg"}
                    )
                    for name in ("first", "second")
                ],
                clock.now(),
            )
        running = asyncio.create_task(sender.run())
        await asyncio.wait_for(channel.stalled.wait(), 10)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        async with database.read() as conn:
            # "first" went out and is forgotten; "second" can be sent by anyone at once.
            assert await outbox.counts(conn) == {"pending": 1}
            assert await outbox.due_count(conn, clock.now()) == 1
    finally:
        await database.dispose()


async def test_replies_are_written_leased_to_the_caller_unless_their_chat_has_one_waiting(
    sqlite_db: Database,
) -> None:
    identity, now = Identity(b"s" * 32), Clock().now()

    def message(chat: str, text: str) -> OutboxMessage:
        return OutboxMessage(
            channel="t", chat_key=chat, address=identity.seal(chat), payload={"t": "msg", "x": text}
        )

    async with sqlite_db.write() as conn:
        await outbox.enqueue(conn, [message("busy", "earlier, waiting for a retry")], now)
        handed = await outbox.enqueue(
            conn,
            [message("free", "one"), message("busy", "later"), message("free", "two")],
            now,
            lease=timedelta(seconds=60),
        )
    # The free chat's replies come back leased, in order; the busy chat's later reply
    # waits behind its earlier one (a handed reply would overtake it).
    assert [(r.chat_key, r.payload["x"]) for r in handed] == [("free", "one"), ("free", "two")]
    async with sqlite_db.read() as conn:
        assert await outbox.counts(conn) == {"pending": 2, "sending": 2}
        claimed = await outbox.claim(conn, now, 10, timedelta(seconds=60))
    assert [(r.chat_key, r.payload["x"]) for r in claimed] == [
        ("busy", "earlier, waiting for a retry"),
        ("busy", "later"),
    ]


@pytest.mark.skipif(SUITE_ON_POSTGRES, reason="replies are handed over in memory on SQLite only")
async def test_a_reply_goes_out_without_a_claim_transaction(
    api: FakeBotAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The transaction that wrote the reply leased it to this process: no claim (one
    # write turn less per reply, and the sender starts at once). Replicas on
    # PostgreSQL still claim, so any replica may send.
    claims: list[int] = []
    original = outbox.claim

    async def counted(*args: Any, **kwargs: Any) -> list[Any]:
        rows = await original(*args, **kwargs)
        claims.append(len(rows))
        return rows

    monkeypatch.setattr(outbox, "claim", counted)
    harness = Harness(api, make_settings(tmp_path, api))
    await harness.start()
    try:
        who = Citizen(4646)
        assert await harness.say(who, who.text("/start"))
        await walk_to(harness, who, "review")
        assert sum(claims) == 0, "a reply was claimed instead of handed over"
        assert harness.app is not None
        async with harness.app.db.read() as conn:
            assert await outbox.counts(conn) == {}
    finally:
        await harness.stop()
