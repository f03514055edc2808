"""Which replica leads: a PostgreSQL session-level advisory lock, held on a connection
kept for nothing else. It is released when that connection ends (the process dies, the
network drops), so another replica can take it (decision 0016)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# Any fixed 64-bit number; every replica of one deployment asks for the same.
LEADER_LOCK = 7_360_111_042_516


async def try_lead(conn: AsyncConnection) -> bool:
    """Take the leader's lock if nobody holds it (never waits)."""
    taken = (
        await conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK})
    ).scalar()
    await conn.commit()  # the lock is the session's, not the transaction's
    return bool(taken)


async def still_leading(conn: AsyncConnection) -> bool:
    """Whether this connection still holds the lock (raises if the connection died)."""
    held = (
        await conn.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid = pg_backend_pid() AND granted "
                "AND ((classid::bigint << 32) | objid::bigint) = :key"
            ),
            {"key": LEADER_LOCK},
        )
    ).scalar()
    await conn.commit()
    return bool(held)
