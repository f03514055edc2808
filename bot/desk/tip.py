"""One tip on the desk: `/staff/tips/<CODE>` shows every field, the attachments inline,
the place (a map tile when `MAP_TILE_URL` is set; coordinates and links always), the
timeline, similar tips and the actions; `/staff/tips/<CODE>/act` takes the actions'
forms; `/staff/tips/<CODE>/files/<N>` serves an attachment's staff copy.

A tip outside the account's units, an unknown code and a malformed one all get the
same 404, for the page, its files and its actions alike; every view is audited.

The actions are not done here: each form becomes an officer command in the durable
inbox, handled by the same flow as in a chat (`bot/channels/desk`, decision 0014), and
the page waits for it before it redirects back with what the flow answered."""

from __future__ import annotations

import asyncio
import math
import secrets
from datetime import timedelta
from html import escape
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.channels.desk import DeskChannel
from bot.clock import Clock
from bot.desk.pages import Texts, category_label, live_marker
from bot.desk.photos import PhotoHashes
from bot.desk.signin import StaffPortal, read_form
from bot.dispatch.dispatcher import Pipeline
from bot.uploads import EXTENSIONS, UploadStore, sniff
from handlers.core.events import Msg
from handlers.core.staffing import ward_label
from handlers.domain import receipts
from handlers.domain.places import Gazetteer
from handlers.domain.vntime import local_time
from storage.access import OPEN
from storage.models import TipView
from storage.stores import Stores

SIMILAR_WITHIN = timedelta(days=7)
PHOTOS_WITHIN = timedelta(days=30)  # pictures compared with this tip's
MAX_FORM = 16 * 1024
STATUSES = ("verifying", "in_progress", "resolved", "unfounded", "spam")
TILE_ZOOM = 16


