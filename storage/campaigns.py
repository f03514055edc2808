"""Campaigns (drafts, schedules, runs) and the delivery ledger.

Ledger states: pending → sending → sent · blocked · failed · ambiguous. A row is put in
`sending` in a committed transaction *before* its send starts; if the process dies
before the outcome is written, the row is found in `sending` at the next start and
becomes `ambiguous` (it may have arrived): never sent twice, never silently skipped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import CAMPAIGNS, note_change
from storage.schema import campaign_deliveries, campaigns, tips
from storage.subscriptions import Subscriptions

TERMINAL = ("sent", "blocked", "failed", "ambiguous", "cancelled")


class Campaign(BaseModel):
    id: int
    created_by: str
    text: str
    photo_channel: str | None
    photo_ref: str | None
    report_button: bool
    paid: bool = False
    wards: list[int]
    topics: list[str]
    status: str
    run_at: datetime | None
    cron: str | None
    runs: int
    created_at: datetime
    started_at: datetime | None


class LedgerRow(BaseModel):
    """One recipient of one run of a campaign."""

    id: int
    campaign_id: int
    run: int
    channel: str
    chat_key: str
    address: bytes
    locale: str
    attempts: int


class Campaigns:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # ---- campaigns ----------------------------------------------------------------
    async def create(
        self,
        *,
        created_by: str,
        text: str,
        photo_channel: str | None,
        photo_ref: str | None,
        report_button: bool,
        now: datetime,
    ) -> int:
        result = await self.conn.execute(
            campaigns.insert()
            .values(
                created_by=created_by,
                text=text,
                photo_channel=photo_channel,
                photo_ref=photo_ref,
                report_button=report_button,
                wards=[],
                topics=[],
                status="draft",
                runs=0,
                created_at=now,
            )
            .returning(campaigns.c.id)
        )
        return int(result.scalar_one())

    async def get(self, campaign_id: int) -> Campaign | None:
        row = (
            await self.conn.execute(select(campaigns).where(campaigns.c.id == campaign_id))
        ).first()
        return Campaign.model_validate(row._asdict()) if row else None

    async def has_photo(self, channel: str, photo_ref: str) -> bool:
        """Is this file a campaign's photo (public awareness material)?"""
        found = await self.conn.execute(
            select(campaigns.c.id)
            .where(campaigns.c.photo_channel == channel, campaigns.c.photo_ref == photo_ref)
            .limit(1)
        )
        return found.first() is not None

    async def set_audience(self, campaign_id: int, wards: list[int], topics: list[str]) -> None:
        await self.conn.execute(
            update(campaigns)
            .where(campaigns.c.id == campaign_id)
            .values(wards=wards, topics=topics)
        )

    async def transition(
        self, campaign_id: int, *, admin_id: str | None, from_: tuple[str, ...], **values: Any
    ) -> bool:
        """Change a campaign's state only from the given states and, when `admin_id` is
        given, only for the admin who composed it (the confirmation is bound to them)."""
        where = [campaigns.c.id == campaign_id, campaigns.c.status.in_(from_)]
        if admin_id is not None:
            where.append(campaigns.c.created_by == admin_id)
        result = await self.conn.execute(
            update(campaigns).where(and_(*where)).values(**values).returning(campaigns.c.id)
        )
        changed = result.first() is not None
        if changed and values.get("status") == "cancelled":
            # Cancelling ends every row still waiting: a terminal state, not a limbo.
            await self.conn.execute(
                update(campaign_deliveries)
                .where(
                    campaign_deliveries.c.campaign_id == campaign_id,
                    campaign_deliveries.c.status == "pending",
                )
                .values(status="cancelled")
            )
        return changed

    async def scheduled(self) -> list[Campaign]:
        rows = await self.conn.execute(
            select(campaigns).where(campaigns.c.status == "scheduled").order_by(campaigns.c.id)
        )
        return [Campaign.model_validate(r._asdict()) for r in rows]

    async def recent(self, limit: int = 20) -> list[Campaign]:
        rows = await self.conn.execute(
            select(campaigns).order_by(campaigns.c.id.desc()).limit(limit)
        )
        return [Campaign.model_validate(r._asdict()) for r in rows]

    async def start_run(self, campaign_id: int, now: datetime, *, keep_status: bool = False) -> int:
        """Create the ledger for the campaign's next run (one row per recipient) and mark
        it running; returns the number of recipients targeted."""
        campaign = await self.get(campaign_id)
        if campaign is None:
            return 0
        run = campaign.runs + 1
        audience = await Subscriptions(self.conn).audience(campaign.wards, campaign.topics)
        if audience:
            await self.conn.execute(
                campaign_deliveries.insert(),
                [
                    {
                        "campaign_id": campaign_id,
                        "run": run,
                        "channel": s.channel,
                        "chat_key": s.user_key,
                        "address": s.address,
                        "locale": s.locale,
                        "status": "pending",
                        "next_at": now,
                        "attempts": 0,
                        "updated_at": now,
                    }
                    for s in audience
                ],
            )
        note_change(self.conn, CAMPAIGNS)
        values: dict[str, Any] = {"runs": run, "started_at": now}
        if not keep_status:
            values["status"] = "running"
        await self.conn.execute(
            update(campaigns).where(campaigns.c.id == campaign_id).values(**values)
        )
        return len(audience)

    # ---- the ledger ---------------------------------------------------------------
    async def recover(self, now: datetime, *, before: datetime | None = None) -> int:
        """Rows left `sending` by a dead process may have arrived → ambiguous: all of
        them at the start of the only process (SQLite), or, among replicas, those whose
        claim is older than `before` (a live replica records its outcomes long before)."""
        where = [campaign_deliveries.c.status == "sending"]
        if before is not None:
            where.append(campaign_deliveries.c.updated_at < before)
        result = await self.conn.execute(
            update(campaign_deliveries)
            .where(*where)
            .values(status="ambiguous", error="interrupted", updated_at=now)
        )
        return int(result.rowcount or 0)

    async def has_due(self, now: datetime) -> bool:
        """Is any row of a running campaign due? (A read: cheaper than a claim.)"""
        running = select(campaigns.c.id).where(campaigns.c.status == "running")
        found = await self.conn.execute(
            select(campaign_deliveries.c.id)
            .where(
                campaign_deliveries.c.status == "pending",
                campaign_deliveries.c.next_at <= now,
                campaign_deliveries.c.campaign_id.in_(running),
            )
            .limit(1)
        )
        return found.first() is not None

    async def claim(self, now: datetime, limit: int) -> list[LedgerRow]:
        """Mark up to `limit` due rows of running campaigns `sending` (the caller commits
        before sending)."""
        running = select(campaigns.c.id).where(campaigns.c.status == "running")
        ids = list(
            (
                await self.conn.execute(
                    select(campaign_deliveries.c.id)
                    .where(
                        campaign_deliveries.c.status == "pending",
                        campaign_deliveries.c.next_at <= now,
                        campaign_deliveries.c.campaign_id.in_(running),
                    )
                    .order_by(campaign_deliveries.c.next_at, campaign_deliveries.c.id)
                    .limit(limit)
                    # Replicas claim side by side: rows another one is claiming are
                    # skipped, not waited for (SQLite: ignored, one writer anyway).
                    .with_for_update(skip_locked=True, of=campaign_deliveries)
                )
            ).scalars()
        )
        if not ids:
            return []
        await self.conn.execute(
            update(campaign_deliveries)
            .where(campaign_deliveries.c.id.in_(ids))
            .values(status="sending", updated_at=now, attempts=campaign_deliveries.c.attempts + 1)
        )
        rows = await self.conn.execute(
            select(
                campaign_deliveries.c.id,
                campaign_deliveries.c.campaign_id,
                campaign_deliveries.c.run,
                campaign_deliveries.c.channel,
                campaign_deliveries.c.chat_key,
                campaign_deliveries.c.address,
                campaign_deliveries.c.locale,
                campaign_deliveries.c.attempts,
            )
            .where(campaign_deliveries.c.id.in_(ids))
            .order_by(campaign_deliveries.c.id)
        )
        return [LedgerRow.model_validate(r._asdict()) for r in rows]

    async def record(
        self, outcomes: list[tuple[int, str, str | None, datetime | None]], now: datetime
    ) -> None:
        """(row id, status, error, retry at): a terminal state, or back to pending. Rows
        with the same outcome (most of a batch: sent) are written by one statement."""
        alike: dict[tuple[str, str | None, datetime | None], list[int]] = {}
        for row_id, status, error, retry_at in outcomes:
            alike.setdefault((status, error, retry_at), []).append(row_id)
        for (status, error, retry_at), ids in alike.items():
            values: dict[str, Any] = {"status": status, "error": error, "updated_at": now}
            if retry_at is not None:
                values["next_at"] = retry_at
            await self.conn.execute(
                update(campaign_deliveries)
                .where(campaign_deliveries.c.id.in_(ids), campaign_deliveries.c.status == "sending")
                .values(**values)
            )

    async def finish_done(self, now: datetime) -> list[int]:
        """Running campaigns with no pending or sending rows left are done (recurring
        ones go back to scheduled)."""
        live = select(campaign_deliveries.c.campaign_id).where(
            campaign_deliveries.c.status.in_(("pending", "sending"))
        )
        finished = list(
            (
                await self.conn.execute(
                    select(campaigns.c.id).where(
                        campaigns.c.status == "running", campaigns.c.id.not_in(live)
                    )
                )
            ).scalars()
        )
        done = []
        for campaign_id in finished:
            campaign = await self.get(campaign_id)
            status = "scheduled" if campaign and campaign.cron else "done"
            # Checked again in the update itself: on PostgreSQL a new run may have
            # started in between (another replica's scheduler).
            changed = await self.conn.execute(
                update(campaigns)
                .where(
                    campaigns.c.id == campaign_id,
                    campaigns.c.status == "running",
                    campaigns.c.id.not_in(live),
                )
                .values(status=status)
                .returning(campaigns.c.id)
            )
            if changed.first() is not None:
                done.append(campaign_id)
        return done

    async def progress(self, campaign_id: int, run: int | None = None) -> dict[str, int]:
        where = [campaign_deliveries.c.campaign_id == campaign_id]
        if run is not None:
            where.append(campaign_deliveries.c.run == run)
        rows = await self.conn.execute(
            select(campaign_deliveries.c.status, func.count())
            .where(*where)
            .group_by(campaign_deliveries.c.status)
        )
        counts = {status: 0 for status in ("pending", "sending", *TERMINAL)}
        counts.update({status: int(n) for status, n in rows})
        counts["targeted"] = sum(counts[s] for s in ("pending", "sending", *TERMINAL))
        return counts

    async def tips_count(
        self, wards: list[int], categories: list[str], since: datetime, until: datetime
    ) -> int:
        """Tips received in [since, until) in these wards and categories (empty = all)."""
        where = [tips.c.created_at >= since, tips.c.created_at < until]
        if wards:
            where.append(tips.c.ward_code.in_(wards))
        if categories:
            where.append(tips.c.category.in_(categories))
        result = await self.conn.execute(select(func.count()).select_from(tips).where(*where))
        return int(result.scalar_one())

    async def sent_between(self, campaign_id: int) -> tuple[datetime | None, datetime | None]:
        row = (
            await self.conn.execute(
                select(
                    func.min(campaign_deliveries.c.updated_at),
                    func.max(campaign_deliveries.c.updated_at),
                ).where(
                    campaign_deliveries.c.campaign_id == campaign_id,
                    campaign_deliveries.c.status == "sent",
                )
            )
        ).one()
        return row[0], row[1]
