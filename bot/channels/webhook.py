"""What every platform's webhook checks before an update may be stored: the secret the
platform echoes back (constant-time), the content type, the size (declared and read)
and the JSON itself. Telegram and Zalo differ only in the header's name."""

from __future__ import annotations

import hmac
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse

from bot.channels.base import read_json


async def checked_body(request: Request, header: str, secret: bytes, max_body: int) -> Any:
    """The request's JSON, or the Response that refuses it (403, 415, 413, 400)."""
    given = request.headers.get(header, "").encode()
    if not hmac.compare_digest(given, secret):
        return PlainTextResponse("forbidden", status_code=403)
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return PlainTextResponse("expected application/json", status_code=415)
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > max_body):
        return PlainTextResponse("too large", status_code=413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_body:
            return PlainTextResponse("too large", status_code=413)
    try:
        return read_json(bytes(body))
    except ValueError as exc:
        return PlainTextResponse(str(exc), status_code=400)
