"""The officer desk's inbox: `/staff` lists the tips the signed-in account may see,
open and urgent first, with filters, a search within them and pages; `/staff/live`
tells an open page when anything it could show has changed (a long poll the page's own
script repeats, so a restarted server is simply asked again).

Every read goes through the same authorised queries as the chat (`storage/desk.py`)
and is audited. Server-rendered and escaped; the one script is ours (`static/desk.js`)
and only refreshes the list and the count in the title."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from html import escape
from pathlib import Path
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.clock import Clock
from bot.desk.signin import StaffPortal
from handlers.core.events import Msg
from handlers.core.staffing import ward_label
from handlers.core.text import fold
from handlers.domain import receipts, taxonomy
from handlers.domain.places import Gazetteer
from handlers.domain.vntime import local_time
from storage.access import OPEN
from storage.models import DeskFilter, DeskLine
from storage.stores import Stores

PAGE_SIZE = 50
LIVE_WAIT_S = 25.0  # a live request answers at once on a change, else after this
LIVE_STEP_S = 1.0
STATIC = Path(__file__).parent / "static"
STATUSES = ("new", "verifying", "in_progress", "resolved", "unfounded", "spam")
PERIODS = {"1": 1, "7": 7, "30": 30, "365": 365}


def locale_of(request: Request) -> str:
    return "en" if request.query_params.get("lang") == "en" else "vi"


class Texts:
    """Catalog text for one request, escaped for HTML."""

    def __init__(self, portal: StaffPortal, request: Request) -> None:
        self.catalog = portal.catalog
        self.locale = locale_of(request)

    def __call__(self, key: str, **params: str | int | Msg) -> str:
        """A catalog key's text."""
        return self.show(Msg(key, dict(params)))

    def show(self, value: Msg | str) -> str:
        """A message, or a literal (a ward's or a unit's name)."""
        return escape(self.catalog.text(self.locale, value) if isinstance(value, Msg) else value)

    def plain(self, text: str) -> str:
        return escape(text)


def live_marker(t: Texts, version: str, title: str) -> str:
    """What the desk's script needs to keep the page current (see static/desk.js)."""
    return (
        f'<div id="live" hidden data-version="{escape(version)}" data-title="{title}" '
        f'data-updated="{t("desk.updated")}"></div>'
        '<p id="fresh" role="status" aria-live="polite"></p>'
    )


def table_row(t: Texts, labels: str, head: str, cells: tuple[tuple[str, str], ...]) -> str:
    """One row of a desk table: its first cell names it; on a phone each row is a card
    and every value carries its column's name (`data-label`, catalog `labels.<key>`)."""
    return (
        f'<tr><th scope="row">{head}</th>'
        + "".join(f'<td data-label="{t(f"{labels}.{k}")}">{v}</td>' for k, v in cells)
        + "</tr>"
    )


def category_label(category: str) -> Msg | str:
    return Msg(f"cat.{category}") if category in taxonomy.BY_ID else category


