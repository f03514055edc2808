"""Who may see which tip, as SQL: every staff read or change of a tip carries one of
these in its WHERE clause.

`visible(staff_id)` re-reads the account's state and unit memberships in the same
statement: a tip outside that set is indistinguishable from one that does not exist,
and a deactivated or moved officer loses access on the next action, with no cache in
between (GlobaLeaks' `db_access_rtip`; decision 0007).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select, union

from storage.schema import staff, tip_routes, tips, unit_members, units

OPEN = ("new", "verifying", "in_progress")
STATUSES = ("verifying", "in_progress", "resolved", "unfounded", "spam")
CLOSED = ("resolved", "unfounded", "spam")


def visible_units(staff_id: str) -> Any:
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


def visible(staff_id: str) -> ColumnElement[bool]:
    """True for the tips a staff member may read and act on (members of a city-level
    unit see every tip)."""
    reach = visible_units(staff_id)
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
        tip_routes.c.tip_id == tips.c.id, tip_routes.c.unit_id.in_(select(reach.c.id))
    )
    return or_(city, routed)


def handles(staff_id: str) -> ColumnElement[bool]:
    """True when the staff member belongs to a unit the tip is routed to (the only
    people who may see contact details a tipster chose to leave)."""
    return exists().where(
        tip_routes.c.tip_id == tips.c.id,
        tip_routes.c.unit_id == unit_members.c.unit_id,
        unit_members.c.staff_id == staff_id,
    )
