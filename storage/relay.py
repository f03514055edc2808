"""The tipster's side of the anonymous relay, through the tip's follow-up link.

A follow-up row (tip ↔ the sealed address of the chat it came from) exists only while
the tip is open and within its follow-up window; it is the one thing that connects a
tip to a person, and it is deleted when either ends (decision 0013). After that the
relay is pull-only: the tipster sees questions, and answers them, after checking the
tip with its code and receipt from any chat.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.access import OPEN
from storage.db import vault_of
from storage.desk import TipDesk, tip_ref
from storage.models import Recipient, ThreadEntry, TipRef
from storage.schema import followups, tip_events, tip_routes, tips
from storage.staff import StaffAccounts
from storage.units import Units

# Built once (filing a tip is intake's heaviest update); the values are bound per call.
_open_followup = followups.insert()


class Relay:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def open_followup(
        self,
        tip_id: str,
        *,
        channel: str,
        chat_key: str,
        address: bytes,
        locale: str | None,
        expires_at: datetime,
    ) -> None:
        await self.conn.execute(
            _open_followup,
            {
                "tip_id": tip_id,
                "channel": channel,
                "chat_key": chat_key,
                "address": address,
                "locale": locale,
                "expires_at": expires_at,
            },
        )

    async def tipster(self, tip_id: str, now: datetime) -> Recipient | None:
        """Where the tip's tipster can be reached, while its follow-up link lives."""
        row = (
            await self.conn.execute(
                select(
                    followups.c.channel,
                    followups.c.chat_key,
                    followups.c.address,
                    followups.c.locale,
                ).where(followups.c.tip_id == tip_id, followups.c.expires_at > now)
            )
        ).first()
        if row is None:
            return None
        return Recipient(
            channel=row.channel, chat_key=row.chat_key, address=row.address, locale=row.locale
        )

    async def tip_of_tipster(
        self, channel: str, chat_key: str, code: str, now: datetime
    ) -> TipRef | None:
        """A citizen's own tip, through its live follow-up link (answering a question)."""
        linked = (
            select(followups.c.tip_id)
            .where(
                followups.c.channel == channel,
                followups.c.chat_key == chat_key,
                followups.c.expires_at > now,
            )
            .scalar_subquery()
        )
        return await tip_ref(self.conn, and_(tips.c.code == code, tips.c.id.in_(linked)))

    async def tip_by_code(self, code: str) -> TipRef | None:
        """A tip whose code and receipt the caller has just verified (pull-only relay)."""
        return await tip_ref(self.conn, tips.c.code == code)

    async def questions(self, tip_id: str) -> list[ThreadEntry]:
        """What the tipster may see of the thread, in order: status changes, officers'
        questions, their own answers and additions. Notes and transfers never."""
        shown = ("status", "question", "answer", "amendment")
        rows = await self.conn.execute(
            select(tip_events.c.at, tip_events.c.kind, tip_events.c.detail, tip_events.c.body)
            .where(tip_events.c.tip_id == tip_id, tip_events.c.kind.in_(shown))
            .order_by(tip_events.c.id)
        )
        vault = vault_of(self.conn)
        return [
            ThreadEntry.model_validate(
                {**r._asdict(), "body": vault.open_opt(r.body, f"tip_events.body:{tip_id}")}
            )
            for r in rows
        ]

    async def add_answer(
        self, tip_id: str, text: str, now: datetime, *, kind: str = "answer"
    ) -> None:
        """The tipster's answer (or an addition to their tip), into the tip's thread."""
        await TipDesk(self.conn).add_event(tip_id, kind, now, body=text)

    async def tip_handlers(self, tip_id: str) -> list[Recipient]:
        """Who hears a tipster's answer: the claiming officer, else the tip's units."""
        claimed = (
            await self.conn.execute(select(tips.c.claimed_by).where(tips.c.id == tip_id))
        ).scalar_one_or_none()
        if claimed:
            chats = await StaffAccounts(self.conn).staff_chats([claimed])
            if chats:
                return chats
        found: list[Recipient] = []
        units = Units(self.conn)
        for unit_id in (
            await self.conn.execute(
                select(tip_routes.c.unit_id).where(tip_routes.c.tip_id == tip_id)
            )
        ).scalars():
            found += await units.unit_destinations(unit_id)
        return found

    async def forget_followups(self, now: datetime) -> int:
        """Delete the links of tips past their window or closed: from then on nothing in
        the database connects those tips to a chat."""
        closed = select(tips.c.id).where(tips.c.status.not_in(OPEN))
        result = await self.conn.execute(
            delete(followups).where(
                or_(followups.c.expires_at <= now, followups.c.tip_id.in_(closed))
            )
        )
        return int(result.rowcount or 0)
