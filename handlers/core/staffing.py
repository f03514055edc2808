"""What the staff and admin flows share: who is acting (re-read from the database for
every action), where their own chat is, and how times, wards and accounts are labelled."""

from __future__ import annotations

from handlers.core.callbacks import Action, Callback
from handlers.core.context import FlowContext
from handlers.core.events import Event, Msg
from handlers.core.text import fold
from handlers.domain.places import Gazetteer
from storage.models import Actor, Recipient


async def acting_staff(
    event: Event,
    ctx: FlowContext,
    action: str,
    *,
    admin: bool = False,
    new_message: bool = False,
    target: str | None = None,
) -> Actor | None:
    """The staff account behind this event, re-read now (no cache: a removed officer
    is refused at once); with `admin`, only an admin; with `new_message`, not from a
    forwarded message. A refusal is audited; the caller answers it."""
    actor = await ctx.staff.actor(event.channel, event.user_key)
    refused = (
        actor is None or (admin and actor.role != "admin") or (new_message and event.forwarded)
    )
    if refused:
        await ctx.audit.audit(
            ctx.now,
            action,
            "denied",
            staff_id=actor.id if actor else None,
            actor_key=event.user_key,
            target=target,
        )
        return None
    return actor


def cb(action: Action, arg: str = "") -> str:
    return Callback(action, arg).encode()


def account_label(name: str) -> str | None:
    """A short ASCII label for a new account ("Nguyễn Minh" → "nguyen-minh")."""
    label = "".join(ch for ch in fold(name).replace(" ", "-") if ch.isalnum() or ch == "-")
    return label[:40] or None


def ward_label(places: Gazetteer, ward_code: int | None) -> str | Msg:
    place = places.get(ward_code) if ward_code else None
    return place.name if place else Msg("officer.no_ward")


async def own_chat(actor: Actor, event: Event, ctx: FlowContext) -> Recipient | None:
    chats = [c for c in await ctx.staff.staff_chats([actor.id]) if c.channel == event.channel]
    return chats[0] if chats else None
