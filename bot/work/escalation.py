"""Escalation: a tip unclaimed past its deadline goes first to its units'
supervisors, then to the city-level unit. Deadlines live in the tips table; the
scheduler's job only looks (every 30 s, and at start)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from bot.clock import Clock
from bot.dispatch.dispatcher import Pipeline
from handlers.domain.places import Gazetteer
from handlers.staff import cards
from storage import outbox
from storage.db import Database
from storage.models import Recipient
from storage.stores import Stores


class Escalator:
    def __init__(
        self,
        *,
        db: Database,
        pipeline: Pipeline,
        places: Gazetteer,
        clock: Clock,
        claim_urgent: timedelta,
        claim_normal: timedelta,
        alerts_due: Callable[[], None],
    ) -> None:
        self.db = db
        self.pipeline = pipeline
        self.places = places
        self.clock = clock
        self.claim_urgent = claim_urgent
        self.claim_normal = claim_normal
        self.alerts_due = alerts_due  # wakes the alerter for city-level alerts queued here

    async def escalate(self) -> int:
        """Unclaimed past the deadline: first the units' supervisors, then the
        city-level unit. Each step is written with the messages it sends."""
        now = self.clock.now()
        async with self.db.write() as conn:
            stores = Stores(conn)
            # First, tips that have no unit yet find one (a unit created since, or a
            # city-level unit that did not exist when they were filed).
            routed = await stores.units.route_unrouted(
                now, claim_urgent=self.claim_urgent, claim_normal=self.claim_normal
            )
            if routed:
                await stores.audit.audit(now, "route.late", "ok", target=str(routed))
            due = await stores.alerts.due_for_escalation(now)
            rows = []
            for tip in due:
                level = tip.escalation_level + 1
                delay = self.claim_urgent if tip.urgent else self.claim_normal
                targets: list[Recipient] = []
                if level == 1:
                    targets = await stores.staff.staff_chats(await stores.units.supervisors(tip.id))
                    if not targets:
                        level = 2
                if level == 2:
                    for unit_id in await stores.units.city_units():
                        await stores.alerts.queue_alert(tip.id, unit_id, "escalated", now)
                else:
                    view = await stores.desk.alert_view(tip.id, with_contact=False)
                    if view is not None:
                        items = cards.card(view, self.places, title="officer.card.escalated")
                        for to in targets:
                            rows += self.pipeline.render_for(to, list(items))
                await stores.alerts.escalated(tip.id, level, now + delay if level < 2 else None)
                await stores.audit.audit(
                    now, f"escalate.{level}", "ok", tip_id=tip.id, target=tip.code
                )
            await outbox.enqueue(conn, rows, now)
        if due or routed:
            self.pipeline.on_outbox(())
            self.alerts_due()
        return len(due)
