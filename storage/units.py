"""Police units: their wards and categories, alert destinations (a group chat, or the
members' own chats), the unit tree, and routing a new tip to the units that cover it."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import ALERTS, note_change
from storage.dialect import once_per_dialect
from storage.models import Recipient, Unit, UnitOverview
from storage.schema import (
    alert_queue,
    pending_groups,
    staff,
    tip_routes,
    tips,
    unit_categories,
    unit_members,
    unit_wards,
    units,
)
from storage.staff import StaffAccounts


def _build_covering(_dialect: str) -> Any:
    category = bindparam("category", type_=unit_categories.c.category.type)
    takes_category = or_(
        ~exists().where(unit_categories.c.unit_id == units.c.id),
        exists().where(
            unit_categories.c.unit_id == units.c.id, unit_categories.c.category == category
        ),
    )
    return (
        select(units.c.id)
        .join(unit_wards, unit_wards.c.unit_id == units.c.id)
        .where(unit_wards.c.ward_code == bindparam("ward"), takes_category)
    )


# Every new tip is routed: those statements are built once (storage/dialect.py).
_covering = once_per_dialect(_build_covering)
_city_units = once_per_dialect(lambda _: select(units.c.id).where(units.c.city_level.is_(True)))
_route = once_per_dialect(lambda _: tip_routes.insert())
_alert = once_per_dialect(lambda _: alert_queue.insert())
_claim_due = once_per_dialect(
    lambda _: (
        update(tips).where(tips.c.id == bindparam("tip")).values(claim_due_at=bindparam("due"))
    )
)


class Units:
    """Unit queries bound to one connection (the caller's transaction)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

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

    async def overview(self) -> list[UnitOverview]:
        """Every unit with its wards, categories and members (the admin desk's page)."""
        found = {u.id: UnitOverview(**u.model_dump()) for u in await self.list_units()}
        for ward in await self.conn.execute(select(unit_wards).order_by(unit_wards.c.ward_code)):
            if ward.unit_id in found:
                found[ward.unit_id].wards.append(ward.ward_code)
        for cat in await self.conn.execute(
            select(unit_categories).order_by(unit_categories.c.category)
        ):
            if cat.unit_id in found:
                found[cat.unit_id].categories.append(cat.category)
        members = await self.conn.execute(
            select(unit_members.c.unit_id, unit_members.c.role, staff.c.username, staff.c.active)
            .join(staff, staff.c.id == unit_members.c.staff_id)
            .order_by(staff.c.username)
        )
        for m in members:
            if m.unit_id in found:
                found[m.unit_id].members.append((m.username, m.role, bool(m.active)))
        return list(found.values())

    async def unit_exists(self, unit_id: int) -> bool:
        row = (await self.conn.execute(select(units.c.id).where(units.c.id == unit_id))).first()
        return row is not None

    async def city_units(self) -> list[int]:
        return list((await self.conn.execute(_city_units(self.conn))).scalars())

    async def unit_names(self, tip_id: str) -> list[str]:
        """The names of the units a tip is routed to."""
        names = await self.conn.execute(
            select(units.c.name)
            .join(tip_routes, tip_routes.c.unit_id == units.c.id)
            .where(tip_routes.c.tip_id == tip_id)
            .order_by(units.c.id)
        )
        return list(names.scalars())

    # ---- alert destinations ------------------------------------------------------
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
        return await StaffAccounts(self.conn).staff_chats(list(members))

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

    # ---- routing -----------------------------------------------------------------
    async def route_unrouted(
        self, now: datetime, *, claim_urgent: timedelta, claim_normal: timedelta
    ) -> int:
        """Route the open tips no unit has (filed before any unit covered their ward,
        or before a city-level unit existed): a tip never just waits unseen. Returns
        how many found a unit."""
        orphans = await self.conn.execute(
            select(tips.c.id, tips.c.ward_code, tips.c.category, tips.c.urgent).where(
                tips.c.status.in_(("new", "verifying", "in_progress")),
                ~exists().where(tip_routes.c.tip_id == tips.c.id),
            )
        )
        routed = 0
        for tip in orphans.all():
            if await self.route_tip(
                tip.id, ward_code=tip.ward_code, category=tip.category, urgent=tip.urgent,
                now=now, claim_within=claim_urgent if tip.urgent else claim_normal,
            ):  # fmt: skip
                routed += 1
        return routed

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
        unit_ids: list[int] = []
        if ward_code is not None:
            unit_ids = list(
                (
                    await self.conn.execute(
                        _covering(self.conn), {"ward": ward_code, "category": category}
                    )
                )
                .scalars()
                .all()
            )
        if not unit_ids:
            unit_ids = await self.city_units()
        if unit_ids:
            await self.conn.execute(
                _route(self.conn),
                [{"tip_id": tip_id, "unit_id": u, "routed_at": now} for u in unit_ids],
            )
            note_change(self.conn, ALERTS)
            await self.conn.execute(
                _alert(self.conn),
                [
                    {"tip_id": tip_id, "unit_id": u, "kind": "new", "created_at": now}
                    for u in unit_ids
                ],
            )
        await self.conn.execute(_claim_due(self.conn), {"tip": tip_id, "due": now + claim_within})
        return unit_ids
