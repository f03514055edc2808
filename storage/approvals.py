"""The two-person rule: what would let one admin read tips or contact numbers (a
contact-details export, an invite for an account that sees tips) waits here until a
second person approves it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.schema import approvals, unit_members


class Approval(BaseModel):
    id: int
    kind: str  # export.contact · invite
    requested_by: str
    params: dict[str, Any]
    status: str  # pending · approved · refused
    decided_by: str | None


class Approvals:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def request(
        self, kind: str, requested_by: str, params: dict[str, Any], now: datetime
    ) -> int:
        result = await self.conn.execute(
            approvals.insert()
            .values(
                kind=kind,
                requested_by=requested_by,
                params=params,
                status="pending",
                created_at=now,
            )
            .returning(approvals.c.id)
        )
        return int(result.scalar_one())

    async def get(self, approval_id: int) -> Approval | None:
        row = (
            await self.conn.execute(select(approvals).where(approvals.c.id == approval_id))
        ).first()
        return Approval.model_validate(row._asdict()) if row else None

    async def pending(self, limit: int = 20) -> list[Approval]:
        rows = await self.conn.execute(
            select(approvals)
            .where(approvals.c.status == "pending")
            .order_by(approvals.c.id)
            .limit(limit)
        )
        return [Approval.model_validate(r._asdict()) for r in rows]

    async def decide(
        self, approval_id: int, decided_by: str, *, approve: bool, now: datetime
    ) -> bool:
        """Settle a pending request once, never by the person who asked."""
        result = await self.conn.execute(
            update(approvals)
            .where(
                approvals.c.id == approval_id,
                approvals.c.status == "pending",
                approvals.c.requested_by != decided_by,
            )
            .values(
                status="approved" if approve else "refused",
                decided_by=decided_by,
                decided_at=now,
            )
            .returning(approvals.c.id)
        )
        return result.first() is not None

    async def supervises(self, staff_id: str, unit_id: int) -> bool:
        row = (
            await self.conn.execute(
                select(unit_members.c.unit_id).where(
                    unit_members.c.staff_id == staff_id,
                    unit_members.c.unit_id == unit_id,
                    unit_members.c.role == "supervisor",
                )
            )
        ).first()
        return row is not None
