"""Staff sign-in for the web: a password (Argon2id hash, set with `tipbot staff add`)
binds a browser session to an officer or admin account.

Staff pages are never served without a live session, and the account is re-read on
every request, so a deactivated officer loses access at once. The officer workflow
itself arrives with its own issue; this is the door.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta
from html import escape
from urllib.parse import parse_qs

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.channels.web import CSP, Buckets
from bot.channels.web.limits import Backoff
from bot.clock import Clock
from handlers.core.events import Msg
from handlers.core.i18n import Catalog
from storage.audit import AuditLog
from storage.db import Database
from storage.staff import StaffAccounts, StaffMember

STAFF_COOKIE = "tipbot_staff"
LOGIN_COOKIE = "tipbot_login"
SESSION_HOURS = 12  # a staff session ends this long after sign-in, whatever happens
IDLE_MINUTES = 30  # …or after this long without a request
MIN_PASSWORD = 12

_hasher = PasswordHasher()  # OWASP-strength defaults: staff passwords are human-chosen
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a staff password needs at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


async def read_form(request: Request, limit: int) -> dict[str, str] | Response:
    """A posted form's fields (the first of each), or the Response refusing it."""
    body = await request.body()
    if len(body) > limit:
        return Response("too large", status_code=413)
    try:
        return {k: v[0] for k, v in parse_qs(body.decode("utf-8")).items()}
    except UnicodeDecodeError:
        return Response("bad form", status_code=400)


