"""The HTTP side of the service (Starlette): the web chat, health, the Telegram webhook."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route


def build_web_app(
    *,
    health: Callable[[], Awaitable[dict[str, Any]]],
    routes: list[BaseRoute],
    webhooks: list[tuple[str, Any]] | None = None,
    health_token: str | None = None,
) -> Starlette:
    async def home(_: Request) -> Response:
        return RedirectResponse("/chat", status_code=302)

    async def healthz(request: Request) -> Response:
        """Alive or not, for anyone; the queue figures only for the host itself (or a
        monitor holding HEALTH_TOKEN): they say how busy the tip line is."""
        host = request.client.host if request.client else ""
        given = request.headers.get("authorization", "").removeprefix("Bearer ").encode()
        trusted = host in ("127.0.0.1", "::1") or (
            health_token is not None and hmac.compare_digest(given, health_token.encode())
        )
        report = await health()
        return JSONResponse(report if trusted else {"ok": report.get("ok", False)})

    all_routes: list[BaseRoute] = [Route("/", home), Route("/healthz", healthz), *routes]
    for path, endpoint in webhooks or []:
        all_routes.append(Route(path, endpoint, methods=["POST"]))
    return Starlette(routes=all_routes)
