"""The audit log: who (a staff id, or a pseudonym for non-staff) tried what on which
tip, and whether it was allowed. The database keeps it append-only (triggers refuse
UPDATE and DELETE; migration 0003). It holds codes and searches, never text."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.schema import audit_log


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

    async def entries(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        )
        return [r._asdict() for r in rows]