def _totp_step(secret: str, code: str, now: float) -> int | None:
    """The time step whose code this is (this 30-second window or either neighbour, for
    a phone's clock a little off), or None."""
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    for drift in (0, -1, 1):
        at = now + drift * totp.interval
        if hmac.compare_digest(totp.at(at), code):
            return int(totp.timecode(datetime.fromtimestamp(at, UTC)))
    return None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class StaffPortal:
    def __init__(
        self,
        *,
        db: Database,
        catalog: Catalog,
        clock: Clock,
        secret: bytes,
        secure_cookie: bool = False,
        require_2fa: bool = False,
    ) -> None:
        self.db = db
        self.require_2fa = require_2fa  # admins must have a second factor
        self.catalog = catalog
        self.clock = clock
        self.secure = secure_cookie
        self._key = hashlib.sha256(b"tipbot/staff\x00" + secret).digest()
        self._salt = secrets.token_bytes(16)
        # Behind HTTPS: __Host- cookies (HTTPS only, this host only, path /).
        self.cookie = f"__Host-{STAFF_COOKIE}" if secure_cookie else STAFF_COOKIE
        self.attempts = Buckets(30, 900)  # per client address, whatever the user names
        self.backoff = Backoff()  # per (user name, client address)

    def routes(self) -> list[Route]:
        return [
            Route("/staff/login", self.login_page, methods=["GET"]),
            Route("/staff/login", self.login, methods=["POST"]),
            Route("/staff/join", self.join_page, methods=["GET"]),
            Route("/staff/join", self.join, methods=["POST"]),
            Route("/staff/logout", self.logout, methods=["POST"]),
            Route("/staff/logout-everywhere", self.logout_everywhere, methods=["POST"]),
        ]

    def _t(self, request: Request, key: str, **params: str) -> str:
        locale = "en" if request.query_params.get("lang") == "en" else "vi"
        return escape(self.catalog.text(locale, Msg(key, dict(params))))

    def page(
        self,
        request: Request,
        title_key: str,
        body: str,
        status: int = 200,
        *,
        title: str | None = None,
        script: bool = False,
        img_origin: str | None = None,
    ) -> Response:
        """A staff page around `body` (already escaped): never framed, never stored.
        `script` adds the desk's own script (same origin, the only one allowed);
        `img_origin` lets a map tile server's pictures in, on that page alone."""
        locale = "en" if request.query_params.get("lang") == "en" else "vi"
        heading = self._t(request, title_key)
        html = (
            f'<!doctype html><html lang="{locale}"><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="stylesheet" href="/chat/app.css">'
            f'<link rel="stylesheet" href="/staff/desk.css">'
            + ('<script src="/staff/desk.js" defer></script>' if script else "")
            + f'<title>{escape(title) if title else heading}</title><body class="desk">'
            f'<header><h1>{heading}</h1></header><main id="desk">{body}</main>'
        )
        csp = CSP.replace("frame-ancestors *", "frame-ancestors 'none'").replace(
            "form-action 'none'", "form-action 'self'"
        )
        # Attachments play inline (video, audio); a map's tiles come from its server.
        tiles = f" {img_origin}" if img_origin else ""
        csp = csp.replace("img-src 'self' data:", f"img-src 'self' data:{tiles}; media-src 'self'")
        return HTMLResponse(
            html,
            status_code=status,
            headers={
                "Content-Security-Policy": csp,
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )

    def form_token(self, request: Request) -> str:
        """The CSRF token of the desk's forms: an HMAC of this browser's staff session,
        so a page on another site can neither read nor forge it."""
        token = request.cookies.get(self.cookie, "")
        return hmac.new(self._key, b"desk:" + token.encode(), hashlib.sha256).hexdigest()

    def form_ok(self, request: Request, sent: str) -> bool:
        return bool(request.cookies.get(self.cookie)) and hmac.compare_digest(
            sent, self.form_token(request)
        )

    def _csrf(self, pre: str) -> str:
        return hmac.new(self._key, b"login:" + pre.encode(), hashlib.sha256).hexdigest()

    async def _signed_form(self, request: Request) -> dict[str, str] | Response:
        """A sign-in or join form, with the token its page was given (the pre-session
        cookie's HMAC): another site cannot post it in this browser's name."""
        form = await read_form(request, 4096)
        if isinstance(form, Response):
            return form
        pre = request.cookies.get(LOGIN_COOKIE, "")
        if not pre or not hmac.compare_digest(form.get("csrf", ""), self._csrf(pre)):
            return Response("forbidden", status_code=403)
        return form

    def _with_pre_cookie(self, response: Response, pre: str) -> Response:
        response.set_cookie(
            LOGIN_COOKIE, pre, httponly=True, samesite="strict", secure=self.secure,
            path="/staff", max_age=3600,
        )  # fmt: skip
        return response

    async def current(self, request: Request) -> StaffMember | None:
        token = request.cookies.get(self.cookie)
        if not token:
            return None
        now = self.clock.now()
        async with self.db.write() as conn:
            # Each request moves the idle deadline on, never past the absolute one.
            return await StaffAccounts(conn).touch_session(
                _token_hash(token), now, idle=timedelta(minutes=IDLE_MINUTES),
                absolute=timedelta(hours=SESSION_HOURS),
            )  # fmt: skip

    async def login_page(self, request: Request, error: str | None = None) -> Response:
        pre = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
        message = f'<p class="msg" role="alert">{error}</p>' if error else ""
        body = (
            f'{message}<form method="post" action="/staff/login" class="msg">'
            f'<input type="hidden" name="csrf" value="{self._csrf(pre)}">'
            f'<p><label for="u">{self._t(request, "staff.username")}</label><br>'
            f'<input id="u" name="username" autocomplete="username" required></p>'
            f'<p><label for="p">{self._t(request, "staff.password")}</label><br>'
            f'<input id="p" name="password" type="password" '
            f'autocomplete="current-password" required></p>'
            f'<p><label for="c">{self._t(request, "staff.totp")}</label><br>'
            f'<input id="c" name="code" inputmode="numeric" autocomplete="one-time-code" '
            f'maxlength="6" pattern="[0-9]{{6}}"></p>'
            f'<button type="submit">{self._t(request, "staff.sign_in")}</button></form>'
        )
        response = self.page(request, "staff.title", body, status=401 if error else 200)
        return self._with_pre_cookie(response, pre)

    async def login(self, request: Request) -> Response:
        form = await self._signed_form(request)
        if isinstance(form, Response):
            return form
        username = form.get("username", "").strip()[:64]
        password = form.get("password", "")[:1024]
        client = hashlib.sha256(
            self._salt + (request.client.host if request.client else "?").encode()
        ).hexdigest()
        key = f"{client}:{username}"
        if self.backoff.wait(key) > 0 or not self.attempts.allow(client):
            return await self.login_page(request, self._t(request, "staff.too_many"))
        async with self.db.read() as conn:
            found = await StaffAccounts(conn).sign_in_facts(username)
        ok = await asyncio.to_thread(_verify, found.password_hash if found else None, password)
        now = self.clock.now()
        if ok and found is not None and found.totp_secret is not None:
            # The second factor, checked like the password: a wrong or reused code gets
            # the same answer as a wrong password.
            step = _totp_step(found.totp_secret, form.get("code", ""), now.timestamp())
            async with self.db.write() as conn:
                ok = step is not None and await StaffAccounts(conn).use_totp_step(found.id, step)
        if not ok or found is None:
            # Unknown user and wrong password get the same answer, after the same work.
            self.backoff.failed(key)
            return await self.login_page(request, self._t(request, "staff.wrong"))
        if self.require_2fa and found.role == "admin" and found.totp_secret is None:
            return await self.login_page(request, self._t(request, "staff.needs_2fa"))
        self.backoff.succeeded(key)
        return await self._signed_in(found.id, now)

    async def _signed_in(self, staff_id: str, now: datetime) -> Response:
        """A new session for the account, and the way to its desk."""
        token = secrets.token_urlsafe(32)
        async with self.db.write() as conn:
            await StaffAccounts(conn).open_session(
                _token_hash(token), staff_id, now, now + timedelta(minutes=IDLE_MINUTES)
            )
        response = RedirectResponse("/staff", status_code=303)
        response.set_cookie(
            self.cookie,
            token,
            httponly=True,
            samesite="strict",
            secure=self.secure,
            path="/",
            max_age=SESSION_HOURS * 3600,
        )
        return response

    # ---- joining with an invite code (a new web account) -----------------------------
    async def join_page(self, request: Request, error: str | None = None) -> Response:
        pre = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
        message = f'<p class="msg" role="alert">{error}</p>' if error else ""
        field = '<p><label for="{id}">{label}</label><br><input id="{id}" name="{id}" {extra}></p>'
        body = (
            f'{message}<p>{self._t(request, "staff.join_intro")}</p>'
            f'<form method="post" action="/staff/join" class="msg">'
            f'<input type="hidden" name="csrf" value="{self._csrf(pre)}">'
            + field.format(id="code", label=self._t(request, "staff.invite_code"),
                           extra='autocomplete="off" required maxlength="40"')
            + field.format(id="username", label=self._t(request, "staff.new_username"),
                           extra='autocomplete="username" required maxlength="64" '
                                 'pattern="[A-Za-z0-9_.\\-]{3,64}"')
            + field.format(id="password", label=self._t(request, "staff.new_password"),
                           extra=f'type="password" autocomplete="new-password" required '
                                 f'minlength="{MIN_PASSWORD}"')
            + f'<button type="submit">{self._t(request, "staff.join")}</button></form>'
        )  # fmt: skip
        response = self.page(request, "staff.title", body, status=400 if error else 200)
        return self._with_pre_cookie(response, pre)

    async def join(self, request: Request) -> Response:
        form = await self._signed_form(request)
        if isinstance(form, Response):
            return form
        client = hashlib.sha256(
            self._salt + (request.client.host if request.client else "?").encode()
        ).hexdigest()
        key = f"{client}:join"
        if self.backoff.wait(key) > 0 or not self.attempts.allow(client):
            return await self.join_page(request, self._t(request, "staff.too_many"))
        username = form.get("username", "").strip()
        password = form.get("password", "")[:1024]
        if not re.fullmatch(r"[A-Za-z0-9_.\-]{3,64}", username):
            return await self.join_page(request, self._t(request, "staff.bad_username"))
        try:
            hashed = await asyncio.to_thread(hash_password, password)
        except ValueError:
            return await self.join_page(request, self._t(request, "staff.short_password"))
        now = self.clock.now()
        async with self.db.write() as conn:
            accounts = StaffAccounts(conn)
            member = await accounts.redeem_invite_on_web(
                form.get("code", "").strip()[:40], username=username, password_hash=hashed,
                now=now,
            )  # fmt: skip
            await AuditLog(conn).audit(
                now, "join.web", "ok" if member else "denied",
                staff_id=member.id if member else None, target=username[:64],
            )  # fmt: skip
        if member is None:
            # A wrong, used or expired code and a taken name: one answer (no probing).
            self.backoff.failed(key)
            return await self.join_page(request, self._t(request, "staff.join_failed"))
        self.backoff.succeeded(key)
        return await self._signed_in(member.id, now)

    async def logout(self, request: Request) -> Response:
        token = request.cookies.get(self.cookie)
        if token:
            async with self.db.write() as conn:
                await StaffAccounts(conn).close_session(_token_hash(token))
        response = RedirectResponse("/staff/login", status_code=303)
        response.delete_cookie(self.cookie, path="/", secure=self.secure)
        return response

    async def logout_everywhere(self, request: Request) -> Response:
        """End every session of the signed-in account (a lost phone, a shared desk)."""
        member = await self.current(request)
        if member is not None:
            async with self.db.write() as conn:
                await StaffAccounts(conn).end_sessions(member.id)
        response = RedirectResponse("/staff/login", status_code=303)
        response.delete_cookie(self.cookie, path="/", secure=self.secure)
        return response
