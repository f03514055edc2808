"""Officer workflow queries: units, staff chat links, routing, tip actions, audit.

Authorisation lives inside the queries. Every read or change of a tip on behalf of a
staff member carries `_visible(staff_id)` in its WHERE clause, which re-reads the
account's state and unit memberships in the same statement: a tip outside that set is
indistinguishable from one that does not exist, and a deactivated or moved officer
loses access on the next action, with no cache in between.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    delete,
    exists,
    func,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import (
    Actor,
    AttachmentRef,
    DigestRow,
    DueTip,
    PendingAlert,
    Recipient,
    StaffFile,
    ThreadEntry,
    TipLine,
    TipRef,
    TipView,
    Unit,
)
from storage.schema import (
    alert_queue,
    alert_sends,
    attachments,
    audit_log,
    conversations,
    digest_runs,
    invites,
    pending_groups,
    staff,
    staff_links,
    tip_events,
    tip_routes,
    tips,
    unit_categories,
    unit_members,
    unit_wards,
    units,
)

OPEN = ("new", "verifying", "in_progress")
STATUSES = ("verifying", "in_progress", "resolved", "unfounded", "spam")
CLOSED = ("resolved", "unfounded", "spam")


def hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


# ---- authorisation -----------------------------------------------------------------
def _visible_units(staff_id: str) -> Any:
    """Ids of the units whose tips a staff member may see: the units they belong to,
    plus, for supervisors, every unit below theirs. Active accounts only."""
    active = exists().where(staff.c.id == staff_id, staff.c.active.is_(True))
    anchor = (
        select(unit_members.c.unit_id.label("id"))
        .where(unit_members.c.staff_id == staff_id, unit_members.c.role == "supervisor", active)
        .cte("supervised", recursive=True)
    )
    below = units.alias("below")
    above = anchor.alias("above")
    tree = anchor.union_all(select(below.c.id).where(below.c.parent_id == above.c.id))
    direct = select(unit_members.c.unit_id.label("id")).where(
        unit_members.c.staff_id == staff_id, active
    )
    return union(select(tree.c.id), direct).subquery("visible_units")


def _visible(staff_id: str) -> ColumnElement[bool]:
    """True for the tips a staff member may read and act on (members of a city-level
    unit see every tip)."""
    visible = _visible_units(staff_id)
    city = (
        exists()
        .where(
            unit_members.c.staff_id == staff_id,
            unit_members.c.unit_id == units.c.id,
            units.c.city_level.is_(True),
            staff.c.id == unit_members.c.staff_id,
            staff.c.active.is_(True),
        )
        .correlate(None)
    )
    routed = exists().where(
        tip_routes.c.tip_id == tips.c.id, tip_routes.c.unit_id.in_(select(visible.c.id))
    )
    return or_(city, routed)


def _handles(staff_id: str) -> ColumnElement[bool]:
    """True when the staff member belongs to a unit the tip is routed to (the only
    people who may see contact details a tipster chose to leave)."""
    return exists().where(
        tip_routes.c.tip_id == tips.c.id,
        tip_routes.c.unit_id == unit_members.c.unit_id,
        unit_members.c.staff_id == staff_id,
    )


_LINE = (
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


class Office:
    """Officer-workflow queries bound to one connection (the caller's transaction)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # ---- staff identities --------------------------------------------------------------
    async def actor(self, channel: str, user_key: str) -> Actor | None:
        row = (
            await self.conn.execute(
                select(staff.c.id, staff.c.username, staff.c.role)
                .join(staff_links, staff_links.c.staff_id == staff.c.id)
                .where(
                    staff_links.c.channel == channel,
                    staff_links.c.user_key == user_key,
                    staff.c.active.is_(True),
                )
            )
        ).first()
        return Actor.model_validate(row._asdict()) if row else None

    async def create_invite(
        self,
        *,
        role: str,
        unit_id: int | None,
        name: str | None,
        staff_id: str | None,
        created_by: str | None,
        now: datetime,
        ttl: timedelta,
    ) -> str:
        """Return a new one-time invite code (only its hash is stored)."""
        code = "-".join(secrets.token_hex(3).upper() for _ in range(3))
        await self.conn.execute(
            invites.insert().values(
                code_hash=hash_code(code),
                role=role,
                unit_id=unit_id,
                name=name,
                staff_id=staff_id,
                created_by=created_by,
                created_at=now,
                expires_at=now + ttl,
            )
        )
        return code

    async def redeem_invite(
        self,
        code: str,
        *,
        channel: str,
        user_key: str,
        address: bytes,
        locale: str | None,
        now: datetime,
    ) -> Actor | None:
        """Use an invite once: create (or take) the account, join the unit, link this chat."""
        used = (
            await self.conn.execute(
                update(invites)
                .where(
                    invites.c.code_hash == hash_code(code),
                    invites.c.used_at.is_(None),
                    invites.c.expires_at > now,
                )
                .values(used_at=now)
                .returning(invites.c.role, invites.c.unit_id, invites.c.name, invites.c.staff_id)
            )
        ).first()
        if used is None:
            return None
        staff_id = used.staff_id
        if staff_id is None:
            staff_id = secrets.token_hex(16)
            base = (used.name or used.role)[:40]
            await self.conn.execute(
                staff.insert().values(
                    id=staff_id,
                    username=f"{base}-{secrets.token_hex(2)}",
                    password_hash="!",  # noqa: S106 - chat-only account: no password sign-in
                    role="admin" if used.role == "admin" else "officer",
                    active=True,
                    created_at=now,
                )
            )
        elif used.role == "admin":
            await self.conn.execute(
                update(staff).where(staff.c.id == staff_id).values(role="admin")
            )
        if used.unit_id is not None:
            await self.conn.execute(
                delete(unit_members).where(
                    unit_members.c.unit_id == used.unit_id, unit_members.c.staff_id == staff_id
                )
            )
            await self.conn.execute(
                unit_members.insert().values(
                    unit_id=used.unit_id,
                    staff_id=staff_id,
                    role="supervisor" if used.role == "supervisor" else "officer",
                )
            )
        await self.conn.execute(
            delete(staff_links).where(
                staff_links.c.channel == channel, staff_links.c.user_key == user_key
            )
        )
        await self.conn.execute(
            staff_links.insert().values(
                channel=channel,
                user_key=user_key,
                staff_id=staff_id,
                address=address,
                locale=locale,
                linked_at=now,
            )
        )
        return await self.actor(channel, user_key)

    async def staff_id(self, username: str) -> str | None:
        result = await self.conn.execute(select(staff.c.id).where(staff.c.username == username))
        found: str | None = result.scalar_one_or_none()
        return found

    async def staff_list(self) -> list[tuple[str, str, bool, list[str]]]:
        """(username, role, active, ["unit:role", …]) for every account."""
        rows = (
            await self.conn.execute(
                select(staff.c.id, staff.c.username, staff.c.role, staff.c.active).order_by(
                    staff.c.username
                )
            )
        ).all()
        members = (
            await self.conn.execute(
                select(unit_members.c.staff_id, unit_members.c.unit_id, unit_members.c.role)
            )
        ).all()
        by_staff: dict[str, list[str]] = {}
        for m in members:
            by_staff.setdefault(m.staff_id, []).append(f"{m.unit_id}:{m.role}")
        return [(r.username, r.role, r.active, by_staff.get(r.id, [])) for r in rows]

    async def deactivate_staff(self, username: str) -> bool:
        result = await self.conn.execute(
            update(staff)
            .where(staff.c.username == username)
            .values(active=False)
            .returning(staff.c.id)
        )
        return result.scalar_one_or_none() is not None

    # ---- units -------------------------------------------------------------------------
    async def add_unit(
        self,
        name: str,
        *,
        parent_id: int | None,
        city_level: bool,
        wards: list[int],
        categories: list[str],
        now: datetime,
    ) -> int:
        unit_id = (
            await self.conn.execute(
                units.insert()
                .values(name=name, parent_id=parent_id, city_level=city_level, created_at=now)
                .returning(units.c.id)
            )
        ).scalar_one()
        await self.set_unit_scope(unit_id, wards=wards, categories=categories)
        return int(unit_id)

    async def set_unit_scope(
        self,
        unit_id: int,
        *,
        wards: list[int] | None = None,
        categories: list[str] | None = None,
    ) -> None:
        if wards is not None:
            await self.conn.execute(delete(unit_wards).where(unit_wards.c.unit_id == unit_id))
            if wards:
                await self.conn.execute(
                    unit_wards.insert(), [{"unit_id": unit_id, "ward_code": w} for w in set(wards)]
                )
        if categories is not None:
            await self.conn.execute(
                delete(unit_categories).where(unit_categories.c.unit_id == unit_id)
            )
            if categories:
                await self.conn.execute(
                    unit_categories.insert(),
                    [{"unit_id": unit_id, "category": c} for c in set(categories)],
                )

    async def list_units(self) -> list[Unit]:
        rows = await self.conn.execute(
            select(
                units.c.id,
                units.c.name,
                units.c.parent_id,
                units.c.city_level,
                units.c.group_address.is_not(None).label("has_group"),
            ).order_by(units.c.id)
        )
        return [Unit.model_validate(r._asdict()) for r in rows]

    async def unit_exists(self, unit_id: int) -> bool:
        row = (await self.conn.execute(select(units.c.id).where(units.c.id == unit_id))).first()
        return row is not None

    async def add_pending_group(
        self, channel: str, chat_key: str, address: bytes, added_by: str, now: datetime
    ) -> str:
        group_id = secrets.token_hex(4)
        await self.conn.execute(
            pending_groups.insert().values(
                id=group_id,
                channel=channel,
                chat_key=chat_key,
                address=address,
                added_by=added_by,
                created_at=now,
            )
        )
        return group_id

    async def bind_group(self, group_id: str, unit_id: int, admin_id: str) -> bool:
        """Make a pending group the unit's alert destination (only the admin who added it)."""
        row = (
            await self.conn.execute(
                delete(pending_groups)
                .where(pending_groups.c.id == group_id, pending_groups.c.added_by == admin_id)
                .returning(
                    pending_groups.c.channel, pending_groups.c.chat_key, pending_groups.c.address
                )
            )
        ).first()
        if row is None:
            return False
        result = await self.conn.execute(
            update(units)
            .where(units.c.id == unit_id)
            .values(group_channel=row.channel, group_key=row.chat_key, group_address=row.address)
            .returning(units.c.id)
        )
        return result.scalar_one_or_none() is not None

    # ---- routing -----------------------------------------------------------------------
    async def route_tip(
        self,
        tip_id: str,
        *,
        ward_code: int | None,
        category: str,
        urgent: bool,
        now: datetime,
        claim_within: timedelta,
    ) -> list[int]:
        """Route a new tip to the units covering its ward and category; a tip with no ward,
        or a ward no unit covers, goes to the city-level unit(s) for triage. Queues one
        alert per unit and sets the claim deadline that drives escalation."""
        takes_category = or_(
            ~exists().where(unit_categories.c.unit_id == units.c.id),
            exists().where(
                unit_categories.c.unit_id == units.c.id, unit_categories.c.category == category
            ),
        )
        unit_ids: list[int] = []
        if ward_code is not None:
            unit_ids = list(
                (
                    await self.conn.execute(
                        select(units.c.id)
                        .join(unit_wards, unit_wards.c.unit_id == units.c.id)
                        .where(unit_wards.c.ward_code == ward_code, takes_category)
                    )
                )
                .scalars()
                .all()
            )
        if not unit_ids:
            unit_ids = list(
                (await self.conn.execute(select(units.c.id).where(units.c.city_level.is_(True))))
                .scalars()
                .all()
            )
        if unit_ids:
            await self.conn.execute(
                tip_routes.insert(),
                [{"tip_id": tip_id, "unit_id": u, "routed_at": now} for u in unit_ids],
            )
            await self.conn.execute(
                alert_queue.insert(),
                [
                    {"tip_id": tip_id, "unit_id": u, "kind": "new", "created_at": now}
                    for u in unit_ids
                ],
            )
        await self.conn.execute(
            update(tips).where(tips.c.id == tip_id).values(claim_due_at=now + claim_within)
        )
        return unit_ids

    # ---- reading tips ------------------------------------------------------------------

    async def _attachments(self, tip_id: str) -> list[AttachmentRef]:
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
                    _visible(staff_id),
                )
                .limit(1)
            )
        ).first()
        return StaffFile.model_validate(row._asdict()) if row else None

    async def tip_view(self, staff_id: str, code: str) -> TipView | None:
        row = (
            await self.conn.execute(
                select(
                    *_VIEW,
                    (tips.c.claimed_by == staff_id).label("claimed_by_me"),
                    # Contact details only for the handling unit, decided in the same query.
                    case((_handles(staff_id), tips.c.contact_phone), else_=None).label(
                        "contact_phone"
                    ),
                ).where(tips.c.code == code, _visible(staff_id))
            )
        ).first()
        if row is None:
            return None
        values = row._asdict()
        values["claimed_by_me"] = bool(values["claimed_by_me"])
        values["units"] = await self._unit_names(row.id)
        values["attachments"] = await self._attachments(row.id)
        return TipView.model_validate(values)

    async def evidence(self, code: str) -> list[AttachmentRef] | None:
        """A tip's attachments for the host operator's case file (`tipbot evidence`);
        None if there is no such tip. Not for chat use: no staff check here."""
        tip_id = (await self.conn.execute(select(tips.c.id).where(tips.c.code == code))).scalar()
        return None if tip_id is None else await self._attachments(tip_id)

    async def _unit_names(self, tip_id: str) -> list[str]:
        names = await self.conn.execute(
            select(units.c.name)
            .join(tip_routes, tip_routes.c.unit_id == units.c.id)
            .where(tip_routes.c.tip_id == tip_id)
            .order_by(units.c.id)
        )
        return list(names.scalars())

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
        where: list[ColumnElement[bool]] = [_visible(staff_id)]
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
            select(*_LINE)
            .where(and_(*where))
            .order_by(tips.c.urgent.desc(), tips.c.created_at.desc())
            .limit(limit)
        )
        return [TipLine.model_validate(r._asdict()) for r in rows]

    async def _ref(self, where: ColumnElement[bool]) -> TipRef | None:
        row = (
            await self.conn.execute(
                select(
                    tips.c.id,
                    tips.c.code,
                    tips.c.status,
                    tips.c.channel,
                    tips.c.tipster_key,
                    tips.c.locale,
                    tips.c.claimed_by,
                ).where(where)
            )
        ).first()
        return TipRef.model_validate(row._asdict()) if row else None

    async def tip_ref(self, staff_id: str, code: str) -> TipRef | None:
        return await self._ref(and_(tips.c.code == code, _visible(staff_id)))

    async def tip_of_tipster(self, channel: str, tipster_key: str, code: str) -> TipRef | None:
        """A citizen's own tip (for answering a relayed question)."""
        return await self._ref(
            and_(tips.c.code == code, tips.c.channel == channel, tips.c.tipster_key == tipster_key),
        )

    async def lines_by_id(self, tip_ids: list[str]) -> list[TipLine]:
        rows = await self.conn.execute(
            select(*_LINE).where(tips.c.id.in_(tip_ids)).order_by(tips.c.created_at)
        )
        return [TipLine.model_validate(r._asdict()) for r in rows]

    # ---- acting on tips ----------------------------------------------------------------
    async def claim(self, staff_id: str, code: str, now: datetime) -> TipRef | None:
        """Claim an open, unclaimed tip (None if not visible, closed or taken)."""
        row = (
            await self.conn.execute(
                update(tips)
                .where(
                    tips.c.code == code,
                    tips.c.claimed_by.is_(None),
                    tips.c.status.in_(OPEN),
                    _visible(staff_id),
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
        return await self._ref(tips.c.id == row.id)

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
                .where(tips.c.code == code, tips.c.status != status, _visible(staff_id))
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
        return await self._ref(tips.c.id == row.id)

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
        if ref is None or not await self.unit_exists(unit_id):
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
        await self.conn.execute(
            alert_queue.insert().values(tip_id=ref.id, unit_id=unit_id, kind="new", created_at=now)
        )
        return ref

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
        await self.conn.execute(
            tip_events.insert().values(
                tip_id=tip_id, at=now, kind=kind, staff_id=staff_id, detail=detail, body=body
            )
        )

    async def thread(self, tip_id: str, limit: int = 30) -> list[ThreadEntry]:
        rows = await self.conn.execute(
            select(tip_events.c.at, tip_events.c.kind, tip_events.c.detail, tip_events.c.body)
            .where(tip_events.c.tip_id == tip_id)
            .order_by(tip_events.c.id.desc())
            .limit(limit)
        )
        return list(reversed([ThreadEntry.model_validate(r._asdict()) for r in rows]))

    # ---- recipients --------------------------------------------------------------------
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

    async def staff_chats(self, staff_ids: list[str]) -> list[Recipient]:
        rows = await self.conn.execute(
            select(
                staff_links.c.channel,
                staff_links.c.user_key,
                staff_links.c.address,
                staff_links.c.locale,
            )
            .join(staff, staff.c.id == staff_links.c.staff_id)
            .where(staff_links.c.staff_id.in_(staff_ids), staff.c.active.is_(True))
            .order_by(staff_links.c.linked_at)
        )
        return [
            Recipient(channel=r.channel, chat_key=r.user_key, address=r.address, locale=r.locale)
            for r in rows
        ]

    async def unit_destinations(self, unit_id: int) -> list[Recipient]:
        """The unit's group if it has one, else its active members' own chats."""
        row = (
            await self.conn.execute(
                select(units.c.group_channel, units.c.group_key, units.c.group_address).where(
                    units.c.id == unit_id
                )
            )
        ).first()
        if row is not None and row.group_address is not None:
            return [
                Recipient(
                    channel=row.group_channel,
                    chat_key=row.group_key,
                    address=row.group_address,
                    group=True,
                )
            ]
        members = (
            await self.conn.execute(
                select(unit_members.c.staff_id).where(unit_members.c.unit_id == unit_id)
            )
        ).scalars()
        return await self.staff_chats(list(members))

    async def tip_handlers(self, tip_id: str) -> list[Recipient]:
        """Who hears a tipster's answer: the claiming officer, else the tip's units."""
        claimed = (
            await self.conn.execute(select(tips.c.claimed_by).where(tips.c.id == tip_id))
        ).scalar_one_or_none()
        if claimed:
            chats = await self.staff_chats([claimed])
            if chats:
                return chats
        found: list[Recipient] = []
        for unit_id in (
            await self.conn.execute(
                select(tip_routes.c.unit_id).where(tip_routes.c.tip_id == tip_id)
            )
        ).scalars():
            found += await self.unit_destinations(unit_id)
        return found

    async def supervisors(self, tip_id: str) -> list[str]:
        """Supervisors of the tip's units and of the units above them."""
        start = (
            select(tip_routes.c.unit_id.label("id"))
            .where(tip_routes.c.tip_id == tip_id)
            .cte("up", recursive=True)
        )
        reached = start.alias("reached")
        child = units.alias("child")
        up = start.union_all(
            select(child.c.parent_id).where(
                child.c.id == reached.c.id, child.c.parent_id.is_not(None)
            )
        )
        rows = await self.conn.execute(
            select(unit_members.c.staff_id)
            .where(unit_members.c.unit_id.in_(select(up.c.id)), unit_members.c.role == "supervisor")
            .distinct()
        )
        return list(rows.scalars())

    async def city_units(self) -> list[int]:
        return list(
            (
                await self.conn.execute(select(units.c.id).where(units.c.city_level.is_(True)))
            ).scalars()
        )

    # ---- alert queue -------------------------------------------------------------------
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

    # ---- escalation --------------------------------------------------------------------
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

    # ---- audit -------------------------------------------------------------------------
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

    async def audit_entries(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        )
        return [r._asdict() for r in rows]

    # ---- digests -----------------------------------------------------------------------
    async def digest_claim(self, kind: str, period: str, scope: str, now: datetime) -> bool:
        """Record that a digest period is being sent; False if it already was."""
        seen = (
            await self.conn.execute(
                select(digest_runs.c.kind).where(
                    digest_runs.c.kind == kind,
                    digest_runs.c.period == period,
                    digest_runs.c.scope == scope,
                )
            )
        ).first()
        if seen is not None:
            return False
        await self.conn.execute(
            digest_runs.insert().values(kind=kind, period=period, scope=scope, sent_at=now)
        )
        return True

    # ---- views for system senders (alerts, escalations, digests) ------------------
    async def alert_view(self, tip_id: str, *, with_contact: bool) -> TipView | None:
        """The card a unit's alert shows. Contact details only when the destination is
        the unit handling the tip (never for escalations or the city-level triage)."""
        row = (
            await self.conn.execute(select(*_VIEW, tips.c.contact_phone).where(tips.c.id == tip_id))
        ).first()
        if row is None:
            return None
        values = row._asdict()
        if not with_contact:
            values["contact_phone"] = None
        values["units"] = await self._unit_names(tip_id)
        values["attachments"] = await self._attachments(tip_id)
        return TipView.model_validate(values)

    async def digest_rows(
        self, unit_id: int | None, start: datetime, end: datetime
    ) -> list[DigestRow]:
        """Tips received in [start, end) by a unit (None: city-wide)."""
        query = select(
            tips.c.category_group,
            tips.c.category,
            tips.c.ward_code,
            tips.c.channel,
            tips.c.status,
            tips.c.created_at,
            tips.c.claimed_at,
            tips.c.resolved_at,
        ).where(tips.c.created_at >= start, tips.c.created_at < end)
        if unit_id is not None:
            query = query.where(
                exists().where(tip_routes.c.tip_id == tips.c.id, tip_routes.c.unit_id == unit_id)
            )
        return [DigestRow.model_validate(r._asdict()) for r in await self.conn.execute(query)]

    async def open_counts(self, unit_id: int | None, now: datetime) -> tuple[int, int]:
        """(open, overdue) right now: overdue = unclaimed past its claim deadline."""
        scope: list[ColumnElement[bool]] = [tips.c.status.in_(OPEN)]
        if unit_id is not None:
            scope.append(
                exists().where(tip_routes.c.tip_id == tips.c.id, tip_routes.c.unit_id == unit_id)
            )
        overdue = and_(
            tips.c.claimed_by.is_(None),
            or_(tips.c.claim_due_at <= now, tips.c.escalation_level > 0),
        )
        row = (
            await self.conn.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(case((overdue, 1), else_=0)), 0),
                ).where(*scope)
            )
        ).one()
        return int(row[0]), int(row[1])
