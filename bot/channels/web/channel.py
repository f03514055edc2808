"""Web chat channel: the same flows in a browser, served by our own Starlette app.

The browser talks to a small JSON API under /chat/api; every request it makes that
changes something carries the CSRF token (an HMAC of the session id) in a header, and
a new session first solves a proof-of-work challenge. Inbound messages go into the
same durable inbox as Telegram updates (keyed by a client-chosen id, so a replayed
request is a no-op); replies come back through the outbox into a per-session mailbox
that the page long-polls. The mailbox lives in memory: after a restart the page asks
again and the flow answers with the step the citizen is on (state is in the database).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.aio import woken
from bot.channels.base import Ignored, Payload, SendResult, read_json
from bot.channels.web.limits import Buckets, WebLimits
from bot.channels.web.mailbox import Mailboxes, to_message
from bot.channels.web.parse import NAME, parse
from bot.channels.web.sessions import SESSION_DAYS, Sessions
from bot.identity import Identity
from bot.uploads import EXTENSIONS, UploadStore, sniff
from handlers.core.commands import parse_command
from handlers.core.events import Event, Msg
from handlers.core.i18n import Catalog
from storage import webmail
from storage.db import Database

if TYPE_CHECKING:
    from bot.dispatch.dispatcher import Pipeline

COOKIE = "tipbot_session"
STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors *"
)
MAX_JSON = 16 * 1024
FILES_PER_MINUTE = 60
MAILBOX = 100
CHARTS_KEPT = 1_000  # digest charts a page may still ask for (the oldest go first)


class WebChannel:
    name = NAME

    def __init__(
        self,
        *,
        identity: Identity,
        secret: bytes,
        catalog: Catalog,
        uploads: Path,
        limits: WebLimits | None = None,
    ) -> None:
        self.identity = identity
        self.catalog = catalog
        self.limits = limits or WebLimits()
        self.store = UploadStore(uploads, NAME, secret)
        self.sessions = Sessions(
            hashlib.sha256(b"tipbot/web\x00" + secret).digest(), pow_bits=self.limits.pow_bits
        )
        # Who may open an uploaded file (set where everything is wired; None: nobody).
        self.file_access: Callable[[str, str], Awaitable[bool]] | None = None
        self._salt = secrets.token_bytes(16)  # client addresses hashed per process
        self.mailboxes = Mailboxes()  # keyed by `sessions.box(session)`, never the session
        self.shared: Database | None = None  # set with several replicas (`share`)
        self.charts: dict[str, tuple[str, Path]] = {}  # name -> (session, chart file)
        # Behind HTTPS the browser holds it as a __Host- cookie: HTTPS only, this host
        # only, not settable by another subdomain (session fixation).
        self.cookie = f"__Host-{COOKIE}" if self.limits.secure_cookie else COOKIE
        self.message_limit = Buckets(self.limits.messages_per_minute, 60)
        self.upload_limit = Buckets(self.limits.uploads_per_hour, 3600)
        # Every file request is authorised and audited under the write lock: a session
        # may not make that cost more than a page showing files needs.
        self.file_limit = Buckets(FILES_PER_MINUTE, 60)
        self.session_limit = Buckets(self.limits.sessions_per_hour_per_client, 3600)
        self.pipeline: Pipeline | None = None

    # ---- the channel contract ------------------------------------------------------
    def parse(self, payload: dict[str, Any]) -> Event | Ignored:
        return parse(self.identity, payload)

    def order_key(self, payload: dict[str, Any]) -> str | None:
        session = payload.get("session")
        return self.identity.pseudonym(NAME, session) if isinstance(session, str) else None

    async def send(self, address: str, payload: Payload) -> SendResult:
        if payload.get("t") == "chart":
            # A digest chart (a file of ours, for staff): shown as a picture, served
            # to this session only, by a name that means nothing elsewhere.
            name = secrets.token_hex(16)
            self.charts[name] = (address, Path(str(payload["path"])))
            while len(self.charts) > CHARTS_KEPT:
                self.charts.pop(next(iter(self.charts)))
            payload = {
                "t": "msg",
                "text": str(payload.get("caption") or ""),
                "chart": f"/chat/api/chart/{name}",
            }
        if self.shared is None:
            self.mailboxes.deliver(self.sessions.box(address), payload)
            return SendResult("ok")
        message = to_message(payload)
        if message is not None:
            # To every replica (the page may poll any): through the database.
            async with self.shared.write() as conn:
                await webmail.publish(conn, self.sessions.box(address), message, datetime.now(UTC))
        return SendResult("ok")

    def share(self, db: Database) -> None:
        """Several replicas: messages go through the database (see `follow`)."""
        self.shared = db
        self.mailboxes.numbered_elsewhere = True

    async def follow(self) -> None:
        """Bring what any replica delivered into this replica's mailboxes (a worker,
        with `share`): woken by NOTIFY, and every second in case one was missed."""
        assert self.shared is not None
        wake = asyncio.Event()
        async with self.shared.read() as conn:
            last = await webmail.last_id(conn)
        async with webmail.notifications(self.shared, wake):
            while True:
                await woken(wake, 1.0)
                wake.clear()
                async with self.shared.read() as conn:
                    rows = await webmail.since(conn, last)
                for row_id, box, message in rows:
                    self.mailboxes.put(box, message, row_id)
                    last = row_id

    async def chart(self, request: Request) -> Response:
        """A digest chart sent to this session; anyone else gets 404."""
        session = self._session(request, check_csrf=False)
        owner, path = self.charts.get(request.path_params["name"], (None, None))
        if session is None or owner is None or path is None:
            return _error(404, "not found")
        if not hmac.compare_digest(session.encode(), owner.encode()):
            return _error(404, "not found")
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError:
            return _error(404, "not found")
        if not data.startswith(b"\x89PNG"):
            return _error(404, "not found")
        headers = {**self._headers(), "Content-Security-Policy": "default-src 'none'; sandbox"}
        return Response(data, media_type="image/png", headers=headers)

    def close(self) -> None:
        self.mailboxes.close()

    # ---- HTTP ------------------------------------------------------------------------
    def routes(self, pipeline: Pipeline) -> list[Route]:
        self.pipeline = pipeline
        return [
            Route("/chat", self.page),
            Route("/chat/app.js", self.static("app.js", "text/javascript")),
            Route("/chat/app.css", self.static("app.css", "text/css")),
            Route("/embed.js", self.embed),
            Route("/chat/api/open", self.open, methods=["POST"]),
            Route("/chat/api/pow", self.proof, methods=["POST"]),
            Route("/chat/api/send", self.send_message, methods=["POST"]),
            Route("/chat/api/upload", self.upload, methods=["POST"]),
            Route("/chat/api/messages", self.messages),
            Route("/chat/api/file/{ref}", self.file),
            Route("/chat/api/chart/{name}", self.chart),
        ]

    def _headers(self) -> dict[str, str]:
        return {
            "Content-Security-Policy": CSP.replace(
                "frame-ancestors *", f"frame-ancestors {self.limits.embed_origins}"
            ),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        }

    async def page(self, request: Request) -> Response:
        locale = self._locale(request)
        strings = {
            key.split(".", 1)[1]: self.catalog.text(locale, Msg(key))
            for key in self.catalog.messages["vi"]
            if key.startswith("web.")
        }
        html = (STATIC / "chat.html").read_text()
        html = html.replace("{{lang}}", locale).replace(
            "{{strings}}", escape(json.dumps(strings, ensure_ascii=False), quote=True)
        )
        for name, value in strings.items():
            html = html.replace("{{" + name + "}}", escape(value))
        return HTMLResponse(html, headers=self._headers())

    def static(self, name: str, media_type: str) -> Any:
        body = (STATIC / name).read_bytes()

        async def endpoint(_: Request) -> Response:
            return Response(body, media_type=media_type, headers=self._headers())

        return endpoint

    async def embed(self, request: Request) -> Response:
        origin = f"{request.url.scheme}://{request.url.netloc}"
        script = (
            "(function(){var f=document.createElement('iframe');"
            f"f.src={json.dumps(origin + '/chat')};f.title='Chat';"
            "f.style.cssText='border:0;width:100%;max-width:420px;height:640px';"
            "var s=document.currentScript;s.parentNode.insertBefore(f,s);})();"
        )
        return Response(script, media_type="text/javascript", headers=self._headers())

    def _locale(self, request: Request) -> str:
        asked = request.query_params.get("lang")
        if asked in ("vi", "en"):
            return asked
        accept = request.headers.get("accept-language", "")
        return "en" if accept.lower().startswith("en") else "vi"

    def _session(self, request: Request, *, check_csrf: bool = True) -> str | None:
        session = request.cookies.get(self.cookie, "")
        if not self.sessions.issued_here(session):
            return None
        if check_csrf and not self.sessions.csrf_matches(
            session, request.headers.get("x-csrf-token", "")
        ):
            return None
        return session

    def _client(self, request: Request) -> str:
        host = request.client.host if request.client else "?"
        return hashlib.sha256(self._salt + host.encode()).hexdigest()

    async def open(self, request: Request) -> Response:
        """Start or resume a session; a fresh page load asks the flow where we are."""
        # No CSRF token is needed here: the page has none yet, and opening only hands
        # out a token and a challenge (and re-asks the current step of a verified one).
        session = self._session(request, check_csrf=False)
        new = session is None
        if session is None:
            if not self.session_limit.allow(self._client(request)):
                return _error(429, "too many new sessions")
            session = self.sessions.new()
        box = self.mailboxes.get(self.sessions.box(session))
        lang = self._locale(request)
        # The page was opened in another language (its ?lang= link): the conversation
        # follows, and the current step is asked again in that language.
        switched = self.sessions.page_lang(session, lang)
        if (not box.messages or switched) and self.sessions.is_verified(session):
            await self._ingest(session, secrets.token_hex(8), {"kind": "open", "lang": lang})
        body = {
            "csrf": self.sessions.csrf(session),
            "challenge": None
            if self.sessions.is_verified(session)
            else self.sessions.challenge(session),
        }
        response = JSONResponse(body, headers=self._headers())
        if new:
            self._set_session_cookie(response, session)
        return response

    def _set_session_cookie(self, response: Response, session: str) -> None:
        response.set_cookie(
            self.cookie,
            session,
            max_age=SESSION_DAYS * 24 * 3600,
            httponly=True,
            samesite="none" if self.limits.secure_cookie else "lax",
            secure=self.limits.secure_cookie,
            # A __Host- cookie must cover the whole origin; it can then be neither set
            # by a sibling subdomain nor sent anywhere but here.
            path="/" if self.limits.secure_cookie else "/chat",
        )

    async def proof(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return _error(403, "no session")
        body = await _json(request)
        if isinstance(body, Response):
            return body
        nonce, sig, answer = (str(body.get(k, "")) for k in ("nonce", "sig", "answer"))
        if not self.sessions.solved(session, nonce, sig, answer):
            return _error(403, "wrong answer")
        self.sessions.mark_verified(session)
        # The language of the page that asked (its ?lang=), not the browser's guess.
        lang = self.sessions.lang(session) or self._locale(request)
        await self._ingest(session, secrets.token_hex(8), {"kind": "open", "lang": lang})
        return JSONResponse({"ok": True}, headers=self._headers())

    async def send_message(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return _error(403, "no session")
        if not self.sessions.is_verified(session):
            return _error(428, "challenge first")
        if not self.message_limit.allow(session):
            return _error(429, "slow down")
        body = await _json(request)
        if isinstance(body, Response):
            return body
        request_id = str(body.get("id", ""))
        if not (8 <= len(request_id) <= 64) or not request_id.replace("-", "").isalnum():
            return _error(400, "bad id")
        if "choice" in body:
            payload: dict[str, Any] = {"kind": "choice", "data": str(body["choice"])[:64]}
        elif "location" in body:
            try:
                lat, lon = float(body["location"]["lat"]), float(body["location"]["lon"])
            except (KeyError, TypeError, ValueError):
                return _error(400, "bad location")
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                return _error(400, "bad location")
            payload = {"kind": "location", "lat": lat, "lon": lon}
        else:
            text = body.get("text")
            if not isinstance(text, str) or len(text) > 8000:
                return _error(400, "bad text")
            payload = {"kind": "text", "text": text}
        payload["lang"] = body.get("lang")
        command = parse_command(payload["text"]) if payload["kind"] == "text" else None
        if command is not None and command[0] == "join":
            # Joining the staff binds an account to this chat: it happens under a fresh
            # session id, so an id someone else knew (or planted) is worth nothing.
            fresh = self.sessions.new()
            self.sessions.mark_verified(fresh)
            await self._ingest(fresh, request_id, payload)
            answer = {"ok": True, "csrf": self.sessions.csrf(fresh)}
            response = JSONResponse(answer, status_code=202, headers=self._headers())
            self._set_session_cookie(response, fresh)
            return response
        await self._ingest(session, request_id, payload)
        return JSONResponse({"ok": True}, status_code=202, headers=self._headers())

    async def upload(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return _error(403, "no session")
        if not self.sessions.is_verified(session):
            return _error(428, "challenge first")
        cap = self.limits.max_upload_mb * 1024 * 1024
        declared = request.headers.get("content-length", "")
        if not declared.isdigit() or int(declared) > cap + 64 * 1024:
            return _error(413, "too large")
        if not self.upload_limit.allow(session):
            return _error(429, "too many uploads")
        form = await request.form(max_files=1, max_fields=4, max_part_size=cap)
        upload = form.get("file")
        request_id = str(form.get("id", ""))
        if upload is None or isinstance(upload, str) or not (8 <= len(request_id) <= 64):
            return _error(400, "no file")
        data = await upload.read(cap + 1)
        if len(data) > cap:
            return _error(413, "too large")
        if not data:
            return _error(400, "empty file")
        sniffed = sniff(data[:32])
        if sniffed is None:
            return _error(415, "type not allowed")
        ref = await asyncio.to_thread(self.store.save, data, sniffed)
        # The file's own name is not kept, not even sealed in the inbox: names like
        # "Nguyen_Van_Lan_CCCD.jpg" say who sent it.
        caption = form.get("caption")
        await self._ingest(
            session,
            request_id,
            {
                "kind": "media",
                "text": caption if isinstance(caption, str) else None,
                "media": {
                    "kind": sniffed.kind,
                    "ref": ref,
                    "size": len(data),
                    "mime": sniffed.mime,
                },
            },
        )
        return JSONResponse({"ok": True}, status_code=202, headers=self._headers())

    async def messages(self, request: Request) -> Response:
        # A read: no CSRF token needed (another site cannot read the answer anyway).
        session = self._session(request, check_csrf=False)
        if session is None:
            return _error(403, "no session")
        if not self.sessions.is_verified(session):
            # No mailbox and no waiting for a session that has not done the work.
            return _error(428, "challenge first")
        try:
            after = int(request.query_params.get("after", "0"))
        except ValueError:
            return _error(400, "bad cursor")
        box = self.mailboxes.get(self.sessions.box(session))
        box.acknowledge(after)
        if box.seq <= after and not self.mailboxes.closing:
            box.changed.clear()
            await woken(box.changed, 20)
        out = [{"seq": seq, **msg} for seq, msg in box.messages if seq > after]
        return JSONResponse({"messages": out}, headers=self._headers())

    async def file(self, request: Request) -> Response:
        """An uploaded file, for a chat allowed to open it: an officer whose units see
        the tip it belongs to, or anyone for a campaign's photo. Everything else —
        no session, a malformed or unknown reference, a tip out of scope — gets the
        same 404, so a reference cannot be probed."""
        session = self._session(request, check_csrf=False)
        ref = request.path_params["ref"]
        if (
            session is None
            or not self.sessions.is_verified(session)
            or self.store.clean_path(ref) is None
            or self.file_access is None
        ):
            return _error(404, "not found")
        if not self.file_limit.allow(session):
            return _error(429, "slow down")
        if not await self.file_access(self.identity.pseudonym(NAME, session), ref):
            return _error(404, "not found")
        data = await asyncio.to_thread(self.store.read_clean, ref)
        sniffed = sniff(data[:64]) if data else None
        if data is None or sniffed is None:
            return _error(404, "not found")
        # Shown in the page when it is a picture; anything else is downloaded, never
        # rendered by the browser (nosniff, and a sandboxing CSP on the response).
        name = "tep-dinh-kem" + EXTENSIONS.get(sniffed.mime, "")  # never the sender's name
        disposition = "inline" if sniffed.kind == "photo" else f'attachment; filename="{name}"'
        headers = {
            **self._headers(),
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Content-Disposition": disposition,
        }
        return Response(data, media_type=sniffed.mime, headers=headers)

    async def _ingest(self, session: str, request_id: str, payload: dict[str, Any]) -> None:
        assert self.pipeline is not None
        key = f"{self.sessions.inbox_prefix(session)}:{request_id}"
        await self.pipeline.ingest(NAME, [(key, {"session": session, **payload})])


def _error(status: int, reason: str) -> Response:
    return PlainTextResponse(reason, status_code=status, headers={"Cache-Control": "no-store"})


async def _json(request: Request) -> dict[str, Any] | Response:
    """Read a small JSON object, or the 4xx answer for what was sent instead."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return _error(415, "expected application/json")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_JSON):
        return _error(413, "too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON:
            return _error(413, "too large")
    try:
        data = read_json(bytes(body))
    except ValueError as exc:
        return _error(400, str(exc))
    return data if isinstance(data, dict) else _error(400, "expected an object")
