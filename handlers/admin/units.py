"""Admins' chat commands for units and staff (/units, /newunit, /unitwards, /unitcats,
/invite, /staff, /removestaff), and binding a group chat to a unit as its alert
destination when an admin adds the bot to one."""

from __future__ import annotations

from handlers.admin import approvals
from handlers.core.callbacks import Action, Callback
from handlers.core.context import FlowContext
from handlers.core.conversation import Conversation
from handlers.core.events import (
    Choice,
    Deliver,
    Event,
    EventKind,
    Leave,
    Msg,
    Outgoing,
    Reply,
    Toast,
)
from handlers.core.registry import Flow
from handlers.core.staffing import account_label, acting_staff, own_chat
from handlers.core.staffing import cb as _cb
from handlers.core.text import cut
from handlers.domain import taxonomy
from handlers.domain.places import Place
from storage.models import Actor

ADMIN_COMMANDS = frozenset(
    {"units", "newunit", "unitwards", "unitcats", "invite", "staff", "removestaff"}
)


async def on_command(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing] | None:
    """An admin command; None for anyone else (answered like an unknown command)."""
    name = event.command or ""
    actor = await acting_staff(event, ctx, f"cmd.{name}", admin=True)
    if actor is None:
        return None
    return await _admin(actor, name, event.args, ctx)


async def on_joined(event: Event, ctx: FlowContext) -> list[Outgoing]:
    """The bot was added to a group: only an admin may, and is then asked (privately)
    which unit's alerts go there; otherwise the bot leaves."""
    actor = await ctx.staff.actor(event.channel, event.user_key)
    if actor is None or actor.role != "admin":
        await ctx.audit.audit(ctx.now, "group.add", "denied", actor_key=event.user_key)
        return [Leave()]
    own = await own_chat(actor, event, ctx)
    if own is None:
        return [Leave()]
    group_id = await ctx.units.add_pending_group(
        event.channel, event.chat_key or "", ctx.seal(event.address), actor.id, ctx.now
    )
    await ctx.audit.audit(ctx.now, "group.add", "ok", staff_id=actor.id, target=group_id)
    units = await ctx.units.list_units()
    buttons = [
        [
            Choice(
                Msg("officer.plain", {"text": u.name}),
                _cb(Action.GROUP_BIND, f"{group_id}.{u.id}"),
            )
        ]
        for u in units[:20]
    ]
    title = cut(event.text or "", 60)
    return [Deliver.of(own, Reply.of(Msg("admin.group.pick", {"title": title}), choices=buttons))]


async def on_bind(
    conv: Conversation, event: Event, cb: Callback, ctx: FlowContext
) -> list[Outgoing]:
    """The admin picked the unit for a group they added."""
    actor = await acting_staff(event, ctx, f"btn.{cb.action.value}", target=cb.arg)
    if actor is None:
        return [Toast(event.callback_id or "", Msg("officer.not_allowed"))]
    group_id, _, unit = cb.arg.partition(".")
    return await _bind_group(actor, group_id, unit, ctx)


