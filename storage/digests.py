"""Figures for digests and statistics, and the record of digest periods already sent
(so none goes out twice, whatever restarts or leaders do)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.access import OPEN, visible
from storage.models import DigestRow
from storage.schema import digest_runs, tip_routes, tips

# What figures are computed from: no code, no text, no place but the ward.
_ROW = (
    tips.c.category_group,
    tips.c.category,
    tips.c.ward_code,
    tips.c.channel,
    tips.c.status,
    tips.c.created_at,
    tips.c.claimed_at,
    tips.c.resolved_at,
)


class Digests:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def digest_claim(self, kind: str, period: str, scope: str, now: datetime) -> bool:
        """Record that a digest period is being sent; False if it already was."""
        seen = (
            await self.conn.execute(
                select(digest_runs.c.kind).where(
                    digest_runs.c.kind == kind,
                    digest_runs.c.period == period,
                    digest_runs.c.scope == scope,
                )
            )
        ).first()
        if seen is not None:
            return False
        await self.conn.execute(
            digest_runs.insert().values(kind=kind, period=period, scope=scope, sent_at=now)
        )
        return True

    async def digest_rows(
        self, unit_id: int | None, start: datetime, end: datetime
    ) -> list[DigestRow]:
        """Tips received in [start, end) by a unit (None: city-wide)."""
        query = select(*_ROW).where(tips.c.created_at >= start, tips.c.created_at < end)
        if unit_id is not None:
            query = query.where(
                exists().where(tip_routes.c.tip_id == tips.c.id, tip_routes.c.unit_id == unit_id)
            )
        return [DigestRow.model_validate(r._asdict()) for r in await self.conn.execute(query)]

    async def visible_rows(self, staff_id: str, start: datetime, end: datetime) -> list[DigestRow]:
        """Tips received in [start, end) that this account may see (the desk's figures:
        a supervisor's unit and those below it, everything for the city level)."""
        query = select(*_ROW).where(
            tips.c.created_at >= start, tips.c.created_at < end, visible(staff_id)
        )
        return [DigestRow.model_validate(r._asdict()) for r in await self.conn.execute(query)]

    async def visible_open_counts(self, staff_id: str, now: datetime) -> tuple[int, int]:
        """(open, overdue) now among the tips this account may see."""
        overdue = and_(
            tips.c.claimed_by.is_(None),
            or_(tips.c.claim_due_at <= now, tips.c.escalation_level > 0),
        )
        row = (
            await self.conn.execute(
                select(func.count(), func.coalesce(func.sum(case((overdue, 1), else_=0)), 0)).where(
                    tips.c.status.in_(OPEN), visible(staff_id)
                )
            )
        ).one()
        return int(row[0]), int(row[1])

    async def open_counts(self, unit_id: int | None, now: datetime) -> tuple[int, int]:
        """(open, overdue) right now: overdue = unclaimed past its claim deadline."""
        scope: list[ColumnElement[bool]] = [tips.c.status.in_(OPEN)]
        if unit_id is not None:
            scope.append(
                exists().where(tip_routes.c.tip_id == tips.c.id, tip_routes.c.unit_id == unit_id)
            )
        overdue = and_(
            tips.c.claimed_by.is_(None),
            or_(tips.c.claim_due_at <= now, tips.c.escalation_level > 0),
        )
        row = (
            await self.conn.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(case((overdue, 1), else_=0)), 0),
                ).where(*scope)
            )
        ).one()
        return int(row[0]), int(row[1])
