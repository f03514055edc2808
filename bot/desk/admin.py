"""The admin's desk (`/staff/admin`): units with their wards, categories and members;
staff accounts (invite, disable); campaigns with their progress (pause, resume,
cancel); the audit log, filtered by who, what, which tip and outcome.

Only an admin account gets these pages (anyone else: the same 404 as an unknown page).
Admins read no tip here either. Changes are not made here: each form becomes the admin
command it stands for (`/invite`, `/removestaff`, `/campaign N pause`, `/approve N` …)
and travels the inbox to the admin flows, like the desk's tip actions (decision 0014):
their checks, the two-person rule and the audit apply unchanged."""

from __future__ import annotations

import secrets
from html import escape
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.channels.desk import DeskChannel
from bot.clock import Clock
from bot.desk.pages import Texts, table_row
from bot.desk.signin import StaffPortal, read_form
from bot.dispatch.dispatcher import Pipeline
from handlers.domain import receipts
from handlers.domain.places import Gazetteer
from handlers.domain.vntime import local_time
from storage.staff import StaffMember
from storage.stores import Stores

TABS = ("units", "staff", "campaigns", "audit")
AUDIT_PAGE = 100
MAX_FORM = 8 * 1024


class AdminPages:
    def __init__(
        self,
        *,
        portal: StaffPortal,
        places: Gazetteer,
        clock: Clock,
        desk: DeskChannel,
        pipeline: Pipeline,
    ) -> None:
        self.portal = portal
        self.places = places
        self.clock = clock
        self.desk = desk
        self.pipeline = pipeline

    def routes(self) -> list[Route]:
        return [
            Route("/staff/admin", self.page, methods=["GET"]),
            Route("/staff/admin/act", self.act, methods=["POST"]),
        ]

    async def _admin(self, request: Request) -> StaffMember | Response | None:
        member = await self.portal.current(request)
        if member is None:
            return RedirectResponse("/staff/login", status_code=303)
        if member.role != "admin":
            async with self.portal.db.write() as conn:
                await Stores(conn).audit.audit(
                    self.clock.now(), "admin.page", "denied", staff_id=member.id
                )
            return None
        return member

    def _not_found(self, request: Request) -> Response:
        t = Texts(self.portal, request)
        body = f'<p class="msg">{t("officer.not_found")}</p>'
        return self.portal.page(request, "desk.title", body, status=404)

    # ---- the page -------------------------------------------------------------------
    async def page(self, request: Request) -> Response:
        member = await self._admin(request)
        if isinstance(member, Response):
            return member
        if member is None:
            return self._not_found(request)
        t = Texts(self.portal, request)
        tab = request.query_params.get("tab", "units")
        tab = tab if tab in TABS else "units"
        lang = "&lang=en" if t.locale == "en" else ""
        nav = " ".join(
            f'<a href="/staff/admin?tab={name}{lang}"'
            + (' aria-current="page"' if name == tab else "")
            + f">{t(f'admin.tab.{name}')}</a>"
            for name in TABS
        )
        after = request.query_params.get("after", "")
        notices = (
            self.desk.notices(member.id, int(after)) if after.isdigit() and len(after) < 20 else []
        )
        async with self.portal.db.write() as conn:
            stores = Stores(conn)
            await stores.audit.audit(self.clock.now(), f"admin.{tab}", "ok", staff_id=member.id)
            if tab == "units":
                content = await self._units(t, stores)
            elif tab == "staff":
                content = await self._staff(t, stores, request)
            elif tab == "campaigns":
                content = await self._campaigns(t, stores, request)
            else:
                content = await self._audit(t, stores, request)
        body = (
            f'<p><a href="/staff{lang.replace("&", "?", 1)}">← {t("desk.inbox")}</a></p>'
            f"<h2>{t('admin.title')}</h2>"
            f'<nav class="desk-nav" aria-label="{t("admin.title")}">{nav}</nav>'
            + (
                '<div class="notices" role="status">'
                + "".join(f'<p class="msg">{t.plain(n)}</p>' for n in notices)
                + "</div>"
                if notices
                else ""
            )
            + content
        )
        return self.portal.page(request, "desk.title", body, title=t("admin.title"))

    def _form(self, request: Request, t: Texts, command: str, inner: str, button: str) -> str:
        lang = '<input type="hidden" name="lang" value="en">' if t.locale == "en" else ""
        tab = escape(request.query_params.get("tab", "units"))
        return (
            '<form method="post" action="/staff/admin/act" class="action">'
            f'<input type="hidden" name="csrf" value="{self.portal.form_token(request)}">'
            f'<input type="hidden" name="rid" value="{secrets.token_hex(12)}">'
            f'<input type="hidden" name="tab" value="{tab}">'
            f'<input type="hidden" name="command" value="{escape(command)}">{lang}{inner}'
            f'<button type="submit">{button}</button></form>'
        )

    async def _units(self, t: Texts, stores: Stores) -> str:
        rows = []
        for unit in await stores.units.overview():
            wards = ", ".join(
                p.name for p in (self.places.get(code) for code in unit.wards) if p is not None
            )
            members = ", ".join(
                f"{name} ({t(f'admin.role.{role}')})" + ("" if active else " ✗")
                for name, role, active in unit.members
            )
            cats = ", ".join(t(f"cat.{c}") for c in unit.categories) or t("admin.all_categories")
            scope = t("admin.city_level") if unit.city_level else t.plain(wards or "—")
            rows.append(table_row(t, "admin.col", f"#{unit.id} {t.plain(unit.name)}", (
                ("parent", str(unit.parent_id or "—")), ("wards", scope), ("categories", cats),
                ("members", t.plain(members or "—")),
                ("group", t("desk.yes") if unit.has_group else t("desk.no")),
            )))  # fmt: skip
        heads = ("unit", "parent", "wards", "categories", "members", "group")
        table = _table(t, heads, rows, "admin.no_units")
        return f"<h3>{t('admin.tab.units')}</h3>{table}<p>{t('admin.units_hint')}</p>"

    async def _staff(self, t: Texts, stores: Stores, request: Request) -> str:
        units = await stores.units.list_units()
        rows = []
        for username, role, active, memberships in await stores.staff.staff_list():
            disable = (
                self._form(request, t, f"removestaff {username}", "", t("admin.disable"))
                if active
                else t("admin.inactive")
            )
            rows.append(table_row(t, "admin.col", t.plain(username), (
                ("role", t(f"admin.role.{role}")),
                ("units", t.plain(", ".join(memberships) or "—")), ("action", disable),
            )))  # fmt: skip
        heads = ("name", "role", "units", "action")
        unit_opts = "".join(f'<option value="{u.id}">{t.plain(u.name)}</option>' for u in units)
        invite = self._form(
            request,
            t,
            "invite",
            f'<label>{t("admin.col.role")} <select name="role">'
            f'<option value="officer">{t("admin.role.officer")}</option>'
            f'<option value="supervisor">{t("admin.role.supervisor")}</option></select></label> '
            f'<label>{t("admin.col.unit")} <select name="unit">{unit_opts}</select></label> '
            f'<label>{t("admin.col.name")} <input name="name" maxlength="40"></label> ',
            t("admin.invite"),
        )
        approvals = self._form(request, t, "approvals", "", t("admin.show_approvals"))
        decide = self._form(
            request,
            t,
            "decide",
            f'<label>{t("admin.request_no")} <input name="number" inputmode="numeric" '
            f'maxlength="9" required></label> <label>{t("admin.decision")} <select name="verdict">'
            f'<option value="approve">{t("admin.approve")}</option>'
            f'<option value="refuse">{t("admin.refuse")}</option></select></label> ',
            t("admin.decide"),
        )
        return (
            f"<h3>{t('admin.tab.staff')}</h3>{_table(t, heads, rows, 'admin.no_units')}"
            f"<h3>{t('admin.invite_title')}</h3><p>{t('admin.invite_hint')}</p>"
            f'<div class="actions">{invite}{approvals}{decide}</div>'
        )

    async def _campaigns(self, t: Texts, stores: Stores, request: Request) -> str:
        rows = []
        for c in await stores.campaigns.recent(50):
            counts = await stores.campaigns.progress(c.id)
            buttons = "".join(
                self._form(request, t, f"campaign {c.id} {verb}", "", t(f"admin.campaign.{verb}"))
                for verb, states in (
                    ("pause", ("running", "scheduled")),
                    ("resume", ("paused",)),
                    ("cancel", ("draft", "confirmed", "scheduled", "running", "paused")),
                )
                if c.status in states
            )
            progress = t(
                "admin.progress",
                sent=counts.get("sent", 0),
                targeted=counts.get("targeted", 0),
                blocked=counts.get("blocked", 0),
                failed=counts.get("failed", 0),
            )
            when = local_time(c.run_at) if c.run_at else (c.cron or "—")
            rows.append(table_row(t, "admin.col", f"#{c.id}", (
                ("text", t.plain(c.text[:120])), ("status", t.plain(c.status)),
                ("when", t.plain(when)), ("progress", progress), ("action", buttons or "—"),
            )))  # fmt: skip
        heads = ("campaign", "text", "status", "when", "progress", "action")
        table = _table(t, heads, rows, "admin.no_campaigns")
        return f"<h3>{t('admin.tab.campaigns')}</h3>{table}<p>{t('admin.compose_hint')}</p>"

    async def _audit(self, t: Texts, stores: Stores, request: Request) -> str:
        q = request.query_params
        who = (q.get("who") or "").strip()[:64] or None
        action = (q.get("what") or "").strip()[:32] or None
        code = receipts.normalise_code(q.get("tip") or "") if q.get("tip") else None
        outcome = q.get("outcome") if q.get("outcome") in ("ok", "denied") else None
        page = int(q["page"]) if (q.get("page") or "").isdigit() and len(q["page"]) < 6 else 1
        entries = await stores.audit.entries(
            AUDIT_PAGE + 1, offset=(max(page, 1) - 1) * AUDIT_PAGE, who=who, action=action,
            code=code, outcome=outcome,
        )  # fmt: skip
        more = len(entries) > AUDIT_PAGE
        rows = [
            table_row(
                t,
                "admin.col",
                escape(local_time(e["at"])),
                (
                    ("who", t.plain(e["username"] or (e["actor_key"] or "—")[:8])),
                    ("what", t.plain(e["action"])),
                    ("tip", t.plain(e["code"] or e["target"] or "—")),
                    ("outcome", t.plain(e["outcome"])),
                ),
            )
            for e in entries[:AUDIT_PAGE]
        ]
        lang = '<input type="hidden" name="lang" value="en">' if t.locale == "en" else ""
        outcomes = "".join(
            f'<option value="{v}"{" selected" if v == (outcome or "") else ""}>{label}</option>'
            for v, label in (("", t("desk.any")), ("ok", "ok"), ("denied", "denied"))
        )
        form = (
            '<form method="get" action="/staff/admin" class="filters" role="search">'
            f'<input type="hidden" name="tab" value="audit">{lang}'
            f'<label>{t("admin.col.who")} <input name="who" value="{escape(who or "")}"></label>'
            f'<label>{t("admin.col.what")} <input name="what" '
            f'value="{escape(action or "")}"></label>'
            f'<label>{t("admin.col.tip")} <input name="tip" value="{escape(code or "")}"></label>'
            f'<label>{t("admin.col.outcome")} <select name="outcome">{outcomes}</select></label>'
            f'<button type="submit">{t("desk.apply")}</button></form>'
        )
        params = {k: v for k, v in q.items() if k != "page"}
        pager = []
        if page > 1:
            prev = escape(urlencode({**params, "page": page - 1}))
            pager.append(f'<a href="/staff/admin?{prev}">{t("desk.prev")}</a>')
        if more:
            following = escape(urlencode({**params, "page": page + 1}))
            pager.append(f'<a href="/staff/admin?{following}">{t("desk.next")}</a>')
        heads = ("at", "who", "what", "tip", "outcome")
        return (
            f"<h3>{t('admin.tab.audit')}</h3>{form}{_table(t, heads, rows, 'admin.no_entries')}"
            f'<nav class="pager" aria-label="{t("desk.pages")}">{" ".join(pager)}</nav>'
        )

    # ---- actions --------------------------------------------------------------------
    async def act(self, request: Request) -> Response:
        member = await self._admin(request)
        if isinstance(member, Response):
            return member
        if member is None:
            return self._not_found(request)
        form = await read_form(request, MAX_FORM)
        if isinstance(form, Response):
            return form
        if not self.portal.form_ok(request, form.get("csrf", "")):
            return Response("forbidden", status_code=403)
        command = _command(form)
        tab = form.get("tab") if form.get("tab") in TABS else "units"
        lang = "lang=en&" if form.get("lang") == "en" else ""
        back = f"/staff/admin?tab={tab}&{lang}"
        rid = form.get("rid", "")
        if command is None or not (8 <= len(rid) <= 64) or not rid.isalnum():
            return RedirectResponse(back, status_code=303)
        before = await self.desk.submit(
            self.pipeline, self.portal.db, staff_id=member.id, request_id=rid,
            command=command, lang="en" if lang else None, now=self.clock.now(),
        )  # fmt: skip
        return RedirectResponse(f"{back}after={before}", status_code=303)


