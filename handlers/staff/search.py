"""`/find`: tips by code, day, category or ward, within what the officer may see."""

from __future__ import annotations

from datetime import datetime, timedelta

from handlers.core.context import FlowContext
from handlers.core.events import Msg, Outgoing, Reply
from handlers.domain import receipts, taxonomy
from handlers.domain.vntime import VIETNAM
from handlers.staff import cards
from storage.models import Actor


async def find(actor: Actor, args: str, ctx: FlowContext) -> list[Outgoing]:
    """Search by code, date (YYYY-MM-DD or DD/MM/YYYY), category id or ward name."""
    query = args.strip()
    if not query:
        return [Reply.of(Msg("officer.usage.find"))]
    code = receipts.normalise_code(query)
    day = _parse_day(query)
    kwargs: dict[str, object] = {}
    if code:
        kwargs["code"] = code
    elif day is not None:
        kwargs.update(since=day, until=day + timedelta(days=1))
    elif query.lower() in taxonomy.BY_ID:
        kwargs["categories"] = [query.lower()]
    else:
        wards = [p.code for p in ctx.places.search(query, limit=5)]
        if not wards:
            return [cards.tip_lines([], ctx.places, "officer.none_found")]
        kwargs["wards"] = wards
    lines = await ctx.desk.search(actor.id, **kwargs)  # type: ignore[arg-type]
    return [cards.tip_lines(lines, ctx.places, "officer.none_found")]


def _parse_day(text: str) -> datetime | None:
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=VIETNAM)
        except ValueError:
            continue
    return None
