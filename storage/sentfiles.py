"""What a platform calls a file we uploaded to it (Telegram's file_id), by the name of
our stored copy: the first send uploads, every later one — on any replica — sends the
reference. Sealed: with the bot's token a file_id fetches the file."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import vault_of
from storage.dialect import insert_for
from storage.schema import sent_files


def _ad(channel: str, name: str) -> str:
    return f"sent_files.ref:{channel}:{name}"


async def get(conn: AsyncConnection, channel: str, name: str) -> str | None:
    sealed = (
        await conn.execute(
            select(sent_files.c.ref).where(
                sent_files.c.channel == channel, sent_files.c.name == name
            )
        )
    ).scalar()
    return None if sealed is None else vault_of(conn).open(sealed, _ad(channel, name))


async def put(conn: AsyncConnection, channel: str, name: str, ref: str, now: datetime) -> None:
    sealed = vault_of(conn).seal(ref, _ad(channel, name))
    stmt = insert_for(conn, sent_files).values(
        channel=channel, name=name, ref=sealed, created_at=now
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["channel", "name"], set_={"ref": sealed, "created_at": now}
        )
    )


async def forget(conn: AsyncConnection, before: datetime) -> int:
    result = await conn.execute(delete(sent_files).where(sent_files.c.created_at < before))
    return int(result.rowcount or 0)
