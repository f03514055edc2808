"""Statistics and CSV exports for admins (chat commands and the CLI).

Statistics have the campaign report's shape (the four category groups with sub-types,
wards, channels) and come with a chart. Exports hold no citizen identifiers: no
pseudonym, no chat, no text; the contact number of tips whose tipster chose to leave
one is added only when explicitly asked for (the caller audits that request).
"""

from __future__ import annotations

import asyncio
import csv
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from handlers.core.events import Chart, Item, Msg, Reply
from handlers.core.i18n import Catalog
from handlers.domain import digest
from handlers.domain.places import Gazetteer
from handlers.domain.vntime import VIETNAM
from storage.stores import Stores
from storage.tips import TipRepository


async def build_digest(
    stores: Stores,
    *,
    catalog: Catalog,
    places: Gazetteer,
    kind: str,
    start: datetime,
    end: datetime,
    unit_id: int | None,
    name: str,
    now: datetime,
    charts_dir: Path,
    locale: str = "vi",
    channels: bool = False,
) -> tuple[str, Path]:
    """A digest's text and its chart file (also used by `tipbot digest` and /stats)."""
    rows = await stores.digests.digest_rows(unit_id, start, end)
    open_count, overdue = await stores.digests.open_counts(unit_id, now)
    stats = digest.compute(rows, open_count, overdue)
    text = digest.render(
        stats,
        catalog=catalog,
        locale=locale,
        places=places,
        kind=kind,
        first_day=start.astimezone(VIETNAM).date(),
        scope=name,
        days=max(1, round((end - start).total_seconds() / 86400)),
        channels=channels,
    )
    # Imported here: matplotlib takes about a second to import, which every `tipbot`
    # command and every start would otherwise pay for a chart drawn once a day.
    from bot import charts

    path = charts_dir / f"{kind}-{start.date().isoformat()}-{unit_id or 'city'}.png"
    await asyncio.to_thread(
        charts.draw,
        stats,
        path,
        catalog=catalog,
        locale=locale,
        places=places,
        # The chart font has no emoji: title it with the words only.
        title=text.splitlines()[0].lstrip("📊 "),
    )
    return text, path


class Reports:
    def __init__(self, conn: Any, *, catalog: Catalog, places: Gazetteer, data_dir: Path) -> None:
        self.conn = conn
        self.catalog = catalog
        self.places = places
        self.data_dir = data_dir

    async def stats(
        self, since: datetime, until: datetime, now: datetime, locale: str
    ) -> list[Item]:
        name = self.catalog.text(locale, Msg("digest.city", {"city": self.places.province_name}))
        text, path = await build_digest(
            Stores(self.conn),
            catalog=self.catalog,
            places=self.places,
            kind="stats",
            start=since,
            end=until,
            unit_id=None,
            name=name,
            now=now,
            charts_dir=self.data_dir / "stats",
            locale=locale,
            channels=True,
        )
        title = text.splitlines()[0]
        return [
            Reply.of(Msg("officer.plain", {"text": text})),
            Chart(str(path), Msg("digest.chart.caption", {"title": title})),
        ]

    async def export_file(
        self,
        since: datetime,
        until: datetime,
        *,
        categories: list[str] | None = None,
        with_contact: bool = False,
    ) -> tuple[Item, int]:
        """An export as a document to send in the chat."""
        path, count = await self.export(
            since, until, categories=categories, with_contact=with_contact
        )
        caption = Msg("report.export.caption", {"count": count})
        return Chart(str(path), caption, document=True), count

    async def export(
        self,
        since: datetime,
        until: datetime,
        *,
        categories: list[str] | None = None,
        wards: list[int] | None = None,
        with_contact: bool = False,
        path: Path | None = None,
    ) -> tuple[Path, int]:
        rows = await TipRepository(self.conn).export(
            since, until, categories=categories, wards=wards, with_contact=with_contact
        )
        if path is None:
            folder = self.data_dir / "exports"
            folder.mkdir(parents=True, exist_ok=True)
            stamp = f"{since:%Y%m%d}-{until:%Y%m%d}-{secrets.token_hex(3)}"
            path = folder / f"tips-{stamp}.csv"
        header = [
            "code", "created_ict", "group", "category", "urgent", "ward_code", "ward",
            "channel", "status", "claimed_ict", "resolved_ict",
        ]  # fmt: skip
        if with_contact:
            header.append("contact_phone")
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for row in rows:
                place = self.places.get(row["ward_code"]) if row["ward_code"] else None
                line = [
                    row["code"],
                    _local(row["created_at"]),
                    row["category_group"],
                    row["category"],
                    int(row["urgent"]),
                    row["ward_code"] or "",
                    place.name if place else "",
                    row["channel"],
                    row["status"],
                    _local(row["claimed_at"]),
                    _local(row["resolved_at"]),
                ]
                if with_contact:
                    line.append(row["contact_phone"] or "")
                writer.writerow(line)
        return path, len(rows)


def _local(moment: datetime | None) -> str:
    return moment.astimezone(VIETNAM).strftime("%Y-%m-%d %H:%M") if moment else ""
