"""Alerts to units: queued with the tip (in the same transaction), sent whenever the
pipeline commits. Full cards while a unit's destinations have room in their
per-minute budget and only a few tips wait; otherwise one list ("12 new tips in
Phường X"). Contact details go to the handling unit's alert, never with an
escalation."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from bot.aio import Worker
from bot.clock import Clock
from bot.dispatch.dispatcher import Pipeline
from handlers.core.events import Item, Msg, Outgoing
from handlers.core.staffing import ward_label
from handlers.domain.places import Gazetteer
from handlers.staff import cards
from storage import outbox
from storage.db import Database
from storage.models import PendingAlert, Recipient
from storage.stores import Stores

log = logging.getLogger(__name__)
LINES_PER_BATCH = 25  # a batched alert's lines per message (well under 4096 units)


@dataclass(frozen=True)
class AlertSettings:
    per_minute: int = 20
    batch_over: int = 3


class Alerter:
    def __init__(
        self,
        *,
        db: Database,
        pipeline: Pipeline,
        places: Gazetteer,
        clock: Clock,
        settings: AlertSettings,
    ) -> None:
        self.db = db
        self.pipeline = pipeline
        self.places = places
        self.clock = clock
        self.settings = settings
        self.worker = Worker("alerts", self._pass, idle=5.0)

    def wake(self) -> None:
        self.worker.wake()

    async def run(self) -> None:
        """Send queued alerts whenever the pipeline commits new tips."""
        await self.worker.run()

    async def _pass(self) -> None:
        # Woken by every commit of the pipeline: look before taking the write lock
        # (a read does not stop the dispatcher; most commits queue no alert).
        async with self.db.read() as conn:
            if not await Stores(conn).alerts.has_pending():
                return
        # A short pause gathers a burst into one batched alert.
        await asyncio.sleep(0.3)
        await self.send_alerts()

    async def send_alerts(self) -> int:
        """One pass over the alert queue, per unit: full cards while the unit's
        destinations have room in their per-minute budget and only a few tips wait;
        otherwise one list of the waiting tips ("12 new tips in Phường X")."""
        now = self.clock.now()
        sent = 0
        async with self.db.write() as conn:
            stores = Stores(conn)
            pending = await stores.alerts.pending_alerts()
            by_unit: dict[int, list[PendingAlert]] = {}
            for alert in pending:
                by_unit.setdefault(alert.unit_id, []).append(alert)
            rows = []
            for unit_id, alerts in by_unit.items():
                destinations = await stores.units.unit_destinations(unit_id)
                if not destinations:
                    log.warning("unit %s has no alert destination; tips wait in /tips", unit_id)
                    await stores.alerts.mark_alerts_sent([a.id for a in alerts], now)
                    continue
                budgets = [
                    self.settings.per_minute
                    - await stores.alerts.messages_sent_since(_dest(d), now - timedelta(minutes=1))
                    for d in destinations
                ]
                budget = min(budgets)
                if budget <= 0:
                    continue  # this unit's destinations are at their limit: next pass
                half_used = budget <= self.settings.per_minute // 2
                done: list[int] = []
                items_for: list[Outgoing] = []  # cards and lists for this unit
                cost = 0
                if len(alerts) <= self.settings.batch_over and not half_used:
                    for alert in alerts:
                        # Contact details go to the handling unit's alert, never with
                        # an escalation to the city level.
                        view = await stores.desk.alert_view(
                            alert.tip_id, with_contact=alert.kind != "escalated"
                        )
                        if view is None:
                            done.append(alert.id)
                            continue
                        title = (
                            "officer.card.escalated"
                            if alert.kind == "escalated"
                            else "officer.card.new"
                        )
                        items = cards.card(view, self.places, title=title)
                        size = self._size(items)
                        if cost + size > budget:
                            break
                        items_for += items
                        cost += size
                        done.append(alert.id)
                else:
                    take = alerts[: budget * LINES_PER_BATCH]
                    lines = await stores.desk.lines_by_id([a.tip_id for a in take])
                    wards = {line.ward_code for line in lines}
                    ward = ward_label(self.places, wards.pop()) if len(wards) == 1 else None
                    for start in range(0, len(lines), LINES_PER_BATCH):
                        chunk = lines[start : start + LINES_PER_BATCH]
                        heading = (
                            Msg("officer.batch.ward", {"count": len(lines), "ward": ward})
                            if ward is not None
                            else Msg("officer.batch", {"count": len(lines)})
                        )
                        items_for.append(cards.tip_lines(chunk, self.places, "", heading))
                        cost += 1
                    done = [a.id for a in take]
                if not items_for:
                    continue
                for destination in destinations:
                    rows += self.pipeline.render_for(destination, items_for)
                    await stores.alerts.record_sends(_dest(destination), cost, now)
                await stores.alerts.mark_alerts_sent(done, now)
                sent += len(done)
            await outbox.enqueue(conn, rows, now)
        if sent:
            self.pipeline.on_outbox(())
        return sent

    def _size(self, items: list[Item]) -> int:
        """Messages a card costs (text chunks + pin + files)."""
        return sum(len(self.pipeline.renderer.render(item, "vi")) for item in items)


def _dest(recipient: Recipient) -> str:
    return f"{recipient.channel}:{recipient.chat_key}"