async def _admin(actor: Actor, name: str, args: str, ctx: FlowContext) -> list[Outgoing]:
    await ctx.audit.audit(
        ctx.now, f"admin.{name}", "ok", staff_id=actor.id, target=args[:64] or None
    )
    words = args.split()
    if name == "units":
        units = await ctx.units.list_units()
        if not units:
            return [Reply.of(Msg("admin.units.none"))]
        lines = [
            Msg(
                "admin.units.line",
                {
                    "id": u.id,
                    "name": u.name,
                    "city": Msg("admin.units.city") if u.city_level else "",
                    "parent": u.parent_id or "-",
                    "group": Msg("admin.units.group") if u.has_group else "",
                },
            )
            for u in units
        ]
        return [Reply.of(Msg("admin.units.title"), *lines)]
    if name == "newunit":
        city = "--city" in words
        parent: int | None = None
        rest: list[str] = []
        it = iter(words)
        for word in it:
            if word == "--city":
                continue
            if word == "--parent":
                value = next(it, "")
                if not value.isdigit() or not await ctx.units.unit_exists(int(value)):
                    return [Reply.of(Msg("admin.usage.newunit"))]
                parent = int(value)
                continue
            rest.append(word)
        unit_name = " ".join(rest).strip()[:200]
        if not unit_name:
            return [Reply.of(Msg("admin.usage.newunit"))]
        unit_id = await ctx.units.add_unit(
            unit_name, parent_id=parent, city_level=city, wards=[], categories=[], now=ctx.now
        )
        return [Reply.of(Msg("admin.unit.created", {"id": unit_id, "name": unit_name}))]
    if name == "unitwards":
        if not words or not words[0].isdigit() or not await ctx.units.unit_exists(int(words[0])):
            return [Reply.of(Msg("admin.usage.unitwards"))]
        found: list[Place] = []
        missing: list[str] = []
        for query in filter(None, (q.strip() for q in " ".join(words[1:]).split(";"))):
            place = ctx.places.named(query)
            if place is not None:
                found.append(place)
            else:
                missing.append(query)
        await ctx.units.set_unit_scope(int(words[0]), wards=[p.code for p in found])
        names = ", ".join(p.name for p in found) or "-"
        return [
            Reply.of(
                Msg(
                    "admin.unit.wards",
                    {
                        "id": words[0],
                        "wards": names,
                        "missing": ", ".join(missing) or "-",
                    },
                )
            )
        ]
    if name == "unitcats":
        if not words or not words[0].isdigit() or not await ctx.units.unit_exists(int(words[0])):
            return [Reply.of(Msg("admin.usage.unitcats"))]
        cats = [w for w in words[1:] if w in taxonomy.BY_ID]
        await ctx.units.set_unit_scope(int(words[0]), categories=cats)
        return [Reply.of(Msg("admin.unit.cats", {"id": words[0], "cats": ", ".join(cats) or "*"}))]
    if name == "invite":
        role = words[0] if words else ""
        target_unit: int | None
        if role == "admin":
            target_unit, who = None, " ".join(words[1:])
        elif role in ("officer", "supervisor") and len(words) >= 2 and words[1].isdigit():
            target_unit, who = int(words[1]), " ".join(words[2:])
            if not await ctx.units.unit_exists(target_unit):
                return [Reply.of(Msg("admin.usage.invite"))]
        else:
            return [Reply.of(Msg("admin.usage.invite"))]
        if target_unit is not None:
            # An account that sees tips: only with a second person's approval (an admin
            # alone could otherwise invite themselves and read every tip of a unit).
            params = {"role": role, "unit_id": target_unit, "name": who[:40]}
            return await approvals.request(ctx, actor, "invite", params)
        code = await ctx.staff.create_invite(
            role=role,
            unit_id=target_unit,
            name=account_label(who),
            staff_id=None,
            created_by=actor.id,
            now=ctx.now,
            ttl=ctx.limits.invite_ttl,
        )
        days = int(ctx.limits.invite_ttl.total_seconds() // 86400)
        return [Reply.of(Msg("admin.invite.created", {"code": code, "days": days}))]
    if name == "staff":
        rows = await ctx.staff.staff_list()
        lines = [
            Msg(
                "admin.staff.line",
                {
                    "name": username,
                    "role": role,
                    "units": ", ".join(units) or "-",
                    "active": "" if active else Msg("admin.staff.inactive"),
                },
            )
            for username, role, active, units in rows
        ]
        return [Reply.of(Msg("admin.staff.title"), *lines)]
    if name == "removestaff":
        if not words or not await ctx.staff.deactivate(words[0]):
            return [Reply.of(Msg("admin.usage.removestaff"))]
        return [Reply.of(Msg("admin.staff.removed", {"name": words[0]}))]
    return [Reply.of(Msg("hint.unknown_command"))]


async def _bind_group(actor: Actor, group_id: str, unit: str, ctx: FlowContext) -> list[Outgoing]:
    ok = (
        actor.role == "admin"
        and unit.isdigit()
        and await ctx.units.bind_group(group_id, int(unit), actor.id)
    )
    await ctx.audit.audit(
        ctx.now,
        "group.bind",
        "ok" if ok else "denied",
        staff_id=actor.id,
        target=f"{group_id}>{unit}",
    )
    if not ok:
        return [Reply.of(Msg("hint.stale_button"))]
    return [Reply.of(Msg("admin.group.bound", {"unit": unit}))]


FLOW = Flow(
    name="units",
    actions={Action.GROUP_BIND: on_bind},
    commands=dict.fromkeys(ADMIN_COMMANDS, on_command),
    group={EventKind.JOINED: on_joined},
)
