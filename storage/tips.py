"""Tips and their attachments. What a tipster wrote (description, place, time, contact
number) is sealed at rest (`storage/vault.py`); no column names or links a tipster."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import vault_of
from storage.dialect import insert_in, once_per_dialect
from storage.models import NewTip, TipCheck, TipSummary
from storage.schema import attachments, tips

# The tip's own words: sealed with the tip's id as associated data.
SEALED = ("description", "address_text", "location_label", "occurred_text", "contact_phone")

# Built once: filing a tip is the heaviest update of intake (issue 15).
_add_tip = once_per_dialect(
    lambda dialect: (
        insert_in(dialect, tips)
        .on_conflict_do_nothing(index_elements=["submission_key"])
        .returning(tips.c.id)
    )
)


def seal_tip_text(conn: AsyncConnection, tip_id: str, values: dict[str, Any]) -> dict[str, Any]:
    vault = vault_of(conn)
    return {
        k: vault.seal_opt(v, f"tips.{k}:{tip_id}") if k in SEALED else v for k, v in values.items()
    }


def open_tip_text(conn: AsyncConnection, values: dict[str, Any]) -> dict[str, Any]:
    vault = vault_of(conn)
    return {
        k: vault.open_opt(v, f"tips.{k}:{values['id']}") if k in SEALED else v
        for k, v in values.items()
    }


class TipRepository:
    """Tip queries bound to one connection (and so to the caller's transaction)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add_tip(self, tip: NewTip) -> bool:
        """Insert a tip once: a replayed submission (same submission_key) changes nothing
        and returns False."""
        values = seal_tip_text(self.conn, tip.id, tip.model_dump(exclude={"attachments"}))
        values.update(status="new", updated_at=tip.created_at)
        inserted = (await self.conn.execute(_add_tip(self.conn), values)).scalar_one_or_none()
        if inserted is None:
            return False
        if not tip.attachments:
            return True
        await self.conn.execute(
            attachments.insert(),
            [
                {
                    **a.model_dump(),
                    "tip_id": tip.id,
                    "position": i,
                    "channel": a.channel or tip.channel,
                }
                for i, a in enumerate(tip.attachments)
            ],
        )
        return True

    async def tip_for_check(self, code: str) -> TipCheck | None:
        result = await self.conn.execute(
            select(
                tips.c.code,
                tips.c.receipt_hash,
                tips.c.status,
                tips.c.created_at,
                tips.c.updated_at,
            ).where(tips.c.code == code)
        )
        row = result.first()
        return TipCheck.model_validate(row._asdict()) if row else None

    async def recent(self, limit: int = 50) -> list[TipSummary]:
        """List recent tips for operators: no description, no contact details."""
        n_files = (
            select(func.count())
            .where(attachments.c.tip_id == tips.c.id)
            .scalar_subquery()
            .label("attachments")
        )
        result = await self.conn.execute(
            select(
                tips.c.code,
                tips.c.category_group,
                tips.c.category,
                tips.c.urgent,
                tips.c.ward_code,
                tips.c.channel,
                tips.c.status,
                tips.c.created_at,
                n_files,
            )
            .order_by(tips.c.created_at.desc())
            .limit(limit)
        )
        return [TipSummary.model_validate(row._asdict()) for row in result]

    async def export(
        self,
        since: datetime,
        until: datetime,
        *,
        categories: list[str] | None = None,
        wards: list[int] | None = None,
        with_contact: bool = False,
    ) -> list[dict[str, Any]]:
        """Tips for a CSV export: no pseudonym, no chat, no text; the contact number only
        when asked for (and only tips whose tipster chose to leave one have it)."""
        columns = [
            tips.c.code,
            tips.c.created_at,
            tips.c.category_group,
            tips.c.category,
            tips.c.urgent,
            tips.c.ward_code,
            tips.c.channel,
            tips.c.status,
            tips.c.claimed_at,
            tips.c.resolved_at,
        ]
        if with_contact:
            columns += [tips.c.id, tips.c.contact_phone]
        query = select(*columns).where(tips.c.created_at >= since, tips.c.created_at < until)
        if categories:
            query = query.where(tips.c.category.in_(categories))
        if wards:
            query = query.where(tips.c.ward_code.in_(wards))
        result = await self.conn.execute(query.order_by(tips.c.created_at))
        rows = [row._asdict() for row in result]
        return [open_tip_text(self.conn, row) for row in rows] if with_contact else rows

    async def count(self) -> int:
        return int((await self.conn.execute(select(func.count()).select_from(tips))).scalar_one())
