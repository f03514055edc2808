"""One send budget per bot across replicas (PostgreSQL; decision 0016). Time is cut
into quarter-second slots; a send takes one unit of the current slot if the slot and
the last second's slots together stay under the cap. A transaction-scoped advisory
lock per channel makes the check and the count one step.

Replies to people come before broadcasts on every replica: a reply refused a unit
leaves a mark on the slot (a row under the channel's name + WAITING), and bulk sends
take nothing while a mark from this slot or the one before is there."""

from __future__ import annotations

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.dialect import insert_for
from storage.schema import rate_slots

SLOTS_PER_SECOND = 4
WAITING = "~w"  # suffix of the channel name under which waiting replies are marked


async def take(
    conn: AsyncConnection,
    channel: str,
    *,
    per_second: int,
    per_slot: int,
    want: int = 1,
    bulk: bool = False,
) -> tuple[int, float]:
    """Count up to `want` sends now, as many as the window allows. Returns how many
    were taken and the database's clock (seconds), read after the lock: a send waiting
    for the lock is counted when it really goes, not when it started to wait."""
    await conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"rate:{channel}"}
    )
    now = float(
        (await conn.execute(text("SELECT extract(epoch FROM clock_timestamp())"))).scalar_one()
    )
    slot = int(now * SLOTS_PER_SECOND)
    # This slot and the four before it span more than a second: any one-second window
    # the platform measures lies within them.
    recent = (
        await conn.execute(
            select(func.coalesce(func.sum(rate_slots.c.used), 0)).where(
                rate_slots.c.channel == channel,
                rate_slots.c.slot > slot - SLOTS_PER_SECOND - 1,
                rate_slots.c.slot <= slot,
            )
        )
    ).scalar_one()
    current = (
        await conn.execute(
            select(rate_slots.c.used).where(
                rate_slots.c.channel == channel, rate_slots.c.slot == slot
            )
        )
    ).scalar()
    if bulk:
        waiting = (
            await conn.execute(
                select(rate_slots.c.slot)
                .where(rate_slots.c.channel == channel + WAITING, rate_slots.c.slot >= slot - 1)
                .limit(1)
            )
        ).first()
        if waiting is not None:
            return 0, now
    granted = min(want, per_second - int(recent), per_slot - int(current or 0))
    if granted <= 0:
        if not bulk:  # a reply waits: broadcasts hold back until it has gone
            mark = insert_for(conn, rate_slots).values(channel=channel + WAITING, slot=slot, used=1)
            await conn.execute(mark.on_conflict_do_nothing(index_elements=["channel", "slot"]))
        return 0, now
    stmt = insert_for(conn, rate_slots).values(channel=channel, slot=slot, used=granted)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["channel", "slot"], set_={"used": rate_slots.c.used + granted}
        )
    )
    return granted, now


async def forget(conn: AsyncConnection, before_slot: int) -> int:
    result = await conn.execute(delete(rate_slots).where(rate_slots.c.slot < before_slot))
    return int(result.rowcount or 0)
