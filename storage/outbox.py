"""The outbox: messages committed with the state change that caused them, then sent.

Order per chat is kept by never handing out a message while an earlier one of the same
chat is still waiting.
A claimed message carries a lease; if the sender dies, the lease runs out and the
message is handed out again (at-least-once: a duplicate beats a lost reply).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import vault_of
from storage.dialect import insert_for, once_per_dialect
from storage.models import OutboxMessage, OutboxRow
from storage.schema import outbox, unreachable_chats

_LIVE = ("pending", "sending")

# Every reply is enqueued, claimed and deleted once: those statements are built once
# (storage/dialect.py).
_enqueue = once_per_dialect(lambda _: outbox.insert())
_enqueue_leased = once_per_dialect(
    lambda _: outbox.insert().returning(outbox.c.id, sort_by_parameter_order=True)
)
# Chats with a message still waiting (a later one must not overtake it).
_busy = once_per_dialect(
    lambda _: (
        select(outbox.c.channel, outbox.c.chat_key)
        .where(
            outbox.c.chat_key.in_(bindparam("keys", expanding=True)),
            outbox.c.status.in_(_LIVE),
        )
        .distinct()
    )
)


def _build_candidates(dialect: str) -> Any:
    now = bindparam("now", type_=outbox.c.next_attempt_at.type)
    waiting = or_(
        and_(outbox.c.status == "pending", outbox.c.next_attempt_at > now),
        and_(outbox.c.status == "sending", outbox.c.lease_until > now),
    )
    held = select(outbox.c.chat_key).where(waiting).distinct()
    due = or_(
        and_(outbox.c.status == "pending", outbox.c.next_attempt_at <= now),
        and_(outbox.c.status == "sending", outbox.c.lease_until <= now),
    )
    candidates = (
        select(outbox.c.id)
        .where(due, outbox.c.chat_key.not_in(held))
        .order_by(outbox.c.id)
        .limit(bindparam("limit"))
    )
    if dialect == "postgresql":
        # Several replicas claim at once: rows another transaction is claiming are
        # skipped (SKIP LOCKED), and of each chat only its first outstanding message is
        # taken — an uncommitted earlier claim still reads as pending, so a later message
        # of that chat cannot be handed to another replica and overtake it.
        earlier = outbox.alias("earlier")
        candidates = candidates.where(
            ~exists().where(
                earlier.c.chat_key == outbox.c.chat_key,
                earlier.c.id < outbox.c.id,
                earlier.c.status.in_(("pending", "sending")),
            )
        ).with_for_update(skip_locked=True, of=outbox)
    return candidates


_candidates = once_per_dialect(_build_candidates)
_lease = once_per_dialect(
    lambda _: (
        update(outbox)
        .where(outbox.c.id.in_(bindparam("ids", expanding=True)))
        .values(status="sending", lease_until=bindparam("until"))
    )
)
_claimed = once_per_dialect(
    lambda _: (
        select(
            outbox.c.id,
            outbox.c.channel,
            outbox.c.chat_key,
            outbox.c.address,
            outbox.c.payload,
            outbox.c.attempts,
        )
        .where(outbox.c.id.in_(bindparam("ids", expanding=True)))
        .order_by(outbox.c.id)
    )
)
_delivered = once_per_dialect(
    lambda _: delete(outbox).where(outbox.c.id.in_(bindparam("ids", expanding=True)))
)


async def enqueue(
    conn: AsyncConnection,
    messages: list[OutboxMessage],
    now: datetime,
    *,
    lease: timedelta | None = None,
) -> list[OutboxRow]:
    """Queue messages in the caller's transaction.

    With `lease` (the one process on SQLite, decision 0018): a message whose chat has
    nothing earlier waiting is written already leased to the caller and returned, to
    be sent straight after the commit without a claim; the others wait their turn as
    pending. Without, every message waits as pending and nothing is returned."""
    if not messages:
        return []
    vault = vault_of(conn)
    busy: set[tuple[str, str]] = set()
    if lease is not None:
        keys = list({m.chat_key for m in messages})
        busy = {(c, k) for c, k in await conn.execute(_busy(conn), {"keys": keys})}
    rows = [
        {
            **m.model_dump(),
            "payload": vault.seal_json(m.payload, f"outbox.payload:{m.channel}:{m.chat_key}"),
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for m in messages
    ]
    if lease is None:
        await conn.execute(_enqueue(conn), rows)
        return []
    waiting: list[dict[str, Any]] = []
    leased: list[dict[str, Any]] = []
    handed: list[OutboxMessage] = []
    for m, row in zip(messages, rows, strict=True):
        if (m.channel, m.chat_key) in busy:
            waiting.append(row)
        else:
            leased.append({**row, "status": "sending", "lease_until": now + lease})
            handed.append(m)
    if waiting:
        await conn.execute(_enqueue(conn), waiting)
    if not handed:
        return []
    ids = (await conn.execute(_enqueue_leased(conn), leased)).scalars().all()
    return [
        OutboxRow(**m.model_dump(), id=row_id, attempts=0)
        for m, row_id in zip(handed, ids, strict=True)
    ]


async def claim(
    conn: AsyncConnection, now: datetime, limit: int, lease: timedelta
) -> list[OutboxRow]:
    """Lease up to `limit` due messages, in order, skipping every chat that has an
    earlier message still waiting (for a retry, or leased to a sender): a chat's
    messages never overtake each other. Several messages of one chat may be handed out
    together; the sender sends them in id order."""
    ids = (await conn.execute(_candidates(conn), {"now": now, "limit": limit})).scalars().all()
    if not ids:
        return []
    await conn.execute(_lease(conn), {"ids": ids, "until": now + lease})
    result = await conn.execute(_claimed(conn), {"ids": ids})
    vault = vault_of(conn)
    return [
        OutboxRow.model_validate(
            {
                **row._asdict(),
                "payload": vault.open_json(
                    row.payload, f"outbox.payload:{row.channel}:{row.chat_key}"
                ),
            }
        )
        for row in result
    ]


async def release_leases(conn: AsyncConnection) -> None:
    """Make every leased message pending again (only safe with a single instance)."""
    await conn.execute(
        update(outbox)
        .where(outbox.c.status == "sending")
        .values(status="pending", lease_until=None)
    )


async def next_due(conn: AsyncConnection) -> datetime | None:
    """When the earliest waiting message becomes due (to sleep exactly that long)."""
    result = await conn.execute(
        select(func.min(outbox.c.next_attempt_at)).where(outbox.c.status == "pending")
    )
    due: datetime | None = result.scalar_one_or_none()
    return due


async def delivered(conn: AsyncConnection, ids: list[int]) -> None:
    """Forget delivered messages entirely: their text must not linger in the database."""
    if ids:
        await conn.execute(_delivered(conn), {"ids": ids})


async def reschedule(
    conn: AsyncConnection, row_id: int, at: datetime, error: str | None, count_attempt: bool = True
) -> None:
    values: dict[str, object] = {
        "status": "pending",
        "next_attempt_at": at,
        "lease_until": None,
        "last_error": error,
    }
    if count_attempt:
        values["attempts"] = outbox.c.attempts + 1
    await conn.execute(update(outbox).where(outbox.c.id == row_id).values(**values))


async def release(conn: AsyncConnection, ids: list[int], now: datetime) -> None:
    """Hand claimed-but-unsent messages back (they queue behind a failed one)."""
    if ids:
        await conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(ids))
            .values(status="pending", next_attempt_at=now, lease_until=None)
        )


async def hand_back(
    conn: AsyncConnection, sent: list[int], unsent: list[int], now: datetime
) -> None:
    """A stopping sender's batch: what went out is delivered, what did not is pending
    again. Only rows still leased are touched (a batch recorded just before the stop
    keeps what was recorded)."""
    await delivered(conn, sent)
    if unsent:
        await conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(unsent), outbox.c.status == "sending")
            .values(status="pending", next_attempt_at=now, lease_until=None)
        )


async def give_up(conn: AsyncConnection, row_id: int, status: str, error: str) -> None:
    """Stop trying a message (failed or blocked); its text is erased, the error kept."""
    await conn.execute(
        update(outbox)
        .where(outbox.c.id == row_id)
        .values(
            status=status,
            payload=null(),
            lease_until=None,
            last_error=error,
            attempts=outbox.c.attempts + 1,
        )
    )


async def mark_unreachable(
    conn: AsyncConnection, channel: str, chat_key: str, now: datetime
) -> None:
    """Record that a chat refuses messages and drop what was still queued for it."""
    stmt = insert_for(conn, unreachable_chats).on_conflict_do_nothing(
        index_elements=["channel", "chat_key"]
    )
    await conn.execute(stmt, {"channel": channel, "chat_key": chat_key, "since": now})
    await conn.execute(
        update(outbox)
        .where(
            outbox.c.channel == channel, outbox.c.chat_key == chat_key, outbox.c.status.in_(_LIVE)
        )
        .values(status="blocked", payload=null(), lease_until=None, last_error="blocked")
    )


async def mark_reachable(conn: AsyncConnection, channel: str, chat_keys: list[str]) -> None:
    if chat_keys:
        await conn.execute(
            delete(unreachable_chats).where(
                unreachable_chats.c.channel == channel, unreachable_chats.c.chat_key.in_(chat_keys)
            )
        )


async def unreachable(conn: AsyncConnection, channel: str, chat_keys: list[str]) -> set[str]:
    if not chat_keys:
        return set()
    result = await conn.execute(
        select(unreachable_chats.c.chat_key).where(
            unreachable_chats.c.channel == channel, unreachable_chats.c.chat_key.in_(chat_keys)
        )
    )
    return set(result.scalars().all())


async def due_count(conn: AsyncConnection, now: datetime) -> int:
    """Messages that are being sent or could be sent right now."""
    result = await conn.execute(
        select(func.count())
        .select_from(outbox)
        .where(
            or_(
                outbox.c.status == "sending",
                and_(outbox.c.status == "pending", outbox.c.next_attempt_at <= now),
            )
        )
    )
    return int(result.scalar_one())


async def counts(conn: AsyncConnection) -> dict[str, int]:
    result = await conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
    return {status: n for status, n in result.all()}
