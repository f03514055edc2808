"""Channel-neutral outbox payloads → Zalo calls. Zalo has text (1–2,000 characters) and
photos by URL, and nothing else: no buttons, no HTML, no location, no documents. So a
step's buttons become numbered lines that can be typed back ("1. Ma túy"), officer
cards lose their markup, long texts are split at line breaks under 2,000 UTF-16 units,
and a map pin or a file becomes a line of text."""

from __future__ import annotations

import re
from html import unescape

from bot.channels.base import Payload, SendResult
from bot.channels.zalo.client import ZaloAnswer, ZaloClient, ZaloUnreachable
from handlers.core.text import split_units

MAX_UNITS = 1990  # Zalo says 2,000 characters; counted as UTF-16 units, with a margin
QUOTA_WAIT_S = 30.0  # 429 "Quota exceeded" says nothing about when to retry
_TAG = re.compile(r"</?(b|i|u|s|code|pre)>")


def as_text(payload: Payload, desk_url: str | None) -> str | None:
    """What a payload says as plain text, or None when it means nothing on Zalo."""
    kind = payload.get("t")
    if kind == "msg":
        text = str(payload.get("text", ""))
        if payload.get("html"):
            text = unescape(_TAG.sub("", text))
        # Numbered as the router counts them (every button, in order), so typing a
        # number is that press; Zalo shares no location or contact, so those are left
        # out and their numbers skipped.
        lines = [
            f"{n}. {b['label']}"
            for n, b in enumerate((b for row in payload.get("buttons") or [] for b in row), 1)
            if b.get("request") not in ("location", "contact")
        ]
        if lines:
            text = text + "\n\n" + "\n".join(lines)
        return text
    if kind == "pin":
        lat, lon = payload["lat"], payload["lon"]
        return f"📍 {lat:.6f}, {lon:.6f} https://www.openstreetmap.org/?mlat={lat}&mlon={lon}"
    if kind in ("file", "upload", "chart"):
        caption = str(payload.get("caption") or "")
        if caption and kind != "chart":
            # A campaign's photo: its text reaches the subscriber (Zalo takes pictures
            # only by public URL, which our files do not have).
            return caption
        # An alert's file or a digest chart: officers open it on the desk.
        where = f" {desk_url}/staff" if desk_url else ""
        note = f"📎 ({payload.get('kind', 'file')}: mở trên bàn xử lý / open it on the desk{where})"
        return f"{caption}\n{note}".strip()
    return None  # button answers, leaving a group: nothing to do here


class Sender:
    def __init__(self, client: ZaloClient, public_url: str | None) -> None:
        self.client = client
        self.public_url = public_url.rstrip("/") if public_url else None

    async def send(self, address: str, payload: Payload) -> SendResult:
        text = as_text(payload, self.public_url)
        if text is None:
            return SendResult("ok")
        parts = [p for p in split_units(text.strip() or "…", MAX_UNITS) if p.strip()]
        for part in parts:
            try:
                answer = await self.client.send_message(address, part)
            except ZaloUnreachable as exc:
                return SendResult("retry", error=exc.reason)
            result = _outcome(answer)
            if result.outcome != "ok":
                # Parts already sent stay sent; a retry of the payload would repeat them,
                # which is better than losing the rest of a review or a receipt.
                return result
        return SendResult("ok")


def _outcome(answer: ZaloAnswer) -> SendResult:
    if answer.ok:
        return SendResult("ok")
    code = answer.error_code or answer.http_status
    if code == 429:
        return SendResult("retry", retry_after=QUOTA_WAIT_S, error="429")
    if code in (408,) or code >= 500:
        return SendResult("retry", error=f"http-{code}")
    if code == 401:
        return SendResult("failed", error="unauthorized")
    if code == 403 and "internal" in answer.description.lower():
        # Zalo's table calls 403 "Internal server error" (sic): a server fault, not a block.
        return SendResult("retry", error="403-internal")
    if code == 403:
        return SendResult("blocked", error="403")
    return SendResult("failed", error=f"http-{code}")
