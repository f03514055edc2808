"""Storage runs the same SQL on SQLite and PostgreSQL (set TIPBOT_TEST_POSTGRES_URL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage import conversations, inbox, outbox
from storage.db import Database
from storage.migrate import downgrade, upgrade, upgrade_async
from storage.models import OutboxMessage, StoredConversation
from storage.schema import metadata
from storage.tips import TipRepository
from storage.vault import VaultError
from tests.harness import VAULT
from tests.seeds import NOW, make_tip


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    await upgrade_async(db_url)
    database = Database(db_url, vault=VAULT)
    yield database
    await database.dispose()


async def test_inbox_dedups_on_channel_and_key_and_keeps_order(db: Database) -> None:
    async with db.write() as conn:
        await inbox.add(conn, "telegram", [("1", {"a": 1}), ("2", {"a": 2})], NOW)
        await inbox.add(conn, "telegram", [("2", {"a": 99}), ("3", {"a": 3})], NOW)
        await inbox.add(conn, "web", [("1", {"b": 1})], NOW)
    async with db.write() as conn:
        rows = await inbox.pending(conn, 10)
        assert [(r.channel, r.update_key) for r in rows] == [
            ("telegram", "1"),
            ("telegram", "2"),
            ("telegram", "3"),
            ("web", "1"),
        ]
        assert rows[1].payload == {"a": 2}  # the redelivery did not overwrite
        await inbox.mark_done(conn, [rows[0].id], NOW)
    async with db.write() as conn:
        assert len(await inbox.pending(conn, 10)) == 3
        await inbox.add(conn, "telegram", [("1", {"a": 1})], NOW)  # done keys still dedup
        assert len(await inbox.pending(conn, 10)) == 3
        assert await inbox.purge_done(conn, NOW + timedelta(seconds=1)) == 1


async def test_inbox_failed_rows_go_dead_after_max_attempts(db: Database) -> None:
    async with db.write() as conn:
        await inbox.add(conn, "telegram", [("1", {"a": 1})], NOW)
        row = (await inbox.pending(conn, 1))[0]
        for _ in range(inbox.MAX_ATTEMPTS - 1):
            assert not await inbox.mark_failed(conn, row.id, NOW)
        assert await inbox.mark_failed(conn, row.id, NOW)
        assert await inbox.pending(conn, 1) == []
        assert await inbox.counts(conn) == {"dead": 1}


async def test_tip_insert_is_idempotent_and_keeps_nul_free_text(db: Database) -> None:
    text = "emoji 👨‍👩‍👧 bidi \u202e and \ufffd (was NUL)"
    async with db.write() as conn:
        repo = TipRepository(conn)
        await repo.add_tip(make_tip(1, description=text))
        await repo.add_tip(make_tip(1, code="BBBB-0001", description="replayed"))
        assert await repo.count() == 1
        check = await repo.tip_for_check("AAAA-0001")
        assert check is not None and check.status == "new" and check.created_at == NOW
        assert await repo.tip_for_check("BBBB-0001") is None
        listed = await repo.recent()
        assert listed[0].attachments == 1
        from storage.schema import tips

        stored = (await conn.execute(tips.select())).one()
        # Sealed at rest, bound to its row and column; opens to the text exactly.
        assert text not in stored.description and "emoji" not in stored.description
        assert VAULT.open(stored.description, f"tips.description:{stored.id}") == text
        with pytest.raises(VaultError):
            VAULT.open(stored.description, f"tips.address_text:{stored.id}")


async def test_conversations_upsert_many(db: Database) -> None:
    def conv(user: str, state: str) -> StoredConversation:
        return StoredConversation(
            channel="telegram",
            user_key=user,
            address=b"sealed",
            locale="vi",
            state=state,
            draft={"tag": "abc123"},
            flood=None,
            updated_at=NOW,
            expires_at=NOW + timedelta(hours=1),
        )

    async with db.write() as conn:
        await conversations.save_many(conn, [conv("a", "menu"), conv("b", "report.where")])
        await conversations.save_many(conn, [conv("b", "report.when")])
        loaded = await conversations.load_many(
            conn, [("telegram", "a"), ("telegram", "b"), ("telegram", "zz")]
        )
        assert loaded[("telegram", "b")].state == "report.when"
        assert set(loaded) == {("telegram", "a"), ("telegram", "b")}
        expired = await conversations.expired(conn, NOW + timedelta(hours=2), 10)
        assert {c.user_key for c in expired} == {"a", "b"}


async def test_outbox_keeps_each_chats_order(db: Database) -> None:
    def msg(chat: str, n: int) -> OutboxMessage:
        return OutboxMessage(
            channel="telegram", chat_key=chat, address=b"x", payload={"t": "msg", "text": str(n)}
        )

    lease = timedelta(seconds=60)
    # PostgreSQL (several replicas claim at once) hands out one message per chat at a
    # time; SQLite (one process) may hand a chat's messages out together.
    one_per_chat = db.url.get_backend_name() == "postgresql"
    async with db.write() as conn:
        await outbox.enqueue(conn, [msg("a", 1), msg("a", 2), msg("b", 3)], NOW)
        first = await outbox.claim(conn, NOW, 10, lease)
        if one_per_chat:
            assert [r.payload["text"] for r in first if r.payload] == ["1", "3"]
            assert await outbox.claim(conn, NOW, 10, lease) == []  # "2" waits behind "1"
            await outbox.release(conn, [first[0].id], NOW)  # as if the send failed
            retaken = await outbox.claim(conn, NOW, 10, lease)
            assert [r.payload["text"] for r in retaken if r.payload] == ["1"]
            await outbox.delivered(conn, [retaken[0].id])
            second = await outbox.claim(conn, NOW, 10, lease)
            assert [r.payload["text"] for r in second if r.payload] == ["2"]
            return
        assert [r.payload["text"] for r in first if r.payload] == ["1", "2", "3"]
        assert await outbox.claim(conn, NOW, 10, lease) == []  # all leased
        # "1" failed: it waits for its retry and "2" goes back behind it.
        await outbox.reschedule(conn, first[0].id, NOW + timedelta(seconds=5), "429")
        await outbox.release(conn, [first[1].id], NOW)
        await outbox.delivered(conn, [first[2].id])
        await outbox.enqueue(conn, [msg("b", 4)], NOW)
        # Chat a's head is waiting: its second message must not overtake it; b goes on.
        again = await outbox.claim(conn, NOW, 10, lease)
        assert [r.payload["text"] for r in again if r.payload] == ["4"]
        later = await outbox.claim(conn, NOW + timedelta(seconds=6), 10, lease)
        assert [r.payload["text"] for r in later if r.payload] == ["1", "2"]
        assert later[0].attempts == 1 and later[1].attempts == 0
        # A lease that ran out (the sender died) is handed out again.
        expired = await outbox.claim(conn, NOW + timedelta(seconds=120), 10, lease)
        assert sorted(r.id for r in expired) == sorted(r.id for r in [*again, *later])


async def test_outbox_unreachable_chat_drops_its_queue(db: Database) -> None:
    async with db.write() as conn:
        await outbox.enqueue(
            conn,
            [OutboxMessage(channel="telegram", chat_key="a", address=b"x", payload={"t": "msg"})],
            NOW,
        )
        await outbox.mark_unreachable(conn, "telegram", "a", NOW)
        assert await outbox.claim(conn, NOW, 10, timedelta(seconds=60)) == []
        assert await outbox.counts(conn) == {"blocked": 1}
        assert await outbox.unreachable(conn, "telegram", ["a", "b"]) == {"a"}
        await outbox.mark_reachable(conn, "telegram", ["a"])
        assert await outbox.unreachable(conn, "telegram", ["a"]) == set()


def test_migrations_match_the_schema_and_round_trip(db_url: str) -> None:
    upgrade(db_url)
    downgrade(db_url, "base")
    upgrade(db_url)

    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    async def diff() -> list[object]:
        engine = create_async_engine(db_url)
        async with engine.connect() as conn:
            result = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
        await engine.dispose()
        return list(result)

    assert asyncio.run(diff()) == []


async def test_sqlite_pragmas(tmp_path: object) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/p.db"
    await upgrade_async(url)
    database = Database(url, vault=VAULT)
    try:
        async with database.read() as conn:
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
            sync = (await conn.exec_driver_sql("PRAGMA synchronous")).scalar()
            busy = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar()
        assert (mode, sync, busy) == ("wal", 2, 5000)  # 2 = FULL
    finally:
        await database.dispose()


async def test_deleted_rows_leave_no_bytes_in_the_sqlite_file(tmp_path: Path) -> None:
    """Issue 10: `secure_delete` zeroes what a delete frees, so a purged row's clear
    columns (here an update's key) are not left in the file's free space."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'tipbot.db'}"
    await upgrade_async(url)
    database = Database(url, vault=VAULT)
    key = "ZEBULON-QUILLFEATHER-4471"
    try:
        async with database.write() as conn:
            await inbox.add(conn, "telegram", [(key, {"update_id": 1})], NOW)
            await inbox.add(conn, "telegram", [("other", {"update_id": 2})], NOW)
        async with database.write() as conn:
            ids = [r.id for r in await inbox.pending(conn, 10) if r.update_key == key]
            await inbox.mark_done(conn, ids, NOW)
            assert await inbox.purge_done(conn, NOW + timedelta(days=1)) == 1
        await database.checkpoint()
    finally:
        await database.dispose()
    # Read only after the service's connections are closed (closing any descriptor of
    # the file would drop SQLite's locks).
    blobs = b"".join(p.read_bytes() for p in tmp_path.glob("tipbot.db*"))
    assert b"inbox" in blobs  # the scan sees the file's contents
    assert key.encode() not in blobs
