"""The officer desk on the web, first pages: `/staff` lists the tips the signed-in
account may see (with their codes), `/staff/tips/<CODE>` shows one. Every read goes
through the same authorised queries as the chat (`storage/desk.py`): a tip outside the
account's units, an unknown code and a malformed one all get the same 404, and every
view is audited. Server-rendered, escaped, no script."""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.desk.signin import StaffPortal
from handlers.core.events import Msg
from handlers.core.staffing import ward_label
from handlers.domain import receipts, taxonomy
from handlers.domain.places import Gazetteer
from handlers.domain.vntime import local_time
from storage.stores import Stores

LIST_LIMIT = 100


class DeskPages:
    def __init__(self, portal: StaffPortal, places: Gazetteer) -> None:
        self.portal = portal
        self.places = places

    def routes(self) -> list[Route]:
        return [
            Route("/staff", self.inbox, methods=["GET"]),
            Route("/staff/tips/{code}", self.tip, methods=["GET"]),
        ]

    def _text(self, request: Request, msg: Msg | str) -> str:
        locale = "en" if request.query_params.get("lang") == "en" else "vi"
        shown = self.portal.catalog.text(locale, msg) if isinstance(msg, Msg) else msg
        return escape(shown)

    def _category(self, category: str) -> Msg | str:
        return Msg(f"cat.{category}") if category in taxonomy.BY_ID else category

    async def inbox(self, request: Request) -> Response:
        member = await self.portal.current(request)
        if member is None:
            return RedirectResponse("/staff/login", status_code=303)
        async with self.portal.db.write() as conn:
            stores = Stores(conn)
            lines = await stores.desk.search(member.id, limit=LIST_LIMIT)
            await stores.audit.audit(self.portal.clock.now(), "desk.list", "ok",
                                     staff_id=member.id)  # fmt: skip
        t = self._text
        head = t(request, Msg("staff.signed_in", {"name": member.username, "role": member.role}))
        rows = "".join(
            "<tr>"
            f'<td><a href="/staff/tips/{escape(line.code)}">{escape(line.code)}</a></td>'
            f"<td>{t(request, self._category(line.category))}"
            f"{' ⚠' if line.urgent else ''}</td>"
            f"<td>{t(request, ward_label(self.places, line.ward_code))}</td>"
            f"<td>{t(request, Msg(f'status.{line.status}'))}</td>"
            f"<td>{escape(local_time(line.created_at))}</td>"
            "</tr>"
            for line in lines
        )
        table = (
            f'<table class="tips"><thead><tr><th scope="col">{t(request, Msg("desk.code"))}</th>'
            f'<th scope="col">{t(request, Msg("desk.category"))}</th>'
            f'<th scope="col">{t(request, Msg("desk.ward"))}</th>'
            f'<th scope="col">{t(request, Msg("desk.status"))}</th>'
            f'<th scope="col">{t(request, Msg("desk.received"))}</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
            if lines
            else f'<p class="msg">{t(request, Msg("desk.none"))}</p>'
        )
        body = (
            f'<p class="msg">{head}</p>'
            f"<h2>{t(request, Msg('desk.inbox'))}</h2>{table}"
            f'<form method="post" action="/staff/logout">'
            f'<button type="submit">{t(request, Msg("staff.sign_out"))}</button></form>'
            f'<form method="post" action="/staff/logout-everywhere">'
            f'<button type="submit">{t(request, Msg("staff.sign_out_everywhere"))}</button>'
            "</form>"
        )
        return self.portal.page(request, "staff.title", body)

    async def tip(self, request: Request) -> Response:
        member = await self.portal.current(request)
        if member is None:
            return RedirectResponse("/staff/login", status_code=303)
        code = receipts.normalise_code(request.path_params["code"])
        async with self.portal.db.write() as conn:
            stores = Stores(conn)
            view = await stores.desk.tip_view(member.id, code) if code else None
            await stores.audit.audit(
                self.portal.clock.now(),
                "desk.view",
                "ok" if view else "denied",
                staff_id=member.id,
                tip_id=view.id if view else None,
                target=(code or request.path_params["code"])[:64],
            )
            thread = await stores.desk.thread(view.id) if view else []
        t = self._text
        if view is None:  # not yours, unknown or malformed: one answer for all
            body = f'<p class="msg">{t(request, Msg("officer.not_found"))}</p>'
            return self.portal.page(request, "staff.title", body, status=404)
        facts = [
            (Msg("desk.code"), view.code),
            (Msg("desk.category"), self._category(view.category)),
            (Msg("desk.ward"), ward_label(self.places, view.ward_code)),
            (Msg("desk.status"), Msg(f"status.{view.status}")),
            (Msg("desk.received"), local_time(view.created_at)),
        ]
        if view.address_text or view.location_label:
            facts.append((Msg("desk.place"), view.address_text or view.location_label or ""))
        if view.contact_phone:  # only for the handling unit, decided in the query
            facts.append((Msg("desk.contact"), view.contact_phone))
        items = "".join(
            f"<dt>{t(request, label)}</dt><dd>{t(request, value)}</dd>" for label, value in facts
        )
        events = "".join(
            f"<li>{escape(local_time(e.at))} — {t(request, Msg(f'officer.event.{e.kind}'))}"
            f"{': ' + escape(e.body) if e.body else ''}</li>"
            for e in thread
        )
        body = (
            f'<p><a href="/staff">← {t(request, Msg("desk.inbox"))}</a></p>'
            f"<h2>{escape(view.code)}</h2><dl>{items}</dl>"
            f"<h3>{t(request, Msg('desk.description'))}</h3>"
            f'<p class="msg">{escape(view.description)}</p>'
            + (f"<h3>{t(request, Msg('desk.thread'))}</h3><ul>{events}</ul>" if events else "")
        )
        return self.portal.page(request, "staff.title", body)