def age(now_s: float, then_s: float) -> Msg:
    minutes = max(0, int((now_s - then_s) // 60))
    if minutes < 60:
        return Msg("desk.age.minutes", {"n": minutes})
    if minutes < 48 * 60:
        return Msg("desk.age.hours", {"n": minutes // 60})
    return Msg("desk.age.days", {"n": minutes // (24 * 60)})


class DeskPages:
    def __init__(self, portal: StaffPortal, places: Gazetteer, clock: Clock) -> None:
        self.portal = portal
        self.places = places
        self.clock = clock

    def routes(self) -> list[Route]:
        return [
            Route("/staff", self.inbox, methods=["GET"]),
            Route("/staff/live", self.live, methods=["GET"]),
            Route("/staff/desk.js", self.static("desk.js", "text/javascript"), methods=["GET"]),
            Route("/staff/desk.css", self.static("desk.css", "text/css"), methods=["GET"]),
        ]

    def static(self, name: str, media_type: str) -> Callable[[Request], Awaitable[Response]]:
        body = (STATIC / name).read_bytes()

        async def endpoint(_: Request) -> Response:
            return Response(
                body,
                media_type=media_type,
                headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
            )

        return endpoint

    # ---- the filter ---------------------------------------------------------------
    def _filter(self, request: Request) -> tuple[DeskFilter, str, int]:
        q = request.query_params
        status = q.get("status", "open")
        statuses = list(OPEN) if status == "open" else [status] if status in STATUSES else []
        group = q.get("group") if q.get("group") in {g.value for g in taxonomy.Group} else None
        category = q.get("category") if q.get("category") in taxonomy.BY_ID else None
        ward = (q.get("ward") or "").strip()[:80]
        wards = [p.code for p in self.places.search(ward, limit=8)] if ward else []
        if ward and not wards:
            wards = [-1]  # a ward that matches nothing shows nothing, not everything
        unit = q.get("unit", "")
        period = PERIODS.get(q.get("period", ""))
        f = DeskFilter(
            statuses=statuses,
            group=group,
            category=category,
            wards=wards,
            unit_id=int(unit) if unit.isdigit() and len(unit) < 9 else None,
            urgent=q.get("urgent") == "1",
            unclaimed=q.get("unclaimed") == "1",
            overdue=q.get("overdue") == "1",
            since=self.clock.now() - timedelta(days=period) if period else None,
        )
        text = " ".join((q.get("q") or "").split())[:100]
        page = q.get("page", "1")
        return f, text, max(1, min(int(page), 10_000)) if page.isdigit() else 1

    async def _lines(self, staff_id: str, request: Request) -> tuple[list[DeskLine], int, int]:
        f, text, page = self._filter(request)
        matches = None
        if text:
            code = receipts.normalise_code(text)
            wanted = fold(code or text)
            matches = lambda words: wanted in fold(words)  # noqa: E731
        async with self.portal.db.write() as conn:
            stores = Stores(conn)
            lines, total = await stores.desk.desk_lines(
                staff_id, f, self.clock.now(), limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE,
                matches=matches,
            )  # fmt: skip
            await stores.audit.audit(
                self.clock.now(), "desk.list", "ok", staff_id=staff_id,
                target="search" if text else None,
            )  # fmt: skip
        return lines, total, page

    # ---- pages ----------------------------------------------------------------------
    async def inbox(self, request: Request) -> Response:
        member = await self.portal.current(request)
        if member is None:
            return RedirectResponse("/staff/login", status_code=303)
        t = Texts(self.portal, request)
        lines, total, page = await self._lines(member.id, request)
        async with self.portal.db.read() as conn:
            version = await Stores(conn).desk.version(member.id)
            units = await Stores(conn).units.list_units()
        table = self._table(t, lines, request)
        head = t.show(Msg("staff.signed_in", {"name": member.username, "role": member.role}))
        lang = "&lang=en" if t.locale == "en" else ""
        nav = (
            f'<nav class="desk-nav" aria-label="{t("desk.nav")}">'
            f'<a href="/staff?status=open{lang}">{t("desk.inbox")}</a> '
            f'<a href="/staff/figures?period=30{lang}">{t("desk.figures")}</a> '
            + (
                f'<a href="/staff/admin?tab=units{lang}">{t("admin.title")}</a> '
                if member.role == "admin"
                else ""
            )
            + f'<a href="/staff?lang={"vi" if t.locale == "en" else "en"}">'
            f"{t('web.other_lang')}</a></nav>"
        )
        body = (
            f'<p class="who">{head}</p>{nav}'
            f"<h2>{t('desk.inbox')} "
            f'<span id="count" data-live>({t("desk.count", n=total)})</span></h2>'
            + self._filters(t, request, units)
            + live_marker(t, version, t("desk.inbox"))
            + '<div id="tips" data-live>'
            + table
            + self._pager(t, request, total, page)
            + "</div>"
            f'<form method="post" action="/staff/logout">'
            f'<button type="submit">{t("staff.sign_out")}</button></form>'
            f'<form method="post" action="/staff/logout-everywhere">'
            f'<button type="submit">{t("staff.sign_out_everywhere")}</button>'
            "</form>"
        )
        return self.portal.page(request, "desk.title", body, script=True)

    def _filters(self, t: Texts, request: Request, units: list) -> str:  # type: ignore[type-arg]
        q = request.query_params

        def options(name: str, items: list[tuple[str, str]]) -> str:
            chosen = q.get(name, "open" if name == "status" else "")
            return "".join(
                f'<option value="{escape(v)}"{" selected" if v == chosen else ""}>{label}</option>'
                for v, label in items
            )

        statuses = [("open", t("desk.open")), ("", t("desk.any"))] + [
            (s, t.show(Msg(f"status.{s}"))) for s in STATUSES
        ]
        groups = [("", t("desk.any"))]
        groups += [(g.value, t.show(Msg(f"group.{g.value}"))) for g in taxonomy.Group]
        cats = [("", t("desk.any"))]
        cats += [(c.id, t.show(Msg(f"cat.{c.id}"))) for c in taxonomy.CATEGORIES]
        unit_opts = [("", t("desk.any"))] + [(str(u.id), t.plain(u.name)) for u in units]
        periods = [("", t("desk.any"))] + [(k, t("desk.days", n=int(k))) for k in PERIODS]

        def check(name: str) -> str:
            on = " checked" if q.get(name) == "1" else ""
            return (
                f'<label><input type="checkbox" name="{name}" value="1"{on}> '
                f"{t(f'desk.filter.{name}')}</label>"
            )

        lang = '<input type="hidden" name="lang" value="en">' if t.locale == "en" else ""
        narrowed = any(q.get(k) for k in ("q", "group", "category", "ward", "unit", "period",
                                           "urgent", "unclaimed", "overdue"))  # fmt: skip
        return (
            f'<details id="filters"{" open" if narrowed else ""}>'
            f"<summary>{t('desk.filters')}</summary>"
            f'<form method="get" action="/staff" class="filters" role="search">{lang}'
            f'<label>{t("desk.search")} <input type="search" name="q" '
            f'value="{escape(q.get("q", ""))}" maxlength="100"></label>'
            f'<label>{t("desk.status")} <select name="status">{options("status", statuses)}'
            f"</select></label>"
            f'<label>{t("desk.group")} <select name="group">{options("group", groups)}'
            f"</select></label>"
            f'<label>{t("desk.category")} <select name="category">'
            f"{options('category', cats)}</select></label>"
            f'<label>{t("desk.ward")} <input name="ward" value="{escape(q.get("ward", ""))}" '
            f'maxlength="80"></label>'
            f'<label>{t("desk.unit")} <select name="unit">{options("unit", unit_opts)}'
            f"</select></label>"
            f'<label>{t("desk.period")} <select name="period">{options("period", periods)}'
            f"</select></label>"
            f"{check('urgent')}{check('unclaimed')}{check('overdue')}"
            f'<button type="submit">{t("desk.apply")}</button></form></details>'
        )

    def _table(self, t: Texts, lines: list[DeskLine], request: Request) -> str:
        if not lines:
            return f'<p class="empty">{t("desk.none")}</p>'
        now = self.clock.now()
        lang = "?lang=en" if t.locale == "en" else ""
        rows = []
        for line in lines:
            overdue = (
                line.claim_due_at is not None
                and line.claim_due_at < now
                and line.claimed_by_name is None
                and line.status in OPEN
            )
            marks = []
            if line.urgent:
                marks.append(f'<span class="urgent">{t("desk.urgent")}</span>')
            if overdue:
                marks.append(f'<span class="overdue">{t("desk.overdue")}</span>')
            if line.answered:
                marks.append(f'<span class="answered">{t("desk.answered")}</span>')
            cells = (
                ("category", f"{t.show(Msg(f'group.{line.category_group}'))} · "
                             f"{t.show(category_label(line.category))}"),
                ("ward", t.show(ward_label(self.places, line.ward_code))),
                ("age", f'<time datetime="{line.created_at.isoformat()}" '
                        f'title="{escape(local_time(line.created_at))}">'
                        f"{t.show(age(now.timestamp(), line.created_at.timestamp()))}</time>"),
                ("status", t.show(Msg(f"status.{line.status}"))),
                ("claimed", t.plain(line.claimed_by_name) if line.claimed_by_name else "—"),
                ("files", str(line.files)),
                ("marks", " ".join(marks)),
            )  # fmt: skip
            link = f'<a href="/staff/tips/{escape(line.code)}{lang}">{escape(line.code)}</a>'
            rows.append(table_row(t, "desk.col", link, cells))
        heads = ("code", "category", "ward", "age", "status", "claimed", "files", "marks")
        head = "".join(f'<th scope="col">{t(f"desk.col.{h}")}</th>' for h in heads)
        return (
            f'<div class="scroll"><table class="tips"><caption class="visually-hidden">'
            f"{t('desk.inbox')}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>"
        )

    def _pager(self, t: Texts, request: Request, total: int, page: int) -> str:
        pages = max(1, -(-total // PAGE_SIZE))
        if pages == 1:
            return ""
        params = {k: v for k, v in request.query_params.items() if k != "page"}

        def link(n: int, key: str) -> str:
            return f'<a href="/staff?{escape(urlencode({**params, "page": n}))}">{t(key)}</a>'

        parts = []
        if page > 1:
            parts.append(link(page - 1, "desk.prev"))
        parts.append(t("desk.page", n=page, of=pages))
        if page < pages:
            parts.append(link(page + 1, "desk.next"))
        return f'<nav class="pager" aria-label="{t("desk.pages")}">{" ".join(parts)}</nav>'

    async def live(self, request: Request) -> Response:
        """Answers as soon as what this account sees differs from `v` (or after
        LIVE_WAIT_S with the same version): the page then fetches the list again."""
        member = await self.portal.current(request)
        if member is None:
            return JSONResponse({"signed_out": True}, status_code=401)
        seen = request.query_params.get("v", "")
        deadline = asyncio.get_running_loop().time() + LIVE_WAIT_S
        while True:
            async with self.portal.db.read() as conn:
                stores = Stores(conn)
                version = await stores.desk.version(member.id)
                if version != seen or asyncio.get_running_loop().time() >= deadline:
                    waiting = await stores.desk.waiting(member.id)
                    return JSONResponse(
                        {"v": version, "waiting": waiting}, headers={"Cache-Control": "no-store"}
                    )
            if await request.is_disconnected():
                return Response(status_code=204)
            await asyncio.sleep(LIVE_STEP_S)
