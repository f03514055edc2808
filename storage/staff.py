"""Staff accounts: web sign-in and sessions, one-time invites, the chats linked to an
account. Passwords and invite codes are kept only as hashes.

Just over 400 lines: everything that makes or ends a staff identity (account, session,
invite, linked chat) is here, so deactivating someone has one implementation that ends
all of them."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import vault_of
from storage.models import Actor, Recipient
from storage.schema import invites, staff, staff_links, staff_sessions, unit_members


class StaffMember(BaseModel):
    id: str
    username: str
    role: str
    active: bool


def hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


class SignInFacts(BaseModel):
    id: str
    password_hash: str
    role: str
    totp_secret: str | None


class StaffAccounts:
    """Staff queries bound to one connection (the caller's transaction)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # ---- accounts ----------------------------------------------------------------
    async def upsert(
        self, username: str, password_hash: str, role: str, now: datetime
    ) -> StaffMember:
        """Create the account, or set a new password and role on an existing one."""
        row = (
            await self.conn.execute(select(staff.c.id).where(staff.c.username == username))
        ).first()
        if row is None:
            staff_id = str(uuid.uuid4())
            await self.conn.execute(
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
            await self.conn.execute(
                update(staff)
                .where(staff.c.id == staff_id)
                .values(password_hash=password_hash, role=role, active=True)
            )
            # A new password ends every open session of the account.
            await self.end_sessions(staff_id)
        return StaffMember(id=staff_id, username=username, role=role, active=True)

    async def deactivate(self, username: str) -> bool:
        """Disable an account at once: every query re-reads `active`, and its web
        sessions end (the one implementation, for the chat and the CLI alike)."""
        result = await self.conn.execute(
            update(staff)
            .where(staff.c.username == username)
            .values(active=False)
            .returning(staff.c.id)
        )
        staff_id = result.scalar_one_or_none()
        if staff_id is None:
            return False
        await self.end_sessions(staff_id)
        return True

    async def set_membership(self, staff_id: str, unit_id: int, role: str) -> None:
        """Make the account a member of a unit (officer or supervisor), replacing any
        earlier role there."""
        await self.conn.execute(
            delete(unit_members).where(
                unit_members.c.unit_id == unit_id, unit_members.c.staff_id == staff_id
            )
        )
        await self.conn.execute(
            unit_members.insert().values(unit_id=unit_id, staff_id=staff_id, role=role)
        )

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

    # ---- web sign-in -------------------------------------------------------------
    async def sign_in_facts(self, username: str) -> SignInFacts | None:
        """What signing in checks, for an active account: its password hash, its role
        and its second factor's secret (opened here), or None."""
        row = (
            await self.conn.execute(
                select(staff.c.id, staff.c.password_hash, staff.c.role, staff.c.totp_secret).where(
                    staff.c.username == username, staff.c.active.is_(True)
                )
            )
        ).first()
        if row is None:
            return None
        secret = vault_of(self.conn).open_opt(row.totp_secret, f"staff.totp_secret:{row.id}")
        return SignInFacts(
            id=row.id, password_hash=row.password_hash, role=row.role, totp_secret=secret
        )

    async def set_totp(self, username: str, secret: str | None) -> bool:
        """Give an account a second factor (a new secret), or take it away (None: the
        "reset" after a lost phone). Every open session of the account ends."""
        found = (
            await self.conn.execute(select(staff.c.id).where(staff.c.username == username))
        ).scalar_one_or_none()
        if found is None:
            return False
        sealed = vault_of(self.conn).seal_opt(secret, f"staff.totp_secret:{found}")
        await self.conn.execute(
            update(staff).where(staff.c.id == found).values(totp_secret=sealed, totp_step=None)
        )
        await self.end_sessions(found)
        return True

    async def use_totp_step(self, staff_id: str, step: int) -> bool:
        """Record that a code of this time step was used; False if it (or a later one)
        already was: each code signs in once."""
        result = await self.conn.execute(
            update(staff)
            .where(
                staff.c.id == staff_id,
                or_(staff.c.totp_step.is_(None), staff.c.totp_step < step),
            )
            .values(totp_step=step)
        )
        return bool(result.rowcount)

    async def open_session(
        self, token_hash: str, staff_id: str, now: datetime, expires_at: datetime
    ) -> None:
        await self.conn.execute(
            staff_sessions.insert().values(
                token_hash=token_hash, staff_id=staff_id, created_at=now, expires_at=expires_at
            )
        )

    async def by_session(self, token_hash: str, now: datetime) -> StaffMember | None:
        """The active staff member a live session belongs to (read on every request)."""
        row = (
            await self.conn.execute(
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

    async def touch_session(
        self, token_hash: str, now: datetime, *, idle: timedelta, absolute: timedelta
    ) -> StaffMember | None:
        """The session's active account, with its idle deadline moved on (never past
        `absolute` after sign-in); None for an expired, ended or disabled one."""
        member = await self.by_session(token_hash, now)
        if member is None:
            return None
        created = (
            await self.conn.execute(
                select(staff_sessions.c.created_at).where(staff_sessions.c.token_hash == token_hash)
            )
        ).scalar_one()
        await self.conn.execute(
            update(staff_sessions)
            .where(staff_sessions.c.token_hash == token_hash)
            .values(expires_at=min(now + idle, created + absolute))
        )
        return member

    async def close_session(self, token_hash: str) -> None:
        await self.conn.execute(
            delete(staff_sessions).where(staff_sessions.c.token_hash == token_hash)
        )

    async def end_sessions(self, staff_id: str) -> None:
        await self.conn.execute(delete(staff_sessions).where(staff_sessions.c.staff_id == staff_id))

    # ---- chat identities ---------------------------------------------------------
    async def actor(self, channel: str, user_key: str) -> Actor | None:
        """The active staff account a chat is linked to (read for every action)."""
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

    async def link_chat(
        self,
        staff_id: str,
        *,
        channel: str,
        user_key: str,
        address: bytes,
        locale: str | None,
        now: datetime,
    ) -> None:
        """Link one more chat to an existing account (the desk, at its first form); the same
        chat linked again keeps its first link."""
        existing = await self.conn.execute(
            select(staff_links.c.staff_id).where(
                staff_links.c.channel == channel, staff_links.c.user_key == user_key
            )
        )
        if existing.first() is None:
            await self._insert_link(staff_id, channel, user_key, address, locale, now)

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

    # ---- invites -----------------------------------------------------------------
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

    async def _take_invite(self, code: str, now: datetime, *, new_only: bool = False) -> Any:
        """Mark a live invite used and return it (role, unit, name, staff id), once."""
        where = [
            invites.c.code_hash == hash_code(code),
            invites.c.used_at.is_(None),
            invites.c.expires_at > now,
        ]
        if new_only:  # the web makes new accounts only (a chat links to an existing one)
            where.append(invites.c.staff_id.is_(None))
        return (
            await self.conn.execute(
                update(invites)
                .where(*where)
                .values(used_at=now)
                .returning(invites.c.role, invites.c.unit_id, invites.c.name, invites.c.staff_id)
            )
        ).first()

    async def _enrol(self, used: Any, staff_id: str | None, username: str, password_hash: str,
                     now: datetime) -> str:  # fmt: skip
        """Create the invited account (or promote the existing one) and make it a member
        of the invite's unit; returns its id."""
        if staff_id is None:
            staff_id = secrets.token_hex(16)
            await self.conn.execute(
                staff.insert().values(
                    id=staff_id,
                    username=username,
                    password_hash=password_hash,
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
            await self.set_membership(
                staff_id, used.unit_id, "supervisor" if used.role == "supervisor" else "officer"
            )
        return staff_id

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
        used = await self._take_invite(code, now)
        if used is None:
            return None
        base = (used.name or used.role)[:40]
        staff_id = await self._enrol(
            # A chat-only account: no password sign-in ("!" matches no hash).
            used,
            used.staff_id,
            f"{base}-{secrets.token_hex(2)}",
            "!",
            now,
        )
        await self.conn.execute(
            delete(staff_links).where(
                staff_links.c.channel == channel, staff_links.c.user_key == user_key
            )
        )
        await self._insert_link(staff_id, channel, user_key, address, locale, now)
        return await self.actor(channel, user_key)

    async def _insert_link(
        self,
        staff_id: str,
        channel: str,
        user_key: str,
        address: bytes,
        locale: str | None,
        now: datetime,
    ) -> None:
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

    async def redeem_invite_on_web(
        self, code: str, *, username: str, password_hash: str, now: datetime
    ) -> StaffMember | None:
        """Use an invite once to make a new web account with this name and password;
        None if the code is not a live invite for a new account or the name is taken
        (then the code stays usable)."""
        if await self.staff_id(username) is not None:
            return None
        used = await self._take_invite(code, now, new_only=True)
        if used is None:
            return None
        staff_id = await self._enrol(used, None, username, password_hash, now)
        role = "admin" if used.role == "admin" else "officer"
        return StaffMember(id=staff_id, username=username, role=role, active=True)
