"""The HTTP side of the service (Starlette): health, and the Telegram webhook."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

_HOME = """<!doctype html><html lang="vi"><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tipbot</title><body style="font:18px system-ui;max-width:40em;margin:2em auto;padding:0 1em">
<h1>Kênh tiếp nhận tin báo / Tip line</h1>
<p>Dịch vụ đang chạy. / The service is running.</p>
<p>Khẩn cấp / Emergency: 113 · 114 · 115 · 111</p></body></html>"""


def build_web_app(
    *,
    health: Callable[[], Awaitable[dict[str, Any]]],
    telegram_webhook: tuple[str, Any] | None = None,
) -> Starlette:
    async def home(_: Request) -> Response:
        return HTMLResponse(_HOME)

    async def healthz(_: Request) -> Response:
        return JSONResponse(await health())

    routes = [Route("/", home), Route("/healthz", healthz)]
    if telegram_webhook is not None:
        path, endpoint = telegram_webhook
        routes.append(Route(path, endpoint, methods=["POST"]))
    return Starlette(routes=routes)