class TipPages:
    def __init__(
        self,
        *,
        portal: StaffPortal,
        places: Gazetteer,
        clock: Clock,
        desk: DeskChannel,
        pipeline: Pipeline,
        uploads: UploadStore,
        tile_url: str | None,
    ) -> None:
        self.portal = portal
        self.places = places
        self.clock = clock
        self.desk = desk
        self.pipeline = pipeline
        self.uploads = uploads
        self.tile_url = tile_url
        self.photos = PhotoHashes(uploads)

    def routes(self) -> list[Route]:
        return [
            Route("/staff/tips/{code}", self.tip, methods=["GET"]),
            Route("/staff/tips/{code}/act", self.act, methods=["POST"]),
            Route("/staff/tips/{code}/files/{n:int}", self.file, methods=["GET"]),
        ]

    def _not_found(self, request: Request) -> Response:
        t = Texts(self.portal, request)
        return self.portal.page(
            request, "desk.title", f'<p class="msg">{t("officer.not_found")}</p>', status=404
        )

    async def _view(self, staff_id: str, raw: str, action: str) -> TipView | None:
        code = receipts.normalise_code(raw)
        async with self.portal.db.write() as conn:
            stores = Stores(conn)
            view = await stores.desk.tip_view(staff_id, code) if code else None
            await stores.audit.audit(
                self.clock.now(), action, "ok" if view else "denied", staff_id=staff_id,
                tip_id=view.id if view else None, target=(code or raw)[:64],
            )  # fmt: skip
        return view

    # ---- the page -------------------------------------------------------------------
    async def tip(self, request: Request) -> Response:
        member = await self.portal.current(request)
        if member is None:
            return RedirectResponse("/staff/login", status_code=303)
        view = await self._view(member.id, request.path_params["code"], "desk.view")
        if view is None:  # not yours, unknown or malformed: one answer for all
            return self._not_found(request)
        async with self.portal.db.read() as conn:
            stores = Stores(conn)
            thread = await stores.desk.thread(view.id, limit=200)
            similar = await stores.desk.similar(member.id, view.id, SIMILAR_WITHIN)
            mine = [
                a.file_ref for a in view.attachments if a.kind == "photo" and a.channel == "web"
            ]
            others = (
                await stores.desk.photos_around(member.id, view.id, PHOTOS_WITHIN) if mine else []
            )
            units = await stores.units.list_units()
            version = await stores.desk.version(member.id)
        alike = await asyncio.to_thread(self.photos.alike, mine, others) if others else []
        t = Texts(self.portal, request)
        lang = "?lang=en" if t.locale == "en" else ""
        after = request.query_params.get("after", "")
        notices = (
            self.desk.notices(member.id, int(after)) if after.isdigit() and len(after) < 20 else []
        )
        facts: list[tuple[str, Msg | str]] = [
            ("desk.code", view.code),
            ("desk.category", category_label(view.category)),
            ("desk.group", Msg(f"group.{view.category_group}")),
            ("desk.urgent_q", Msg("desk.yes" if view.urgent else "desk.no")),
            ("desk.ward", ward_label(self.places, view.ward_code)),
            ("desk.status", Msg(f"status.{view.status}")),
            ("desk.received", local_time(view.created_at)),
            ("desk.when", (view.occurred_text or "") if view.occurred == "text" else
             Msg(f"when.{view.occurred}")),
            ("desk.channel", view.channel),
            ("desk.units", ", ".join(view.units) or "—"),
            ("desk.claimed", Msg("desk.claimed_by_you") if view.claimed_by_me else
             Msg("desk.claimed_yes") if view.claimed_by else Msg("desk.claimed_no")),
        ]  # fmt: skip
        if view.address_text or view.location_label:
            facts.append(("desk.place", view.address_text or view.location_label or ""))
        if view.contact_phone:  # only for the handling unit, decided in the query
            facts.append(("desk.contact", view.contact_phone))
        items = "".join(f"<dt>{t(label)}</dt><dd>{t.show(value)}</dd>" for label, value in facts)
        body = (
            f'<p><a href="/staff{lang}">← {t("desk.inbox")}</a></p>'
            + (
                '<div class="notices" role="status">'
                + "".join(f'<p class="msg">{t.plain(n)}</p>' for n in notices)
                + "</div>"
                if notices
                else ""
            )
            + f"<h2>{t('desk.tip_title', code=view.code)}</h2>"
            + live_marker(t, version, view.code)
            + f'<dl id="facts" class="facts" data-live>{items}</dl>'
            f"<h3>{t('desk.description')}</h3>"
            f'<p class="msg description">{t.plain(view.description)}</p>'
            + self._place(t, view)
            + self._files(t, view, lang)
            + self._actions(t, view, request, units)
            + self._timeline(t, view, thread)
            + self._similar(t, similar, lang)
            + self._alike(t, alike, lang)
        )
        tiles = urlsplit(self.tile_url) if self.tile_url else None
        return self.portal.page(
            request, "desk.title", body, title=view.code, script=True,
            img_origin=f"{tiles.scheme}://{tiles.netloc}" if tiles else None,
        )  # fmt: skip

    def _place(self, t: Texts, view: TipView) -> str:
        if view.latitude is None or view.longitude is None:
            return ""
        lat, lon = view.latitude, view.longitude
        osm = f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=17/{lat:.6f}/{lon:.6f}"
        fallback = (
            f'<p>{t("desk.coordinates")}: <span class="coords">{lat:.6f}, {lon:.6f}</span> · '
            f'<a href="geo:{lat:.6f},{lon:.6f}">{t("desk.open_map_app")}</a> · '
            f'<a href="{escape(osm)}" rel="noreferrer noopener">OpenStreetMap</a></p>'
        )
        tile = ""
        if self.tile_url:
            # One tile around the point, a dot where it is: a map with no script and
            # no library; where the tile server cannot be reached the text above stays.
            n = 2**TILE_ZOOM
            x = (lon + 180) / 360 * n
            y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
            src = self.tile_url.format(z=TILE_ZOOM, x=int(x), y=int(y))
            left, top = int((x % 1) * 256), int((y % 1) * 256)
            # SVG attributes, not style: the page's CSP allows no inline style.
            tile = (
                f'<svg class="tile" viewBox="0 0 256 256" width="256" height="256" '
                f'role="img" aria-label="{t("desk.map_alt")}">'
                f'<image href="{escape(src)}" width="256" height="256"/>'
                f'<circle cx="{left}" cy="{top}" r="9" fill="#c62828" stroke="#fff" '
                f'stroke-width="3"/></svg>'
            )
        return f"<h3>{t('desk.map')}</h3>{tile}{fallback}"

    def _files(self, t: Texts, view: TipView, lang: str) -> str:
        if not view.attachments:
            return ""
        shown = []
        for n, item in enumerate(view.attachments, start=1):
            url = f"/staff/tips/{view.code}/files/{n}"
            label = t("desk.file_n", n=n, kind=Msg(f"desk.kind.{item.kind}"))
            if item.channel != "web" or item.too_large:
                shown.append(f"<li>{label}: {t('desk.file_in_chat', channel=item.channel)}</li>")
            elif not self.uploads.has_staff_copy(item.file_ref):
                shown.append(f"<li>{label}: {t('desk.file_evidence_only')}</li>")
            elif item.kind == "photo":
                shown.append(
                    f'<li><figure><img class="attachment" src="{url}" alt="{label}">'
                    f"<figcaption>{label}</figcaption></figure></li>"
                )
            elif item.kind in ("video", "audio", "voice"):
                tag = "video" if item.kind == "video" else "audio"
                shown.append(
                    f'<li>{label}<br><{tag} controls preload="none" src="{url}"></{tag}></li>'
                )
            else:
                shown.append(
                    f'<li><a href="{url}" download>{label}</a> '
                    f'<span class="warn">{t("desk.isolated_warning")}</span></li>'
                )
        return f'<h3>{t("desk.files")}</h3><ul class="files">{"".join(shown)}</ul>'

    def _actions(self, t: Texts, view: TipView, request: Request, units: list) -> str:  # type: ignore[type-arg]
        token = self.portal.form_token(request)
        lang = '<input type="hidden" name="lang" value="en">' if t.locale == "en" else ""

        def form(action: str, inner: str, button: str) -> str:
            return (
                f'<form method="post" action="/staff/tips/{view.code}/act" class="action">'
                f'<input type="hidden" name="csrf" value="{token}">'
                f'<input type="hidden" name="rid" value="{secrets.token_hex(12)}">'
                f'<input type="hidden" name="action" value="{action}">{lang}{inner}'
                f'<button type="submit">{t(button)}</button></form>'
            )

        parts = []
        if view.claimed_by is None and view.status in OPEN:  # no button for what is so
            parts.append(form("claim", "", "desk.claim"))
        if view.claimed_by_me and view.status in OPEN:
            parts.append(form("unclaim", "", "desk.unclaim"))
        others = "".join(
            f'<option value="{s}">{t.show(Msg(f"status.{s}"))}</option>'
            for s in STATUSES
            if s != view.status
        )
        parts.append(
            form(
                "setstatus",
                f'<label>{t("desk.new_status")} <select name="value">{others}</select></label>',
                "desk.set_status",
            )
        )
        parts.append(
            form(
                "ask",
                f'<label>{t("desk.ask_label")}<br><textarea name="text" rows="3" '
                f'maxlength="3000" required></textarea></label><br>',
                "desk.ask",
            )
        )
        parts.append(
            form(
                "note",
                f'<label>{t("desk.note_label")}<br><textarea name="text" rows="3" '
                f'maxlength="4000" required></textarea></label><br>',
                "desk.note",
            )
        )
        unit_opts = "".join(f'<option value="{u.id}">{t.plain(u.name)}</option>' for u in units)
        if unit_opts:
            parts.append(
                form(
                    "transfer",
                    f'<label>{t("desk.transfer_to")} <select name="value">{unit_opts}'
                    "</select></label>",
                    "desk.transfer",
                )
            )
        return f'<h3>{t("desk.actions")}</h3><div class="actions">{"".join(parts)}</div>'

    def _timeline(self, t: Texts, view: TipView, thread: list) -> str:  # type: ignore[type-arg]
        entries = [f"<li>{escape(local_time(view.created_at))} — {t('desk.event.received')}</li>"]
        for e in thread:
            detail = ""
            if e.kind == "status" and e.detail:
                detail = " " + t.show(Msg(f"status.{e.detail}"))
            elif e.detail:
                detail = " " + t.plain(e.detail)
            who = f" ({t.plain(e.who)})" if e.who else ""
            side = "tipster" if e.kind in ("answer", "amendment") else "staff"
            words = f'<blockquote class="{side}">{t.plain(e.body)}</blockquote>' if e.body else ""
            entries.append(
                f"<li>{escape(local_time(e.at))} — {t(f'officer.event.{e.kind}')}{detail}{who}"
                f"{words}</li>"
            )
        return (
            f"<h3>{t('desk.thread')}</h3>"
            f'<ol id="timeline" class="timeline" data-live>{"".join(entries)}</ol>'
        )

    def _similar(self, t: Texts, similar: list, lang: str) -> str:  # type: ignore[type-arg]
        if not similar:
            return f"<h3>{t('desk.similar')}</h3><p>{t('desk.similar_none')}</p>"
        items = "".join(
            f'<li><a href="/staff/tips/{escape(s.code)}{lang}">{escape(s.code)}</a> — '
            f"{t.show(category_label(s.category))}, {escape(local_time(s.created_at))}, "
            f"{t.show(Msg(f'status.{s.status}'))}</li>"
            for s in similar
        )
        return f"<h3>{t('desk.similar')}</h3><ul>{items}</ul>"

    def _alike(self, t: Texts, alike: list[tuple[str, int]], lang: str) -> str:
        if not alike:
            return ""
        items = "".join(
            f'<li><a href="/staff/tips/{escape(code)}{lang}">{escape(code)}</a> — '
            f"{t('desk.alike_distance', n=distance)}</li>"
            for code, distance in alike
        )
        return f'<h3>{t("desk.alike")}</h3><ul class="alike">{items}</ul>'

    # ---- actions --------------------------------------------------------------------
    async def act(self, request: Request) -> Response:
        member = await self.portal.current(request)
        if member is None:
            return RedirectResponse("/staff/login", status_code=303)
        form = await read_form(request, MAX_FORM)
        if isinstance(form, Response):
            return form
        if not self.portal.form_ok(request, form.get("csrf", "")):
            return Response("forbidden", status_code=403)
        view = await self._view(member.id, request.path_params["code"], "desk.act")
        if view is None:
            return self._not_found(request)
        action, value = form.get("action", ""), form.get("value", "").strip()
        text = " ".join(form.get("text", "").split(" ")).strip()
        command = {
            "claim": f"/claim {view.code}",
            "unclaim": f"/unclaim {view.code}",
            "setstatus": f"/setstatus {view.code} {value}" if value in STATUSES else None,
            "ask": f"/ask {view.code} {text}" if text else None,
            "note": f"/note {view.code} {text}" if text else None,
            "transfer": f"/transfer {view.code} {value}" if value.isdigit() else None,
        }.get(action)
        rid = form.get("rid", "")
        lang = form.get("lang") if form.get("lang") == "en" else None
        back = f"/staff/tips/{quote(view.code)}?{'lang=en&' if lang else ''}"
        if command is None or not (8 <= len(rid) <= 64) or not rid.isalnum():
            return RedirectResponse(back, status_code=303)
        before = await self.desk.submit(
            self.pipeline, self.portal.db, staff_id=member.id, request_id=rid,
            command=command, lang=lang, now=self.clock.now(),
        )  # fmt: skip
        return RedirectResponse(f"{back}after={before}", status_code=303)

    # ---- files ----------------------------------------------------------------------
    async def file(self, request: Request) -> Response:
        member = await self.portal.current(request)
        if member is None:
            return Response("not found", status_code=404)
        view = await self._view(member.id, request.path_params["code"], "desk.file")
        n = request.path_params["n"]
        if view is None or not 1 <= n <= len(view.attachments):
            return Response("not found", status_code=404)
        item = view.attachments[n - 1]
        data = (
            await asyncio.to_thread(self.uploads.read_clean, item.file_ref)
            if item.channel == self.uploads.channel
            else None
        )
        sniffed = sniff(data[:64]) if data else None
        if data is None or sniffed is None:
            return Response("not found", status_code=404)
        name = f"tep-{view.code}-{n}" + EXTENSIONS.get(sniffed.mime, "")  # never the sender's
        inline = sniffed.kind in ("photo", "video", "audio", "voice")
        return Response(
            data,
            media_type=sniffed.mime,
            headers={
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "Content-Disposition": "inline" if inline else f'attachment; filename="{name}"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )
