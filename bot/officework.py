"""The officer side's background work: alerts to units, escalation, digests.

All three read what is due from the database and write their messages to the outbox
in the same transaction that records them as done, so a crash or restart neither
loses nor repeats one (deadlines, queued alerts and sent digest periods all live in
the database; the scheduler only decides when to look).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.aio import cancelling, woken
from bot.clock import Clock
from bot.pipeline import Pipeline
from bot.reports import build_digest
from handlers import digest, officer
from handlers.events import Chart, Item, Msg, Outgoing, Reply
from handlers.i18n import Catalog
from handlers.places import Gazetteer
from storage import outbox
from storage.campaigns import Campaigns
from storage.db import Database
from storage.models import PendingAlert, Recipient
from storage.office import Office

log = logging.getLogger(__name__)
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
LINES_PER_BATCH = 25  # a batched alert's lines per message (well under 4096 units)


@dataclass(frozen=True)
class OfficeSettings:
    per_minute: int = 20
    batch_over: int = 3
    claim_urgent: timedelta = timedelta(minutes=10)
    claim_normal: timedelta = timedelta(hours=24)
    digest_hour: int = 7
    digest_weekday: int = 0


class OfficeWork:
    def __init__(
        self,
        *,
        db: Database,
        pipeline: Pipeline,
        catalog: Catalog,
        places: Gazetteer,
        clock: Clock,
        settings: OfficeSettings,
        charts_dir: Path,
    ) -> None:
        self.db = db
        self.pipeline = pipeline
        self.catalog = catalog
        self.places = places
        self.clock = clock
        self.settings = settings
        self.charts_dir = charts_dir
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def may_open(self, channel: str, user_key: str, file_ref: str) -> bool:
        """May this chat open an uploaded file? A campaign's photo: anyone. A tip's
        attachment: only active staff whose units see the tip — decided in the query,
        re-read on every request, and audited whether allowed or not."""
        async with self.db.write() as conn:
            if await Campaigns(conn).has_photo(channel, file_ref):
                return True
            office = Office(conn)
            actor = await office.actor(channel, user_key)
            found = await office.visible_file(actor.id, channel, file_ref) if actor else None
            await office.audit(
                self.clock.now(),
                "file.open",
                "ok" if found else "denied",
                staff_id=actor.id if actor else None,
                actor_key=user_key,
                target=found.code if found else None,
            )
            return found is not None

    async def run_alerts(self) -> None:
        """Send queued alerts whenever the pipeline commits new tips."""
        while True:
            self._wake.clear()
            try:
                # A short pause gathers a burst into one batched alert.
                await asyncio.sleep(0.3)
                await self.send_alerts()
            except Exception:
                if cancelling():
                    raise
                log.exception("alert pass failed; retrying")
            await woken(self._wake, 5.0)

    # ---- alerts -------------------------------------------------------------------
    async def send_alerts(self) -> int:
        """One pass over the alert queue, per unit: full cards while the unit's
        destinations have room in their per-minute budget and only a few tips wait;
        otherwise one list of the waiting tips ("12 new tips in Phường X")."""
        now = self.clock.now()
        sent = 0
        async with self.db.write() as conn:
            office = Office(conn)
            pending = await office.pending_alerts()
            by_unit: dict[int, list[PendingAlert]] = {}
            for alert in pending:
                by_unit.setdefault(alert.unit_id, []).append(alert)
            rows = []
            for unit_id, alerts in by_unit.items():
                destinations = await office.unit_destinations(unit_id)
                if not destinations:
                    log.warning("unit %s has no alert destination; tips wait in /tips", unit_id)
                    await office.mark_alerts_sent([a.id for a in alerts], now)
                    continue
                budgets = [
                    self.settings.per_minute
                    - await office.messages_sent_since(_dest(d), now - timedelta(minutes=1))
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
                        view = await office.alert_view(
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
                        items = officer.card(view, self.places, title=title)
                        size = self._size(items)
                        if cost + size > budget:
                            break
                        items_for += items
                        cost += size
                        done.append(alert.id)
                else:
                    take = alerts[: budget * LINES_PER_BATCH]
                    lines = await office.lines_by_id([a.tip_id for a in take])
                    wards = {line.ward_code for line in lines}
                    ward = officer.ward_label(self.places, wards.pop()) if len(wards) == 1 else None
                    for start in range(0, len(lines), LINES_PER_BATCH):
                        chunk = lines[start : start + LINES_PER_BATCH]
                        heading = (
                            Msg("officer.batch.ward", {"count": len(lines), "ward": ward})
                            if ward is not None
                            else Msg("officer.batch", {"count": len(lines)})
                        )
                        items_for.append(officer.tip_lines(chunk, self.places, "", heading))
                        cost += 1
                    done = [a.id for a in take]
                if not items_for:
                    continue
                for destination in destinations:
                    rows += self.pipeline.render_for(destination, items_for)
                    await office.record_sends(_dest(destination), cost, now)
                await office.mark_alerts_sent(done, now)
                sent += len(done)
            await outbox.enqueue(conn, rows, now)
        if sent:
            self.pipeline.on_outbox()
        return sent

    def _size(self, items: list[Item]) -> int:
        """Messages a card costs (text chunks + pin + files)."""
        return sum(len(self.pipeline.renderer.render(item, "vi")) for item in items)

    # ---- escalation ---------------------------------------------------------------
    async def escalate(self) -> int:
        """Unclaimed past the deadline: first the units' supervisors, then the
        city-level unit. Each step is written with the messages it sends."""
        now = self.clock.now()
        async with self.db.write() as conn:
            office = Office(conn)
            due = await office.due_for_escalation(now)
            rows = []
            for tip in due:
                level = tip.escalation_level + 1
                delay = self.settings.claim_urgent if tip.urgent else self.settings.claim_normal
                targets: list[Recipient] = []
                if level == 1:
                    targets = await office.staff_chats(await office.supervisors(tip.id))
                    if not targets:
                        level = 2
                if level == 2:
                    for unit_id in await office.city_units():
                        await office.queue_alert(tip.id, unit_id, "escalated", now)
                else:
                    view = await office.alert_view(tip.id, with_contact=False)
                    if view is not None:
                        items = officer.card(view, self.places, title="officer.card.escalated")
                        for to in targets:
                            rows += self.pipeline.render_for(to, list(items))
                await office.escalated(tip.id, level, now + delay if level < 2 else None)
                await office.audit(now, f"escalate.{level}", "ok", tip_id=tip.id, target=tip.code)
            await outbox.enqueue(conn, rows, now)
        if due:
            self.pipeline.on_outbox()
            self.wake()
        return len(due)

    # ---- digests ------------------------------------------------------------------
    async def send_digests(self) -> int:
        """Send the latest daily and weekly digest not yet sent, per unit and
        city-wide. Run at start (catch-up) and at the digest times; the periods sent
        are recorded in the same transaction, so a period never goes out twice."""
        now = self.clock.now()
        local = now.astimezone(VIETNAM)
        count = 0
        for kind in ("daily", "weekly"):
            first = digest.period_of(
                kind, local, self.settings.digest_hour, self.settings.digest_weekday
            )
            if first is None:
                continue
            days = 1 if kind == "daily" else 7
            start = datetime.combine(first, time(), VIETNAM)
            end = start + timedelta(days=days)
            async with self.db.write() as conn:
                office = Office(conn)
                scopes: list[tuple[str, int | None, str, list[Recipient]]] = []
                city_targets: list[Recipient] = []
                for unit in await office.list_units():
                    targets = await office.unit_destinations(unit.id)
                    if unit.city_level:
                        city_targets += targets
                    scopes.append((str(unit.id), unit.id, unit.name, targets))
                city_name = self.catalog.text(
                    "vi", Msg("digest.city", {"city": self.places.province_name})
                )
                scopes.append(("city", None, city_name, city_targets))
                rows = []
                for scope, unit_id, name, targets in scopes:
                    if not targets:
                        continue
                    if not await office.digest_claim(kind, first.isoformat(), scope, now):
                        continue
                    items = await self.digest_items(office, kind, start, end, unit_id, name, now)
                    for to in targets:
                        rows += self.pipeline.render_for(to, list(items))
                    count += 1
                await outbox.enqueue(conn, rows, now)
        if count:
            self.pipeline.on_outbox()
        return count

    async def digest_items(
        self,
        office: Office,
        kind: str,
        start: datetime,
        end: datetime,
        unit_id: int | None,
        name: str,
        now: datetime,
    ) -> list[Item]:
        text, path = await build_digest(
            office,
            catalog=self.catalog,
            places=self.places,
            kind=kind,
            start=start,
            end=end,
            unit_id=unit_id,
            name=name,
            now=now,
            charts_dir=self.charts_dir,
        )
        title = text.splitlines()[0]
        return [
            Reply.of(Msg("officer.plain", {"text": text})),
            Chart(str(path), Msg("digest.chart.caption", {"title": title})),
        ]


def _dest(recipient: Recipient) -> str:
    return f"{recipient.channel}:{recipient.chat_key}"
