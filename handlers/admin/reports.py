"""Admin statistics and exports, from the chat: `/stats [from] [to]` and
`/export from to [category …] [contact]`. Dates are YYYY-MM-DD, Vietnam time; `to` is
inclusive. Only admins, from a new (not forwarded) message; asking for contact details
is audited as its own action."""

from __future__ import annotations

from datetime import datetime, timedelta

from handlers.admin import approvals
from handlers.core.context import FlowContext
from handlers.core.conversation import Conversation
from handlers.core.events import Event, Msg, Outgoing, Reply
from handlers.core.registry import Flow
from handlers.core.staffing import acting_staff
from handlers.domain import taxonomy
from handlers.domain.vntime import VIETNAM

COMMANDS = frozenset({"stats", "export"})
DEFAULT_DAYS = 7


def parse_period(words: list[str], now: datetime) -> tuple[datetime, datetime] | None:
    """[from] [to] → [start, end) in UTC-aware datetimes; default: the last 7 days."""
    days = []
    for word in words:
        try:
            days.append(datetime.strptime(word, "%Y-%m-%d").replace(tzinfo=VIETNAM))
        except ValueError:
            continue
    today = now.astimezone(VIETNAM).replace(hour=0, minute=0, second=0, microsecond=0)
    if not days:
        return today - timedelta(days=DEFAULT_DAYS - 1), today + timedelta(days=1)
    start = days[0]
    end = (days[1] if len(days) > 1 else days[0]) + timedelta(days=1)
    return (start, end) if start < end else None


async def on_command(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing] | None:
    name = event.command or ""
    actor = await acting_staff(event, ctx, f"cmd.{name}", admin=True, new_message=True)
    if actor is None:
        return None
    words = event.args.split()
    period = parse_period(words, ctx.now)
    if period is None:
        return [Reply.of(Msg(f"report.usage.{name}"))]
    since, until = period
    if name == "stats":
        await ctx.audit.audit(ctx.now, "stats", "ok", staff_id=actor.id, target=event.args[:64])
        return list(await ctx.reports.stats(since, until, ctx.now, conv.locale or "vi"))
    with_contact = "contact" in words
    categories = [w for w in words if w in taxonomy.BY_ID]
    if with_contact:
        # Contact numbers leave only with a second admin's approval (two-person rule).
        params = {"since": since.isoformat(), "until": until.isoformat(), "categories": categories}
        return await approvals.request(ctx, actor, "export.contact", params)
    # Contact details are a separate, explicit request, and audited as such.
    action = "export.contact" if with_contact else "export"
    await ctx.audit.audit(ctx.now, action, "ok", staff_id=actor.id, target=event.args[:64])
    item, _ = await ctx.reports.export_file(
        since, until, categories=categories, with_contact=with_contact
    )
    return [item]


FLOW = Flow(name="reports", commands=dict.fromkeys(COMMANDS, on_command))
