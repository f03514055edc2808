"""The tipster's side of the anonymous relay: where a tipster's chat is, their own
tips, and who hears their answers. Officers never see any of this; the flows use it
to carry questions and answers without naming either side."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.desk import TipDesk, tip_ref
from storage.models import Recipient, TipRef
from storage.schema import conversations, tip_routes, tips
from storage.staff import StaffAccounts
from storage.units import Units


class Relay:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def tipster(self, channel: str, tipster_key: str) -> Recipient | None:
        """Where a tipster's chat is (their conversation row), if they still have one."""
        row = (
            await self.conn.execute(
                select(conversations.c.address, conversations.c.locale).where(
                    conversations.c.channel == channel, conversations.c.user_key == tipster_key
                )
            )
        ).first()
        if row is None:
            return None
        return Recipient(
            channel=channel, chat_key=tipster_key, address=row.address, locale=row.locale
        )

    async def tip_of_tipster(self, channel: str, tipster_key: str, code: str) -> TipRef | None:
        """A citizen's own tip (for answering a relayed question)."""
        return await tip_ref(
            self.conn,
            and_(tips.c.code == code, tips.c.channel == channel, tips.c.tipster_key == tipster_key),
        )

    async def add_answer(self, tip_id: str, text: str, now: datetime) -> None:
        """The tipster's answer, into the tip's thread."""
        await TipDesk(self.conn).add_event(tip_id, "answer", now, body=text)

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
