"""Digests: daily and weekly, per unit and city-wide, with a chart. Sent periods are
recorded in the same transaction as the messages, so a period never goes out twice
(a digest missed while the service was down is sent at start)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path

from bot.clock import Clock
from bot.dispatch.dispatcher import Pipeline
from bot.figures import build_digest
from handlers.core.events import Chart, Item, Msg, Reply
from handlers.core.i18n import Catalog
from handlers.domain import digest
from handlers.domain.places import Gazetteer
from handlers.domain.vntime import VIETNAM
from storage import outbox
from storage.db import Database
from storage.models import Recipient
from storage.stores import Stores


class Digester:
    def __init__(
        self,
        *,
        db: Database,
        pipeline: Pipeline,
        catalog: Catalog,
        places: Gazetteer,
        clock: Clock,
        hour: int,
        weekday: int,
        charts_dir: Path,
    ) -> None:
        self.db = db
        self.pipeline = pipeline
        self.catalog = catalog
        self.places = places
        self.clock = clock
        self.hour = hour
        self.weekday = weekday
        self.charts_dir = charts_dir

    async def send_digests(self) -> int:
        """Send the latest daily and weekly digest not yet sent, per unit and
        city-wide. Run at start (catch-up) and at the digest times; the periods sent
        are recorded in the same transaction, so a period never goes out twice."""
        now = self.clock.now()
        local = now.astimezone(VIETNAM)
        count = 0
        for kind in ("daily", "weekly"):
            first = digest.period_of(kind, local, self.hour, self.weekday)
            if first is None:
                continue
            days = 1 if kind == "daily" else 7
            start = datetime.combine(first, time(), VIETNAM)
            end = start + timedelta(days=days)
            async with self.db.write() as conn:
                stores = Stores(conn)
                scopes: list[tuple[str, int | None, str, list[Recipient]]] = []
                city_targets: list[Recipient] = []
                for unit in await stores.units.list_units():
                    targets = await stores.units.unit_destinations(unit.id)
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
                    if not await stores.digests.digest_claim(kind, first.isoformat(), scope, now):
                        continue
                    items = await self.digest_items(stores, kind, start, end, unit_id, name, now)
                    for to in targets:
                        rows += self.pipeline.render_for(to, list(items))
                    count += 1
                await outbox.enqueue(conn, rows, now)
        if count:
            self.pipeline.on_outbox(())
        return count

    async def digest_items(
        self,
        stores: Stores,
        kind: str,
        start: datetime,
        end: datetime,
        unit_id: int | None,
        name: str,
        now: datetime,
    ) -> list[Item]:
        text, path = await build_digest(
            stores,
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
