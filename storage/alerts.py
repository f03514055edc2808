"""The alert queue (tips waiting to be announced to a unit), each destination's
per-minute message budget, and the escalation sweep's reads and writes."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.access import OPEN
from storage.db import ALERTS, note_change
from storage.models import DueTip, PendingAlert
from storage.schema import alert_queue, alert_sends, tips


class Alerts:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def has_pending(self) -> bool:
        found = await self.conn.execute(
            select(alert_queue.c.id).where(alert_queue.c.sent_at.is_(None)).limit(1)
        )
        return found.first() is not None

    async def pending_alerts(self, limit: int = 2000) -> list[PendingAlert]:
        rows = await self.conn.execute(
            select(
                alert_queue.c.id, alert_queue.c.tip_id, alert_queue.c.unit_id, alert_queue.c.kind
            )
            .where(alert_queue.c.sent_at.is_(None))
            .order_by(alert_queue.c.id)
            .limit(limit)
        )
        return [PendingAlert.model_validate(r._asdict()) for r in rows]

    async def queue_alert(self, tip_id: str, unit_id: int, kind: str, now: datetime) -> None:
        note_change(self.conn, ALERTS)
        await self.conn.execute(
            alert_queue.insert().values(tip_id=tip_id, unit_id=unit_id, kind=kind, created_at=now)
        )

    async def mark_alerts_sent(self, ids: list[int], now: datetime) -> None:
        if ids:
            await self.conn.execute(
                update(alert_queue).where(alert_queue.c.id.in_(ids)).values(sent_at=now)
            )

    async def messages_sent_since(self, dest_key: str, since: datetime) -> int:
        total = (
            await self.conn.execute(
                select(func.coalesce(func.sum(alert_sends.c.messages), 0)).where(
                    alert_sends.c.dest_key == dest_key, alert_sends.c.at >= since
                )
            )
        ).scalar_one()
        return int(total)

    async def record_sends(self, dest_key: str, messages: int, now: datetime) -> None:
        await self.conn.execute(
            alert_sends.insert().values(dest_key=dest_key, at=now, messages=messages)
        )
        await self.conn.execute(
            delete(alert_sends).where(alert_sends.c.at < now - timedelta(hours=1))
        )

    # ---- escalation --------------------------------------------------------------
    async def due_for_escalation(self, now: datetime, limit: int = 200) -> list[DueTip]:
        rows = await self.conn.execute(
            select(tips.c.id, tips.c.code, tips.c.urgent, tips.c.escalation_level)
            .where(
                tips.c.claim_due_at <= now,
                tips.c.claimed_by.is_(None),
                tips.c.status.in_(OPEN),
                tips.c.escalation_level < 2,
            )
            .order_by(tips.c.claim_due_at)
            .limit(limit)
        )
        return [DueTip.model_validate(r._asdict()) for r in rows]

    async def escalated(self, tip_id: str, level: int, next_due: datetime | None) -> None:
        await self.conn.execute(
            update(tips)
            .where(tips.c.id == tip_id)
            .values(escalation_level=level, claim_due_at=next_due)
        )
