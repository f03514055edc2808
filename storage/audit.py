"""The audit log: who (a staff id, or a pseudonym for non-staff) tried what on which
tip, and whether it was allowed. The database keeps it append-only (triggers refuse
UPDATE and DELETE; migration 0003). It holds codes and searches, never text."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.schema import audit_log, staff, tips


class AuditLog:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def audit(
        self,
        now: datetime,
        action: str,
        outcome: str,
        *,
        staff_id: str | None = None,
        actor_key: str | None = None,
        tip_id: str | None = None,
        target: str | None = None,
    ) -> None:
        await self.conn.execute(
            audit_log.insert().values(
                at=now,
                staff_id=staff_id,
                actor_key=None if staff_id else actor_key,
                action=action[:32],
                tip_id=tip_id,
                target=(target or None) and target[:64],
                outcome=outcome,
            )
        )

    async def entries(
        self,
        limit: int = 100,
        *,
        offset: int = 0,
        who: str | None = None,
        action: str | None = None,
        code: str | None = None,
        outcome: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first, with the account's user name and the tip's code; filtered by
        who (user name), what (an action prefix), which tip (code) and the outcome."""
        query = (
            select(audit_log, staff.c.username, tips.c.code)
            .select_from(
                audit_log.outerjoin(staff, staff.c.id == audit_log.c.staff_id).outerjoin(
                    tips, tips.c.id == audit_log.c.tip_id
                )
            )
            .order_by(audit_log.c.id.desc())
        )
        if who:
            query = query.where(staff.c.username == who)
        if action:
            query = query.where(audit_log.c.action.startswith(action, autoescape=True))
        if code:
            query = query.where(or_(tips.c.code == code, audit_log.c.target == code))
        if outcome:
            query = query.where(audit_log.c.outcome == outcome)
        rows = await self.conn.execute(query.limit(limit).offset(offset))
        return [r._asdict() for r in rows]
