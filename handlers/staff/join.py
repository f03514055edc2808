"""Joining the staff by invite: `/join CODE` links this chat to a new or existing
account (officer, supervisor of a unit, or admin). Failed codes count against the
same hourly limit as status checks."""

from __future__ import annotations

from datetime import timedelta

from handlers.core.context import FlowContext
from handlers.core.conversation import Conversation
from handlers.core.events import Event, Msg, Outgoing, Reply
from handlers.core.registry import Flow


async def _join(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing] | None:
    window = ctx.now - timedelta(hours=1)
    failures = [t for t in conv.flood.failed_checks if t > window]
    if len(failures) >= ctx.limits.status_checks_per_hour:
        return [Reply.of(Msg("check.limited"))]
    code = event.args.strip()
    joined = None
    if code and len(code) <= 40:
        joined = await ctx.staff.redeem_invite(
            code,
            channel=event.channel,
            user_key=event.user_key,
            address=ctx.seal(event.address),
            locale=conv.locale,
            now=ctx.now,
        )
    await ctx.audit.audit(
        ctx.now,
        "join",
        "ok" if joined else "denied",
        staff_id=joined.id if joined else None,
        actor_key=event.user_key,
    )
    if joined is None:
        conv.flood.failed_checks = [*failures, ctx.now]
        return [Reply.of(Msg("officer.join.invalid"))]
    key = "officer.join.admin" if joined.role == "admin" else "officer.join.done"
    return [Reply.of(Msg(key, {"name": joined.username}))]


FLOW = Flow(name="join", commands={"join": _join})
