"""Retention: closed tips are deleted after a period that depends on how they closed
(their attachments, thread, routes and links go with them, by foreign key), and
uploads that never became part of a tip or a campaign are forgotten. GlobaLeaks'
default is 90 days: keeping reports longer "increases the value of the data, along
with the risk of exposure"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.schema import attachments, campaigns, tips


@dataclass(frozen=True)
class Purged:
    tips: int
    files: list[tuple[str, str]]  # (channel, file_ref) of the deleted tips' attachments


async def purge_closed(
    conn: AsyncConnection, cutoffs: dict[str, datetime], *, dry_run: bool = False
) -> Purged:
    """Delete tips closed with status S before cutoffs[S]; with `dry_run`, only count."""
    due = or_(
        *(
            and_(tips.c.status == status, tips.c.resolved_at < before)
            for status, before in cutoffs.items()
        )
    )
    ids = list((await conn.execute(select(tips.c.id).where(due))).scalars())
    if not ids:
        return Purged(0, [])
    files = [
        (r.channel, r.file_ref)
        for r in await conn.execute(
            select(attachments.c.channel, attachments.c.file_ref).where(
                attachments.c.tip_id.in_(ids)
            )
        )
    ]
    if not dry_run:
        await conn.execute(delete(tips).where(tips.c.id.in_(ids)))
    return Purged(len(ids), files)


async def referenced_uploads(conn: AsyncConnection, channel: str) -> set[str]:
    """Upload ids some tip or campaign still uses."""
    used = set(
        (
            await conn.execute(
                select(attachments.c.file_ref).where(attachments.c.channel == channel)
            )
        ).scalars()
    )
    used |= {
        ref
        for ref in (
            await conn.execute(
                select(campaigns.c.photo_ref).where(campaigns.c.photo_channel == channel)
            )
        ).scalars()
        if ref
    }
    return used
