"""The desk's figures: `/staff/figures` counts the tips this account may see over a
period, in the campaign report's shape (the four groups and their sub-types, wards,
status, channel), with the median times to claim and to resolve, what is open and
overdue now, and the digest chart; `/staff/figures.csv` is the same figures as a file
and `/staff/figures.png` the chart. Counts only: no code, no text, no identifier.

A supervisor sees their unit and those below it, the city level everything (the same
`visible` rule as every tip read). Each view and download is audited."""

from __future__ import annotations

import asyncio
import csv
import io
import tempfile
from collections import Counter
from datetime import timedelta
from html import unescape
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.clock import Clock
from bot.desk.pages import Texts
from bot.desk.signin import StaffPortal
from handlers.core.events import Msg
from handlers.domain import digest, taxonomy
from handlers.domain.places import Gazetteer
from storage.stores import Stores

PERIODS = (1, 7, 30, 90, 365)


class FigurePages:
    def __init__(self, portal: StaffPortal, places: Gazetteer, clock: Clock) -> None:
        self.portal = portal
        self.places = places
        self.clock = clock

    def routes(self) -> list[Route]:
        return [
            Route("/staff/figures", self.page, methods=["GET"]),
            Route("/staff/figures.csv", self.csv, methods=["GET"]),
            Route("/staff/figures.png", self.chart, methods=["GET"]),
        ]

    def _days(self, request: Request) -> int:
        asked = request.query_params.get("period", "30")
        return int(asked) if asked.isdigit() and int(asked) in PERIODS else 30

    async def _load(
        self, request: Request, action: str
    ) -> tuple[int, digest.DigestStats, Counter[str], Texts] | None:
        """The signed-in account's figures for the asked period (None: no session)."""
        member = await self.portal.current(request)
        if member is None:
            return None
        days = self._days(request)
        stats, statuses = await self._figures(member.id, days, action)
        return days, stats, statuses, Texts(self.portal, request)

    async def _figures(
        self, staff_id: str, days: int, action: str
    ) -> tuple[digest.DigestStats, Counter[str]]:
        now = self.clock.now()
        async with self.portal.db.write() as conn:
            stores = Stores(conn)
            rows = await stores.digests.visible_rows(staff_id, now - timedelta(days=days), now)
            open_count, overdue = await stores.digests.visible_open_counts(staff_id, now)
            await stores.audit.audit(now, action, "ok", staff_id=staff_id, target=f"{days}d")
        return digest.compute(rows, open_count, overdue), Counter(r.status for r in rows)

    def _sections(
        self, t: Texts, stats: digest.DigestStats, statuses: Counter[str]
    ) -> list[tuple[str, list[tuple[str, str, int]]]]:
        """(section title, [(key, label, count)]) — the page's tables and the CSV alike."""
        groups = []
        for group in taxonomy.Group:
            groups.append((group.value, t(f"group.{group.value}"), stats.by_group[group.value]))
            for category in taxonomy.in_group(group):
                n = stats.by_category.get(category.id, 0)
                if n:
                    groups.append((category.id, "— " + t(f"cat.{category.id}"), n))
        wards = [(str(code or ""), t.show(self._ward(code)), n) for code, n in stats.by_ward]
        by_status = [
            (s, t(f"status.{s}"), statuses[s])
            for s in ("new", "verifying", "in_progress", "resolved", "unfounded", "spam")
        ]
        channels = [(c, t.plain(c), n) for c, n in sorted(stats.by_channel.items())]
        return [
            (t("desk.fig.by_group"), groups),
            (t("desk.fig.by_ward"), wards),
            (t("desk.fig.by_status"), by_status),
            (t("desk.fig.by_channel"), channels),
        ]

    def _ward(self, code: int | None) -> Msg | str:
        place = self.places.get(code) if code else None
        return place.name if place else Msg("officer.no_ward")

    async def page(self, request: Request) -> Response:
        loaded = await self._load(request, "desk.figures")
        if loaded is None:
            return RedirectResponse("/staff/login", status_code=303)
        days, stats, statuses, t = loaded
        lang = "&lang=en" if t.locale == "en" else ""
        locale = t.locale
        catalog = self.portal.catalog
        choices = " ".join(
            f'<a href="/staff/figures?period={d}{lang}"'
            + (' aria-current="page"' if d == days else "")
            + f">{t('desk.days', n=d)}</a>"
            for d in PERIODS
        )
        summary = [
            (t("desk.fig.total"), str(stats.total)),
            (t("desk.fig.open_now"), str(stats.open)),
            (t("desk.fig.overdue_now"), str(stats.overdue)),
            (t("desk.fig.median_claim"), digest.duration(catalog, locale, stats.median_claim)),
            (t("desk.fig.median_resolve"), digest.duration(catalog, locale, stats.median_resolve)),
        ]
        head = (
            f'<thead><tr><th scope="col">{t("desk.fig.what")}</th>'
            f'<th scope="col">{t("desk.fig.tips")}</th></tr></thead>'
        )
        tables = "".join(
            f"<h3>{title}</h3><table>{head}<tbody>"
            + "".join(
                f'<tr><th scope="row">{label}</th><td class="n">{n}</td></tr>'
                for _, label, n in rows
            )
            + "</tbody></table>"
            for title, rows in self._sections(t, stats, statuses)
        )
        body = (
            f'<p><a href="/staff{lang.replace("&", "?", 1)}">← {t("desk.inbox")}</a></p>'
            f"<h2>{t('desk.figures')}</h2>"
            f'<nav class="desk-nav" aria-label="{t("desk.period")}">{choices}</nav>'
            '<section class="figures"><dl class="facts">'
            + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in summary)
            + "</dl>"
            + (
                f'<img src="/staff/figures.png?period={days}{lang}" width="1100" height="480" '
                f'alt="{t("desk.fig.chart_alt")}">'
                if stats.total
                else ""
            )
            + tables
            + f'<p><a href="/staff/figures.csv?period={days}{lang}" download>'
            f"{t('desk.fig.csv')}</a></p></section>"
        )
        return self.portal.page(request, "desk.title", body, title=t("desk.figures"))

    async def csv(self, request: Request) -> Response:
        loaded = await self._load(request, "desk.figures.csv")
        if loaded is None:
            return Response("not found", status_code=404)
        days, stats, statuses, t = loaded
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["section", "key", "label", "tips"])
        for title, rows in self._sections(t, stats, statuses):
            for key, label, n in rows:
                # Labels are shown as text, never as formulas, in a spreadsheet.
                writer.writerow([title, key, _cell(label.removeprefix("— ")), n])
        return Response(
            "\ufeff" + out.getvalue(),  # a BOM: spreadsheet programs then read UTF-8
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="so-lieu-{days}-ngay.csv"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def chart(self, request: Request) -> Response:
        loaded = await self._load(request, "desk.figures.chart")
        if loaded is None:
            return Response("not found", status_code=404)
        days, stats, _, t = loaded
        # Imported here: matplotlib takes a second to import (see bot/figures.py).
        from bot import charts

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "figures.png"
            await asyncio.to_thread(
                charts.draw, stats, path, catalog=self.portal.catalog, locale=t.locale,
                places=self.places, title=self.portal.catalog.text(
                    t.locale, Msg("desk.days", {"n": days})
                ),
            )  # fmt: skip
            data = path.read_bytes()
        return Response(
            data,
            media_type="image/png",
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )


def _cell(text: str) -> str:
    plain = unescape(text)
    return "'" + plain if plain[:1] in ("=", "+", "-", "@", "\t", "\r") else plain
