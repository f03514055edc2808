"""/campaigns and /campaign N: the list, a campaign's progress (targeted · sent ·
blocked · failed · ambiguous · pending, rate, time left) and its effect on tips; and
pause, resume or cancel."""

from __future__ import annotations

from datetime import timedelta

from handlers.core.context import FlowContext
from handlers.core.events import Msg, Outgoing, Reply
from storage.models import Actor

EFFECT_DAYS = 7
# Which tip categories a topic's campaigns aim at (for the before/after effect).
TOPIC_CATEGORIES = {
    "drugs": ["drugs"],
    "fraud": ["fraud"],
    "fire": ["fire_risk"],
    "traffic": ["public_order", "dispute"],
}


async def recent(ctx: FlowContext) -> list[Outgoing]:
    found = await ctx.campaigns.recent(10)
    if not found:
        return [Reply.of(Msg("campaign.none"))]
    lines = [
        Msg("campaign.line", {"id": c.id, "status": c.status, "runs": c.runs, "text": c.text[:40]})
        for c in found
    ]
    return [Reply.of(Msg("campaign.list"), *lines)]


async def manage(actor: Actor, args: str, ctx: FlowContext) -> list[Outgoing]:
    """/campaign ID — progress and effect; /campaign ID pause|resume|cancel."""
    words = args.split()
    campaign = await ctx.campaigns.get(int(words[0])) if words and words[0].isdigit() else None
    if campaign is None:
        return [Reply.of(Msg("campaign.usage"))]
    verb = words[1] if len(words) > 1 else ""
    moves = {
        "pause": (("running", "scheduled"), "paused"),
        # A paused run goes on; a run that had not started waits for its time again.
        "resume": (("paused",), "running" if campaign.runs else "scheduled"),
        "cancel": (("draft", "confirmed", "scheduled", "running", "paused"), "cancelled"),
    }
    if verb in moves:
        from_, to = moves[verb]
        ok = await ctx.campaigns.transition(campaign.id, admin_id=None, from_=from_, status=to)
        key = "campaign.moved" if ok else "campaign.not_moved"
        return [Reply.of(Msg(key, {"id": campaign.id, "status": to}))]
    return [await report(campaign.id, ctx)]


async def report(campaign_id: int, ctx: FlowContext) -> Reply:
    """Progress of the latest run and the effect on tips (N days after vs before)."""
    campaign = await ctx.campaigns.get(campaign_id)
    assert campaign is not None
    counts = await ctx.campaigns.progress(campaign.id, campaign.runs or None)
    first, last = await ctx.campaigns.sent_between(campaign.id)
    rate = 0.0
    if first and last and last > first:
        rate = counts["sent"] / max((last - first).total_seconds(), 1.0)
    left = counts["pending"] + counts["sending"]
    eta = f"{left / rate:.0f}s" if rate and left else "-"
    parts = [
        Msg(
            "campaign.report",
            {
                "id": campaign.id,
                "status": campaign.status,
                "targeted": counts["targeted"],
                "sent": counts["sent"],
                "blocked": counts["blocked"],
                "failed": counts["failed"],
                "ambiguous": counts["ambiguous"],
                "cancelled": counts["cancelled"],
                "pending": left,
                "rate": f"{rate:.1f}",
                "eta": eta,
            },
        )
    ]
    if campaign.started_at is not None:
        categories = [c for t in campaign.topics for c in TOPIC_CATEGORIES.get(t, [])]
        span = timedelta(days=EFFECT_DAYS)
        start = campaign.started_at
        before = await ctx.campaigns.tips_count(campaign.wards, categories, start - span, start)
        after = await ctx.campaigns.tips_count(campaign.wards, categories, start, start + span)
        parts.append(
            Msg("campaign.effect", {"days": EFFECT_DAYS, "before": before, "after": after})
        )
    return Reply.of(*parts)
