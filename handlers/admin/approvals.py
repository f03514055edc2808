"""The two-person rule, in the chat: what would let one admin read tips or contact
numbers — a contact-details export, an invite for an account that sees tips — is only
a request until a second admin (or, for an invite, the unit's supervisor) approves it
with `/approve N`. `/refuse N` ends it; `/approvals` lists what waits. Every step is
audited, and the result goes to the person who asked."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from handlers.core.context import FlowContext
from handlers.core.conversation import Conversation
from handlers.core.events import Deliver, Event, Item, Msg, Outgoing, Reply
from handlers.core.registry import Flow
from handlers.core.staffing import account_label
from storage.approvals import Approval
from storage.models import Actor

COMMANDS = frozenset({"approve", "refuse", "approvals"})


async def request(
    ctx: FlowContext, actor: Actor, kind: str, params: Mapping[str, object]
) -> list[Outgoing]:
    """Record a request that needs a second person, and say so."""
    approval_id = await ctx.approvals.request(kind, actor.id, dict(params), ctx.now)
    await ctx.audit.audit(
        ctx.now, "approval.request", "ok", staff_id=actor.id, target=f"{kind}#{approval_id}"
    )
    return [Reply.of(Msg("approval.requested", {"id": approval_id}))]


async def _may_decide(actor: Actor, approval: Approval, ctx: FlowContext) -> bool:
    if actor.id == approval.requested_by:
        return False  # never one's own request
    if actor.role == "admin":
        return True
    unit = approval.params.get("unit_id")
    return (
        approval.kind == "invite"
        and isinstance(unit, int)
        and await ctx.approvals.supervises(actor.id, unit)
    )


async def on_command(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing] | None:
    name = event.command or ""
    actor = await ctx.staff.actor(event.channel, event.user_key)
    if actor is None or event.forwarded:
        await ctx.audit.audit(ctx.now, f"cmd.{name}", "denied", actor_key=event.user_key)
        return None
    if name == "approvals":
        if actor.role != "admin":
            return None
        waiting = await ctx.approvals.pending()
        if not waiting:
            return [Reply.of(Msg("approval.none"))]
        lines = [Msg("approval.line", {"id": a.id, "kind": Msg(f"approval.kind.{a.kind}")})
                 for a in waiting]  # fmt: skip
        return [Reply.of(Msg("approval.list"), *lines)]
    words = event.args.split()
    approval = await ctx.approvals.get(int(words[0])) if words and words[0].isdigit() else None
    if approval is None or approval.status != "pending":
        return [Reply.of(Msg("approval.usage"))]
    if not await _may_decide(actor, approval, ctx):
        await ctx.audit.audit(ctx.now, f"approval.{name}", "denied", staff_id=actor.id,
                              target=f"{approval.kind}#{approval.id}")  # fmt: skip
        return [Reply.of(Msg("approval.not_allowed"))]
    approve = name == "approve"
    if not await ctx.approvals.decide(approval.id, actor.id, approve=approve, now=ctx.now):
        return [Reply.of(Msg("approval.usage"))]
    await ctx.audit.audit(ctx.now, f"approval.{name}", "ok", staff_id=actor.id,
                          target=f"{approval.kind}#{approval.id}")  # fmt: skip
    requester = await ctx.staff.staff_chats([approval.requested_by])
    if not approve:
        told = [Deliver.of(to, Reply.of(Msg("approval.refused", {"id": approval.id})))
                for to in requester]  # fmt: skip
        return [Reply.of(Msg("approval.refused.done", {"id": approval.id})), *told]
    items = await _carry_out(approval, ctx)
    return [
        Reply.of(Msg("approval.done", {"id": approval.id})),
        *(Deliver(to, tuple(items)) for to in requester),
    ]


async def _carry_out(approval: Approval, ctx: FlowContext) -> list[Item]:
    """What the request asked for, now approved, for the person who asked."""
    params = approval.params
    if approval.kind == "invite":
        code = await ctx.staff.create_invite(
            role=str(params["role"]),
            unit_id=int(str(params["unit_id"])),
            name=account_label(str(params.get("name") or "")),
            staff_id=None,
            created_by=approval.requested_by,
            now=ctx.now,
            ttl=ctx.limits.invite_ttl,
        )
        days = int(ctx.limits.invite_ttl.total_seconds() // 86400)
        return [Reply.of(Msg("admin.invite.created", {"code": code, "days": days}))]
    categories = params.get("categories")
    # The export itself is audited as its own action, for the admin who asked.
    await ctx.audit.audit(ctx.now, "export.contact", "ok", staff_id=approval.requested_by,
                          target=f"approved#{approval.id}")  # fmt: skip
    item, _ = await ctx.reports.export_file(
        datetime.fromisoformat(str(params["since"])),
        datetime.fromisoformat(str(params["until"])),
        categories=[str(c) for c in categories] if isinstance(categories, list) else None,
        with_contact=True,
    )
    return [item]


FLOW = Flow(name="approvals", commands=dict.fromkeys(COMMANDS, on_command))
