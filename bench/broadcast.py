"""Broadcast benchmark: a campaign to N subscribers through a fake Bot API that enforces
the platform's limits strictly.

    .venv/bin/python bench/broadcast.py [--recipients 3000] [--limit 30]

The fake answers in-process (PTB's network layer, no sockets) and counts requests as
they arrive: more than `limit` sendMessage calls in any one-second window, or a second
message to a chat within one second, gets HTTP 429 with retry_after=1. The real
pieces run: SQLite ledger (WAL, synchronous=FULL), the Telegram adapter, the shared
rate window and the Broadcaster. Achieved rate = messages delivered ÷ time from the
first delivery to the last. Last line: ratio=<achieved ÷ limit> 429s=<n> duplicates=<n>
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter, deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from telegram.request import BaseRequest, RequestData

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.channels.telegram import TelegramChannel
from bot.clock import Clock
from bot.delivery.sender import RATE_PERIOD, SlidingWindow
from bot.dispatch.render import Renderer
from bot.identity import Identity
from bot.work.broadcasts import Broadcaster
from handlers.core.i18n import Catalog
from storage.campaigns import Campaigns
from storage.db import Database
from storage.migrate import upgrade_async
from storage.subscriptions import Subscriptions
from storage.vault import Vault

TOKEN = "123456789:AAH-benchTOKENbenchTOKENbenchTOK12"
BOT = {"id": 123456789, "is_bot": True, "first_name": "Tipbot", "username": "bench_bot"}


class StrictAPI(BaseRequest):
    """Bot API limits, enforced on arrival: `limit` per second per bot, 1/s per chat."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.window: deque[float] = deque()
        self.last_by_chat: dict[int, float] = {}
        self.delivered: Counter[int] = Counter()
        self.times: list[float] = []
        self.rejected = 0

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[1]
        params = request_data.parameters if request_data else {}
        if endpoint == "getMe":
            return 200, json.dumps({"ok": True, "result": BOT}).encode()
        now = time.monotonic()
        while self.window and now - self.window[0] >= 1.0:
            self.window.popleft()
        chat = int(params["chat_id"])
        if len(self.window) >= self.limit or now - self.last_by_chat.get(chat, -9.0) < 1.0:
            self.rejected += 1
            body = {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 1",
                "parameters": {"retry_after": 1},
            }
            return 429, json.dumps(body).encode()
        self.window.append(now)
        self.last_by_chat[chat] = now
        self.delivered[chat] += 1
        self.times.append(now)
        await asyncio.sleep(0.02)  # a network round trip
        message = {
            "message_id": len(self.times),
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private"},
            "text": params.get("text", ""),
        }
        return 200, json.dumps({"ok": True, "result": message}).encode()


async def main(recipients: int, limit: int) -> None:
    api = StrictAPI(limit)
    identity = Identity(b"bench-secret-" + b"x" * 40)
    channel = TelegramChannel(token=TOKEN, identity=identity, request=api)
    await channel.start()
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await upgrade_async(url)
        db = Database(url, vault=Vault(b"bench-" + b"x9" * 24))
        now = datetime.now(UTC)
        async with db.write() as conn:
            store = Campaigns(conn)
            subs = Subscriptions(conn)
            for n in range(recipients):
                user = 5_000_000 + n
                await subs.subscribe(
                    channel="telegram",
                    user_key=identity.pseudonym("telegram", user),
                    address=identity.seal(str(user)),
                    locale="vi",
                    wards=[],
                    topics=[],
                    consent_text="sub.consent@vi",
                    now=now,
                )
            campaign_id = await store.create(
                created_by="bench",
                text="Cảnh giác với thủ đoạn lừa đảo qua điện thoại!",
                photo_channel=None,
                photo_ref=None,
                report_button=True,
                now=now,
            )
            targeted = await store.start_run(campaign_id, now)
        broadcaster = Broadcaster(
            db=db,
            channels={"telegram": channel},
            identity=identity,
            renderer=Renderer(Catalog()),
            windows={"telegram": SlidingWindow(limit, RATE_PERIOD)},
            clock=clock,
        )
        task = asyncio.create_task(broadcaster.run())
        started = time.monotonic()
        while True:
            await asyncio.sleep(0.5)
            async with db.read() as conn:
                counts = await Campaigns(conn).progress(campaign_id)
            if counts["pending"] == 0 and counts["sending"] == 0:
                break
            if time.monotonic() - started > recipients / limit * 3 + 60:
                raise SystemExit("the broadcast did not finish")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await db.dispose()
    await channel.stop()

    delivered = sum(api.delivered.values())
    duplicates = sum(n - 1 for n in api.delivered.values() if n > 1)
    span = api.times[-1] - api.times[0] if len(api.times) > 1 else 1.0
    achieved = (delivered - 1) / span if span else 0.0
    print(f"targeted {targeted}, ledger {counts}")
    print(
        f"delivered {delivered} to {len(api.delivered)} chats in {span:.1f}s = {achieved:.2f} msg/s"
    )
    print(f"ratio={achieved / limit:.3f} 429s={api.rejected} duplicates={duplicates}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=3000)
    parser.add_argument("--limit", type=int, default=30)
    options = parser.parse_args()
    asyncio.run(main(options.recipients, options.limit))
