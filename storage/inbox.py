"""The durable inbox: raw updates stored before they are acknowledged, then processed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, exists, func, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import vault_of
from storage.dialect import insert_in, once_per_dialect
from storage.models import InboxRow
from storage.schema import inbox

MAX_ATTEMPTS = 5

# The statements every update passes through are built once (storage/dialect.py).
_insert = once_per_dialect(
    lambda dialect: insert_in(dialect, inbox).on_conflict_do_nothing(
        index_elements=["channel", "update_key"]
    )
)


def _build_pending(dialect: str) -> Any:
    query = (
        select(inbox.c.id, inbox.c.channel, inbox.c.update_key, inbox.c.payload, inbox.c.attempts)
        .where(inbox.c.status == "pending")
        .order_by(inbox.c.id)
        .limit(bindparam("limit"))
    )
    if dialect == "postgresql":
        earlier = inbox.alias("earlier")
        query = query.where(
            or_(
                inbox.c.order_key.is_(None),
                ~exists().where(
                    earlier.c.order_key == inbox.c.order_key,
                    earlier.c.id < inbox.c.id,
                    earlier.c.status == "pending",
                ),
            )
        ).with_for_update(skip_locked=True, of=inbox)
    return query


_pending = once_per_dialect(_build_pending)
_mark_done = once_per_dialect(
    lambda _: (
        update(inbox)
        .where(inbox.c.id.in_(bindparam("ids", expanding=True)))
        .values(status="done", payload=null(), order_key=null(), processed_at=bindparam("now"))
    )
)


async def add(
    conn: AsyncConnection,
    channel: str,
    items: list[tuple[str, dict[str, Any]]],
    now: datetime,
    order_keys: list[str | None] | None = None,
) -> None:
    """Insert updates in one statement; a key seen before (a redelivery) is ignored.
    The payload is sealed before the insert: it holds the message text and the user id."""
    if not items:
        return
    vault = vault_of(conn)
    await conn.execute(
        _insert(conn),
        [
            {
                "channel": channel,
                "update_key": key,
                "payload": vault.seal_json(payload, f"inbox.payload:{channel}:{key}"),
                "status": "pending",
                "attempts": 0,
                "received_at": now,
                "order_key": order_keys[i] if order_keys else None,
            }
            for i, (key, payload) in enumerate(items)
        ],
    )


async def pending(conn: AsyncConnection, limit: int) -> list[InboxRow]:
    """Return unprocessed rows in arrival order, for this transaction to process.

    PostgreSQL, where several replicas take rows at once: only rows no other
    transaction holds (`FOR UPDATE SKIP LOCKED`), and of each person only the first
    waiting update — a later one waits until the earlier is done, whoever holds it
    (an uncommitted earlier row still reads as pending). SQLite has one process."""
    result = await conn.execute(_pending(conn), {"limit": limit})
    vault = vault_of(conn)
    return [
        InboxRow.model_validate(
            {
                **row._asdict(),
                "payload": vault.open_json(
                    row.payload, f"inbox.payload:{row.channel}:{row.update_key}"
                ),
            }
        )
        for row in result
    ]


async def status_of(conn: AsyncConnection, channel: str, key: str) -> str | None:
    """Where one stored update is: pending, done or failed (None if never stored)."""
    return (
        await conn.execute(
            select(inbox.c.status).where(inbox.c.channel == channel, inbox.c.update_key == key)
        )
    ).scalar()


async def mark_done(conn: AsyncConnection, ids: list[int], now: datetime) -> None:
    """Mark rows processed and drop their payload and whose they were: only the dedup
    key remains (the order key matters only while a row waits)."""
    if ids:
        await conn.execute(_mark_done(conn), {"ids": ids, "now": now})


async def mark_failed(conn: AsyncConnection, row_id: int, now: datetime) -> bool:
    """Count a failed attempt; return True when the row is given up on (kept as 'dead')."""
    result = await conn.execute(
        update(inbox)
        .where(inbox.c.id == row_id)
        .values(attempts=inbox.c.attempts + 1)
        .returning(inbox.c.attempts)
    )
    attempts = result.scalar_one()
    if attempts >= MAX_ATTEMPTS:
        # Given up: the payload (a citizen's words, their user id) is not kept for ever;
        # the key stays, so a redelivery of the same update is still recognised.
        await conn.execute(
            update(inbox)
            .where(inbox.c.id == row_id)
            .values(status="dead", payload=null(), order_key=null(), processed_at=now)
        )
        return True
    return False


async def purge_done(conn: AsyncConnection, before: datetime) -> int:
    """Forget processed rows older than `before` (their keys only guard redelivery)."""
    result = await conn.execute(
        delete(inbox).where(inbox.c.status == "done", inbox.c.processed_at < before)
    )
    return result.rowcount or 0


async def counts(conn: AsyncConnection) -> dict[str, int]:
    result = await conn.execute(select(inbox.c.status, func.count()).group_by(inbox.c.status))
    return {status: n for status, n in result.all()}