def _table(t: Texts, heads: tuple[str, ...], rows: list[str], empty: str) -> str:
    if not rows:
        return f"<p>{t(empty)}</p>"
    head = "".join(f'<th scope="col">{t(f"admin.col.{h}")}</th>' for h in heads)
    return (
        f'<div class="scroll"><table class="tips"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _command(form: dict[str, str]) -> str | None:
    """The admin command a form stands for, or None for anything malformed."""
    command = form.get("command", "")
    name = " ".join(form.get("name", "").split())[:40]
    if command == "invite":
        role, unit = form.get("role", ""), form.get("unit", "")
        if role in ("officer", "supervisor") and unit.isdigit() and len(unit) < 9:
            return f"/invite {role} {unit} {name}".strip()
        return None
    if command == "approvals":
        return "/approvals"
    if command == "decide":
        number, verdict = form.get("number", ""), form.get("verdict", "")
        if number.isdigit() and len(number) < 10 and verdict in ("approve", "refuse"):
            return f"/{verdict} {number}"
        return None
    words = command.split()
    if len(words) == 2 and words[0] == "removestaff" and 0 < len(words[1]) <= 64:
        return f"/removestaff {words[1]}"
    if (
        len(words) == 3
        and words[0] == "campaign"
        and words[1].isdigit()
        and words[2] in ("pause", "resume", "cancel")
    ):
        return f"/campaign {words[1]} {words[2]}"
    return None
