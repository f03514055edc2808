"""The HTTP side of the service (Starlette): the web chat, health, the Telegram webhook."""

from __future__ import annotations

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
    telegram_webhook: tuple[str, Any] | None = None,
) -> Starlette:
    async def home(_: Request) -> Response:
        return RedirectResponse("/chat", status_code=302)

    async def healthz(_: Request) -> Response:
        return JSONResponse(await health())

    all_routes: list[BaseRoute] = [Route("/", home), Route("/healthz", healthz), *routes]
    if telegram_webhook is not None:
        path, endpoint = telegram_webhook
        all_routes.append(Route(path, endpoint, methods=["POST"]))
    return Starlette(routes=all_routes)
