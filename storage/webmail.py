"""Web chat messages shared between replicas on PostgreSQL (decision 0016). The
replica that delivers a reply writes it here (sealed, addressed by an HMAC of the
session) and NOTIFYs; every replica reads what is new into its own mailboxes, so the
page's next long poll finds it on whichever replica it lands. The row id is the
message's number on every replica alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import Database, vault_of
from storage.schema import web_deliveries

CHANNEL = "tipbot_web"


async def publish(conn: AsyncConnection, box: str, message: dict[str, Any], now: datetime) -> int:
    sealed = vault_of(conn).seal_json(message, f"web_deliveries.payload:{box}")
    row_id = (
        await conn.execute(
            web_deliveries.insert()
            .values(box=box, payload=sealed, created_at=now)
            .returning(web_deliveries.c.id)
        )
    ).scalar_one()
    # Delivered with the commit: listeners never read a row that is not there yet.
    await conn.execute(
        text("SELECT pg_notify(:channel, :id)"), {"channel": CHANNEL, "id": str(row_id)}
    )
    return int(row_id)


async def since(
    conn: AsyncConnection, after: int, limit: int = 500
) -> list[tuple[int, str, dict[str, Any]]]:
    rows = await conn.execute(
        select(web_deliveries)
        .where(web_deliveries.c.id > after)
        .order_by(web_deliveries.c.id)
        .limit(limit)
    )
    vault = vault_of(conn)
    return [
        (r.id, r.box, vault.open_json(r.payload, f"web_deliveries.payload:{r.box}")) for r in rows
    ]


async def last_id(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.max(web_deliveries.c.id)))).scalar() or 0)


async def purge(conn: AsyncConnection, before: datetime) -> int:
    result = await conn.execute(delete(web_deliveries).where(web_deliveries.c.created_at < before))
    return int(result.rowcount or 0)


@asynccontextmanager
async def notifications(db: Database, wake: asyncio.Event) -> AsyncIterator[None]:
    """While open, `wake` is set whenever a replica publishes (LISTEN on a connection
    kept for it)."""
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        listener = raw.driver_connection
        assert listener is not None

        def heard(*_: Any) -> None:
            wake.set()

        await listener.add_listener(CHANNEL, heard)
        try:
            yield
        finally:
            await listener.remove_listener(CHANNEL, heard)
