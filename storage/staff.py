"""Staff accounts and their browser sessions."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.schema import staff, staff_sessions


class StaffMember(BaseModel):
    id: str
    username: str
    role: str
    active: bool


async def upsert(
    conn: AsyncConnection, username: str, password_hash: str, role: str, now: datetime
) -> StaffMember:
    """Create the account, or set a new password and role on an existing one."""
    row = (await conn.execute(select(staff.c.id).where(staff.c.username == username))).first()
    if row is None:
        staff_id = str(uuid.uuid4())
        await conn.execute(
            staff.insert().values(
                id=staff_id,
                username=username,
                password_hash=password_hash,
                role=role,
                active=True,
                created_at=now,
            )
        )
    else:
        staff_id = row.id
        await conn.execute(
            update(staff)
            .where(staff.c.id == staff_id)
            .values(password_hash=password_hash, role=role, active=True)
        )
        # A new password ends every open session of the account.
        await conn.execute(delete(staff_sessions).where(staff_sessions.c.staff_id == staff_id))
    return StaffMember(id=staff_id, username=username, role=role, active=True)


async def deactivate(conn: AsyncConnection, username: str) -> bool:
    result = await conn.execute(
        update(staff).where(staff.c.username == username).values(active=False).returning(staff.c.id)
    )
    staff_id = result.scalar_one_or_none()
    if staff_id is None:
        return False
    await conn.execute(delete(staff_sessions).where(staff_sessions.c.staff_id == staff_id))
    return True


async def password_hash(conn: AsyncConnection, username: str) -> tuple[str, str] | None:
    """(staff id, hash) of an active account, or None."""
    row = (
        await conn.execute(
            select(staff.c.id, staff.c.password_hash).where(
                staff.c.username == username, staff.c.active.is_(True)
            )
        )
    ).first()
    return (row.id, row.password_hash) if row else None


async def open_session(
    conn: AsyncConnection, token_hash: str, staff_id: str, now: datetime, expires_at: datetime
) -> None:
    await conn.execute(
        staff_sessions.insert().values(
            token_hash=token_hash, staff_id=staff_id, created_at=now, expires_at=expires_at
        )
    )


async def by_session(conn: AsyncConnection, token_hash: str, now: datetime) -> StaffMember | None:
    """The active staff member a live session belongs to (read on every request)."""
    row = (
        await conn.execute(
            select(staff.c.id, staff.c.username, staff.c.role, staff.c.active)
            .join(staff_sessions, staff_sessions.c.staff_id == staff.c.id)
            .where(
                staff_sessions.c.token_hash == token_hash,
                staff_sessions.c.expires_at > now,
                staff.c.active.is_(True),
            )
        )
    ).first()
    return StaffMember.model_validate(row._asdict()) if row else None


async def close_session(conn: AsyncConnection, token_hash: str) -> None:
    await conn.execute(delete(staff_sessions).where(staff_sessions.c.token_hash == token_hash))
