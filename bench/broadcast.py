"""Broadcast benchmark: a campaign to N subscribers through a fake Bot API that enforces
the platform's limits strictly.

    .venv/bin/python bench/broadcast.py [--recipients 3000] [--limit 30]
    .venv/bin/python bench/broadcast.py --paid [--recipients 20000]
    .venv/bin/python bench/broadcast.py --replicas 3 [--database postgresql+asyncpg://…]

--paid: a paid campaign (allow_paid_broadcast) against a fake that enforces 1,000
msg/s overall and 1 msg/s per chat, served over loopback HTTP by another process (so
the sends pay for real connections). In the same run a bare httpx sender loop against
the same fake, with no limit enforced for it, measures what this machine can send at
all; the verdict is achieved ÷ min(1000, that ceiling).

--replicas N: N broadcasters, each with its own connections to one PostgreSQL and the
shared send budget, claim the campaign side by side (in this process: the replicas
share its core, which 30 msg/s does not strain); meanwhile citizens' replies arrive on
the replicas in turn and go through the same budget ahead of the campaign; their p95
wait is printed. The ratio then counts every message through the budget.

Otherwise the fake answers in-process (PTB's network layer, no sockets) and counts
requests as they arrive: more than `limit` sendMessage calls in any one-second window,
or a second message to a chat within one second, gets HTTP 429 with retry_after=1.
The real pieces run: SQLite ledger (WAL, synchronous=FULL), the Telegram adapter, the
shared rate window and the Broadcaster. Achieved rate = messages delivered ÷ time from
the first delivery to the last.

Last line: ratio=<achieved ÷ limit> 429s=<n> duplicates=<n>
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import time
from collections import Counter, deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from telegram.request import BaseRequest, RequestData

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.channels.telegram import TelegramChannel
from bot.clock import Clock
from bot.delivery.pacing import RATE_PERIOD, SlidingWindow, paid_rate
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
        return await self.arrive(endpoint, dict(request_data.parameters if request_data else {}))

    async def arrive(self, endpoint: str, params: dict[str, Any]) -> tuple[int, bytes]:
        """One call as the platform sees it when it arrives: counted, or refused."""
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


async def seed(
    db: Database, identity: Identity, recipients: int, *, paid: bool = False
) -> tuple[int, int]:
    """Subscribers and a started campaign to them all: (campaign id, rows targeted)."""
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
        if paid:
            await store.transition(campaign_id, admin_id=None, from_=("draft",), paid=True)
        targeted = await store.start_run(campaign_id, now)
    return campaign_id, targeted


def broadcaster_for(
    db: Database,
    channel: TelegramChannel,
    identity: Identity,
    window: SlidingWindow | Any,
    paid_window: SlidingWindow | None = None,
) -> Broadcaster:
    """The service's Broadcaster on one Telegram channel and its rate window(s)."""
    return Broadcaster(
        db=db,
        channels={"telegram": channel},
        identity=identity,
        renderer=Renderer(Catalog()),
        windows={"telegram": window},
        paid_windows={"telegram": paid_window} if paid_window is not None else None,
        clock=Clock(),
    )


async def run_until_done(
    db: Database, broadcaster: Broadcaster, campaign_id: int, recipients: int, limit: int
) -> dict[str, int]:
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
    return counts


async def main(recipients: int, limit: int) -> None:
    api = StrictAPI(limit)
    identity = Identity(b"bench-secret-" + b"x" * 40)
    channel = TelegramChannel(token=TOKEN, identity=identity, request=api)
    await channel.start()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await upgrade_async(url)
        db = Database(url, vault=Vault(b"bench-" + b"x9" * 24))
        campaign_id, targeted = await seed(db, identity, recipients)
        broadcaster = broadcaster_for(db, channel, identity, SlidingWindow(limit, RATE_PERIOD))
        counts = await run_until_done(db, broadcaster, campaign_id, recipients, limit)
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


