"""Citizens who opted in to awareness messages, and "delete my data".

Consent is explicit: the text agreed to (its catalog key and locale) and when. Opting
out deletes the row; erasure also removes the conversation and the ledger rows.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.dialect import insert_for
from storage.schema import (
    campaign_deliveries,
    conversations,
    followups,
    subscriptions,
    unreachable_chats,
)


class Subscription(BaseModel):
    channel: str
    user_key: str
    address: bytes
    locale: str
    wards: list[int]
    topics: list[str]


def matches(sub: Subscription, wards: list[int], topics: list[str]) -> bool:
    """Is a subscriber in a campaign's audience? (Empty lists mean "everyone".)"""
    ward_ok = not wards or not sub.wards or bool(set(sub.wards) & set(wards))
    topic_ok = not topics or not sub.topics or bool(set(sub.topics) & set(topics))
    return ward_ok and topic_ok


class Subscriptions:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def subscribe(
        self,
        *,
        channel: str,
        user_key: str,
        address: bytes,
        locale: str,
        wards: list[int],
        topics: list[str],
        consent_text: str,
        now: datetime,
    ) -> None:
        values = {
            "address": address,
            "locale": locale,
            "wards": wards,
            "topics": topics,
            "consent_text": consent_text,
            "consent_at": now,
        }
        stmt = insert_for(self.conn, subscriptions).values(
            channel=channel, user_key=user_key, **values
        )
        await self.conn.execute(
            stmt.on_conflict_do_update(index_elements=["channel", "user_key"], set_=values)
        )

    async def subscription(self, channel: str, user_key: str) -> Subscription | None:
        row = (
            await self.conn.execute(
                select(subscriptions).where(
                    subscriptions.c.channel == channel, subscriptions.c.user_key == user_key
                )
            )
        ).first()
        return Subscription.model_validate(row._asdict()) if row else None

    async def unsubscribe(self, channel: str, user_key: str) -> bool:
        """Opt out; pending deliveries to this chat are dropped before the next batch."""
        result = await self.conn.execute(
            delete(subscriptions)
            .where(subscriptions.c.channel == channel, subscriptions.c.user_key == user_key)
            .returning(subscriptions.c.user_key)
        )
        await self.conn.execute(
            delete(campaign_deliveries).where(
                campaign_deliveries.c.channel == channel,
                campaign_deliveries.c.chat_key == user_key,
                campaign_deliveries.c.status == "pending",
            )
        )
        return result.first() is not None

    async def erase(self, channel: str, user_key: str) -> None:
        """ "Delete my data": the subscription, the conversation (with the sealed chat
        address) and the ledger rows go; tips stay, detached from the person."""
        await self.unsubscribe(channel, user_key)
        await self.conn.execute(
            delete(campaign_deliveries).where(
                campaign_deliveries.c.channel == channel,
                campaign_deliveries.c.chat_key == user_key,
            )
        )
        await self.conn.execute(
            delete(conversations).where(
                conversations.c.channel == channel, conversations.c.user_key == user_key
            )
        )
        await self.conn.execute(
            delete(unreachable_chats).where(
                unreachable_chats.c.channel == channel, unreachable_chats.c.chat_key == user_key
            )
        )
        # Tips stay (they are evidence); their follow-up links to this chat go.
        await self.conn.execute(
            delete(followups).where(
                followups.c.channel == channel, followups.c.chat_key == user_key
            )
        )

    async def audience(self, wards: list[int], topics: list[str]) -> list[Subscription]:
        """Reachable subscribers in the audience (matched in Python: a subscription's
        wards and topics are small JSON lists, and this runs once per campaign run)."""
        blocked = select(unreachable_chats.c.chat_key).where(
            unreachable_chats.c.channel == subscriptions.c.channel
        )
        rows = await self.conn.execute(
            select(subscriptions).where(subscriptions.c.user_key.not_in(blocked))
        )
        subs = [Subscription.model_validate(r._asdict()) for r in rows]
        return [s for s in subs if matches(s, wards, topics)]
