"""The tip desk: every staff read and change of a tip, each authorised inside its query
(`access.visible`), and the tip's thread. A tip outside the actor's units is answered
exactly like a code that does not exist.

Over 400 lines on purpose: this is the one door through which staff reach a tip, so a
reviewer checks that every query here carries `visible(...)` by reading one file."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.access import CLOSED, OPEN, STATUSES, handles, visible
from storage.db import ALERTS, note_change, vault_of
from storage.models import (
    AttachmentRef,
    DeskFilter,
    DeskLine,
    StaffFile,
    ThreadEntry,
    TipLine,
    TipRef,
    TipView,
)
from storage.schema import alert_queue, attachments, staff, tip_events, tip_routes, tips
from storage.tips import open_tip_text
from storage.units import Units

LINE = (
    tips.c.id,
    tips.c.code,
    tips.c.category,
    tips.c.urgent,
    tips.c.ward_code,
    tips.c.status,
    tips.c.created_at,
)

# What an officer's card shows (contact details are added per query, on conditions).
_VIEW = tuple(
    getattr(tips.c, name)
    for name in (
        "id", "code", "category_group", "category", "urgent", "ward_code", "address_text",
        "latitude", "longitude", "location_label", "occurred", "occurred_text",
        "description", "channel", "status", "created_at", "claimed_by",
    )
)  # fmt: skip

_REF = (
    tips.c.id,
    tips.c.code,
    tips.c.status,
    tips.c.channel,
    tips.c.locale,
    tips.c.claimed_by,
)


async def tip_ref(conn: AsyncConnection, where: ColumnElement[bool]) -> TipRef | None:
    """Enough about one tip to act on it (the caller's `where` authorises)."""
    row = (await conn.execute(select(*_REF).where(where))).first()
    return TipRef.model_validate(row._asdict()) if row else None


class TipDesk:
    """Staff tip queries bound to one connection (the caller's transaction)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # ---- reading -----------------------------------------------------------------
    async def tip_view(self, staff_id: str, code: str) -> TipView | None:
        row = (
            await self.conn.execute(
                select(
                    *_VIEW,
                    (tips.c.claimed_by == staff_id).label("claimed_by_me"),
                    # Contact details only for the handling unit, decided in the same query.
                    case((handles(staff_id), tips.c.contact_phone), else_=None).label(
                        "contact_phone"
                    ),
                ).where(tips.c.code == code, visible(staff_id))
            )
        ).first()
        if row is None:
            return None
        values = row._asdict()
        values["claimed_by_me"] = bool(values["claimed_by_me"])
        return await self._complete(values)

    async def alert_view(self, tip_id: str, *, with_contact: bool) -> TipView | None:
        """The card a unit's alert shows (a system view, for the alerter). Contact details
        only when the destination is the unit handling the tip (never for escalations or
        the city-level triage)."""
        row = (
            await self.conn.execute(select(*_VIEW, tips.c.contact_phone).where(tips.c.id == tip_id))
        ).first()
        if row is None:
            return None
        values = row._asdict()
        if not with_contact:
            values["contact_phone"] = None
        return await self._complete(values)

    async def _complete(self, values: dict[str, Any]) -> TipView:
        values = open_tip_text(self.conn, values)
        values["units"] = await Units(self.conn).unit_names(values["id"])
        values["attachments"] = await self.attachments(values["id"])
        return TipView.model_validate(values)

    async def attachments(self, tip_id: str) -> list[AttachmentRef]:
        files = await self.conn.execute(
            select(
                attachments.c.kind,
                attachments.c.channel,
                attachments.c.file_ref,
                attachments.c.too_large,
            )
            .where(attachments.c.tip_id == tip_id)
            .order_by(attachments.c.position)
        )
        return [AttachmentRef.model_validate(f._asdict()) for f in files]

    async def visible_file(self, staff_id: str, channel: str, file_ref: str) -> StaffFile | None:
        """An attachment of a tip this staff member may see (authorised in the query,
        like every tip read): what the web chat needs to hand the file to an officer."""
        row = (
            await self.conn.execute(
                select(tips.c.code, attachments.c.kind, attachments.c.mime_type)
                .join(tips, tips.c.id == attachments.c.tip_id)
                .where(
                    attachments.c.channel == channel,
                    attachments.c.file_ref == file_ref,
                    visible(staff_id),
                )
                .limit(1)
            )
        ).first()
        return StaffFile.model_validate(row._asdict()) if row else None

    async def evidence(self, code: str) -> list[AttachmentRef] | None:
        """A tip's attachments for the host operator's case file (`tipbot evidence`);
        None if there is no such tip. Not for chat use: no staff check here."""
        tip_id = (await self.conn.execute(select(tips.c.id).where(tips.c.code == code))).scalar()
        return None if tip_id is None else await self.attachments(tip_id)

    async def search(
        self,
        staff_id: str,
        *,
        open_only: bool = False,
        claimed_by_me: bool = False,
        code: str | None = None,
        wards: list[int] | None = None,
        categories: list[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 20,
    ) -> list[TipLine]:
        where: list[ColumnElement[bool]] = [visible(staff_id)]
        if open_only:
            where.append(tips.c.status.in_(OPEN))
        if claimed_by_me:
            where.append(tips.c.claimed_by == staff_id)
        if code:
            where.append(tips.c.code == code)
        if wards:
            where.append(tips.c.ward_code.in_(wards))
        if categories:
            where.append(tips.c.category.in_(categories))
        if since:
            where.append(tips.c.created_at >= since)
        if until:
            where.append(tips.c.created_at < until)
        rows = await self.conn.execute(
            select(*LINE)
            .where(and_(*where))
            .order_by(tips.c.urgent.desc(), tips.c.created_at.desc())
            .limit(limit)
        )
        return [TipLine.model_validate(r._asdict()) for r in rows]

    # ---- the desk's inbox ------------------------------------------------------------
    def _desk_where(self, staff_id: str, f: DeskFilter, now: datetime) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = [visible(staff_id)]
        if f.statuses:
            where.append(tips.c.status.in_(f.statuses))
        if f.group:
            where.append(tips.c.category_group == f.group)
        if f.category:
            where.append(tips.c.category == f.category)
        if f.wards:
            where.append(tips.c.ward_code.in_(f.wards))
        if f.unit_id is not None:
            where.append(
                exists().where(tip_routes.c.tip_id == tips.c.id, tip_routes.c.unit_id == f.unit_id)
            )
        if f.urgent:
            where.append(tips.c.urgent.is_(True))
        if f.unclaimed:
            where.append(and_(tips.c.claimed_by.is_(None), tips.c.status.in_(OPEN)))
        if f.overdue:
            unclaimed = and_(tips.c.claimed_by.is_(None), tips.c.status.in_(OPEN))
            where.append(and_(tips.c.claim_due_at < now, unclaimed))
        if f.since is not None:
            where.append(tips.c.created_at >= f.since)
        return where

    async def desk_lines(
        self,
        staff_id: str,
        f: DeskFilter,
        now: datetime,
        *,
        limit: int,
        offset: int = 0,
        matches: Callable[[str], bool] | None = None,
        scan: int = 2000,
    ) -> tuple[list[DeskLine], int]:
        """One page of the inbox and how many tips match in all: open first, then
        urgent, then newest. `matches` searches the tips' words, which are sealed in the
        database: the newest `scan` tips that pass the filter are opened here and the
        predicate (the caller's: storage knows no language) picks among them."""
        where = self._desk_where(staff_id, f, now)
        files = (
            select(func.count())
            .where(attachments.c.tip_id == tips.c.id)
            .correlate(tips)
            .scalar_subquery()
        )
        answered = exists().where(
            tip_events.c.tip_id == tips.c.id, tip_events.c.kind.in_(("answer", "amendment"))
        )
        claimer = staff.alias("claimer")
        columns = (
            tips.c.id, tips.c.code, tips.c.category_group, tips.c.category, tips.c.urgent,
            tips.c.ward_code, tips.c.status, tips.c.created_at,
            claimer.c.username.label("claimed_by_name"), tips.c.claim_due_at,
            files.label("files"), answered.label("answered"),
        )  # fmt: skip
        query = (
            select(*columns)
            .select_from(tips.outerjoin(claimer, claimer.c.id == tips.c.claimed_by))
            .where(and_(*where))
            .order_by(
                case((tips.c.status.in_(OPEN), 0), else_=1),
                tips.c.urgent.desc(),
                tips.c.created_at.desc(),
            )
        )
        if matches is not None:
            vault = vault_of(self.conn)
            candidates = await self.conn.execute(
                query.add_columns(tips.c.description, tips.c.address_text).limit(scan)
            )
            found = []
            for r in candidates:
                words = " ".join(
                    vault.open_opt(getattr(r, k), f"tips.{k}:{r.id}") or ""
                    for k in ("description", "address_text")
                )
                if matches(f"{r.code} {words}"):
                    found.append(DeskLine.model_validate(r._asdict()))
            return found[offset : offset + limit], len(found)
        total = (
            await self.conn.execute(select(func.count()).select_from(tips).where(and_(*where)))
        ).scalar_one()
        rows = await self.conn.execute(query.limit(limit).offset(offset))
        return [DeskLine.model_validate(r._asdict()) for r in rows], int(total)

    async def version(self, staff_id: str) -> str:
        """Changes whenever a tip this account sees is added, changed or gets an event:
        what the desk's live view waits on (cheap: a few aggregates)."""
        tips_now = (
            await self.conn.execute(
                select(func.count(), func.max(tips.c.updated_at)).where(visible(staff_id))
            )
        ).one()
        last_event = (
            await self.conn.execute(
                select(func.max(tip_events.c.id))
                .join(tips, tips.c.id == tip_events.c.tip_id)
                .where(visible(staff_id))
            )
        ).scalar()
        changed = tips_now[1].isoformat() if tips_now[1] else "-"
        return f"{tips_now[0]}.{changed}.{last_event or 0}"

    async def waiting(self, staff_id: str) -> int:
        """Open tips this account sees that no one has claimed (the count in the title)."""
        return int(
            (
                await self.conn.execute(
                    select(func.count()).where(
                        visible(staff_id), tips.c.status.in_(OPEN), tips.c.claimed_by.is_(None)
                    )
                )
            ).scalar_one()
        )

    async def similar(self, staff_id: str, tip_id: str, window: timedelta) -> list[TipLine]:
        """Other tips this account sees from the same ward and category group within
        `window` either side of this one (candidates to link as duplicates)."""
        this = (
            await self.conn.execute(
                select(tips.c.ward_code, tips.c.category_group, tips.c.created_at).where(
                    tips.c.id == tip_id
                )
            )
        ).first()
        if this is None or this.ward_code is None:
            return []
        rows = await self.conn.execute(
            select(*LINE)
            .where(
                visible(staff_id),
                tips.c.id != tip_id,
                tips.c.ward_code == this.ward_code,
                tips.c.category_group == this.category_group,
                tips.c.created_at >= this.created_at - window,
                tips.c.created_at <= this.created_at + window,
            )
            .order_by(tips.c.created_at.desc())
            .limit(10)
        )
        return [TipLine.model_validate(r._asdict()) for r in rows]

    async def photos_around(
        self, staff_id: str, tip_id: str, window: timedelta, limit: int = 200
    ) -> list[tuple[str, str]]:
        """(tip code, file ref) of the pictures we hold (web uploads, Zalo's) of the
        other tips this account sees within `window` of this one, newest first: what
        the desk compares by perceptual hash."""
        created = (
            await self.conn.execute(select(tips.c.created_at).where(tips.c.id == tip_id))
        ).scalar()
        if created is None:
            return []
        rows = await self.conn.execute(
            select(tips.c.code, attachments.c.file_ref)
            .join(attachments, attachments.c.tip_id == tips.c.id)
            .where(
                visible(staff_id),
                tips.c.id != tip_id,
                attachments.c.kind == "photo",
                attachments.c.channel == "web",
                tips.c.created_at >= created - window,
                tips.c.created_at <= created + window,
            )
            .order_by(tips.c.created_at.desc())
            .limit(limit)
        )
        return [(r.code, r.file_ref) for r in rows]

    async def lines_by_id(self, tip_ids: list[str]) -> list[TipLine]:
        """Tips as list lines, for a batched alert (a system view)."""
        rows = await self.conn.execute(
            select(*LINE).where(tips.c.id.in_(tip_ids)).order_by(tips.c.created_at)
        )
        return [TipLine.model_validate(r._asdict()) for r in rows]

    async def tip_ref(self, staff_id: str, code: str) -> TipRef | None:
        return await tip_ref(self.conn, and_(tips.c.code == code, visible(staff_id)))

    # ---- acting ------------------------------------------------------------------
    async def claim(self, staff_id: str, code: str, now: datetime) -> TipRef | None:
        """Claim an open, unclaimed tip (None if not visible, closed or taken)."""
        row = (
            await self.conn.execute(
                update(tips)
                .where(
                    tips.c.code == code,
                    tips.c.claimed_by.is_(None),
                    tips.c.status.in_(OPEN),
                    visible(staff_id),
                )
                .values(
                    claimed_by=staff_id,
                    claimed_at=now,
                    claim_due_at=None,
                    status=case((tips.c.status == "new", "verifying"), else_=tips.c.status),
                    updated_at=now,
                )
                .returning(tips.c.id)
            )
        ).first()
        if row is None:
            return None
        return await tip_ref(self.conn, tips.c.id == row.id)

    async def unclaim(
        self, staff_id: str, code: str, now: datetime, claim_within: timedelta
    ) -> TipRef | None:
        """Give back a tip this officer claimed and that is still open: it is unclaimed
        again, with a fresh claim deadline (so escalation looks after it)."""
        row = (
            await self.conn.execute(
                update(tips)
                .where(
                    tips.c.code == code,
                    tips.c.claimed_by == staff_id,
                    tips.c.status.in_(OPEN),
                    visible(staff_id),
                )
                .values(
                    claimed_by=None,
                    claimed_at=None,
                    claim_due_at=now + claim_within,
                    escalation_level=0,
                    updated_at=now,
                )
                .returning(tips.c.id)
            )
        ).first()
        return await tip_ref(self.conn, tips.c.id == row.id) if row else None

    async def set_status(
        self, staff_id: str, code: str, status: str, now: datetime
    ) -> TipRef | None:
        if status not in STATUSES:
            raise ValueError(status)
        values: dict[str, Any] = {"status": status, "updated_at": now}
        if status in CLOSED:
            values.update(resolved_at=now, claim_due_at=None)
        else:
            values["resolved_at"] = None
        row = (
            await self.conn.execute(
                update(tips)
                .where(tips.c.code == code, tips.c.status != status, visible(staff_id))
                .values(**values)
                .returning(tips.c.id)
            )
        ).first()
        if row is None:
            return None
        # Whoever first moves a tip on has, in effect, claimed it.
        await self.conn.execute(
            update(tips)
            .where(tips.c.id == row.id, tips.c.claimed_by.is_(None))
            .values(claimed_by=staff_id, claimed_at=now)
        )
        return await tip_ref(self.conn, tips.c.id == row.id)

    async def transfer(
        self,
        staff_id: str,
        code: str,
        unit_id: int,
        now: datetime,
        claim_within: timedelta,
    ) -> TipRef | None:
        """Hand a visible tip to another unit: it loses its claim and is alerted afresh."""
        ref = await self.tip_ref(staff_id, code)
        if ref is None or not await Units(self.conn).unit_exists(unit_id):
            return None
        await self.conn.execute(delete(tip_routes).where(tip_routes.c.tip_id == ref.id))
        await self.conn.execute(
            tip_routes.insert().values(tip_id=ref.id, unit_id=unit_id, routed_at=now)
        )
        await self.conn.execute(
            update(tips)
            .where(tips.c.id == ref.id)
            .values(
                claimed_by=None,
                claimed_at=None,
                escalation_level=0,
                claim_due_at=now + claim_within,
                updated_at=now,
            )
        )
        note_change(self.conn, ALERTS)
        await self.conn.execute(
            alert_queue.insert().values(tip_id=ref.id, unit_id=unit_id, kind="new", created_at=now)
        )
        return ref

    # ---- the thread --------------------------------------------------------------
    async def add_event(
        self,
        tip_id: str,
        kind: str,
        now: datetime,
        *,
        staff_id: str | None = None,
        detail: str | None = None,
        body: str | None = None,
    ) -> None:
        # Questions, answers and notes are sealed like the tip's own text.
        sealed = vault_of(self.conn).seal_opt(body, f"tip_events.body:{tip_id}")
        await self.conn.execute(
            tip_events.insert().values(
                tip_id=tip_id, at=now, kind=kind, staff_id=staff_id, detail=detail, body=sealed
            )
        )

    async def thread(self, tip_id: str, limit: int = 30) -> list[ThreadEntry]:
        rows = await self.conn.execute(
            select(
                tip_events.c.at,
                tip_events.c.kind,
                tip_events.c.detail,
                tip_events.c.body,
                staff.c.username.label("who"),
            )
            .select_from(tip_events.outerjoin(staff, staff.c.id == tip_events.c.staff_id))
            .where(tip_events.c.tip_id == tip_id)
            .order_by(tip_events.c.id.desc())
            .limit(limit)
        )
        vault = vault_of(self.conn)
        entries = [
            ThreadEntry.model_validate(
                {**r._asdict(), "body": vault.open_opt(r.body, f"tip_events.body:{tip_id}")}
            )
            for r in rows
        ]
        return list(reversed(entries))