async def main_replicas(recipients: int, limit: int, replicas: int, database: str) -> None:
    import importlib.util

    from bot.delivery.pacing import SharedWindow

    spec = importlib.util.spec_from_file_location(
        "replicas", Path(__file__).with_name("replicas.py")
    )
    assert spec is not None
    assert spec.loader is not None
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    url, name = await helpers.fresh_database(database)
    api = StrictAPI(limit)
    identity = Identity(b"bench-secret-" + b"x" * 40)
    channel = TelegramChannel(token=TOKEN, identity=identity, request=api)
    await channel.start()
    vault = Vault(b"bench-" + b"x9" * 24)
    dbs: list[Database] = []
    try:
        await upgrade_async(url)
        dbs = [Database(url, vault=vault) for _ in range(replicas)]
        campaign_id, targeted = await seed(dbs[0], identity, recipients)
        windows = [SharedWindow(db, "telegram", limit) for db in dbs]
        broadcasters = [
            broadcaster_for(db, channel, identity, window)
            for db, window in zip(dbs, windows, strict=True)
        ]
        waits: list[float] = []

        async def citizens() -> None:
            """A burst of people talking to the bot: a reply every 0.1 s for 15 s,
            each on the next replica, sent through its budget as delivery sends one."""
            await asyncio.sleep(3)
            for n in range(CITIZENS):
                ready = time.monotonic()
                await windows[n % replicas].acquire()
                waits.append(time.monotonic() - ready)
                await channel.send(str(8_000_000 + n), {"t": "msg", "text": "Đã nhận."})
                await asyncio.sleep(max(0.0, ready + 0.1 - time.monotonic()))

        burst = asyncio.create_task(citizens())
        runs = [asyncio.create_task(b.run()) for b in broadcasters[1:]]
        counts = await run_until_done(dbs[0], broadcasters[0], campaign_id, recipients, limit)
        await burst
        for task in runs:
            task.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
    finally:
        for db in dbs:
            await db.dispose()
        await channel.stop()
        await helpers.drop_database(database, name)

    delivered = sum(api.delivered.values())
    duplicates = sum(n - 1 for n in api.delivered.values() if n > 1)
    span = api.times[-1] - api.times[0] if len(api.times) > 1 else 1.0
    achieved = (delivered - 1) / span if span else 0.0
    waits.sort()
    print(f"targeted {targeted}, ledger {counts}")
    print("sent by each replica:", [b.delivered for b in broadcasters])
    print("arrivals per second:", list(Counter(int(t - api.times[0]) for t in api.times).values()))
    p50, p95 = waits[len(waits) // 2] * 1000, waits[int(len(waits) * 0.95)] * 1000
    print("slowest waits (ms):", [round(w * 1000) for w in waits[-12:]])
    print(
        f"replies to {len(waits)} citizens during the campaign waited for the budget:"
        f" p50 {p50:.0f} ms, p95 {p95:.0f} ms"
    )
    print(f"delivered {delivered} in {span:.1f}s = {achieved:.2f} msg/s (campaign and replies)")
    print(f"ratio={achieved / limit:.3f} 429s={api.rejected} duplicates={duplicates}")


PAID_LIMIT = 1000
FREE_RATE = 30.0
BASELINE_TOKEN = "999:baseline"
WORKERS = (16, 24, 32)
CITIZENS = int(os.environ.get("BENCH_CITIZENS", "150"))


def serve(port_file: str) -> None:
    """The fake Bot API for --paid, in its own process: enforces the paid limit for the
    bot's token, counts without limits for the baseline's, answers after 20 ms."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    strict = StrictAPI(PAID_LIMIT)
    baseline: Counter[int] = Counter()
    baseline_times: list[float] = []

    async def endpoint(request: Request) -> Response:
        token, method = request.path_params["token"], request.path_params["method"]
        # The body parsed by hand: Starlette's form parser (python-multipart) cost this
        # one-core fake more per call than the sender's whole send, and a fake that
        # falls behind stamps queued calls as arriving together (429s we did not earn).
        body = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            params = json.loads(body)
        else:
            params = dict(parse_qsl(body.decode()))
        if token == BASELINE_TOKEN:
            baseline[int(params["chat_id"])] += 1
            baseline_times.append(time.monotonic())
            await asyncio.sleep(0.02)
            return JSONResponse({"ok": True, "result": {"message_id": len(baseline_times)}})
        if method == "sendMessage" and params.get("allow_paid_broadcast") not in ("true", True):
            return JSONResponse({"ok": False, "error_code": 400, "description": "unpaid"}, 400)
        status, body = await strict.arrive(method, params)
        return Response(body, status, media_type="application/json")

    async def stats(request: Request) -> JSONResponse:
        def summary(delivered: Counter[int], times: list[float]) -> dict[str, Any]:
            span = times[-1] - times[0] if len(times) > 1 else 0.0
            return {
                "delivered": sum(delivered.values()),
                "chats": len(delivered),
                "duplicates": sum(n - 1 for n in delivered.values() if n > 1),
                "rate": (len(times) - 1) / span if span else 0.0,
                "span": span,
                "per_second": list(Counter(int(t - times[0]) for t in times).values()),
            }

        return JSONResponse(
            {
                "bot": summary(strict.delivered, strict.times) | {"rejected": strict.rejected},
                "baseline": summary(baseline, baseline_times),
            }
        )

    app = Starlette(
        routes=[
            Route("/bot{token}/{method}", endpoint, methods=["POST"]),
            Route("/stats", stats, methods=["GET"]),
        ]
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", backlog=1024)
    server = uvicorn.Server(config)

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        await asyncio.to_thread(Path(port_file).write_text, str(port))
        await task

    asyncio.run(run())


async def bare_ceiling(base: str, messages: int, workers: int) -> float:
    """How fast a bare httpx loop sends sendMessage to distinct chats here (no limit is
    enforced for it): the machine's ceiling, measured beside the pipeline. Each worker
    has its own client and connection (one shared pool slows down with many requests
    in flight: see bot/channels/telegram/transport.py)."""
    import httpx

    queue = iter(range(messages))

    async def worker() -> None:
        # TCP_NODELAY as the bot's own client sets it (else Nagle stalls each POST).
        transport = httpx.AsyncHTTPTransport(
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        )
        async with httpx.AsyncClient(transport=transport) as client:
            for n in queue:
                await client.post(
                    f"{base}{BASELINE_TOKEN}/sendMessage",
                    json={"chat_id": 7_000_000 + n, "text": "Cảnh giác lừa đảo!"},
                )

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return messages / (time.monotonic() - started)


async def main_paid(recipients: int) -> None:
    import httpx

    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        server = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve", str(port_file)
        )
        try:
            for _ in range(500):
                if port_file.exists() and port_file.read_text():
                    break
                await asyncio.sleep(0.02)
            base = f"http://127.0.0.1:{port_file.read_text()}/bot"
            # The bare loop at its best here (httpx slows down with many requests
            # in flight on one pool, so more workers are not always faster).
            tries = [await bare_ceiling(base, min(recipients, 3000), n) for n in WORKERS]
            print("bare httpx loop, 16/24/32 workers: " + " ".join(f"{t:.0f}" for t in tries))
            ceiling = max(tries)
            identity = Identity(b"bench-secret-" + b"x" * 40)
            channel = TelegramChannel(token=TOKEN, identity=identity, base_url=base, connections=64)
            await channel.start()
            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
            await upgrade_async(url)
            db = Database(url, vault=Vault(b"bench-" + b"x9" * 24))
            campaign_id, targeted = await seed(db, identity, recipients, paid=True)
            # As the service does: the paid rate less the free rate replies keep.
            broadcaster = broadcaster_for(
                db,
                channel,
                identity,
                SlidingWindow(FREE_RATE, RATE_PERIOD),
                SlidingWindow(paid_rate(PAID_LIMIT, FREE_RATE), RATE_PERIOD, bulk_only=True),
            )
            cpu, wall = time.process_time(), time.monotonic()
            counts = await run_until_done(db, broadcaster, campaign_id, recipients, PAID_LIMIT)
            busy = (time.process_time() - cpu) / (time.monotonic() - wall)
            await db.dispose()
            await channel.stop()
            async with httpx.AsyncClient() as client:
                stats = (await client.get(f"{base.removesuffix('/bot')}/stats")).json()["bot"]
        finally:
            server.terminate()
            await server.wait()
    target = min(float(PAID_LIMIT), ceiling)
    print(f"targeted {targeted}, ledger {counts}")
    print(f"bare httpx ceiling here: {ceiling:.0f} msg/s; limit {PAID_LIMIT} msg/s")
    print(
        f"delivered {stats['delivered']} to {stats['chats']} chats in {stats['span']:.1f}s"
        f" = {stats['rate']:.0f} msg/s"
    )
    print("arrivals per second:", stats["per_second"])
    print(f"the sending process used {busy:.0%} of a core while the campaign ran")
    print(
        f"ratio={stats['rate'] / target:.3f} 429s={stats['rejected']}"
        f" duplicates={stats['duplicates']}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=0)
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--paid", action="store_true")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "TIPBOT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # the --paid fake's process
    options = parser.parse_args()
    if options.serve:
        serve(options.serve)
    elif options.replicas > 1:
        asyncio.run(
            main_replicas(
                options.recipients or 3000, options.limit, options.replicas, options.database
            )
        )
    elif options.paid:
        asyncio.run(main_paid(options.recipients or 20000))
    else:
        asyncio.run(main(options.recipients or 3000, options.limit))
